"""Where the Li electron goes: the delocalised (band) and the localised (polaron) solution.

In PBE+U a Li_i^0 cell has (at least) two self-consistent solutions for the electron Li
gives away: a band solution, spread over the host's conduction band (E_F in the CB: the
paper's n-type picture, its Fig. 2h), and a small polaron, one W⁵⁺/Nb⁴⁺ with a moment and
elongated M–O bonds, whose occupied level sits in the gap. Which one an SCF finds depends on
its start. The chain therefore computes both from two different starts and compares their
total energies:

* ``band``: spin-paired (no moments), the ML-relaxed geometry;
* ``polaron``: spin-polarised, an initial moment on the cation nearest Li only, first
  converged with the O atoms of that cation's first shell pushed out by ``distortion_a``
  (the bond elongation that stabilises a polaron), then at the same geometry as the band
  solution from that state (:func:`polaron_start`).

:func:`compare_li_solutions` reads the two single points and their DOS summaries into
:class:`~mttmat.schemas.li_electron.LiElectronDoc`: both energies, which is lower, E_F −
CBM and the electrons above the CBM per Li for each, whether the polaron start really
localised, and a plain sentence on the paper's picture. The lower-energy solution is the
Li_i^0 state that the formation energy and the ECRAM parameters use.

The study of what decides it (:mod:`mttmat.flows.li_electron_study`) adds two jobs:
:func:`li_at_void_centre` (an unrelaxed Li cell) and :func:`study_table` (its rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jobflow import job
from pymatgen.core import Structure

from mttmat.backends.base import START_DISPLACEMENT
from mttmat.schemas.li_electron import LiElectronDoc, LiElectronStudyDoc, LiSolution
from mttmat.structures.sites import insert_li

__all__ = ["compare_li_solutions", "li_at_void_centre", "polaron_start", "study_table"]

#: M–O distance (Å) that counts as the first shell of the polaron's cation
FIRST_SHELL_A = 2.4
#: an electron counts as delocalised (band) with ≥ this many electrons per Li above the CBM
BAND_ELECTRONS = 0.5


def _structure(s: Any) -> Structure:
    return Structure.from_dict(s) if isinstance(s, dict) else s


def _doc(d: Any) -> dict[str, Any]:
    return d if isinstance(d, dict) else d.model_dump()


@job
def polaron_start(
    structure: Structure,
    cation: str | None = None,
    distortion_a: float = 0.1,
    moment_mub: float = 1.0,
) -> Structure:
    """The symmetry-broken start of the polaron SCF, at the unchanged geometry.

    The ``cation`` (W, Nb; default: any species but O and Li) nearest each Li gets
    ``moment_mub`` (a different cation per Li), every other atom 0 (the ``magmom`` site
    property: the DFT backend's initial moments). The O atoms within :data:`FIRST_SHELL_A`
    of it get a ``start_displacement`` of ``distortion_a`` away from it: the DFT job first
    converges with that bond elongation (which stabilises a localised electron), then
    continues at the real positions from that state
    (:class:`~mttmat.backends.base.CalculatorRelaxMaker`), so the polaron and band energies
    are compared at one geometry.
    """
    s = _structure(structure).copy()
    lis = [i for i, site in enumerate(s) if site.specie.symbol == "Li"]
    if not lis:
        raise ValueError(f"no Li in {s.composition.formula}: give the Li_i cell")
    idx = [i for i, site in enumerate(s) if site.specie.symbol == cation
           or (cation is None and site.specie.symbol not in ("O", "Li"))]  # fmt: skip
    if not idx:
        raise ValueError(f"no cation {cation or ''} in {s.composition.formula}")
    disp = np.zeros((len(s), 3))
    mag = np.zeros(len(s))
    for li in lis:  # one localised electron per Li, on the cation nearest it
        d_li = s.lattice.get_all_distances(s.frac_coords[li][None], s.frac_coords[idx])[0]
        free = [k for k in np.argsort(d_li) if mag[idx[k]] == 0]
        m = idx[int(free[0] if free else np.argmin(d_li))]
        mag[m] = moment_mub
        for j, site in enumerate(s):
            if site.specie.symbol != "O" or distortion_a == 0:
                continue
            dist, image = site.distance_and_image(s[m])
            if dist > FIRST_SHELL_A:
                continue
            # the vector from the cation's nearest image to this O, pushed out along itself
            v = site.coords - s.lattice.get_cartesian_coords(s.frac_coords[m] + image)
            disp[j] += v / np.linalg.norm(v) * distortion_a
    s.add_site_property("magmom", mag.tolist())
    s.add_site_property(START_DISPLACEMENT, disp.tolist())
    return s


def _solution(
    label: str, treatment: str, static: dict[str, Any], cell: dict[str, Any], uuid: str | None
) -> LiSolution:
    e = float(static["output"]["energy"])
    n_li = max(1, int(cell["n_li"]))
    return LiSolution(
        label=label,
        treatment=treatment,
        total_energy_ev=e,
        fermi_above_host_cbm_ev=cell["fermi_above_host_cbm_ev"],
        highest_occupied_above_host_cbm_ev=cell["highest_occupied_above_host_cbm_ev"],
        electrons_above_host_cbm_per_li=float(cell["electrons_above_host_cbm"]) / n_li,
        electrons_in_gap=cell["electrons_in_gap"],
        total_magnetic_moment_mub=cell.get("total_magnetic_moment_mub"),
        max_local_moment_mub=cell.get("max_local_moment_mub"),
        participation=cell.get("extra_electron_participation"),
        localized=cell.get("polaron_like"),
        static_uuid=uuid,
        dos_uuid=cell.get("dos_uuid"),
    )


@job(data=["ground_state_doc"])  # the full calculation document: in the blob store
def compare_li_solutions(
    band: Any,
    polaron: Any,
    dos_summary: Any,
    treatments: dict[str, str],
    uuids: dict[str, str],
    same_geometry: bool = True,
) -> LiElectronDoc:
    """Both Li_i^0 solutions, the lower one, and what it says about the paper's picture.

    ``same_geometry``: both single points at one geometry (else each relaxed on its own,
    and ΔE includes the relaxation).

    ``dos_summary`` is the :class:`~mttmat.schemas.dos_summary.LiDosSummary` whose cells are
    labelled ``band`` and ``polaron``; ``band``/``polaron`` are the two single points.
    """
    band, polaron, dos = _doc(band), _doc(polaron), _doc(dos_summary)
    cells = {c["label"]: c for c in dos["cells"]}
    sols = [
        _solution(lab, treatments[lab], doc, cells[lab], uuids.get(lab))
        for lab, doc in (("band", band), ("polaron", polaron))
    ]
    de = sols[1].total_energy_ev - sols[0].total_energy_ev
    ground = sols[0] if de >= 0 else sols[1]
    pol = sols[1]
    moment = pol.max_local_moment_mub or 0.0
    localized = bool(moment >= 0.5 or pol.localized)
    n_type = ground.electrons_above_host_cbm_per_li >= BAND_ELECTRONS
    where = (
        f"E_F {ground.fermi_above_host_cbm_ev:+.2f} eV from the host CBM, "
        f"{ground.electrons_above_host_cbm_per_li:.2f} e per Li above it"
    )
    name = ground.label
    if not localized:
        note = (
            "the symmetry-broken start did not localise (largest moment "
            f"{pol.max_local_moment_mub or 0:.2f} μ_B): no polaron at this geometry, and "
            f"ΔE(spin-polarised − spin-paired) = {de:+.3f} eV is spin polarisation"
        )
        if ground.label == "polaron":
            name = "spin-polarised (delocalised)"
    else:
        geo = "at one geometry" if same_geometry else "each at its own relaxed geometry"
        note = f"ΔE(polaron − band) = {de:+.3f} eV {geo}"
    if n_type:
        verdict = (
            f"the paper's n-type picture holds for the {name} ground state ({where}); {note}"
        )
    else:
        verdict = (
            f"the paper's n-type picture does not hold here: the {name} ground state "
            f"keeps the Li electron {-ground.highest_occupied_above_host_cbm_ev:.2f} eV below "
            f"the host CBM ({where}); {note}"
        )
    for s in sols:
        if s.label != ground.label and s.electrons_above_host_cbm_per_li >= BAND_ELECTRONS:
            verdict += f"; the {s.label} solution would be n-type"
    return LiElectronDoc(
        solutions=sols,
        delta_e_polaron_minus_band_ev=de,
        ground_state=ground.label,
        ground_state_name=name,
        polaron_localized=localized,
        n_type=n_type,
        verdict=verdict,
        ground_state_doc=band if ground.label == "band" else polaron,
        uuids=uuids,
    )


@job
def li_at_void_centre(screening: Any, host: Structure) -> Structure:
    """The host, untouched, with Li at the void centre of the lowest ML site (no relax)."""

    doc = screening if isinstance(screening, dict) else screening.model_dump()
    lowest = next(c for c in doc["candidates"] if c["index"] == doc["selected"][0])
    return insert_li(host, [lowest["frac_coords_initial"]])


@job
def study_table(
    comparisons: list[Any], cases: list[dict[str, Any]], settings: dict[str, Any]
) -> LiElectronStudyDoc:
    """The study's rows from its :class:`~mttmat.schemas.li_electron.LiElectronDoc`s."""
    rows = []
    for el, case in zip(comparisons, cases, strict=True):
        el = el if isinstance(el, dict) else el.model_dump()
        sol = {s["label"]: s for s in el["solutions"]}
        rows.append({
            **case,
            "e_band_ev": sol["band"]["total_energy_ev"],
            "e_polaron_ev": sol["polaron"]["total_energy_ev"],
            "delta_e_polaron_minus_band_ev": el["delta_e_polaron_minus_band_ev"],
            "ground_state": el["ground_state"],
            "n_type": el["n_type"],
            "polaron_localized": el["polaron_localized"],
            "ef_minus_cbm_band_ev": sol["band"]["fermi_above_host_cbm_ev"],
            "ef_minus_cbm_polaron_ev": sol["polaron"]["fermi_above_host_cbm_ev"],
            "highest_occupied_minus_cbm_band_ev": sol["band"]["highest_occupied_above_host_cbm_ev"],
            "electrons_above_cbm_band": sol["band"]["electrons_above_host_cbm_per_li"],
            "max_moment_polaron_mub": sol["polaron"]["max_local_moment_mub"],
            "highest_occupied_minus_cbm_polaron_ev":
                sol["polaron"]["highest_occupied_above_host_cbm_ev"],
            "participation_band": sol["band"]["participation"],
            "participation_polaron": sol["polaron"]["participation"],
            "band_localized": sol["band"]["localized"],
            "verdict": el["verdict"],
        })  # fmt: skip
    return LiElectronStudyDoc(rows=rows, settings=settings)

"""What decides where the Li electron goes: a scan of U, cell size and geometry.

For every host cell and case, the study computes the two Li_i^0 solutions of the main
chain (:mod:`mttmat.jobs.li_electron`: spin-paired band start, spin-polarised polaron start)
and the host at the same U (for the CBM alignment), and compares them:

* **U**: the cation's U_eff at each of ``u_values`` (ML-relaxed geometry);
* **geometry** at ``u_reference``: ``unrelaxed`` (Li at the void centre of the host, host
  untouched), ``ml`` (the ML-relaxed lowest site, as the main chain) and ``dft`` (the band
  solution's geometry relaxed with DFT+U);
* **cell size**: every host given (e.g. the main job's 16-atom cell and the shipped 32-atom
  one).

:func:`~mttmat.jobs.li_electron.study_table` turns the comparisons into one
:class:`~mttmat.schemas.li_electron.LiElectronStudyDoc` row per case;
``mttmat li-electron-study`` runs it and draws ``li_electron_study.png``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Maker
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.backends.defaults import default_hubbard_u
from mttmat.jobs.dos import dos_document, summarize_li_dos
from mttmat.jobs.li_electron import (
    compare_li_solutions,
    li_at_void_centre,
    polaron_start,
    study_table,
)
from mttmat.jobs.sites import screen_li_sites

__all__ = ["LiElectronStudyMaker", "study_markdown"]

GEOMETRIES = ("unrelaxed", "ml", "dft")


@dataclass
class LiElectronStudyMaker(Maker):
    """Band vs polaron of Li_i^0 over U, geometry and cell (see the module doc).

    Parameters
    ----------
    u_values
        U_eff (eV) of the host's cation for the U scan (ML geometry); the settings' U of
        that cation (the main chain's) is always added.
    u_reference
        U of the geometry scan (default: the settings' U of the cation).
    geometries
        Geometries compared at ``u_reference``: any of ``unrelaxed``, ``ml``, ``dft``.
    dft_kwargs
        DFT options of every cell (``kpts``, ``ecut_ev`` ...), the main chain's by default.
    """

    name: str = "li electron study"
    ml_backend: str = "chgnet"
    dft_backend: str = "gpaw"
    u_values: tuple[float, ...] = (0.0, 3.0, 6.2)
    u_reference: float | None = None
    geometries: tuple[str, ...] = ("unrelaxed", "ml")
    dft_kwargs: dict = field(default_factory=dict)
    polaron_distortion_a: float = 0.1
    max_candidates: int = 6
    relax_fmax: float = 0.1
    relax_steps: int = 30

    def make(self, hosts: dict[str, Structure]) -> Flow:
        """One flow over every host (label → Li-free amorphous cell)."""
        bad = sorted(set(self.geometries) - set(GEOMETRIES))
        if bad:
            raise ValueError(f"unknown geometries {bad}; choose from {list(GEOMETRIES)}")
        dft = get_backend(self.dft_backend)
        jobs: list[Any] = []
        comparisons, cases = [], []
        for label, host in hosts.items():
            dft.check_structure(host)
            cations = sorted({e.symbol for e in host.composition.elements} - {"O", "Li"})
            screen = screen_li_sites(host, n_sites=1, n_lowest=1, backend=self.ml_backend,
                                     max_candidates=self.max_candidates)  # fmt: skip
            screen.name = f"{label}: Li site screening"
            jobs.append(screen)
            geoms: dict[str, Any] = {"ml": screen.output.selected_structures[0]}
            if "unrelaxed" in self.geometries:
                un = li_at_void_centre(screen.output, host)
                un.name = f"{label}: Li at the void centre"
                jobs.append(un)
                geoms["unrelaxed"] = un.output
            u_main = default_hubbard_u().get(cations[0], 0.0) if cations else 0.0
            u_ref = u_main if self.u_reference is None else self.u_reference
            want = [("ml", u) for u in sorted({*map(float, self.u_values), u_main})]
            want += [(g, u_ref) for g in self.geometries if (g, u_ref) not in want]
            hosts_done: dict[float, Any] = {}
            for geom, u in want:
                kw = {**self.dft_kwargs, "hubbard_u_ev": dict.fromkeys(cations, float(u))}
                if geom == "dft" and "dft" not in geoms:
                    r = dft.relax_maker(
                        name=f"{label}: {dft.name} relax Li_i^0 band (U {u:g})",
                        calculator_kwargs={**kw, "spin_polarized": False},
                        relax_kwargs={"fmax": self.relax_fmax}, steps=self.relax_steps,
                    ).make(geoms["ml"])  # fmt: skip
                    jobs.append(r)
                    geoms["dft"] = r.output.structure
                if u not in hosts_done:
                    h = dft.static_maker(name=f"{label}: {dft.name} host (U {u:g})",
                                         calculator_kwargs={**kw, "spin_polarized": False})
                    hj = h.make(host)
                    hd = dos_document(hj.output, uuid=hj.uuid, code=dft.name)
                    hd.name = f"{label}: DOS host (U {u:g})"
                    jobs += [hj, hd]
                    hosts_done[u] = hd
                tag = f"{label}: {geom} U {u:g}"
                pol = polaron_start(geoms[geom], None, self.polaron_distortion_a)
                pol.name = f"{tag}: polaron start"
                band = dft.static_maker(name=f"{tag}: band", calculator_kwargs={
                    **kw, "spin_polarized": False}).make(geoms[geom])  # fmt: skip
                polj = dft.static_maker(name=f"{tag}: polaron", calculator_kwargs={
                    **kw, "spin_polarized": True}).make(pol.output)  # fmt: skip
                db = dos_document(band.output, uuid=band.uuid, code=dft.name)
                dp = dos_document(polj.output, uuid=polj.uuid, code=dft.name)
                summ = summarize_li_dos(hosts_done[u].output, [db.output, dp.output], n_li=1,
                                        labels=["band", "polaron"])  # fmt: skip
                cmp_ = compare_li_solutions(
                    band.output, polj.output, summ.output,
                    {"band": "spin-paired", "polaron": "spin-polarised, symmetry-broken"},
                    {"band": band.uuid, "polaron": polj.uuid},
                )  # fmt: skip
                for j, n in ((db, "DOS band"), (dp, "DOS polaron"), (summ, "DOS summary"),
                             (cmp_, "band vs polaron")):  # fmt: skip
                    j.name = f"{tag}: {n}"
                jobs += [pol, band, polj, db, dp, summ, cmp_]
                comparisons.append(cmp_.output)
                cases.append({"cell": label, "n_atoms": len(host) + 1, "geometry": geom,
                              "u_ev": float(u)})  # fmt: skip
        settings = {"dft_backend": dft.name, "ml_backend": self.ml_backend,
                    "dft_kwargs": self.dft_kwargs, "u_reference": self.u_reference,
                    "u_main": default_hubbard_u(),
                    "polaron_distortion_a": self.polaron_distortion_a}  # fmt: skip
        table = study_table(comparisons, cases, settings)
        table.name = "study table"
        jobs.append(table)
        return Flow(jobs, output=table.output, name=self.name)


def study_markdown(rows: list[dict[str, Any]]) -> str:
    """The study's rows as a Markdown table (levels: highest occupied Kohn-Sham level of the
    Li electron − aligned host CBM; participation: cations holding it)."""
    lines = [
        "| cell | atoms | geometry | U (eV) | E_pol − E_band (eV) | ground | spin-paired: level "
        "− CBM (eV), cations | spin-polarised: level − CBM (eV), cations, max moment (μ_B) |"
        " e above CBM, spin-paired |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def num(x: Any, f: str) -> str:
        return "–" if x is None else format(x, f)

    for r in rows:
        ground = r["ground_state"]
        if ground == "polaron" and not r.get("polaron_localized", True):
            ground = "spin-polarised, delocalised"
        elif ground == "polaron":
            ground = "spin-polarised, localised"
        else:
            ground = "spin-paired"
        lines.append(
            f"| {r['cell']} | {r['n_atoms']} | {r['geometry']} | {r['u_ev']:g} | "
            f"{r['delta_e_polaron_minus_band_ev']:+.3f} | {ground} | "
            f"{r['highest_occupied_minus_cbm_band_ev']:+.2f}, "
            f"{num(r.get('participation_band'), '.1f')} | "
            f"{num(r.get('highest_occupied_minus_cbm_polaron_ev'), '+.2f')}, "
            f"{num(r.get('participation_polaron'), '.1f')}, "
            f"{r.get('max_moment_polaron_mub') or 0:.2f} | "
            f"{r['electrons_above_cbm_band']:.2f} |"
        )
    return "\n".join(lines)

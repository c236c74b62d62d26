"""One material from atoms to ECRAM parameters, as one jobflow flow (the main job's unit).

:class:`MaterialChainMaker` chains the stage flows and jobs of the package on one small cell:

1. melt-quench with the ML potential (:class:`~mttmat.flows.melt_quench.MeltQuenchMaker`,
   with its enforced melt check), unless the start is already an amorphous cell;
2. Li site screening (ML; :func:`~mttmat.flows.li_sites.screen_li_sites`), up to
   ``network_sites`` distinct sites;
3. DFT+U (GPAW) single points, one U / cutoff / k-mesh for every cell: host (spin-paired),
   Li_i^0 twice (band: spin-paired; polaron: spin-polarised from a symmetry-broken start,
   :mod:`mttmat.jobs.li_electron`), Li_i^+ (closed shell), two Li relaxed together;
   optionally a DFT relax of the host and both Li_i^0 solutions first;
4. DOS documents, :class:`~mttmat.schemas.dos.LiDosSummary`, the band-vs-polaron
   :class:`~mttmat.schemas.li_electron.LiElectronDoc` (the lower solution is Li_i^0 from
   here on) and :class:`~mttmat.schemas.defects.LiFormationDoc` (μ_Li from a bcc Li job
   shared by all materials);
5. the hop network (:func:`~mttmat.jobs.hop_network.ml_hop_network`): ML CI-NEB of the
   shortest hops between the sites and the percolation barrier on absolute saddle energies,
   then DFT energies of every image of the limiting hop's band (:func:`dft_band_energies`),
   or a DFT CI-NEB seeded by it;
6. :func:`channel_parameters`: the computed entries of
   :class:`~mttmat.device.parameters.EcramParameters`, each with its source uuids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jobflow import Flow, Job, Maker, job
from pymatgen.core import Structure

from mttmat.analysis.hops import network_barrier
from mttmat.backends import get_backend
from mttmat.flows.li_dos import dos_document, summarize_li_dos
from mttmat.flows.li_formation import li_formation_summary, multi_li_cell
from mttmat.flows.li_migration import neb_hop
from mttmat.flows.li_sites import screen_li_sites
from mttmat.flows.melt_quench import MeltQuenchMaker
from mttmat.jobs.band_energies import (  # noqa: F401  (re-exported)
    BAND_PROGRESS_FILE,
    BandEnergiesDoc,
    dft_band_energies,
    hop_between_sites,
)
from mttmat.jobs.hop_network import ml_hop_network
from mttmat.jobs.li_electron import compare_li_solutions, polaron_start
from mttmat.jobs.melt_quench import MeltQuenchSchedule

__all__ = [
    "BandEnergiesDoc",
    "MaterialChainMaker",
    "channel_parameters",
    "dft_band_energies",
    "electrons_per_li",
    "hop_between_sites",
]

def _structure(s: Any) -> Structure:
    return Structure.from_dict(s) if isinstance(s, dict) else s


def _doc(d: Any) -> dict[str, Any]:
    return d if isinstance(d, dict) else d.model_dump()


def electrons_per_li(cell: dict[str, Any], site_dos: dict[str, Any]) -> tuple[float, str]:
    """Electrons per Li that the host cations carry, and how (from the Li_i^0 cell).

    * ≥ 0.5 e per Li at or above the aligned host CBM: band electrons (that number);
    * else, in a spin-polarised cell whose unpaired electron is not on Li (Li local moment
      < 0.2 μ_B, total ≥ 0.5 μ_B) and is localised on the cations (one cation ≥ 0.5 μ_B or
      the DOS summary's ``polaron_like``): a polaron, however deep (in small cells with U
      the polaron level can sit near the VBM); it carries charge by thermally activated
      hopping, so it counts as one carrier per Li. A spin-polarised electron spread over
      the cell but below the CBM is no polaron and no band electron: 0;
    * else 0: the electron stays on Li, or a spin-paired cell holds it in a gap state (half
      an electron per spin there means the spin-polarised solution was not found, not a
      carrier).
    """
    n_li = max(1, int(cell["n_li"]))
    free = float(cell["electrons_above_host_cbm"]) / n_li
    depth = -float(cell["highest_occupied_above_host_cbm_ev"])
    if free >= 0.5:
        return min(3.0, free), f"{free:.2f} e per Li above the host CBM: band electrons"
    moments = site_dos.get("magnetic_moments_mub")
    total = site_dos.get("total_magnetic_moment_mub")
    if moments and total is not None:
        m_li = sum(abs(m) for m, sp in zip(moments, site_dos["species"], strict=True)
                   if sp == "Li")  # fmt: skip
        local = (cell.get("max_local_moment_mub") or 0.0) >= 0.5 or bool(cell.get("polaron_like"))
        if m_li < 0.2 and abs(total) >= 0.5 and local:
            part = cell.get("extra_electron_participation")
            return min(1.0, abs(total) / n_li), (
                f"the Li electron sits on the host cations (largest local moment "
                f"{cell['max_local_moment_mub']:.2f} μ_B, participation "
                f"{part if part is not None else float('nan'):.1f} cations), {depth:.2f} eV "
                "below the host CBM: a localised (polaron) carrier that conducts by hopping"
            )
    return 0.0, f"the Li electron is trapped {depth:.2f} eV below the host CBM (no carrier)"


@job
def channel_parameters(
    material: str,
    host: Any,
    screening: Any,
    dos_summary: Any,
    formation: Any,
    network: Any,
    band: Any,
    site_dos: dict[str, Any],
    uuids: dict[str, str],
    electron: Any,
) -> dict[str, Any]:
    """The computed :class:`EcramParameters` entries of one material (JSON dict).

    * site-energy mean: E_f(Li_i^0) at the lowest site = the insertion energy vs bcc Li (DFT);
    * site-energy spread σ: standard deviation of the ML energies of the distinct screened
      sites (ML fidelity: the DFT covers one site only at this size);
    * electrons per Li: :func:`electrons_per_li` of the lower-energy Li_i^0 solution
      (``electron``, a :class:`~mttmat.schemas.li_electron.LiElectronDoc`; ``site_dos`` holds
      the DOS document of each solution by label): conduction-band electrons, or the
      electron of a polaron on the host cations, which conducts by hopping (the calibrated
      mobility absorbs that, and the note says which it was);
    * channel barrier: the percolation barrier of the hop network (``network``, a
      :class:`~mttmat.schemas.hop_network.HopNetworkDoc`), with the DFT saddle of its
      limiting hop where the DFT ``band`` has one (:func:`network_barrier`); the literature
      value, saying why, when the hops do not percolate;
    * hop length: mean length of the hops at or below the percolating saddle;
    * metal density: the host cell.
    """
    from mttmat.device.build import metal_density_cm3
    from mttmat.device.parameters import EcramParameters, Param, ParameterError, Source

    host = _structure(host)
    scr, dos, form, net = _doc(screening), _doc(dos_summary), _doc(formation), _doc(network)
    el = _doc(electron)
    ground = el["ground_state"]
    p = EcramParameters.paper_defaults(material)
    cell = next(c for c in dos["cells"] if c["label"] == ground)
    site = form["sites"][0]
    de = site["intercalation_energy_ev"]
    if de is None:
        raise ParameterError(f"{material}: no Li_i^0 energy in the formation document")
    ef_src = Source(
        kind="dft",
        uuids=[uuids["host"], uuids["bcc Li"], uuids[f"Li_i q=+0 {ground}"]],
        fidelity="dft",
        note=f"E_f(Li_i^0, {ground} solution, the lower) at the lowest ML site = insertion "
        "energy vs bcc Li",
    )
    energies = [
        c["energy_ev"]
        for c in scr["candidates"]
        if c.get("duplicate_of") is None and c.get("energy_ev") is not None
    ]
    updates: dict[str, Param] = {
        "site_energy_mean_ev": Param(value=float(de), unit="eV", source=ef_src),
        "w_density_cm3": Param(
            value=metal_density_cm3(host),
            unit="cm^-3",
            source=Source(kind="structure", note=f"{host.composition.formula} cell"),
        ),
    }
    if len(energies) >= 2:
        updates["site_energy_sigma_ev"] = Param(
            value=float(np.std(energies, ddof=1)),
            unit="eV",
            source=Source(
                kind="dft", uuids=[uuids["screening"]], fidelity="ml",
                note=f"σ of the ML energies of {len(energies)} distinct Li sites",
            ),
        )  # fmt: skip
    donated, note = electrons_per_li(cell, _doc(site_dos[ground]))
    de = el["delta_e_polaron_minus_band_ev"]
    updates["electrons_per_li"] = Param(
        value=donated,
        unit="e",
        source=Source(
            kind="dft", uuids=[uuids["DOS host"], uuids[f"DOS {ground}"], uuids["electron"]],
            fidelity="dft",
            note=f"carrier picture of the {el.get('ground_state_name') or ground} solution, "
            f"the lower by {abs(de):.3f} eV "
            f"(polaron − band = {de:+.3f} eV): {note}",
        ),
    )  # fmt: skip
    mig_uuids = [uuids["hop network"]] + ([uuids["DFT band"]] if "DFT band" in uuids else [])
    value, fidelity, why, k = network_barrier(net, _doc(band) if band is not None else None)
    if value is not None:
        updates["channel_barrier_ev"] = Param(
            value=value,
            unit="eV",
            source=Source(kind="dft", uuids=mig_uuids, fidelity=fidelity, note=why),
        )
    else:  # no percolating path among the computed hops: the literature value, and why
        lit = p.channel_barrier_ev
        updates["channel_barrier_ev"] = Param(
            value=lit.value,
            unit=lit.unit,
            source=lit.source.model_copy(update={"note": f"{why}; literature value"}),
        )
    s_lim = net["hops"][k]["saddle_ev"]
    lengths = [h["length_a"] for h in net["hops"] if h["saddle_ev"] <= s_lim + 1e-9]
    updates["hop_length_a"] = Param(
        value=float(np.mean(lengths)),
        unit="Å",
        source=Source(kind="dft", uuids=[uuids["hop network"]], fidelity="ml",
                      note=f"mean of the {len(lengths)} hops at or below the limiting saddle"),
    )  # fmt: skip
    return json.loads(p.updated(**updates).model_dump_json())


@dataclass
class MaterialChainMaker(Maker):
    """Atoms → ECRAM parameters for one material on a small cell (see the module doc).

    Parameters
    ----------
    material
        Label, e.g. ``WOx``.
    melt_quench
        A :class:`MeltQuenchSchedule` (or dict), or None when the start cell is already the
        host (e.g. a shipped amorphous cell).
    dft_kwargs
        GPAW options of every cell (``kpts``, ``kpts_gamma``, ``ecut_ev``, ``smearing_ev`` ...).
    neb_dft
        ``energies`` (DFT single points on the ML band), ``ci-neb`` (DFT CI-NEB seeded with the
        ML band) or ``none`` (ML barrier only).
    neb_charge
        Cell charge of the DFT band: +1 (the Li ion migrates, closed shell, no polaron to drag
        along) or 0 (neutral Li, spin-polarised like Li_i^0).
    """

    name: str = "material chain"
    material: str = "WOx"
    ml_backend: str = "chgnet"
    dft_backend: str = "gpaw"
    melt_quench: MeltQuenchSchedule | dict | None = None
    max_candidates: int = 6
    screening_fmax: float = 0.05
    dft_kwargs: dict = field(default_factory=dict)
    polaron_distortion_a: float = 0.1
    polaron_moment_mub: float = 1.0
    two_li_spin_polarized: bool = False
    dft_relax: bool = False
    relax_fmax: float = 0.1
    relax_steps: int = 40
    dielectric: float = 25.0
    dielectric_source: str = "assumed"
    network_sites: int = 4
    min_hops: int = 3
    max_hops: int = 4
    max_hop_length_a: float = 5.0
    neb_images: int = 3
    neb_fmax: float = 0.05
    neb_max_steps: int = 200
    neb_dft: str = "energies"
    neb_charge: int = 1
    dos_width_ev: float = 0.1

    def make(self, start: Structure, li_metal: Any, parent: Structure | None = None) -> Flow:
        """The flow of one material; ``li_metal`` is the output of the shared bcc Li job."""
        dft = get_backend(self.dft_backend)
        jobs: list[Job | Flow] = []
        uuids: dict[str, str] = {}
        host: Any = start
        if self.melt_quench is not None:
            mq = MeltQuenchMaker(
                name="melt-quench", backend=self.ml_backend, schedule=self.melt_quench
            ).make(start, parent=parent)
            jobs.append(mq)
            _tag(mq, "melt-quench")
            host = mq.output["cells"][0].structure
            uuids["melt-quench"] = mq.jobs[-2].uuid  # the analysis job of the cell
        screen = screen_li_sites(
            host, n_sites=2, n_lowest=self.network_sites, backend=self.ml_backend,
            max_candidates=self.max_candidates, fmax=self.screening_fmax,
            n_sites_max=self.network_sites,
        )  # fmt: skip
        screen.name = "Li site screening"
        _tag(screen, "Li site screening")
        jobs.append(screen)
        uuids["screening"] = screen.uuid
        kw = dict(self.dft_kwargs)
        li0 = screen.output.selected_structures[0]
        host_kw = {**kw, "spin_polarized": False}
        band_kw = {**kw, "spin_polarized": False}
        pol_kw = {**kw, "spin_polarized": True}
        pol0 = polaron_start(li0, None, self.polaron_distortion_a, self.polaron_moment_mub)
        pol0.name = "polaron start"
        _tag(pol0, "DFT+U single points")
        jobs.append(pol0)
        pol_start = pol0.output
        if self.dft_relax:
            for label, s, ckw in (
                ("host", host, host_kw), ("Li_i^0 band", li0, band_kw),
                ("Li_i^0 polaron", pol_start, pol_kw),
            ):  # fmt: skip
                r = dft.relax_maker(
                    name=f"{dft.name} relax {label}", calculator_kwargs=ckw,
                    relax_kwargs={"fmax": self.relax_fmax}, steps=self.relax_steps,
                ).make(s)  # fmt: skip
                _tag(r, "DFT+U relax")
                jobs.append(r)
                uuids[f"relax {label}"] = r.uuid
                if label == "host":
                    host = r.output.structure
                elif label == "Li_i^0 band":
                    li0 = r.output.structure
                else:
                    pol_start = r.output.structure
        statics = {}
        for label, s, ckw in (
            ("host", host, host_kw),
            ("Li_i q=+0 band", li0, band_kw),
            ("Li_i q=+0 polaron", pol_start, pol_kw),
            ("Li_i q=+1", li0, {**kw, "charge": 1.0, "spin_polarized": False}),
        ):
            j = dft.static_maker(name=f"{dft.name} {label}", calculator_kwargs=ckw).make(s)
            _tag(j, "DFT+U single points")
            jobs.append(j)
            statics[label] = j
            uuids[label] = j.uuid
        uuids["bcc Li"] = li_metal.uuid
        dos_jobs = {}
        for label, key in (("host", "host"), ("band", "Li_i q=+0 band"),
                           ("polaron", "Li_i q=+0 polaron")):  # fmt: skip
            st = statics[key]
            d = dos_document(st.output, uuid=st.uuid, width_ev=self.dos_width_ev)
            d.name = f"DOS {label}"
            dos_jobs[label] = d
            uuids[f"DOS {label}"] = d.uuid
        dos_sum = summarize_li_dos(
            dos_jobs["host"].output, [dos_jobs["band"].output, dos_jobs["polaron"].output],
            n_li=1, labels=["band", "polaron"],
            uuids={k: v for k, v in uuids.items() if k != "melt-quench"},
        )  # fmt: skip
        dos_sum.name = "Li DOS summary"
        moment = f"{self.polaron_moment_mub:g} μ_B"
        treatments = {
            "band": "spin-paired, no moments"
            + (" (DFT-relaxed)" if self.dft_relax else ", ML-relaxed geometry"),
            "polaron": f"spin-polarised from {moment} on the cation nearest Li, first "
            f"converged with its O shell pushed out {self.polaron_distortion_a:g} Å (a start "
            "only)" + (", then DFT-relaxed" if self.dft_relax
                       else ", then at the band solution's geometry"),
        }  # fmt: skip
        electron = compare_li_solutions(
            statics["Li_i q=+0 band"].output, statics["Li_i q=+0 polaron"].output,
            dos_sum.output, treatments,
            {"band": statics["Li_i q=+0 band"].uuid,
             "polaron": statics["Li_i q=+0 polaron"].uuid},
            same_geometry=not self.dft_relax,
        )  # fmt: skip
        electron.name = "Li electron: band vs polaron"
        two = multi_li_cell(host, screen.output.selected_structures, 2, self.ml_backend,
                            self.screening_fmax)  # fmt: skip
        two.name = f"two Li cell ({self.ml_backend} relax)"
        # spin-paired: its SCF took 3-4x the one-Li polaron's when spin-polarised from one
        # moment per Li (108 and 152 s here), past the run's budget. When the Li electrons
        # localise, E(2 Li) is then an upper bound and the two-Li voltage a lower bound; the
        # report says so. two_li_spin_polarized=True computes it spin-polarised.
        two_jobs: list[Job] = [two]
        two_cell, two_kw = two.output, {**kw, "spin_polarized": False}
        if self.two_li_spin_polarized:
            two_start = polaron_start(two.output, None, 0.0, self.polaron_moment_mub)
            two_start.name = "two Li start moments"
            two_jobs.append(two_start)
            two_cell, two_kw = two_start.output, {**kw, "spin_polarized": True}
        two_static = dft.static_maker(name=f"{dft.name} two Li",
                                      calculator_kwargs=two_kw).make(two_cell)  # fmt: skip
        two_jobs.append(two_static)
        _tag(two_jobs, "DFT+U single points")
        jobs += two_jobs
        uuids["two Li"] = two_static.uuid
        q1 = statics["Li_i q=+1"]
        cells = [
            {"label": "site 1", "q": 1, "doc": q1.output, "uuid": q1.uuid},
            {"label": "site 1", "q": 0, "doc": electron.output.ground_state_doc,
             "uuid": electron.uuid},
        ]
        form = li_formation_summary(
            statics["host"].output, li_metal.output, cells, self.dielectric,
            self.dielectric_source, None, {"doc": two_static.output}, 300.0,
            {"screening": uuids["screening"], "host": uuids["host"], "bcc Li": uuids["bcc Li"],
             "Li_i q=+0": electron.uuid, "Li_i q=+1": q1.uuid, "two Li": two_static.uuid},
        )  # fmt: skip
        form.name = "Li formation summary"
        _tag([*dos_jobs.values(), dos_sum, electron, form], "DOS and formation documents")
        jobs += [*dos_jobs.values(), dos_sum, electron, form]
        uuids["DOS summary"], uuids["formation"] = dos_sum.uuid, form.uuid
        uuids["electron"] = electron.uuid
        net = ml_hop_network(
            screen.output, self.ml_backend, self.neb_images, self.neb_fmax,
            self.neb_max_steps, self.min_hops, self.max_hops, self.max_hop_length_a,
        )  # fmt: skip
        net.name = f"{self.ml_backend} hop network"
        _tag(net, "ML hop network (CI-NEB)")
        jobs.append(net)
        uuids["hop network"] = net.uuid
        band = None
        spin_band = self.neb_charge == 0
        band_kw = {**kw, "charge": float(self.neb_charge), "spin_polarized": spin_band}
        lim = net.output.limiting_band
        if self.neb_dft == "energies":
            band = dft_band_energies(lim, dft.name, band_kw, path_uuid=net.uuid)
            band.name = f"{dft.name} energies on the limiting band"
            _tag(band, "DFT energies on the band")
        elif self.neb_dft == "ci-neb":
            band = neb_hop(
                lim["images"][0], lim["images"][-1], lim["hop"], dft.name, self.neb_images,
                self.neb_fmax, seed_images=lim["images"], seed_fidelity="ml",
                calculator_kwargs=band_kw, max_steps=self.neb_max_steps,
            )  # fmt: skip
            band.name = f"{dft.name} CI-NEB of the limiting hop"
            _tag(band, "DFT CI-NEB")
        elif self.neb_dft != "none":
            raise ValueError(f"neb_dft must be energies, ci-neb or none, got {self.neb_dft!r}")
        if band is not None:
            jobs.append(band)
            uuids["DFT band"] = band.uuid
        params = channel_parameters(
            self.material, host, screen.output, dos_sum.output, form.output, net.output,
            band.output if band is not None else None,
            {k: dos_jobs[k].output for k in ("band", "polaron")}, dict(uuids), electron.output,
        )
        params.name = "ECRAM channel parameters"
        _tag(params, "ECRAM parameters")
        jobs.append(params)
        uuids["parameters"] = params.uuid
        for j in _all_jobs(jobs):
            j.name = f"{self.material}: {j.name}"
            j.metadata["material"] = self.material
        return Flow(
            jobs,
            output={"parameters": params.output, "uuids": uuids, "host": host},
            name=f"{self.material} chain",
        )


def _tag(items: Any, stage: str) -> None:
    """Label every job of ``items`` (a job, a flow or a list) with its stage (timings)."""
    for j in _all_jobs(items if isinstance(items, list) else [items]):
        j.metadata["stage"] = stage


def _all_jobs(items: list[Any]) -> list[Job]:
    out: list[Job] = []
    for it in items:
        out.extend(_all_jobs(list(it.jobs)) if isinstance(it, Flow) else [it])
    return out

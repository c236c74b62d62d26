"""One material from atoms to ECRAM parameters, as one jobflow flow (the main job's unit).

:class:`MaterialChainMaker` chains the stage flows and jobs of the package on one small cell:

1. melt-quench with the ML potential (:class:`~mttmat.flows.melt_quench.MeltQuenchMaker`,
   with its enforced melt check), unless the start is already an amorphous cell;
2. Li site screening (ML; :func:`~mttmat.jobs.sites.screen_li_sites`), up to
   ``network_sites`` distinct sites;
3. DFT+U (GPAW) single points, one U / cutoff / k-mesh for every cell: host (spin-paired),
   Li_i^0 twice (band: spin-paired; polaron: spin-polarised from a symmetry-broken start,
   :mod:`mttmat.jobs.li_electron`), Li_i^+ (closed shell), two Li relaxed together;
   optionally a DFT relax of the host and both Li_i^0 solutions first;
4. DOS documents, :class:`~mttmat.schemas.dos_summary.LiDosSummary`, the band-vs-polaron
   :class:`~mttmat.schemas.li_electron.LiElectronDoc` (the lower solution is Li_i^0 from
   here on) and :class:`~mttmat.schemas.defects.LiFormationDoc` (μ_Li from a bcc Li job
   shared by all materials);
5. the hop network (:func:`~mttmat.jobs.hop_network.ml_hop_network`): ML CI-NEB of the
   shortest hops between the sites and the percolation barrier on absolute saddle energies,
   then DFT energies of every image of the limiting hop's band (:func:`dft_band_energies`),
   or a DFT CI-NEB seeded by it; with ``finetune``, CHGNet is first fine-tuned on this
   chain's DFT frames (:func:`~mttmat.flows.finetune.finetune_stage`) and the fine-tuned
   model's sites and hop network take the place of the pretrained ones from here on;
6. :func:`channel_parameters`: the computed entries of
   :class:`~mttmat.device.parameters.EcramParameters`, each with its source uuids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Job, Maker
from pymatgen.core import Structure

from mttmat.backends import Backend, BackendError, get_backend
from mttmat.device.build import electrons_per_li
from mttmat.flows.finetune import finetune_stage
from mttmat.flows.melt_quench import MeltQuenchMaker
from mttmat.jobs.band_energies import (  # noqa: F401  (re-exported)
    BAND_PROGRESS_FILE,
    BandEnergiesDoc,
    dft_band_energies,
    hop_between_sites,
)
from mttmat.jobs.chain import chain_document, channel_parameters
from mttmat.jobs.dos import dos_document, summarize_li_dos
from mttmat.jobs.formation import li_formation_summary, multi_li_cell
from mttmat.jobs.hop_network import ml_hop_network
from mttmat.jobs.labels import finetune_effect
from mttmat.jobs.li_electron import compare_li_solutions, polaron_start
from mttmat.jobs.migration import neb_hop
from mttmat.jobs.sites import screen_li_sites

#: the DFT settings a chain fixes for every cell when its flow is built
DFT_SETTINGS = ("hubbard_u_ev", "hubbard_l", "kpts", "kpts_gamma", "ecut_ev", "smearing_ev")

__all__ = [
    "DFT_SETTINGS",
    "BandEnergiesDoc",
    "MaterialChainMaker",
    "dft_band_energies",
    "electrons_per_li",
    "hop_between_sites",
]


@dataclass
class MaterialChainMaker(Maker):
    """Atoms → ECRAM parameters for one material on a small cell (see the module doc).

    The stage makers are injected: ``ml`` and ``dft`` are backends (their ``static_maker``
    and ``relax_maker`` make every DFT job; ``ml.name`` is the potential the screening, the
    two-Li relax and the hop network load on the worker), ``melt_quench_maker`` is a
    :class:`~mttmat.flows.melt_quench.MeltQuenchMaker` (or its VASP AIMD subclass). The one
    step whose jobs differ per code, DFT on the ML band, is :meth:`dft_band`: in-process
    here, atomate2 VASP jobs in :class:`mttmat.flows.vasp.VaspMaterialChainMaker` (atomate2's
    pattern: ``common/flows/defect.py`` with ``vasp/flows/defect.py``). Nothing here looks
    at a backend's name.

    Parameters
    ----------
    material
        Label, e.g. ``WOx``.
    ml, dft
        The ML potential (sites, hops) and the DFT code (GPAW locally, VASP on HPC).
    melt_quench_maker
        The melt-quench of the start cell, or None when the start cell is already the host
        (e.g. a shipped amorphous cell).
    dft_kwargs
        The code-agnostic DFT settings of every cell, complete (:data:`DFT_SETTINGS`: U and
        its l per species, ``kpts``, ``kpts_gamma``, ``ecut_ev``, ``smearing_ev``); the
        backend turns them into its code's inputs (GPAW parameters, VASP INCAR/KPOINTS).
    neb_dft
        ``energies`` (DFT single points on the ML band), ``ci-neb`` (DFT CI-NEB seeded with the
        ML band) or ``none`` (ML barrier only).
    neb_charge
        Cell charge of the DFT band: +1 (the Li ion migrates, closed shell, no polaron to drag
        along) or 0 (neutral Li, spin-polarised like Li_i^0).
    finetune
        None, or the options (:data:`~mttmat.flows.finetune.FINETUNE_OPTIONS`) of the stage that
        fine-tunes the ML potential on this chain's DFT frames
        (:func:`~mttmat.flows.finetune.finetune_stage`); the fine-tuned model
        then re-screens the Li sites and makes the hop network whose limiting band DFT checks.
    """

    name: str = "material chain"
    material: str = "WOx"
    ml: Backend = field(default_factory=lambda: get_backend("chgnet"))
    dft: Backend = field(default_factory=lambda: get_backend("gpaw"))
    melt_quench_maker: MeltQuenchMaker | None = None
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
    finetune: dict[str, Any] | None = None

    def make(self, start: Structure, li_metal: Any, parent: Structure | None = None) -> Flow:
        """The flow of one material; ``li_metal`` is the output of the shared bcc Li job."""
        dft, ml = self.dft, self.ml
        kw = self.calculator_kwargs()
        dft.check_structure(start)
        if self.neb_dft not in ("energies", "ci-neb", "none"):
            raise ValueError(f"neb_dft must be energies, ci-neb or none, got {self.neb_dft!r}")
        jobs: list[Job | Flow] = []
        uuids: dict[str, str] = {}
        host: Any = start
        if self.melt_quench_maker is not None:
            mq = self.melt_quench_maker.make(start, parent=parent)
            jobs.append(mq)
            _tag(mq, "melt-quench")
            host = mq.output["cells"][0].structure
            uuids["melt-quench"] = next(  # the analysis job of the cell
                j.uuid for j in _all_jobs([mq]) if j.metadata.get("role") == "amorphous analysis"
            )
        screen = screen_li_sites(
            host, n_sites=2, n_lowest=self.network_sites, backend=ml.name,
            max_candidates=self.max_candidates, fmax=self.screening_fmax,
            n_sites_max=self.network_sites,
        )  # fmt: skip
        screen.name = "Li site screening"
        _tag(screen, "Li site screening")
        jobs.append(screen)
        uuids["screening"] = screen.uuid
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
            d = dos_document(st.output, uuid=st.uuid, width_ev=self.dos_width_ev, code=dft.name)
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
        two = multi_li_cell(host, screen.output.selected_structures, 2, ml.name,
                            self.screening_fmax)  # fmt: skip
        two.name = f"two Li cell ({ml.name} relax)"
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
            code=dft.name,
        )  # fmt: skip
        form.name = "Li formation summary"
        _tag([*dos_jobs.values(), dos_sum, electron, form], "DOS and formation documents")
        jobs += [*dos_jobs.values(), dos_sum, electron, form]
        uuids["DOS summary"], uuids["formation"] = dos_sum.uuid, form.uuid
        uuids["electron"] = electron.uuid
        net = ml_hop_network(
            screen.output, ml.name, self.neb_images, self.neb_fmax,
            self.neb_max_steps, self.min_hops, self.max_hops, self.max_hop_length_a,
        )  # fmt: skip
        net.name = f"{ml.name} hop network"
        _tag(net, "ML hop network (CI-NEB)")
        jobs.append(net)
        uuids["hop network"] = net.uuid
        ml_screen, ml_net, ft = screen, net, None
        if self.finetune is not None:
            frames = {k: (j.uuid, j.output) for k, j in statics.items()}
            frames["two Li"] = (two_static.uuid, two_static.output)
            ft_jobs, roles = finetune_stage(self, screen, frames, net, host_kw)
            jobs += ft_jobs
            uuids["hop network (pretrained model)"] = net.uuid
            uuids.update({role: j.uuid for role, j in roles.items()})
            ft, ml_net = roles["fine-tuning"], roles["hop network"]
            ml_screen = roles["screening (fine-tuned model)"]
        band = None
        spin_band = self.neb_charge == 0
        band_kw = {**kw, "charge": float(self.neb_charge), "spin_polarized": spin_band}
        if self.neb_dft != "none":
            band = self.dft_band(ml_net.output.limiting_band, band_kw, path_uuid=ml_net.uuid)
            what = "energies on" if self.neb_dft == "energies" else "CI-NEB of"
            band.name = f"{dft.name} {what} the limiting band"
            _tag(band, "DFT energies on the band" if self.neb_dft == "energies" else "DFT CI-NEB")
            jobs.append(band)
            uuids["DFT band"] = band.output.uuid  # the document's job (a flow on VASP)
        if ft is not None:
            eff = finetune_effect(ml_net.output, band.output if band is not None else None,
                                  ft.output, self.material, float(self.neb_charge),
                                  spin_band, pretrained_network=net.output)  # fmt: skip
            eff.name = "fine-tuning: barriers before and after"
            _tag(eff, "ML fine-tuning")
            jobs.append(eff)
            uuids["fine-tuning effect"] = eff.uuid
        params = channel_parameters(
            self.material, host, ml_screen.output, dos_sum.output, form.output, ml_net.output,
            band.output if band is not None else None,
            {k: dos_jobs[k].output for k in ("band", "polaron")}, dict(uuids), electron.output,
        )
        params.name = "ECRAM channel parameters"
        jobs.append(params)
        uuids["parameters"] = params.uuid
        doc = chain_document(self.material, params.output, dict(uuids), ml.name, dft.name, kw)
        doc.name = "material chain document"
        jobs.append(doc)
        _tag([params, doc], "ECRAM parameters")
        for j in _all_jobs(jobs):
            j.name = f"{self.material}: {j.name}"
            j.metadata["material"] = self.material
        return Flow(jobs, output=doc.output, name=f"{self.material} chain")

    def dft_band(self, band: Any, calculator_kwargs: dict[str, Any],
                 path_uuid: str | None = None) -> Job | Flow:  # fmt: skip
        """DFT on the converged ML band (``band``: a reference to a
        :class:`~mttmat.schemas.migration.NebHopDoc` with its images, endpoints included),
        as ``neb_dft`` says: ``energies`` (one resumable job, a single point per image, a
        :class:`~mttmat.jobs.band_energies.BandEnergiesDoc`) or ``ci-neb`` (one resumable
        job relaxing the band, seeded by the ML images). In-process; codes that run as
        atomate2 jobs on a cluster override this.
        """
        if not self.dft.in_process:
            raise BackendError(
                f"{self.dft.name!r} does not run in-process, so MaterialChainMaker cannot run "
                "DFT on the band; use its subclass for that code "
                "(mttmat.flows.vasp.VaspMaterialChainMaker)"
            )
        if self.neb_dft == "energies":
            return dft_band_energies(band, self.dft.name, calculator_kwargs, path_uuid=path_uuid)
        return neb_hop(
            band["images"][0], band["images"][-1], band["hop"], self.dft.name, self.neb_images,
            self.neb_fmax, seed_images=band["images"], seed_fidelity="ml",
            calculator_kwargs=calculator_kwargs, max_steps=self.neb_max_steps,
        )  # fmt: skip

    def calculator_kwargs(self) -> dict[str, Any]:
        """The DFT settings every cell of this chain shares: ``dft_kwargs``, which must be
        complete (:data:`DFT_SETTINGS`; :func:`mttmat.chain.build.chain_maker` fills it from
        the config), so no job falls back on a code's or the environment's default.

        Raises
        ------
        ValueError
            Naming the missing settings and how to give them.
        """
        missing = [k for k in DFT_SETTINGS if k not in self.dft_kwargs]
        if missing:
            raise ValueError(
                f"the chain's dft_kwargs lack {missing}: every DFT setting is an input of the "
                "flow. Build the Maker with mttmat.chain.build.chain_maker(config, material), "
                "or pass dft_kwargs=DftConfig().calculator_kwargs([cation, 'O', 'Li'])"
            )
        return dict(self.dft_kwargs)


def _tag(items: Any, stage: str) -> None:
    """Label every job of ``items`` (a job, a flow or a list) with its stage (timings)."""
    for j in _all_jobs(items if isinstance(items, list) else [items]):
        j.metadata["stage"] = stage


def _all_jobs(items: list[Any]) -> list[Job]:
    out: list[Job] = []
    for it in items:
        out.extend(_all_jobs(list(it.jobs)) if isinstance(it, Flow) else [it])
    return out

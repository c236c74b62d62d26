"""The VASP side of the chain: the per-code subclasses of the common Makers (atomate2's
pattern: ``common/flows/defect.py`` with ``vasp/flows/defect.py``).

Only what really differs from the in-process (GPAW, CHGNet) code is here:

* :class:`VaspMeltQuenchMaker`: AIMD as atomate2 VASP ``MDMaker`` jobs, chunked, each
  continuing from the previous folder (CONTCAR with velocities);
* :class:`VaspMaterialChainMaker`: DFT on the ML band as atomate2 VASP jobs (statics per
  image, or endpoint relaxations → atomate2's CI-NEB job → its ``collect_neb_output``).

Every other stage of the chain, and the documents it ends in, are the common Makers'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Job
from pymatgen.core import Structure

from mttmat.backends import Backend, BackendError, get_backend
from mttmat.backends.vasp import NEB_PRECISION, VaspBackend, aimd_chunks
from mttmat.flows.material_chain import MaterialChainMaker
from mttmat.flows.melt_quench import MeltQuenchMaker, MeltQuenchMd
from mttmat.jobs.melt_quench import MeltQuenchSchedule, scaled_to_density
from mttmat.jobs.vasp_band import band_from_statics, neb_doc_from_vasp, reanchor_band

__all__ = ["VaspMaterialChainMaker", "VaspMeltQuenchMaker"]


@dataclass
class VaspMeltQuenchMaker(MeltQuenchMaker):
    """:class:`~mttmat.flows.melt_quench.MeltQuenchMaker` with AIMD in VASP (the backend's
    options: custodian changes, ``aimd_chunk_steps``)."""

    name: str = "melt-quench"
    backend: Backend | str = "vasp"

    def md_jobs(self, backend: Any, structure: Structure, schedule: MeltQuenchSchedule,
                tag: str = "") -> MeltQuenchMd:  # fmt: skip
        """atomate2 AIMD jobs for every schedule segment (TEBEG→TEEND ramps), each segment cut
        into chunks of at most ``aimd_chunk_steps`` steps (the ramp split with them), each
        chunk continuing from the previous job's folder (CONTCAR with velocities).

        VASP restarts per job: a chunk is the unit that a walltime or a node failure loses,
        and jobflow-remote's rerun of a failed chunk starts from the chunk before it, not
        from the start of the melt. No melt MSD is measured in the jobs (None)."""
        if not isinstance(backend, VaspBackend):
            raise BackendError(
                f"VaspMeltQuenchMaker runs VASP AIMD, its backend is {backend.name!r}; use "
                "MeltQuenchMaker for in-process MD"
            )
        calculator_kwargs = self.calculator_kwargs  # empty: the code defaults of the backend
        current: Any = scaled_to_density(structure, schedule.density_g_cm3)
        prev_dir = None
        jobs: list[Any] = []
        uuids: dict[str, str] = {}
        for stage in ("init", "melt", "quench"):
            for n, seg in enumerate(schedule.segments(stage)):
                chunks = aimd_chunks(seg.t_start_k, seg.t_end_k, seg.n_steps,
                                     backend.aimd_chunk_steps)  # fmt: skip
                for k, (t0, t1, steps) in enumerate(chunks):
                    maker = backend.md_maker(
                        (t0, t1), steps,
                        timestep_fs=schedule.time_step_fs,
                        ensemble=schedule.ensemble,
                        thermostat=schedule.thermostat,
                        n_species=len(structure.composition.elements),
                        friction_per_ps=schedule.friction_per_ps,
                        taut_fs=schedule.taut_fs,
                        andersen_prob=schedule.andersen_prob,
                        **({"calculator_kwargs": calculator_kwargs} if calculator_kwargs else {}),
                    )  # fmt: skip
                    j = maker.make(current, prev_dir=prev_dir)
                    part = f" part {k + 1}/{len(chunks)}" if len(chunks) > 1 else ""
                    j.name = f"{stage} {n} AIMD{part}{tag}"
                    uuids[f"{stage}{n}" + (f".{k}" if len(chunks) > 1 else "")] = j.uuid
                    jobs.append(j)
                    current, prev_dir = j.output.structure, j.output.dir_name
        return MeltQuenchMd(jobs=jobs, structure=current, uuids=uuids)


@dataclass
class VaspMaterialChainMaker(MaterialChainMaker):
    """:class:`~mttmat.flows.material_chain.MaterialChainMaker` whose DFT code is VASP
    (atomate2 jobs on a cluster): the same stages, documents and ``EcramParameters``; only
    :meth:`dft_band` differs."""

    dft: Backend = field(default_factory=lambda: get_backend("vasp"))

    def __post_init__(self) -> None:
        if not isinstance(self.dft, VaspBackend):
            raise BackendError(
                f"VaspMaterialChainMaker runs its DFT band in VASP, its dft backend is "
                f"{self.dft.name!r}; use MaterialChainMaker for in-process codes"
            )

    def dft_band(self, band: Any, calculator_kwargs: dict[str, Any],
                 path_uuid: str | None = None) -> Job | Flow:  # fmt: skip
        """DFT on the converged ML band, as atomate2 VASP jobs.

        ``energies``: one static per image of the ML band (endpoints included), then
        :func:`~mttmat.jobs.vasp_band.band_from_statics`. ``ci-neb``: both endpoints
        relaxed in VASP (``relax``, the band's charge), the ML band moved onto them
        (:func:`~mttmat.jobs.vasp_band.reanchor_band`), a VASP CI-NEB of it
        (:meth:`~mttmat.backends.vasp.VaspBackend.neb_maker`: atomate2's NEB job with its
        ``VaspNebFilesValidator``), its output collected with the endpoints by atomate2's
        ``collect_neb_output`` and turned
        into the same :class:`~mttmat.schemas.migration.NebHopDoc` as a local CI-NEB
        (:func:`~mttmat.jobs.vasp_band.neb_doc_from_vasp`).
        """
        vasp, mode = self.dft, self.neb_dft
        n_images, fmax, max_steps = self.neb_images, self.neb_fmax, self.neb_max_steps
        if mode == "energies":
            statics = []
            for k in range(n_images + 2):
                maker = vasp.static_maker(name=f"vasp band image {k}",
                                          calculator_kwargs=calculator_kwargs)  # fmt: skip
                statics.append(maker.make(band["images"][k]))
            doc = band_from_statics(band, [j.output for j in statics], vasp.name,
                                    calculator_kwargs, path_uuid=path_uuid)  # fmt: skip
            doc.name = "vasp energies on the band"
            return Flow([*statics, doc], output=doc.output, name="vasp energies on the band")
        from atomate2.vasp.jobs.neb import collect_neb_output  # atomate2 VASP jobs: lazily

        ends = []
        for k, where in ((0, "initial"), (-1, "final")):
            relax = vasp.relax_maker(name=f"vasp relax {where} endpoint", steps=max_steps,
                                     relax_kwargs={"fmax": fmax},
                                     calculator_kwargs=calculator_kwargs,
                                     user_incar_settings=dict(NEB_PRECISION))  # fmt: skip
            ends.append(relax.make(band["images"][k]))
        seed = reanchor_band(band, ends[0].output.structure, ends[1].output.structure)
        seed.name = "ML band on the VASP endpoints"
        neb = vasp.neb_maker(n_images, calculator_kwargs=calculator_kwargs,
                             steps=max_steps, fmax=fmax).make(seed.output)  # fmt: skip
        neb.name = "vasp CI-NEB"
        collect = collect_neb_output([e.output.dir_name for e in ends], neb.output.dir_name,
                                     store_calculations=False)  # MongoDB's 16 MB per document
        collect.name = "collect vasp CI-NEB"
        doc = neb_doc_from_vasp(band, collect.output, [e.output for e in ends],
                                neb.output, calculator_kwargs, fmax, max_steps)  # fmt: skip
        doc.name = "vasp CI-NEB document"
        return Flow([*ends, seed, neb, collect, doc], output=doc.output, name="vasp CI-NEB")

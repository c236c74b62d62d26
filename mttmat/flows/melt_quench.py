"""Melt-quench flow: initialization → melting-diffusion → quenching → relax → analysis.

The MD jobs are the one thing that differs per code (:meth:`MeltQuenchMaker.md_jobs`):
here, with an in-process backend (``chgnet`` by default, ``gpaw`` for tiny cells), the three
MD stages are resumable :func:`~mttmat.jobs.melt_quench.md_stage` jobs; its VASP subclass
(:class:`mttmat.flows.vasp.VaspMeltQuenchMaker`) runs every schedule segment as atomate2
VASP ``MDMaker`` jobs (AIMD, TEBEG→TEEND ramps, each continuing from the previous folder).
The flow does not branch on the backend. The final relax is the backend's relax Maker.
Replicas are independent seeds of one composition inside one flow.

Examples
--------
>>> from mttmat.structures.crystals import cubic_wo3
>>> flow = MeltQuenchMaker(replicas=2).make(cubic_wo3())
>>> [j.name for j in flow.jobs][-1]
'melt-quench summary'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Job, Maker
from pymatgen.core import Structure

from mttmat.backends import Backend, BackendError, get_backend
from mttmat.backends.defaults import DEFAULTS
from mttmat.jobs.amorphous import (
    MELT_MSD_A2,
    analyze_cell,
    max_force,
    summarize_melt_quench,
)
from mttmat.jobs.melt_quench import MeltQuenchSchedule, md_stage

__all__ = ["MeltQuenchMaker", "MeltQuenchMd"]


@dataclass
class MeltQuenchMd:
    """The MD part of a melt-quench: its jobs, the final structure (a reference), the uuid
    of each stage, and the melt hold's MSD and attempts (references; None where the code's
    jobs do not measure them)."""

    jobs: list[Any]
    structure: Any
    uuids: dict[str, str]
    melt_msd_a2: Any = None
    melt_attempts: Any = None


@dataclass
class MeltQuenchMaker(Maker):
    """Make an amorphous cell (or ``replicas`` of them) from a crystal or random start.

    Parameters
    ----------
    backend
        The MD code: a :class:`~mttmat.backends.base.Backend` (injected, as the chain does)
        or its name, ``chgnet`` (default) or ``gpaw`` (tiny cells only; size limit from
        settings): an in-process code. AIMD with VASP is
        :class:`mttmat.flows.vasp.VaspMeltQuenchMaker`.
    schedule
        Every temperature/time/thermostat choice (:class:`MeltQuenchSchedule`).
    replicas
        Independent quenches with seeds ``schedule.seed + k``.
    calculator_kwargs
        The code's settings (e.g. GPAW ``ecut_ev``; the chain gives its DFT settings for AIMD).
    backend_options
        Options of the backend when ``backend`` is a name (VASP: custodian changes to
        atomate2's defaults, ``max_errors``, ``aimd_chunk_steps``).
    """

    name: str = "melt-quench"
    backend: Backend | str = "chgnet"
    schedule: MeltQuenchSchedule = field(default_factory=MeltQuenchSchedule)
    replicas: int = 1
    calculator_kwargs: dict = field(default_factory=dict)
    backend_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.schedule, dict):
            self.schedule = MeltQuenchSchedule.model_validate(self.schedule)

    def make(self, structure: Structure, parent: Structure | str | None = "start") -> Flow:
        """The flow; ``parent`` is the crystal for the long-range-order check.

        ``"start"`` (default) uses ``structure`` itself (a crystal start); ``None`` skips the
        check (random-packing starts have no parent crystal).

        Raises before any job exists if the schedule, backend or cell size is wrong.
        """
        if self.replicas < 1:
            raise ValueError(f"replicas must be ≥ 1, got {self.replicas}")
        be = self._backend()
        be.check_structure(structure)
        if isinstance(parent, str):
            if parent != "start":
                raise ValueError(f"parent must be a Structure, None or 'start', got {parent!r}")
            parent = structure
        jobs: list[Job | Flow] = []
        analyses = []
        for k in range(self.replicas):
            sched = self.schedule.model_copy(update={"seed": self.schedule.seed + k})
            tag = f" r{k}" if self.replicas > 1 else ""
            md = self.md_jobs(be, structure, sched, tag)
            fmax_tol = sched.relax_fmax_ev_a or DEFAULTS.relax_fmax_ev_a
            extra: dict[str, Any] = {"steps": sched.relax_steps}
            if self.calculator_kwargs:  # the chain's DFT settings
                extra["calculator_kwargs"] = self.calculator_kwargs
            relax = be.relax_maker(
                relax_cell=sched.relax_cell, relax_kwargs={"fmax": fmax_tol}, **extra
            ).make(md.structure)
            relax.name = f"relax{tag}"
            uuids = {**md.uuids, "relax": relax.uuid}
            fmax = max_force(relax.output.output.forces)
            fmax.name = f"max force{tag}"
            ana = analyze_cell(
                relax.output.structure,
                parent,
                stage_uuids=uuids,
                max_force_ev_a=fmax.output,
                replica=k,
                seed=sched.seed,
                melt_msd_a2=md.melt_msd_a2,
                melt_threshold_a2=sched.melt_check_msd_a2 or MELT_MSD_A2,
                melt_attempts=md.melt_attempts,
            )
            ana.name = f"amorphous analysis{tag}"
            ana.metadata["role"] = "amorphous analysis"
            jobs += [*md.jobs, relax, fmax, ana]
            analyses.append(ana.output)
        summary = summarize_melt_quench(
            analyses, self.schedule.model_dump(mode="json"), be.name
        )
        summary.name = "melt-quench summary"
        jobs.append(summary)
        return Flow(
            jobs,
            output={"summary": summary.output, "cells": analyses},
            name=self.name,
        )

    def _backend(self) -> Backend:
        if isinstance(self.backend, str):
            return get_backend(self.backend, **self.backend_options)
        if self.backend_options:
            raise BackendError(
                "backend_options are for a backend given by name; this backend is an instance: "
                "give it its options when you make it"
            )
        return self.backend

    def md_jobs(self, backend: Any, structure: Structure, schedule: MeltQuenchSchedule,
                tag: str = "") -> MeltQuenchMd:  # fmt: skip
        """The MD jobs of one replica (initialization, melting-diffusion, quenching): three
        resumable :func:`~mttmat.jobs.melt_quench.md_stage` jobs of the in-process
        ``backend``, the melt with its enforced melt check.

        Raises
        ------
        BackendError
            For a code that does not run in this process (VASP: use its subclass).
        """
        if not backend.in_process:
            raise BackendError(
                f"{backend.name!r} does not run in-process, so MeltQuenchMaker cannot drive its "
                "MD; use mttmat.flows.vasp.VaspMeltQuenchMaker for AIMD"
            )
        sd = schedule.model_dump(mode="json")
        kw, name = self.calculator_kwargs or {}, backend.name
        init = md_stage(structure, "init", sd, name, kw)
        init.name = f"initialization{tag}"
        melt = md_stage(init.output.structure, "melt", sd, name, kw,
                        velocities=init.output.velocities)  # fmt: skip
        melt.name = f"melting-diffusion{tag}"
        quench = md_stage(
            melt.output.structure, "quench", sd, name, kw,
            velocities=melt.output.velocities,
            start_temperature_k=melt.output.target_temperature_k,
        )  # fmt: skip
        quench.name = f"quenching{tag}"
        return MeltQuenchMd(
            jobs=[init, melt, quench],
            structure=quench.output.structure,
            uuids={"init": init.uuid, "melt": melt.uuid, "quench": quench.uuid},
            melt_msd_a2=melt.output.msd_a2,
            melt_attempts=melt.output.melt_attempts,
        )

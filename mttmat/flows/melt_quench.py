"""Melt-quench flow: initialization → melting-diffusion → quenching → relax → analysis.

The MD jobs come from the backend (:meth:`~mttmat.backends.base.Backend.melt_quench_md`):
in-process backends (``chgnet`` by default, ``gpaw`` for tiny cells) run the three MD stages
as resumable :func:`~mttmat.jobs.melt_quench.md_stage` jobs; the ``vasp`` backend runs every
schedule segment as an atomate2 VASP ``MDMaker`` job (AIMD with the DFT+U INCAR, TEBEG→TEEND
ramps, each continuing from the previous job's folder). The flow does not branch on the
backend. The final relax is the backend's relax Maker. Replicas are independent seeds of one
composition inside one flow.

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

from mttmat.backends import get_backend
from mttmat.backends.defaults import DEFAULTS
from mttmat.jobs.amorphous import (
    MELT_MSD_A2,
    analyze_cell,
    max_force,
    summarize_melt_quench,
)
from mttmat.jobs.melt_quench import MeltQuenchSchedule

__all__ = ["MeltQuenchMaker"]


@dataclass
class MeltQuenchMaker(Maker):
    """Make an amorphous cell (or ``replicas`` of them) from a crystal or random start.

    Parameters
    ----------
    backend
        ``chgnet`` (default), ``gpaw`` (tiny cells only; size limit from settings) or
        ``vasp`` (AIMD on HPC).
    schedule
        Every temperature/time/thermostat choice (:class:`MeltQuenchSchedule`).
    replicas
        Independent quenches with seeds ``schedule.seed + k``.
    calculator_kwargs
        Passed to the backend's ASE calculator (e.g. GPAW ``ecut_ev``).
    backend_options
        Options of the backend itself (VASP: custodian changes to atomate2's defaults, max_errors).
    """

    name: str = "melt-quench"
    backend: str = "chgnet"
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
        be = get_backend(self.backend, **self.backend_options)
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
            md = be.melt_quench_md(structure, sched, tag, self.calculator_kwargs)
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
            analyses, self.schedule.model_dump(mode="json"), self.backend
        )
        summary.name = "melt-quench summary"
        jobs.append(summary)
        return Flow(
            jobs,
            output={"summary": summary.output, "cells": analyses},
            name=self.name,
        )

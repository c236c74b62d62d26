"""Melt-quench schedule, stage jobs and their documents.

The four stages of the paper (initialization, melting-diffusion, quenching, relax) are four
jobs. The MD stages (:func:`md_stage`) run in-process with an ASE calculator (CHGNet, GPAW)
and checkpoint as they go (:func:`mttmat.jobs.md.run_md`); on HPC the ``vasp`` backend runs
the same schedule as atomate2 VASP AIMD jobs (see :mod:`mttmat.flows.melt_quench`).

Examples
--------
>>> s = MeltQuenchSchedule(melt_temperature_k=3000, quench_rate_k_per_ps=1000,
...                        quench_end_temperature_k=300, time_step_fs=2)
>>> [seg.n_steps for seg in s.segments("quench")]
[1350]
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from jobflow import job
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.jobs.md import LOG_COLUMNS, MdRun, Segment, run_md
from mttmat.jobs.schedule import MeltQuenchSchedule, Stage
from mttmat.structures.builders import density_g_cm3
from mttmat.structures.io import atoms_to_structure

__all__ = [
    "MdStageDoc",
    "MeltQuenchSchedule",
    "Stage",
    "md_stage",
    "scaled_to_density",
    "software_versions",
]

STAGE_TITLES = {
    "init": "initialization",
    "melt": "melting-diffusion",
    "quench": "quenching",
    "relax": "relax",
}


class MeltAttempt(BaseModel):
    """One melt hold: its temperature, length and the MSD it gave."""

    temperature_k: float
    steps: int = Field(description="MD steps of the attempt (ramp + hold)")
    msd_a2: dict[str, float] = Field(description="MSD per element over the attempt (Å²)")
    melted: bool


class MeltNotMeltedError(RuntimeError):
    """The melt hold did not melt the cell within the schedule's retry bounds."""


def cation_msd(msd_a2: dict[str, float]) -> dict[str, float]:
    """The MSD entries of the cations (not O, not Li)."""
    return {k: v for k, v in msd_a2.items() if k not in ("O", "Li")}


def melt_ok(msd_a2: dict[str, float], threshold_a2: float) -> bool:
    """True when every cation species moved ≥ ``threshold_a2`` on average."""
    cations = cation_msd(msd_a2)
    return bool(cations) and min(cations.values()) >= threshold_a2


class MdStageDoc(BaseModel):
    """Output of one MD stage: final structure and velocities, the thermodynamic log."""

    stage: str = Field(description="init | melt | quench")
    title: str = Field(description="the paper's name of the stage")
    backend: str
    fidelity: str
    structure: Structure = Field(description="final structure of the stage")
    velocities: list[list[float]] = Field(description="final velocities (ASE units, Å/(Å√(u/eV)))")
    formula: str
    n_atoms: int
    density_g_cm3: float
    segments: list[tuple[float, float, int]] = Field(description="(T_start K, T_end K, steps)")
    n_steps: int
    time_step_fs: float
    log: dict[str, list[float]] = Field(description=f"columns {LOG_COLUMNS}; time in ps, E in eV")
    mean_temperature_k: float = Field(description="mean instantaneous T over the last segment")
    target_temperature_k: float = Field(description="target T of the last segment's end")
    msd_a2: dict[str, float] = Field(
        description="mean squared displacement per element (Å²); melt: of the last attempt"
    )
    melt_attempts: list[MeltAttempt] = Field(
        default_factory=list, description="melt: every hold, with its temperature and MSD"
    )
    resumed_from_step: int = Field(description="0, or the checkpoint step a restart began at")
    wall_time_s: float
    s_per_step: float
    seed: int
    software: dict[str, str]

    model_config = ConfigDict(arbitrary_types_allowed=True)


def software_versions() -> dict[str, str]:
    """Versions of the codes that produced a result (for provenance sidecars)."""

    out = {"python": platform.python_version()}
    for pkg in ("mttmat", "ase", "pymatgen", "atomate2", "jobflow", "chgnet", "torch", "gpaw"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def scaled_to_density(structure: Structure, density: float | None) -> Structure:
    if density is None:
        return structure
    s = structure.copy()
    s.scale_lattice(s.volume * density_g_cm3(s) / density)
    return s


@job(data=["log"])
def md_stage(
    structure: Structure,
    stage: Stage,
    schedule: dict[str, Any],
    backend: str = "chgnet",
    calculator_kwargs: dict[str, Any] | None = None,
    velocities: list[list[float]] | None = None,
    start_temperature_k: float | None = None,
) -> MdStageDoc:
    """One MD stage of a melt-quench, resumable from ``md_<stage>*.ckpt.npz`` in the job folder.

    ``init`` also applies the schedule's density and draws Maxwell–Boltzmann velocities;
    later stages continue from the previous stage's ``velocities``. ``start_temperature_k``
    (quench) is the temperature the melt really ended at, when a retry raised it.

    ``melt`` checks that the cations diffused (:func:`melt_ok` with the schedule's
    ``melt_check_msd_a2``). If not, it holds again, ``melt_retry_step_k`` hotter (up to
    ``melt_max_temperature_k``) for ``melt_steps``, at most ``melt_retries`` times; each
    attempt is measured on its own and recorded in ``melt_attempts``. A cell that never melts
    stops the stage with :class:`MeltNotMeltedError` naming every attempt's MSD.
    """

    sched = MeltQuenchSchedule.model_validate(schedule)
    if start_temperature_k is not None and stage == "quench":
        sched = sched.model_copy(update={"melt_temperature_k": float(start_temperature_k)})
    be = get_backend(backend)
    be.check_structure(structure)
    kwargs = dict(calculator_kwargs or {})
    if stage == "init":
        structure = scaled_to_density(structure, sched.density_g_cm3)
    atoms = structure.to_ase_atoms()
    atoms.set_initial_magnetic_moments(None)
    be.prepare_atoms(atoms, **kwargs)
    calc = be.ase_calculator(**kwargs)
    seed = sched.seed + {"init": 0, "melt": 1, "quench": 2}[stage]

    def md(segments: list[Segment], tag: str, run_seed: int, v: Any) -> MdRun:
        return run_md(
            atoms, calc, segments,
            time_step_fs=sched.time_step_fs, ensemble=sched.ensemble,
            thermostat=sched.thermostat, seed=run_seed, options=sched.md_options(),
            checkpoint=Path.cwd() / f"md_{stage}{tag}.ckpt.npz",
            checkpoint_interval=sched.checkpoint_interval, log_interval=sched.log_interval,
            velocities=v, progress=lambda msg: print(msg, flush=True),
            label=STAGE_TITLES[stage] + (f" ({tag.strip('_')})" if tag else ""),
        )  # fmt: skip

    with be.thread_limits():
        return _md_stage_runs(structure, stage, sched, be, backend, seed, md, velocities)


def _md_stage_runs(
    structure: Structure, stage: Stage, sched: MeltQuenchSchedule, be: Any, backend: str,
    seed: int, md: Any, velocities: Any,
) -> MdStageDoc:  # fmt: skip
    """The MD runs of :func:`md_stage` (the melt with its check and retries), its document."""
    segments = sched.segments(stage)
    run = md(segments, "", seed, velocities)
    runs, all_segments, attempts = [run], list(segments), []
    check = stage == "melt" and sched.melt_check_msd_a2 > 0
    if check:
        t = sched.melt_temperature_k
        ok = melt_ok(run.msd_a2, sched.melt_check_msd_a2)
        attempts.append(MeltAttempt(temperature_k=t, steps=run.n_steps, msd_a2=run.msd_a2,
                                    melted=ok))  # fmt: skip
        for k in range(1, sched.melt_retries + 1):
            if ok:
                break
            t_new = min(t + sched.melt_retry_step_k, sched.melt_max_temperature_k)
            print(
                f"melt check: cation MSD {_fmt_msd(run.msd_a2)} < "
                f"{sched.melt_check_msd_a2:g} Å² at {t:.0f} K: not molten; retry {k}/"
                f"{sched.melt_retries} at {t_new:.0f} K for {sched.melt_steps} steps",
                flush=True,
            )
            segs = [Segment(t, t_new, sched.heat_steps)] if t_new > t and sched.heat_steps else []
            segs.append(Segment(t_new, t_new, sched.melt_steps))
            run = md(segs, f"_retry{k}", seed + 100 * k, run.atoms.get_velocities())
            runs.append(run)
            all_segments += segs
            t = t_new
            ok = melt_ok(run.msd_a2, sched.melt_check_msd_a2)
            attempts.append(MeltAttempt(temperature_k=t, steps=run.n_steps,
                                        msd_a2=run.msd_a2, melted=ok))  # fmt: skip
        if not ok:
            tried = "; ".join(
                f"{a.temperature_k:.0f} K: {_fmt_msd(a.msd_a2)}" for a in attempts
            )
            hold_ps = sched.melt_steps * sched.time_step_fs / 1000
            raise MeltNotMeltedError(
                f"{structure.composition.reduced_formula} ({len(structure)} atoms) did not "
                f"melt: cation MSD per attempt ({hold_ps:g} ps holds) {tried}; needs ≥ "
                f"{sched.melt_check_msd_a2:g} Å². A cell that never melted quenches to a "
                "strained crystal, not a glass. Raise melt_steps, melt_max_temperature_k or "
                "melt_retries in the melt_quench schedule, or lower the start density"
            )
    final = atoms_to_structure(run.atoms)
    log = _join_logs([r.log for r in runs])
    last = all_segments[-1]
    n_last = max(1, last.n_steps // sched.log_interval)
    temps = run.log["t_k"][-n_last:]
    n_steps = sum(r.n_steps for r in runs)
    wall = sum(r.wall_time_s for r in runs)
    return MdStageDoc(
        stage=stage,
        title=STAGE_TITLES[stage],
        backend=backend,
        fidelity=be.fidelity,
        structure=final,
        velocities=run.atoms.get_velocities().tolist(),
        formula=final.composition.reduced_formula,
        n_atoms=len(final),
        density_g_cm3=density_g_cm3(final),
        segments=[tuple(s) for s in all_segments],
        n_steps=n_steps,
        time_step_fs=sched.time_step_fs,
        log=log,
        mean_temperature_k=float(sum(temps) / len(temps)),
        target_temperature_k=float(last.t_end_k),
        msd_a2=run.msd_a2,
        melt_attempts=attempts,
        resumed_from_step=runs[0].resumed_from_step,
        wall_time_s=wall,
        s_per_step=wall / max(n_steps - sum(r.resumed_from_step for r in runs), 1),
        seed=seed,
        software=software_versions(),
    )


def _fmt_msd(msd_a2: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f} Å²" for k, v in cation_msd(msd_a2).items())


def _join_logs(logs: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Logs of consecutive MD runs as one, steps and times continued."""
    out: dict[str, list[float]] = {k: list(v) for k, v in logs[0].items()}
    for log in logs[1:]:
        step0 = out["step"][-1] if out.get("step") else 0.0
        time0 = out["time_ps"][-1] if out.get("time_ps") else 0.0
        for k, v in log.items():
            off = step0 if k == "step" else time0 if k == "time_ps" else 0.0
            out.setdefault(k, []).extend(x + off for x in v)
    return out

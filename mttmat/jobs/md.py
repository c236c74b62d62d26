"""Resumable temperature-scheduled MD with any in-process ASE calculator (CHGNet, GPAW).

atomate2's ASE MD makers run one ``dyn.run(n_steps)`` and keep nothing if the process dies;
a 128-atom melt with CHGNet takes hours on a workstation, so mttmat drives the same ASE
integrators itself and writes a checkpoint (positions, momenta, cell, thermostat RNG state,
the log so far) every ``checkpoint_interval`` steps. Re-running the job in the same folder
continues from the last checkpoint. With Langevin, Bussi, Andersen and Berendsen the
restart carries all integrator state (positions, momenta, RNG), so a resumed run continues
the same stochastic process rather than starting a new one.

Examples
--------
>>> segs = [Segment(300, 300, 10), Segment(300, 3000, 20)]
>>> target_temperatures(segs)[[0, 9, 10, 29]].round(0).tolist()
[300.0, 300.0, 435.0, 3000.0]
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from ase import Atoms, units

from mttmat.threads import rebalance

__all__ = [
    "THERMOSTATS",
    "MdError",
    "MdRun",
    "Segment",
    "run_md",
    "target_temperatures",
]

logger = logging.getLogger(__name__)

#: thermostats whose target temperature can change every step, per ensemble
THERMOSTATS: dict[str, tuple[str, ...]] = {
    "nvt": ("langevin", "bussi", "berendsen", "andersen"),
    "npt": ("berendsen",),
}

LOG_COLUMNS = ("step", "time_ps", "t_target_k", "t_k", "e_pot_ev", "e_kin_ev", "volume_a3")


class MdError(ValueError):
    """Bad MD request (thermostat, schedule) or a checkpoint that does not match the run."""


class Segment(NamedTuple):
    """``n_steps`` steps with the target temperature ramped linearly ``t_start_k → t_end_k``."""

    t_start_k: float
    t_end_k: float
    n_steps: int


def target_temperatures(segments: Sequence[Segment]) -> np.ndarray:
    """Target temperature of every step (K); a ramp reaches ``t_end_k`` on its last step."""
    parts = []
    for s in segments:
        if s.n_steps <= 0:
            continue
        frac = np.arange(1, s.n_steps + 1) / s.n_steps if s.t_start_k != s.t_end_k else None
        parts.append(
            np.full(s.n_steps, float(s.t_end_k))
            if frac is None
            else s.t_start_k + (s.t_end_k - s.t_start_k) * frac
        )
    return np.concatenate(parts) if parts else np.zeros(0)


class MdRun(NamedTuple):
    """What :func:`run_md` returns: the final atoms, the log, and bookkeeping."""

    atoms: Atoms
    log: dict[str, list[float]]
    n_steps: int
    resumed_from_step: int
    wall_time_s: float
    msd_a2: dict[str, float]


def _make_dynamics(
    atoms: Atoms,
    t0: float,
    time_step_fs: float,
    ensemble: str,
    thermostat: str,
    rng: np.random.Generator,
    options: dict[str, float],
) -> Any:
    dt = time_step_fs * units.fs
    if thermostat not in THERMOSTATS.get(ensemble, ()):
        raise MdError(
            f"thermostat {thermostat!r} is not available for ensemble {ensemble!r}; "
            f"choose one of {list(THERMOSTATS.get(ensemble, ()))} (schedules change the target "
            "temperature every step, which these support)"
        )
    if ensemble == "npt":
        from ase.md.nptberendsen import NPTBerendsen

        return NPTBerendsen(
            atoms,
            dt,
            temperature_K=t0,
            taut=options["taut_fs"] * units.fs,
            pressure_au=options["pressure_gpa"] * units.GPa,
            taup=options["taup_fs"] * units.fs,
            compressibility_au=options["compressibility_per_gpa"] / units.GPa,
        )
    if thermostat == "langevin":
        from ase.md.langevin import Langevin

        return Langevin(
            atoms, dt, temperature_K=t0, friction=options["friction_per_ps"] / (1000 * units.fs),
            rng=rng,
        )  # fmt: skip
    if thermostat == "bussi":
        from ase.md.bussi import Bussi

        return Bussi(atoms, dt, temperature_K=t0, taut=options["taut_fs"] * units.fs, rng=rng)
    if thermostat == "berendsen":
        from ase.md.nvtberendsen import NVTBerendsen

        return NVTBerendsen(atoms, dt, temperature_K=t0, taut=options["taut_fs"] * units.fs)
    from ase.md.andersen import Andersen

    return Andersen(atoms, dt, temperature_K=t0, andersen_prob=options["andersen_prob"], rng=rng)


def _set_target(dyn: Any, t_k: float) -> None:
    if hasattr(dyn, "target_kinetic_energy"):  # Bussi has no setter
        dyn.temp = t_k * units.kB
        dyn.target_kinetic_energy = 0.5 * dyn.temp * dyn.ndof
    else:
        dyn.set_temperature(temperature_K=t_k)


def _fingerprint(atoms: Atoms, segments: Sequence[Segment], spec: dict[str, Any]) -> str:
    payload = json.dumps(
        {"symbols": atoms.get_chemical_symbols(), "segments": [list(s) for s in segments], **spec},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _save_checkpoint(path: Path, **arrays: Any) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    rebalance()  # another run may have started or ended: share the cores anew


def run_md(
    atoms: Atoms,
    calculator: Any,
    segments: Sequence[Segment],
    *,
    time_step_fs: float = 2.0,
    ensemble: str = "nvt",
    thermostat: str = "langevin",
    seed: int = 0,
    options: dict[str, float] | None = None,
    checkpoint: str | Path | None = "md.ckpt.npz",
    checkpoint_interval: int = 50,
    log_interval: int = 10,
    velocities: np.ndarray | None = None,
    progress: Callable[[str], None] | None = None,
    label: str = "md",
) -> MdRun:
    """Run ``segments`` of MD on ``atoms`` (modified in place), resuming from ``checkpoint``.

    Parameters
    ----------
    velocities
        Initial velocities (Å/fs·ASE units, as ``Atoms.get_velocities``); if absent the
        atoms get Maxwell–Boltzmann velocities at the first target temperature (seeded).
    options
        Thermostat/barostat constants: ``friction_per_ps``, ``taut_fs``, ``andersen_prob``,
        ``pressure_gpa``, ``taup_fs``, ``compressibility_per_gpa``.
    checkpoint
        File written every ``checkpoint_interval`` steps and at the end; ``None`` disables
        checkpointing. A checkpoint made by a different schedule/structure is refused.

    Returns
    -------
    MdRun
        ``log`` has one row per ``log_interval`` steps (columns :data:`LOG_COLUMNS`);
        ``msd_a2`` is the mean squared displacement per element over this run (Å²).
    """
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    opts = {
        "friction_per_ps": 10.0,
        "taut_fs": 100.0,
        "andersen_prob": 0.01,
        "pressure_gpa": 0.0,
        "taup_fs": 1000.0,
        "compressibility_per_gpa": 0.005,
        **(options or {}),
    }
    targets = target_temperatures(segments)
    if len(targets) == 0:
        raise MdError(f"{label}: the schedule has no MD steps")
    if np.any(targets <= 0):
        raise MdError(f"{label}: target temperatures must be > 0 K, got min {targets.min()} K")
    n_total = len(targets)
    spec = {
        "dt": time_step_fs,
        "ensemble": ensemble,
        "thermostat": thermostat,
        "seed": seed,
        "options": opts,
    }
    fp = _fingerprint(atoms, segments, spec)
    rng = np.random.default_rng(seed)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    step = 0
    rows: list[list[float]] = []
    start_positions = atoms.get_positions().copy()
    if ckpt is not None and ckpt.is_file():
        with np.load(ckpt, allow_pickle=False) as data:
            if str(data["fingerprint"]) != fp:
                raise MdError(
                    f"{label}: checkpoint {ckpt} was written by a different schedule or "
                    "structure; delete it to start over, or rerun with the original settings"
                )
            atoms.set_cell(data["cell"])
            atoms.set_positions(data["positions"])
            atoms.set_momenta(data["momenta"])
            step = int(data["step"])
            rows = data["log"].tolist()
            start_positions = data["start_positions"]
            rng.bit_generator.state = json.loads(str(data["rng_state"]))
        if progress:
            progress(f"{label}: resuming from checkpoint at step {step}/{n_total}")
    elif velocities is not None:
        atoms.set_velocities(np.asarray(velocities, dtype=float))
    else:
        MaxwellBoltzmannDistribution(atoms, temperature_K=targets[0], rng=rng)
        Stationary(atoms)
    resumed_from = step
    atoms.calc = calculator
    dyn = _make_dynamics(atoms, targets[min(step, n_total - 1)], time_step_fs, ensemble,
                         thermostat, rng, opts)  # fmt: skip

    def save() -> None:
        if ckpt is None:
            return
        _save_checkpoint(
            ckpt,
            fingerprint=np.array(fp),
            cell=atoms.get_cell().array,
            positions=atoms.get_positions(),
            momenta=atoms.get_momenta(),
            step=np.array(step),
            log=np.array(rows, dtype=float).reshape(-1, len(LOG_COLUMNS)),
            start_positions=start_positions,
            rng_state=np.array(json.dumps(rng.bit_generator.state)),
        )

    t_wall = time.perf_counter()
    while step < n_total:
        _set_target(dyn, targets[step])
        dyn.step()
        dyn.nsteps += 1
        step += 1
        if step % log_interval == 0 or step == n_total:
            rows.append(
                [
                    step,
                    step * time_step_fs / 1000.0,
                    targets[step - 1],
                    atoms.get_temperature(),
                    atoms.get_potential_energy(),
                    atoms.get_kinetic_energy(),
                    atoms.get_volume(),
                ]
            )
        if step % checkpoint_interval == 0 or step == n_total:
            save()
            if progress:
                rate = (time.perf_counter() - t_wall) / max(step - resumed_from, 1)
                progress(
                    f"{label}: step {step}/{n_total}, T = {atoms.get_temperature():.0f} K "
                    f"(target {targets[step - 1]:.0f} K), {rate:.3f} s/step"
                )
    wall = time.perf_counter() - t_wall
    disp2 = np.sum((atoms.get_positions() - start_positions) ** 2, axis=1)
    symbols = np.array(atoms.get_chemical_symbols())
    msd = {el: float(disp2[symbols == el].mean()) for el in sorted(set(symbols))}
    log_arr = np.array(rows, dtype=float).reshape(-1, len(LOG_COLUMNS))
    log = {c: log_arr[:, i].tolist() for i, c in enumerate(LOG_COLUMNS)}
    return MdRun(atoms, log, n_total, resumed_from, wall, msd)

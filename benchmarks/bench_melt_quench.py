"""Benchmark: MD time per step through mttmat's melt-quench stage vs a plain ASE loop.

Target (issue 3): the workflow's resumable MD (checkpoint every 50 steps, log every 10,
temperature target set every step) costs at most 5 % more per step than a bare
``Langevin(...).run(n)`` with the same CHGNet calculator, cell, thermostat and steps.
Both runs share one calculator object (no model loading inside the timing), alternate
twice (ABAB) to average out machine noise, and the reported figure is the median per-step
time. Run: ``.venv/bin/python benchmarks/bench_melt_quench.py [n_atoms_cell] [steps]``
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from mttmat.backends import get_backend
from mttmat.jobs.md import Segment, run_md
from mttmat.structures import make_supercell
from mttmat.structures.crystals import cubic_wo3, gamma_wo3


def plain_ase(atoms, calc, n: int, t_k: float) -> float:
    atoms = atoms.copy()
    rng = np.random.default_rng(0)
    MaxwellBoltzmannDistribution(atoms, temperature_K=t_k, rng=rng)
    Stationary(atoms)
    atoms.calc = calc
    dyn = Langevin(atoms, 2 * units.fs, temperature_K=t_k, friction=0.01 / units.fs, rng=rng)
    t0 = time.perf_counter()
    dyn.run(n)
    return (time.perf_counter() - t0) / n


def workflow(atoms, calc, n: int, t_k: float, folder: Path) -> float:
    ck = folder / f"bench{time.perf_counter_ns()}.npz"
    run = run_md(
        atoms.copy(), calc, [Segment(t_k, t_k, n)], time_step_fs=2.0, seed=0,
        checkpoint=ck, checkpoint_interval=50, log_interval=10,
    )  # fmt: skip
    return run.wall_time_s / n


def main() -> None:
    n_atoms = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    if n_atoms == 32:
        s = gamma_wo3()  # W8O24
    elif n_atoms == 128:
        s = make_supercell(gamma_wo3(), [2, 2, 1])
    else:
        s = make_supercell(cubic_wo3(), [max(1, round((n_atoms / 4) ** (1 / 3)))] * 3)
    atoms = s.to_ase_atoms()
    calc = get_backend("chgnet").ase_calculator()
    t_k = 2000.0
    plain_ase(atoms, calc, 5, t_k)  # warm-up (torch kernels)
    res = {"plain": [], "workflow": []}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(2):
            res["plain"].append(plain_ase(atoms, calc, steps, t_k))
            res["workflow"].append(workflow(atoms, calc, steps, t_k, Path(d)))
    p, w = np.median(res["plain"]), np.median(res["workflow"])
    print(f"cell: {s.composition.formula} ({len(s)} atoms), CHGNet, {steps} steps × 2 runs each")
    print(f"plain ASE Langevin loop : {p * 1e3:8.1f} ms/step  (runs: "
          f"{', '.join(f'{x * 1e3:.1f}' for x in res['plain'])})")  # fmt: skip
    print(f"mttmat run_md (ckpt/50) : {w * 1e3:8.1f} ms/step  (runs: "
          f"{', '.join(f'{x * 1e3:.1f}' for x in res['workflow'])})")  # fmt: skip
    overhead = (w / p - 1) * 100
    print(f"overhead: {overhead:+.1f} % (target ≤ 5 %): {'met' if overhead <= 5 else 'NOT met'}")


if __name__ == "__main__":
    main()

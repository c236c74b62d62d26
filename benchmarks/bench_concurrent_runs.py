"""Benchmark: CHGNet MD speed of N runs at once, with and without mttmat's thread budget.

Issue 18: two concurrent main jobs on 2 cores ran CHGNet MD at 6–8 s/step instead of
~0.05 s/step, because each process started one torch/OpenMP thread per core and the
spin-waiting pools oversubscribed the cores. ``mttmat.threads`` gives each process
``cores // live runs`` threads. This script starts N worker processes at the same moment,
each running the same CHGNet Langevin MD on a 16-atom W4O12 cell, in two modes:

- ``all-cores``: every process uses one thread per core (the behaviour before the fix);
- ``budget``: every process holds a run slot and uses ``mttmat.threads.budget()``.

It prints the median time per MD step of each worker, and one process alone for reference.
Run: ``.venv/bin/python benchmarks/bench_concurrent_runs.py [n_procs] [steps]``

Measured here (2 cores, 20 steps): one run alone 0.080 s/step (2 threads); two at once with
the budget 0.119 and 0.114 s/step (1 thread each); two at once with all cores each 6.70 and
6.71 s/step (a first try gave 0.26/0.29 s/step: the spin-wait collapse is erratic, not rare).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(mode: str, sync: Path, n_procs: int, steps: int, slots: Path) -> None:
    from mttmat import threads
    from mttmat.backends import get_backend
    from mttmat.jobs.md import Segment, run_md
    from mttmat.structures import random_packing

    atoms = random_packing("W4O12", 6.5, seed=0).to_ase_atoms()
    calc = get_backend("chgnet").ase_calculator()
    slot = threads.RunSlot(slots) if mode == "budget" else None
    if slot is not None:
        slot.__enter__()
    else:
        threads.apply_threads(threads.cpu_count())
    (sync / f"ready-{time.perf_counter_ns()}").touch()
    while len(list(sync.glob("ready-*"))) < n_procs:  # start the MD together
        time.sleep(0.01)
    n_threads = threads.rebalance() if slot is not None else threads.cpu_count()
    run = run_md(atoms, calc, [Segment(300.0, 300.0, steps)], time_step_fs=2.0, seed=0,
                 checkpoint=None, log_interval=10)  # fmt: skip
    print(json.dumps({"s_per_step": run.wall_time_s / steps, "threads": n_threads}))
    if slot is not None:
        slot.__exit__()


def launch(mode: str, n_procs: int, steps: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        sync, slots = Path(tmp) / "sync", Path(tmp) / "slots"
        sync.mkdir()
        args = [mode, str(sync), str(n_procs), str(steps), str(slots)]
        cmd = [sys.executable, __file__, "--worker", *args]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(n_procs)]
        return [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def main() -> None:
    n_procs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    from mttmat.threads import cpu_count

    print(f"{cpu_count()} cores, {n_procs} concurrent CHGNet MD runs, {steps} steps, W4O12")
    alone = launch("budget", 1, steps)[0]
    print(f"one run alone:        {alone['s_per_step']:.3f} s/step ({alone['threads']} threads)")
    for mode in ("budget", "all-cores"):
        rows = launch(mode, n_procs, steps)
        per = ", ".join(f"{r['s_per_step']:.3f}" for r in rows)
        print(f"{n_procs} at once, {mode:9s}: {per} s/step ({rows[0]['threads']} threads each)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        m, s, n, k, sl = sys.argv[2:7]
        worker(m, Path(s), int(n), int(k), Path(sl))
    else:
        main()

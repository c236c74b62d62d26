"""Benchmark: wall time of the default main job (`mttmat run`) per stage and in total.

Target (issue 8): <= 15 min total on the 2-core machine (stretch 10 min). Every job's time
is the gap between its "running" message and the next message; jobs are grouped by stage.
Run (a fresh output folder, so nothing is read back from a store):
    .venv/bin/python benchmarks/bench_main_job.py [OUTPUT_DIR] [--config FILE]
"""

from __future__ import annotations

import argparse
import itertools
import re
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from mttmat.workflow import run_main_job

# (stage, pattern on the job name), first match wins
STAGES = [
    (
        "melt-quench (ML MD + relax)",
        r"initialization|melting|quenching|: relax:|max force|amorph|melt-quench",
    ),
    ("Li site screening (ML)", r"screening"),
    ("DFT: bcc Li, host, Li_i^0, Li_i^+", r"gpaw (host|Li_i)|bcc Li|gpaw relax"),
    ("DOS + formation documents", r"DOS|formation"),
    ("ML CI-NEB", r"CI-NEB|hop endpoints"),
    ("DFT energies on the band", r"on the band"),
    ("parameters", r"parameters"),
    ("device stage", r"device stage"),
    ("figures + report", r"figures|report"),
]


def stage_of(message: str) -> str:
    for stage, pattern in STAGES:
        if re.search(pattern, message):
            return stage
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("output", nargs="?", type=Path)
    ap.add_argument("--config", type=Path)
    args = ap.parse_args()
    out = args.output or Path(tempfile.mkdtemp(prefix="bench_"))
    shutil.rmtree(out, ignore_errors=True)
    marks: list[tuple[float, str]] = [(time.perf_counter(), "start")]

    def progress(msg: str) -> None:
        marks.append((time.perf_counter(), msg))
        print(f"[{marks[-1][0] - marks[0][0]:7.1f} s] {msg}", flush=True)

    run_main_job(args.config, out, progress=progress)
    marks.append((time.perf_counter(), "end"))
    per_stage: dict[str, float] = defaultdict(float)
    per_material: dict[str, float] = defaultdict(float)
    for (t0, msg), (t1, _) in itertools.pairwise(marks):
        per_stage[stage_of(msg)] += t1 - t0
        m = re.search(r"\]?\s+(WOx|NbOx):", msg)
        per_material[m.group(1) if m else "shared"] += t1 - t0
    print("\nwall time per stage (both materials):")
    for stage, _ in [*STAGES, ("other", "")]:
        if per_stage.get(stage):
            print(f"  {per_stage[stage]:7.1f} s  {stage}")
    print("per material: " + ", ".join(f"{k} {v:.0f} s" for k, v in per_material.items()))
    total = marks[-1][0] - marks[0][0]
    print(f"total: {total:.1f} s = {total / 60:.1f} min (target <= 15 min, stretch 10)")


if __name__ == "__main__":
    main()

"""Benchmark: wall time of the default main job (`mttmat run`) per stage and in total.

Target (issue 8): <= 15 min total on the 2-core machine (stretch 10 min). Each progress
message closes the stage that started at the previous one. Run:
    .venv/bin/python benchmarks/bench_main_job.py [OUTPUT_DIR]
"""

from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mttmat.workflow import run_main_job


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="bench_"))
    shutil.rmtree(out, ignore_errors=True)
    marks: list[tuple[float, str]] = [(time.perf_counter(), "start")]

    def progress(msg: str) -> None:
        marks.append((time.perf_counter(), msg))
        print(f"[{marks[-1][0] - marks[0][0]:7.1f} s] {msg}", flush=True)

    run_main_job(None, out, progress=progress)
    marks.append((time.perf_counter(), "end"))
    print("\nstage wall times:")
    for (t0, msg), (t1, _) in itertools.pairwise(marks):
        print(f"  {t1 - t0:7.1f} s  after: {msg[:90]}")
    total = marks[-1][0] - marks[0][0]
    print(f"total: {total:.1f} s = {total / 60:.1f} min (target <= 15 min, stretch 10)")


if __name__ == "__main__":
    main()

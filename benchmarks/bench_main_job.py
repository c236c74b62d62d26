"""Benchmark: wall time of the default main job (`mttmat run`) per stage and in total.

Target: <= 15 min total for both materials on the 2-core machine, with everything of the
default run (melt check, band and polaron solutions, the hop network with DFT on its
limiting hop, the two-Li cell, the device stage). The per-stage times are the run's own
``timings.json`` (every job tagged with its stage and material). Run it on a quiet machine,
into a fresh folder (nothing read back from a store):
    .venv/bin/python benchmarks/bench_main_job.py [OUTPUT_DIR] [--config FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from mttmat.runs.main_job import run_main_job

TARGET_MIN = 15.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("output", nargs="?", type=Path)
    ap.add_argument("--config", type=Path)
    args = ap.parse_args()
    out = args.output or Path(tempfile.mkdtemp(prefix="bench_"))
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", flush=True)

    folder = run_main_job(args.config, out, progress=progress)
    total = time.perf_counter() - t0
    timings = json.loads((folder / "timings.json").read_text())
    cols = sorted({c for row in timings["stages_s"].values() for c in row})
    print("\nwall time per stage (s), from timings.json:")
    print(f"  {'stage':40s}" + "".join(f"{c:>9s}" for c in cols))
    for stage, row in timings["stages_s"].items():
        print(f"  {stage:40s}" + "".join(f"{row.get(c, 0.0):9.0f}" for c in cols))
    verdict = "meets" if total / 60 <= TARGET_MIN else "MISSES"
    print(f"total: {total:.1f} s = {total / 60:.1f} min ({verdict} the {TARGET_MIN:g} min target)")


if __name__ == "__main__":
    main()

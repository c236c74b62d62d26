"""Benchmark: wall time of the default main job (`mttmat run`) per stage and in total.

Target: <= 15 min total for both materials on the 2-core machine, with everything of the
default run (melt check, band and polaron solutions, the hop network with DFT on its
limiting hop, the two-Li cell, the device stage). The per-stage times are the run's own
``timings.json`` (every job tagged with its stage and material). Run it on a quiet machine,
into a fresh folder (nothing read back from a store):
    .venv/bin/python benchmarks/bench_main_job.py [OUTPUT_DIR] [--config FILE]

``--finetune`` runs the default job, then the same with the fine-tuning stage on (its own
fresh folder), and prints the ratio of the two wall times (target: <= 1.5x);
``--baseline-s S`` takes S seconds as the default run's time instead of running it.
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
#: the main job with fine-tuning on may take at most this multiple of the default run
FINETUNE_RATIO = 1.5


def _run(config: Path | None, out: Path, finetune: bool = False) -> tuple[float, Path]:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", flush=True)

    folder = run_main_job(config, out, progress=progress, finetune=finetune)
    total = time.perf_counter() - t0
    timings = json.loads((folder / "timings.json").read_text())
    cols = sorted({c for row in timings["stages_s"].values() for c in row})
    print("\nwall time per stage (s), from timings.json:")
    print(f"  {'stage':40s}" + "".join(f"{c:>9s}" for c in cols))
    for stage, row in timings["stages_s"].items():
        print(f"  {stage:40s}" + "".join(f"{row.get(c, 0.0):9.0f}" for c in cols))
    return total, folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("output", nargs="?", type=Path)
    ap.add_argument("--config", type=Path)
    ap.add_argument("--finetune", action="store_true")
    ap.add_argument("--baseline-s", type=float, default=None)
    args = ap.parse_args()
    out = args.output or Path(tempfile.mkdtemp(prefix="bench_"))
    if args.baseline_s is None:
        total, _ = _run(args.config, out / "default" if args.finetune else out)
        verdict = "meets" if total / 60 <= TARGET_MIN else "MISSES"
        print(f"default run: {total:.1f} s = {total / 60:.1f} min ({verdict} the "
              f"{TARGET_MIN:g} min target)")  # fmt: skip
    else:
        total = args.baseline_s
    if args.finetune:
        tuned, folder = _run(args.config, out / "finetune", finetune=True)
        ratio = tuned / total
        verdict = "meets" if ratio <= FINETUNE_RATIO else "MISSES"
        print(f"with fine-tuning: {tuned:.1f} s = {tuned / 60:.1f} min, {ratio:.2f}x the "
              f"default ({verdict} the {FINETUNE_RATIO:g}x target)")  # fmt: skip
        for m in sorted(p.parent.name for p in folder.glob("*/finetune.json")):
            f = json.loads((folder / m / "finetune.json").read_text())
            ft, eff = f["finetune"], f["effect"]
            b, a = ft.get("heldout_before") or {}, ft.get("heldout_after") or {}
            print(f"  {m}: held-out force MAE {b.get('force_mae_ev_a', float('nan')):.3f} → "
                  f"{a.get('force_mae_ev_a', float('nan')):.3f} eV/Å; limiting hop "
                  f"|E_a(ML) − E_a(DFT)| {eff.get('error_base_ev') or float('nan'):.3f} → "
                  f"{eff.get('error_tuned_ev') or float('nan'):.3f} eV")  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark: one programming pulse on a 4 Mb array (2**22 ECRAM devices).

Target (issue 7): <= 0.2 s per pulse on the 2-core CI machine. Prints wall time per pulse
(first pulse of a shape includes building its step table), peak extra memory, and the
conductance spread after the pulse. Run: .venv/bin/python benchmarks/bench_ecram_pulse.py
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from mttmat.device import EcramModel, EcramParameters
from mttmat.device.calibrate import calibrate

N = 2**22


def main() -> None:
    params = calibrate(EcramParameters.paper_defaults()).params
    model = EcramModel(params, n_devices=N, seed=0)
    state_mb = (model.theta.nbytes + model.k_dev.nbytes + model.g_dev.nbytes) / 2**20
    times = []
    tracemalloc.start()
    for i in range(6):
        v = 10.0 if i % 2 == 0 else -7.0
        t0 = time.perf_counter()
        model.apply_pulse(v, 2e-3)
        times.append(time.perf_counter() - t0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    g = model.conductance()
    print(f"devices: {N} (4 Mb), state arrays {state_mb:.0f} MiB (float32)")
    print(f"first pulse of each shape (incl. step table): {times[0]:.3f} s, {times[1]:.3f} s")
    print(
        f"pulse time, warm: mean {np.mean(times[2:]):.3f} s, best {min(times[2:]):.3f} s "
        f"(target <= 0.2 s)"
    )
    print(f"peak extra memory during pulses: {peak / 2**20:.0f} MiB")
    print(
        f"conductance after 6 pulses: mean {g.mean() * 1e6:.2f} µS, "
        f"spread {g.std() / g.mean() * 100:.1f} %"
    )


if __name__ == "__main__":
    main()

"""Redraw the device figures of a finished run from its files (no recomputation).

Usage: python analysis/plot_device.py results/mttmat-small/device
Writes device/figures/{ltp_ltd,g_vs_x,voc,transfer,retention,accuracy_vs_k}.png.
"""

from __future__ import annotations

import sys

from mttmat.plots.device import make_figures


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    for path in make_figures(argv[0]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Redraw every figure of a finished main job (``mttmat run``) from its result files.

    .venv/bin/python analysis/plot_main_job.py results/mttmat-small

Per material (``<material>/figures/``): schedule.png, rdf.png, angles.png, snapshot.png
(melt-quench), li_sites.png, li_electron.png (band vs polaron, spin-resolved), dos.png and
pdos.png (the ground state), neb_profile.png (every ML hop on one scale, the percolation
saddle, the DFT energies on the limiting band); ``figures/``:
formation_energy.png, formation_distribution.png; ``device/figures/``: the device figures.
Nothing is recomputed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mttmat.plots.main_job import save_main_job_figures


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    for p in save_main_job_figures(Path(argv[0])):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

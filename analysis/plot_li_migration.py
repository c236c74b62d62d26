"""Regenerate the Li-migration figures of a finished ``mttmat li-migration`` run (no NEB rerun).

    .venv/bin/python analysis/plot_li_migration.py li_migration/ --host host.cif [--fidelity dft]

Reads ``li_network.json`` and ``neb_hops.json`` from the run folder and writes
``neb_profile.png`` (Fig. 2j: images and force-based spline fit), ``barrier_histogram.png``
and ``network.png`` (hops coloured by barrier) into ``<run>/figures`` (or ``-o``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mttmat.plots.neb import save_neb_figures
from mttmat.structures import read_structure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run", type=Path, help="folder written by mttmat li-migration")
    ap.add_argument("--host", type=Path, required=True, help="the host structure file")
    ap.add_argument("--fidelity", choices=["ml", "dft"], help="which bands to draw (default: all)")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    net = json.loads((args.run / "li_network.json").read_text())
    hops = json.loads((args.run / "neb_hops.json").read_text())
    if args.fidelity:
        hops = [h for h in hops if h["fidelity"] == args.fidelity]
    lattice = read_structure(args.host).lattice.matrix
    for p in save_neb_figures(hops, net, lattice, args.output or args.run / "figures"):
        print(p)


if __name__ == "__main__":
    main()

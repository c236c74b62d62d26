"""Regenerate the Li-site / DOS figures of a finished ``mttmat li-dos`` run (no DFT rerun).

    .venv/bin/python analysis/plot_li_dos.py li_dos/ [-o figures/] [--window -8 4]

Reads ``li_sites.json``, ``dos.json`` and ``li_dos_summary.json`` from the run folder and
writes ``dos.png`` (Fig. 2h: doped DOS with E_F at 0, aligned host), ``pdos.png`` (Fig. 2i:
W/Nb d, O p, Li s), ``dos_sites.png`` (Fig. S4: Li at different sites) and ``li_sites.png``
(ML energies of every screened candidate) into ``<run>/figures`` (or ``-o``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mttmat.plots.dos import save_li_dos_figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run", type=Path, help="folder written by mttmat li-dos")
    ap.add_argument("-o", "--output", type=Path)
    ap.add_argument("--window", type=float, nargs=2, default=(-8.0, 4.0), help="E − E_F (eV)")
    args = ap.parse_args()
    screening = json.loads((args.run / "li_sites.json").read_text())
    summary = json.loads((args.run / "li_dos_summary.json").read_text())
    dos = json.loads((args.run / "dos.json").read_text())
    doped = [dos[c["label"]] for c in summary["cells"]]
    out = args.output or args.run / "figures"
    for p in save_li_dos_figures(screening, dos["host"], doped, summary, out, tuple(args.window)):
        print(p)


if __name__ == "__main__":
    main()

"""Regenerate the Li formation-energy figures and table of a ``mttmat li-formation`` run.

    .venv/bin/python analysis/plot_li_formation.py li_formation/ [-o figures/]

Reads ``comparison.json`` (every host's LiFormationDoc) and writes
``formation_energy.png`` (Fig. S5), ``formation_distribution.png`` and prints the Markdown
comparison table, without recomputing anything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mttmat.plots.defects import comparison_markdown, save_formation_figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run", type=Path, help="folder written by mttmat li-formation")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    docs = json.loads((args.run / "comparison.json").read_text())
    print(comparison_markdown(docs))
    for p in save_formation_figures(docs, args.output or args.run / "figures"):
        print(p)


if __name__ == "__main__":
    main()

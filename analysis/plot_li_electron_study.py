"""Merge finished ``mttmat li-electron-study`` runs into one table and one figure.

    .venv/bin/python analysis/plot_li_electron_study.py OUT study1/li_electron_study.json \
        study2/li_electron_study.json ...

Writes ``OUT/li_electron_study.json`` (every row, and each input's settings),
``OUT/li_electron_study.png`` and prints the Markdown table. A row that appears in two inputs
(same cell, geometry and U) is refused: the studies must not overlap. Nothing is recomputed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mttmat.flows.li_electron_study import study_markdown
from mttmat.plots.common import save_figure
from mttmat.plots.li_electron import plot_study


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    out, files = Path(argv[0]), [Path(a) for a in argv[1:]]
    rows, settings, seen = [], [], set()
    for f in files:
        doc = json.loads(f.read_text())
        for r in doc["rows"]:
            key = (r["cell"], r["geometry"], r["u_ev"])
            if key in seen:
                print(f"{f}: {key} is in an earlier file too", file=sys.stderr)
                return 2
            seen.add(key)
            rows.append(r)
        settings.append({"file": str(f), **doc["settings"]})
    merged = {"rows": rows, "settings": settings}
    out.mkdir(parents=True, exist_ok=True)
    (out / "li_electron_study.json").write_text(json.dumps(merged, indent=1))
    save_figure(plot_study(merged), out / "li_electron_study.png")
    print(study_markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

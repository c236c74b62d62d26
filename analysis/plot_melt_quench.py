"""Regenerate the melt-quench figures of a finished run from its store (no MD is rerun).

    .venv/bin/python analysis/plot_melt_quench.py structures/a-WOx-128.json -o figs/
    (reads the sidecar JSON written by ``mttmat melt-quench``: store path and stage uuids)

Figures: schedule.png (T and E through the stages), rdf.png (crystal vs amorphous g(r)),
angles.png (O–M–O, M–O–M), snapshot.png (rendered cells).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mttmat.plots.melt_quench import save_melt_quench_figures
from mttmat.store import get_store
from mttmat.structures import make_supercell, parent_crystal


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("sidecar", type=Path, help="the .json written beside a melt-quench cell")
    ap.add_argument("--store", help="store directory (default: the one in the sidecar)")
    ap.add_argument("-o", "--output", type=Path, default=Path("melt_quench_figures"))
    args = ap.parse_args()
    meta = json.loads(args.sidecar.read_text())
    store = get_store(args.store or meta["store"], create=False)
    store.connect()
    uuids = meta["stage_uuids"]
    stages = [store.get_output(uuids[k], load=True) for k in ("init", "melt", "quench")]
    cells = list(store.query({"output.stage_uuids.relax": uuids["relax"]}, load=True))
    if not cells:
        raise SystemExit(f"no analysis document for relax {uuids['relax']} in the store")
    parent = None
    if meta.get("start", "").startswith("crystal "):
        parent = parent_crystal(meta["start"].split(" ", 1)[1])
        if meta.get("supercell"):
            parent = make_supercell(parent, meta["supercell"])
    paths = save_melt_quench_figures(stages, cells[0]["output"], parent, args.output)
    print("\n".join(str(p) for p in paths))


if __name__ == "__main__":
    main()

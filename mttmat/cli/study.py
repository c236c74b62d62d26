"""``mttmat li-electron-study``: band vs polaron of Li_i^0 over U, geometry and cell size."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from mttmat.cli.common import progress as _progress
from mttmat.cli.li_dft import json_arg, labelled

__all__ = ["add_parsers"]


def _cmd_li_electron_study(args: argparse.Namespace) -> int:
    from mttmat.flows.li_electron_study import LiElectronStudyMaker, study_markdown
    from mttmat.plots.common import save_figure
    from mttmat.plots.li_electron import plot_study
    from mttmat.store import get_store, run_resumable
    from mttmat.structures import check_min_distances, read_structure
    from mttmat.structures.io import atomic_write_text, ensure_writable_dir

    hosts = {}
    for label, path in labelled(args.host, "--host").items():
        s = read_structure(path)
        check_min_distances(s)
        hosts[label] = s
    out = ensure_writable_dir(Path(args.output))
    kw: dict[str, Any] = {"kpts": [1, 1, 1], "kpts_gamma": True, "ecut_ev": 300.0,
                          "smearing_ev": 0.05}  # the main job's settings  # fmt: skip
    kw.update(json_arg(args.calc_kwargs, "--calc-kwargs"))
    flow = LiElectronStudyMaker(
        u_values=tuple(args.u), u_reference=args.u_reference,
        geometries=tuple(args.geometries), dft_kwargs=kw,
        max_candidates=args.max_candidates, relax_steps=args.relax_steps,
    ).make(hosts)  # fmt: skip
    _progress(f"{len(flow.jobs)} jobs for {', '.join(hosts)} in {out}")
    store = get_store(args.store or out / "store")
    # one flow file per set of inputs: a rerun with other hosts or U is a new flow, not a
    # resume of the old one
    key = hashlib.sha256(json.dumps(
        [sorted(hosts), [h.as_dict() for h in hosts.values()], args.u, args.u_reference,
         args.geometries, kw, args.max_candidates, args.relax_steps], sort_keys=True,
        default=str).encode()).hexdigest()[:12]  # fmt: skip
    flow = run_resumable(flow, store, out / "jobs", out / f"flow-{key}.json",
                         progress=_progress)  # fmt: skip
    store.connect()
    doc = store.get_output(flow.output.uuid, load=True)  # the study table
    atomic_write_text(out / "li_electron_study.json", json.dumps(doc, indent=1))
    save_figure(plot_study(doc), out / "li_electron_study.png")
    print(study_markdown(doc["rows"]))
    _progress(f"wrote li_electron_study.json and li_electron_study.png to {out}")
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``li-electron-study``."""
    st = sub.add_parser(
        "li-electron-study",
        help="band vs polaron of Li_i^0 over U, geometry (unrelaxed/ML/DFT) and cell size",
    )
    st.add_argument("--host", action="append", required=True, metavar="LABEL=FILE",
                    help="Li-free amorphous host (repeat for the cell-size scan)")  # fmt: skip
    st.add_argument("--u", type=float, nargs="+", default=[0.0, 3.0, 6.2],
                    help="U_eff of the cation (eV), ML geometry")  # fmt: skip
    st.add_argument("--u-reference", type=float, default=None,
                    help="U of the geometry scan (default: the settings' U)")  # fmt: skip
    st.add_argument("--geometries", nargs="+", default=["unrelaxed", "ml"],
                    choices=["unrelaxed", "ml", "dft"])  # fmt: skip
    st.add_argument("--max-candidates", type=int, default=6)
    st.add_argument("--relax-steps", type=int, default=30, help="DFT relax steps (dft)")
    st.add_argument("--calc-kwargs", help='JSON for GPAW, e.g. {"ecut_ev": 350}')
    st.add_argument("--store", default=None, help="store folder (default: OUTPUT/store)")
    st.add_argument("-o", "--output", default="li_electron_study")
    st.set_defaults(func=_cmd_li_electron_study, heavy=True)

"""``mttmat run`` (the main job), ``ecram`` (the device model from parameters or a store),
``show`` (one stored output) and ``settings`` (the effective settings)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mttmat.cli.common import UserError, add_store_argument, chain_documents, store_path
from mttmat.cli.common import progress as _progress

__all__ = ["add_parsers"]


def _cmd_run(args: argparse.Namespace) -> int:
    from mttmat.runs.main_job import run_main_job

    out_dir = run_main_job(
        args.config, args.output, name=args.name, progress=_progress, wait_s=args.wait,
        workers=args.workers, finetune=args.finetune,
    )  # fmt: skip
    _progress(f"results: {out_dir}")
    return 0


def _cmd_ecram(args: argparse.Namespace) -> int:
    from mttmat.device.calibrate import DeviceTargets, PulseTrace, fit_trace
    from mttmat.device.exports import export
    from mttmat.device.parameters import EcramParameters
    from mttmat.device.report import write_device_outputs

    if args.write_defaults:
        EcramParameters.paper_defaults(args.material).to_json(args.write_defaults)
        _progress(f"wrote {args.write_defaults}: edit values/sources, then --params it")
        return 0
    params = {}
    for item in args.params or []:
        p = EcramParameters.from_json(Path(item))
        params[p.material] = p
    if args.from_store:
        params.update(_params_from_store(args.from_store, args.chain_material))
    if not params:
        params[args.material] = EcramParameters.paper_defaults(args.material)
    reference = args.reference or next(iter(params))
    if reference not in params:
        raise UserError(f"reference {reference!r} is not among the materials {sorted(params)}")
    out = Path(args.output)
    if args.trace:
        cal = fit_trace(params[reference], PulseTrace.from_csv(args.trace))
        cal.params.to_json(out / f"ecram_parameters_{reference}.json")
        export(cal, args.export, out / "exports" / reference)
        _progress(f"fitted {args.trace}: rms log-G residual {cal.residuals['rms_log_g']:.3g}")
        return 0
    targets = DeviceTargets(
        g_max_s=args.g_max,
        ratio_pulse=args.ratio,
        n_pulses=args.pulses,
        v_set=args.v_set,
        v_reset=args.v_reset,
        width_s=args.width,
    )
    summary = write_device_outputs(
        params,
        reference,
        out,
        targets,
        export_format=args.export,
        sweep=args.k_sweep,
        progress=_progress,
    )
    if not args.no_figures:
        from mttmat.plots.device import make_figures

        _progress("device: figures")
        make_figures(out)
    for name, row in summary["materials"].items():
        _progress(
            f"{name}: on/off {row['on_off_ratio']:.1f}, G_top {row['g_top_s'] * 1e6:.1f} "
            f"µS, retention {row['retention_time_s']:.3g} s"
        )
    _progress(f"results: {out}")
    return 0


def _params_from_store(store_dir: str, materials: list[str] | None) -> dict[str, Any]:
    """EcramParameters per material from the chain documents in a job store.

    Reads every :class:`~mttmat.schemas.chain.MaterialChainDoc` (the end of a material chain,
    the local main job's or an HPC run's alike); the newest per material when a store holds
    several. ``materials`` restricts them.
    """
    from mttmat.device.parameters import EcramParameters

    _, found = chain_documents(store_dir, materials)
    out = {}
    for m, doc in found.items():
        out[m] = EcramParameters.model_validate(doc["parameters"])
        _progress(f"{m}: parameters of the {doc['dft_backend']} chain "
                  f"(job {doc['stages'].get('parameters', '?')})")  # fmt: skip
    return out


def _cmd_show(args: argparse.Namespace) -> int:
    from mttmat.store import get_store

    store = get_store(store_path(args.store), create=False)
    store.connect()
    try:
        out = store.get_output(args.uuid, load=False)
    except ValueError as err:
        raise UserError(f"no output {args.uuid} in {store_path(args.store)}: {err}") from err
    print(json.dumps(out, indent=2, default=str)[: args.max_chars])
    return 0


def _cmd_settings(args: argparse.Namespace) -> int:
    from mttmat.settings import get_settings

    print(get_settings().model_dump_json(indent=2))
    return 0


def add_parsers(sub: Any) -> None:
    r = sub.add_parser("run", help="the main job: local small-cell material→device workflow")
    r.add_argument("--config", help="YAML config overriding workflows/main_job.yaml")
    r.add_argument("-o", "--output", default="results", help="results root folder")
    r.add_argument("--name", default=None, help="run name (default from config)")
    r.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS",
        help="when another process runs the same name, wait this long for it (default: "
        "refuse at once, naming its PID and host)",
    )  # fmt: skip
    r.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="jobs run at once, each in its own process (default: setting `workers`, else "
        "one per core, at most 4; 1: one at a time). Results do not depend on it",
    )  # fmt: skip
    r.add_argument(
        "--finetune", action="store_true",
        help="fine-tune CHGNet on each chain's own DFT frames (+ the config's label budget of "
        "extra DFT single points); the fine-tuned model then re-screens the sites and makes the "
        "hop network (config finetune; README: fine-tuning)",
    )  # fmt: skip
    r.set_defaults(func=_cmd_run)

    e = sub.add_parser("ecram", help="build, calibrate and export the ECRAM compact model")
    e.add_argument("--params", nargs="*", help="EcramParameters JSON file(s), one per material")
    e.add_argument("--from-store", metavar="STORE",
                   help="job store (folder or MongoDB URI) holding finished material chains "
                   "(mttmat run, or the HPC flow): their EcramParameters")  # fmt: skip
    e.add_argument("--chain-material", nargs="*", metavar="MATERIAL",
                   help="materials to read from --from-store (default: all)")  # fmt: skip
    e.add_argument("--material", default="WOx", help="material label when no --params")
    e.add_argument("--reference", help="material calibrated to the device (default: first)")
    e.add_argument("--trace", help="measured pulse trace CSV to fit instead of paper targets")
    e.add_argument("--export", default="all", help="neurosim | aihwkit | mtt | traces | all")
    e.add_argument("--g-max", type=float, default=45e-6, help="S (paper: 40-50 µS)")
    e.add_argument("--ratio", type=float, default=56.0, help="pulse-window on/off ratio")
    e.add_argument("--pulses", type=int, default=180)
    e.add_argument("--v-set", type=float, default=10.0)
    e.add_argument("--v-reset", type=float, default=-7.0)
    e.add_argument("--width", type=float, default=2e-3, help="pulse width (s)")
    e.add_argument("--k-sweep", action="store_true", help="BNN accuracy vs K sweep (~1 min)")
    e.add_argument("--no-figures", action="store_true")
    e.add_argument("--write-defaults", metavar="FILE", help="write paper-default parameters")
    e.add_argument("-o", "--output", default="ecram_model")
    e.set_defaults(func=_cmd_ecram)

    sh = sub.add_parser("show", help="print a stored job output")
    sh.add_argument("uuid")
    add_store_argument(sh)
    sh.add_argument("--max-chars", type=int, default=20000)
    sh.set_defaults(func=_cmd_show)

    se = sub.add_parser("settings", help="print the effective settings")
    se.set_defaults(func=_cmd_settings)

"""The ``mttmat`` command.

Subcommands: ``structures`` (build / pack / check), ``calc`` (static or relax one structure
with a backend into the store), ``vasp-inputs`` (write what VASP would run), ``run`` (the main
job), ``melt-quench``, ``li-dos``, ``li-formation`` and ``li-migration`` (in
:mod:`mttmat.cli_stages`), ``ecram``, ``show`` (read a stored output), ``settings`` (print
the effective settings).
Bad input exits with status 2 and one line saying what is wrong and how to fix it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mttmat.cli_common import UserError
from mttmat.cli_common import progress as _progress
from mttmat.cli_stages import (
    _cmd_li_dos,
    _cmd_li_formation,
    _cmd_li_migration,
    _cmd_melt_quench,
)

__all__ = ["main"]

log = logging.getLogger("mttmat")


# --------------------------------------------------------------------------- structures
def _cmd_structures_build(args: argparse.Namespace) -> int:
    from mttmat.structures import (
        density_g_cm3,
        make_supercell,
        parent_crystal,
        remove_oxygen,
        write_structure,
    )

    s = parent_crystal(args.name)
    meta: dict[str, Any] = {"parent": args.name, "supercell": args.supercell}
    if args.supercell:
        s = make_supercell(s, args.supercell)
    if args.x is not None:
        rem = remove_oxygen(s, args.x, seed=args.seed)
        s = rem.structure
        meta["oxygen_removal"] = rem.as_dict()
    meta.update(formula=s.composition.formula, n_atoms=len(s), density_g_cm3=density_g_cm3(s))
    path = write_structure(s, args.output, metadata=meta)
    _progress(
        f"wrote {path} ({s.composition.formula}, {len(s)} atoms, "
        f"{meta['density_g_cm3']:.3f} g/cm³) and {path.with_suffix('.json')}"
    )
    return 0


def _cmd_structures_pack(args: argparse.Namespace) -> int:
    from mttmat.structures import random_packing, require_elements, write_structure

    s = random_packing(args.composition, args.density, seed=args.seed)
    if args.require_cation:
        require_elements(s, ("W", "Nb"), "an ECRAM channel cell")
    meta = {
        "start": "random packing",
        "composition": args.composition,
        "density_g_cm3": args.density,
        "seed": args.seed,
        "n_atoms": len(s),
    }
    path = write_structure(s, args.output, metadata=meta)
    _progress(f"wrote {path} ({s.composition.formula}, {len(s)} atoms, seed {args.seed})")
    return 0


def _cmd_structures_check(args: argparse.Namespace) -> int:
    from mttmat.structures import check_min_distances, density_g_cm3, read_structure

    s = read_structure(args.file)
    check_min_distances(s)
    print(
        json.dumps(
            {
                "file": str(args.file),
                "formula": s.composition.formula,
                "n_atoms": len(s),
                "density_g_cm3": round(density_g_cm3(s), 4),
                "lattice_abc_a": [round(x, 4) for x in s.lattice.abc],
            },
            indent=2,
        )
    )
    return 0


# --------------------------------------------------------------------------- calculations
def _cmd_calc(args: argparse.Namespace) -> int:
    from mttmat.backends import get_backend
    from mttmat.store import get_store, run_flow
    from mttmat.structures import check_min_distances, read_structure, require_elements

    s = read_structure(args.file)
    check_min_distances(s)
    if args.require_cation:
        require_elements(s, ("W", "Nb"), "an ECRAM channel calculation")
    backend = get_backend(args.backend)
    backend.check_structure(s)
    kw = {"calculator_kwargs": json.loads(args.calc_kwargs)} if args.calc_kwargs else {}
    maker = backend.static_maker(**kw) if args.kind == "static" else backend.relax_maker(**kw)
    store = get_store(args.store)
    job = maker.make(s)
    _progress(f"{args.kind} of {s.composition.formula} with {args.backend} (job {job.uuid})")
    run_flow(job, store, Path(args.store) / "jobs")
    store.connect()
    out = store.get_output(job.uuid)
    energy = out["output"]["energy"]
    _progress(f"done: energy {energy:.6f} eV; stored in {args.store} as {job.uuid}")
    return 0


def _cmd_vasp_inputs(args: argparse.Namespace) -> int:
    from mttmat.backends import get_backend
    from mttmat.backends.vasp import write_vasp_inputs
    from mttmat.structures import read_structure

    s = read_structure(args.file)
    b = get_backend("vasp")
    maker = {
        "static": b.static_maker,
        "relax": b.relax_maker,
        "md": lambda: b.md_maker((args.temperature, args.temperature), args.steps),
    }[args.kind]()
    d = write_vasp_inputs(maker, s, args.output)
    files = ", ".join(sorted(p.name for p in d.iterdir()))
    _progress(f"wrote VASP {args.kind} inputs to {d}: {files}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from mttmat.store import get_store

    store = get_store(args.store, create=False)
    store.connect()
    try:
        out = store.get_output(args.uuid, load=False)
    except ValueError as err:
        raise UserError(f"no output {args.uuid} in {args.store}: {err}") from err
    print(json.dumps(out, indent=2, default=str)[: args.max_chars])
    return 0


def _cmd_settings(args: argparse.Namespace) -> int:
    from mttmat.settings import get_settings

    print(get_settings().model_dump_json(indent=2))
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
        figures=not args.no_figures,
        sweep=args.k_sweep,
        progress=_progress,
    )
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
    from mttmat.schemas.chain import CHAIN_DOC_TYPE
    from mttmat.store import get_store

    if "://" in store_dir:  # MongoDB (an HPC run's store)
        store = get_store(mongo_uri=store_dir)
    elif not Path(store_dir).is_dir():
        raise UserError(f"store {store_dir} does not exist")
    else:
        store = get_store(store_dir, create=False)
    store.connect()
    found: dict[str, Any] = {}
    for d in store.query({"output.doc_type": CHAIN_DOC_TYPE}, sort={"completed_at": 1}):
        doc = d["output"]
        found[doc["material"]] = doc  # sorted by completion: the newest wins
    if materials:
        missing = sorted(set(materials) - set(found))
        if missing:
            raise UserError(f"no chain document of {missing} in {store_dir}; it holds "
                            f"{sorted(found) or 'none'}")  # fmt: skip
        found = {m: found[m] for m in materials}
    if not found:
        raise UserError(f"{store_dir} holds no finished material chain (mttmat run or the HPC "
                        "flow writes one per material)")  # fmt: skip
    out = {}
    for m, doc in found.items():
        out[m] = EcramParameters.model_validate(doc["parameters"])
        _progress(f"{m}: parameters of the {doc['dft_backend']} chain "
                  f"(job {doc['stages'].get('parameters', '?')})")  # fmt: skip
    return out


def _cmd_run(args: argparse.Namespace) -> int:
    from mttmat.workflow import run_main_job

    out_dir = run_main_job(
        args.config, args.output, name=args.name, progress=_progress, wait_s=args.wait
    )
    _progress(f"results: {out_dir}")
    return 0


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mttmat",
        description="ECRAM channel materials from atoms to a device model.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    st = sub.add_parser("structures", help="build, pack or check structures")
    sts = st.add_subparsers(dest="structures_command", required=True, metavar="ACTION")
    b = sts.add_parser("build", help="parent crystal (+ supercell, + O sub-stoichiometry)")
    b.add_argument("name", help="gamma-WO3 | cubic-WO3 | bcc-Li")
    b.add_argument("-o", "--output", required=True, help="output file (.cif, .vasp, .extxyz)")
    b.add_argument("--supercell", type=int, nargs=3, metavar=("NA", "NB", "NC"))
    b.add_argument("--x", type=float, help="remove O at random down to MO_x")
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(func=_cmd_structures_build)
    pk = sts.add_parser("pack", help="random packing of a composition at a target density")
    pk.add_argument("composition", help="e.g. Nb48O120")
    pk.add_argument("--density", type=float, required=True, help="g/cm³")
    pk.add_argument("--seed", type=int, default=0)
    pk.add_argument("--require-cation", action="store_true", help="demand W or Nb")
    pk.add_argument("-o", "--output", required=True)
    pk.set_defaults(func=_cmd_structures_pack)
    ck = sts.add_parser("check", help="read a structure and check distances")
    ck.add_argument("file")
    ck.set_defaults(func=_cmd_structures_check)

    c = sub.add_parser("calc", help="static or relax of one structure, stored")
    c.add_argument("kind", choices=["static", "relax"])
    c.add_argument("file")
    c.add_argument("--backend", default=None, help="chgnet | gpaw | vasp (default: settings)")
    c.add_argument("--store", default="mttmat_runs", help="store directory")
    c.add_argument("--calc-kwargs", help="JSON, e.g. '{\"kpts\": [2, 2, 2]}'")
    c.add_argument("--require-cation", action="store_true", help="demand W or Nb")
    c.set_defaults(func=_cmd_calc)

    v = sub.add_parser("vasp-inputs", help="write VASP inputs (INCAR, KPOINTS, POTCAR.spec)")
    v.add_argument("kind", choices=["static", "relax", "md"])
    v.add_argument("file")
    v.add_argument("-o", "--output", required=True)
    v.add_argument("--temperature", type=float, default=300.0)
    v.add_argument("--steps", type=int, default=1000)
    v.set_defaults(func=_cmd_vasp_inputs)

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

    m = sub.add_parser("melt-quench", help="melt-quench MD: amorphous cells, resumable")
    m.add_argument("--structure", help="start from this structure file")
    m.add_argument("--crystal", help="start from a parent crystal (gamma-WO3, cubic-WO3)")
    m.add_argument("--supercell", type=int, nargs=3, help="supercell of --crystal")
    m.add_argument("--pack", help="start from a random packing of this formula (Nb48O120)")
    m.add_argument("--density", type=float, help="g/cm³ of --pack")
    m.add_argument("--seed", type=int, default=0, help="seed of --pack")
    m.add_argument("--parent", help="crystal (name or file) for the long-range-order check")
    m.add_argument("--schedule", help="YAML schedule (workflows/melt_quench_local.yaml)")
    m.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="override schedule fields")
    m.add_argument("--backend", default="chgnet", help="chgnet | gpaw (tiny cells) | vasp")
    m.add_argument("--replicas", type=int, default=1)
    m.add_argument("--store", default="mttmat_runs", help="store directory (resumes from it)")
    m.add_argument("--no-figures", action="store_true")
    m.add_argument("-o", "--output", required=True, help="output prefix, e.g. structures/a-WOx")
    m.set_defaults(func=_cmd_melt_quench)

    li = sub.add_parser("li-migration", help="Li hops: ML(-seeded DFT) CI-NEB, percolation")
    li.add_argument("structure", help="host structure file (no Li)")
    li.add_argument("--n-sites", type=int, default=4, help="largest voids used as Li sites")
    li.add_argument("--sites-file", help="JSON list of fractional Li sites instead")
    li.add_argument("--cutoff", type=float, default=4.0, help="longest hop (Å)")
    li.add_argument("--images", type=int, default=3)
    li.add_argument("--max-steps", type=int, default=300, help="NEB optimizer steps")
    li.add_argument("--dft", choices=["gpaw"], help="DFT CI-NEB seeded by the ML band")
    li.add_argument("--calc-kwargs", help='JSON for the DFT calculator, e.g. {"kpts": [1,1,1]}')
    li.add_argument("--temperature", type=float, default=300.0, help="K, for D")
    li.add_argument("--store", default="mttmat_runs")
    li.add_argument("-o", "--output", default="li_migration")
    li.set_defaults(func=_cmd_li_migration)

    ld = sub.add_parser("li-dos", help="Li sites (ML screening) + DFT+U DOS/PDOS, resumable")
    ld.add_argument("structure", help="host structure file (no Li)")
    ld.add_argument("--dft", choices=["gpaw", "vasp"], default="gpaw",
                    help="gpaw runs here; vasp writes the flow for HPC")  # fmt: skip
    ld.add_argument("--n-sites", type=int, default=3, help="Li sites taken to DFT")
    ld.add_argument("--n-lowest", type=int, default=2, help="of them, the lowest in ML energy")
    ld.add_argument("--max-candidates", type=int, default=24, help="voids screened with ML")
    ld.add_argument("--no-dft-relax", action="store_true", help="DOS on the ML geometries")
    ld.add_argument("--rattle", type=float, default=0.05, help="Å, Li kick before ML relax")
    ld.add_argument("--relax-steps", type=int, default=100, help="DFT relax optimizer steps")
    ld.add_argument("--spin-paired", action="store_true", help="doped cells spin-paired")
    ld.add_argument("--calc-kwargs", help='JSON for GPAW, e.g. {"kpts": [1,1,1]}')
    ld.add_argument("--dos-kwargs", help='JSON for the DOS SCF only, e.g. {"kpts": [2,2,2]}')
    ld.add_argument("--store", default="mttmat_runs")
    ld.add_argument("-o", "--output", default="li_dos")
    ld.set_defaults(func=_cmd_li_dos)

    lf = sub.add_parser("li-formation", help="Li_i formation energy vs E_F, hosts side by side")
    lf.add_argument("--host", action="append", required=True, metavar="LABEL=FILE",
                    help="host structure (repeat: a-WOx=... a-NbOx=...)")  # fmt: skip
    lf.add_argument("--dielectric", action="append", required=True, metavar="LABEL=EPS",
                    help="ε per host for the charge correction, or all=ε")  # fmt: skip
    lf.add_argument("--dielectric-source", default="supplied by the user (assumption)")
    lf.add_argument("--n-sites", type=int, default=2, help="lowest ML sites taken to DFT")
    lf.add_argument("--max-candidates", type=int, default=12)
    lf.add_argument("--multi-li", type=int, default=0, help="one cell with this many Li")
    lf.add_argument("--temperature", type=float, default=300.0, help="K, Boltzmann mean")
    lf.add_argument("--spin-paired-neutral", action="store_true", help="Li_i^0 spin-paired")
    lf.add_argument("--calc-kwargs", help='JSON for GPAW, e.g. {"kpts": [1,1,1]}')
    lf.add_argument("--store", default="mttmat_runs")
    lf.add_argument("-o", "--output", default="li_formation")
    lf.set_defaults(func=_cmd_li_formation)

    r = sub.add_parser("run", help="the main job: local small-cell material→device workflow")
    r.add_argument("--config", help="YAML config overriding workflows/main_job.yaml")
    r.add_argument("-o", "--output", default="results", help="results root folder")
    r.add_argument("--name", default=None, help="run name (default from config)")
    r.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS",
        help="when another process runs the same name, wait this long for it (default: "
        "refuse at once, naming its PID and host)",
    )  # fmt: skip
    r.set_defaults(func=_cmd_run)

    from mttmat.cli_hpc import add_hpc_parser
    from mttmat.cli_study import add_study_parser

    add_hpc_parser(sub)
    add_study_parser(sub)

    sh = sub.add_parser("show", help="print a stored job output")
    sh.add_argument("uuid")
    sh.add_argument("--store", default="mttmat_runs")
    sh.add_argument("--max-chars", type=int, default=20000)
    sh.set_defaults(func=_cmd_show)

    se = sub.add_parser("settings", help="print the effective settings")
    se.set_defaults(func=_cmd_settings)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # jobflow prints job start/finish through its own handler: that is the per-job progress
    logging.getLogger("mttmat").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not args.verbose:  # library deprecation chatter is not for users of the CLI
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
    func: Callable[[argparse.Namespace], int] = args.func
    # commands that compute share the machine's cores with other runs (mttmat.threads);
    # the main job takes its slot itself, once its input is validated
    from mttmat.cli_study import _cmd_li_electron_study
    from mttmat.errors import PHYSICS_ERRORS, USER_ERRORS
    from mttmat.threads import RunSlot

    heavy = {_cmd_calc, _cmd_melt_quench, _cmd_li_dos, _cmd_li_formation, _cmd_li_migration,
             _cmd_li_electron_study}  # fmt: skip
    try:
        if func in heavy:
            with RunSlot():
                return func(args)
        return func(args)
    except PHYSICS_ERRORS as err:
        print(f"mttmat: stopped, a physical check failed: {err}", file=sys.stderr)
        return 3
    except (UserError, *USER_ERRORS) as err:
        print(f"mttmat: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``mttmat hpc``: the full-size VASP workflow through jobflow-remote (see README, HPC path).

    mttmat hpc check   --config workflows/hpc.yaml            # validate, count jobs per type
    mttmat hpc project --config workflows/hpc.yaml            # write the jobflow-remote project
    mttmat hpc inputs  --config ... --material WOx -o inputs/ # VASP inputs of every job type
    mttmat hpc submit  --config ... [--material WOx NbOx]     # submit (then: jf runner start)
    mttmat hpc status  --config ... [--flow UUID]             # state of every job, errors
    mttmat hpc rerun   --config ... DB_ID ...                 # rerun failed jobs once fixed

Everything is validated before anything is submitted: the config (MongoDB URI, workers,
resources against the partitions' limits, custodian names), the project's workers, and the
flows themselves.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from mttmat.cli.common import UserError

__all__ = ["add_parsers"]


def _cfg(args: argparse.Namespace) -> Any:
    from mttmat.hpc.config import load_hpc_config

    return load_hpc_config(args.config)


def _import_jfr() -> None:
    try:
        import jobflow_remote  # noqa: F401
    except ImportError as err:
        raise UserError(
            "jobflow-remote is not installed: pip install 'mttmat[hpc]' (pins pymongo<4.11)"
        ) from err


def _flows(cfg: Any, materials: list[str] | None) -> dict[str, Any]:
    from mttmat.hpc.flow import build_hpc_flows

    return build_hpc_flows(cfg, materials)


def _cmd_check(args: argparse.Namespace) -> int:
    _import_jfr()
    cfg = _cfg(args)
    for m, flow in _flows(cfg, args.material).items():
        jobs = [j for j, _ in flow.iterflow()]
        types = Counter(j.metadata.get("mttmat_job_type") for j in jobs)
        print(f"{m}: {len(jobs)} jobs " + str(dict(types)))
        params = next(j for j in jobs if j.function.__name__ == "channel_parameters")
        end = next(j for j in jobs if j.function.__name__ == "chain_document")
        print(
            f"  EcramParameters: job {params.uuid} ({params.name!r}, "
            f"{params.metadata['mttmat_job_type']}); chain document {end.uuid}"
        )
    for jt, r in cfg.resources.items():
        print(f"  {jt:7s} → {r.worker}/{r.partition}: {r.nodes}×{r.cores_per_node} ranks, "
              f"{r.walltime}{', ' + r.vasp_cmd if r.vasp_cmd else ''}")  # fmt: skip
    c = cfg.custodian
    print(f"custodian: atomate2's defaults per Maker; + handlers {c.add_handlers}, − "
          f"{c.remove_handlers}; + validators {c.add_validators}, − {c.remove_validators}; "
          f"max_errors {c.max_errors or 'atomate2'}")  # fmt: skip
    return 0 if _check_potcars(cfg) else 1


def worker_psp_dir(pre_run: str | None, exports: list[dict[str, str]]) -> str | None:
    """The ``PMG_VASP_PSP_DIR`` a worker's jobs see: an ``export`` of the job types' resources,
    else the last uncommented assignment in its ``pre_run``; ``~`` and ``$VARS`` expanded here
    (None: the job inherits pymatgen's own setting, ``~/.config/.pmgrc.yaml``)."""
    import os
    import re

    value = next((e["PMG_VASP_PSP_DIR"] for e in exports if "PMG_VASP_PSP_DIR" in e), None)
    if value is None:
        for line in (pre_run or "").splitlines():
            code = line.split("#", 1)[0]
            m = re.search(r"(?:^|\s|;)(?:export\s+)?PMG_VASP_PSP_DIR=(\S+)", code)
            if m:
                value = m.group(1).strip("'\"")
    return os.path.expanduser(os.path.expandvars(value)) if value else None


def _check_potcars(cfg: Any) -> bool:
    """Resolve one POTCAR per element for every worker that runs VASP jobs, with the
    ``PMG_VASP_PSP_DIR`` its jobs get (resources' ``export``, its ``pre_run``), else this
    machine's pymatgen setting. The files are looked up on this machine: run the check on
    the cluster's login node, which sees the workers' file system."""
    from pymatgen.core import SETTINGS

    from mttmat.backends.vasp_potcars import POTCAR_FIX, POTCAR_FUNCTIONAL, potcar_report

    vasp_types = {"aimd", "relax", "static", "defect", "dos", "neb"}
    used = {jt: r for jt, r in cfg.resources.items() if jt in vasp_types}
    all_ok = True
    for name in sorted({r.worker for r in used.values()}):
        w = cfg.workers[name]
        exports = [dict(r.export) for r in used.values() if r.worker == name]
        psp = worker_psp_dir(w.pre_run, exports)
        where = (f"PMG_VASP_PSP_DIR={psp} (the worker's environment)" if psp else
                 f"PMG_VASP_PSP_DIR={SETTINGS.get('PMG_VASP_PSP_DIR') or 'unset'} (this "
                 "machine's pymatgen setting; the worker sets none)")  # fmt: skip
        ok, lines = potcar_report(psp_dir=psp)
        print(f"POTCARs of worker {name!r} ({w.type}), {POTCAR_FUNCTIONAL}, {where}, looked up "
              "on this machine:")  # fmt: skip
        for line in lines:
            print(f"  {line}")
        if not ok:
            print(f"  fix: {POTCAR_FIX}")
        all_ok &= ok
    return all_ok


def _cmd_project(args: argparse.Namespace) -> int:
    _import_jfr()
    from mttmat.hpc.remote import write_project

    print(write_project(_cfg(args), args.folder))
    return 0


def _cmd_inputs(args: argparse.Namespace) -> int:
    _import_jfr()
    from mttmat.hpc.inspect import write_job_inputs
    from mttmat.structures.io import read_structure

    cfg = _cfg(args)
    host = read_structure(args.host) if args.host else None
    skipped: dict[str, str] = {}
    for jt, path in write_job_inputs(cfg, args.material, args.output, host, skipped).items():
        print(f"{jt:7s} {path}")
    for jt, why in skipped.items():
        print(f"{jt:7s} NOT WRITTEN: {why}")
    return 1 if skipped else 0


def _cmd_submit(args: argparse.Namespace) -> int:
    _import_jfr()
    from mttmat.hpc.remote import submit

    cfg = _cfg(args)
    flows = _flows(cfg, args.material)  # built and checked before anything is submitted
    for m, uuid in submit(cfg, flows, again=args.again).items():
        print(f"{m}: flow {uuid}")
    print("start the runner (`jf runner start`), follow with `mttmat hpc status`")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    _import_jfr()
    from mttmat.hpc.remote import status

    rows = status(_cfg(args), args.flow)
    print(f"{'db_id':>6} {'state':12s} {'type':7s} {'slurm':>7} name")
    for r in rows:
        print(f"{r['db_id']:>6} {r['state']:12s} {r['type'] or '-':7s} "
              f"{r['process_id'] or '-':>7} {r['name']}")  # fmt: skip
        if r["error"]:
            print(f"{'':>6} error: {r['error']}")
    states = Counter(r["state"] for r in rows)
    print(", ".join(f"{k}: {v}" for k, v in sorted(states.items())) or "no jobs")
    return 1 if states.get("FAILED") or states.get("REMOTE_ERROR") else 0


def _cmd_rerun(args: argparse.Namespace) -> int:
    _import_jfr()
    from mttmat.hpc.remote import rerun

    print("rerun: " + ", ".join(rerun(_cfg(args), args.db_id, force=args.force)))
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``mttmat hpc ...`` on the main parser's subparsers."""
    h = sub.add_parser("hpc", help="full-size VASP workflow via jobflow-remote (Slurm)")
    hs = h.add_subparsers(dest="hpc_command", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", required=True, help="HPC config (see workflows/hpc.yaml)")

    c = hs.add_parser("check", help="validate the config and build the flows; submit nothing")
    common(c)
    c.add_argument("--material", nargs="+")
    c.set_defaults(func=_cmd_check)
    p = hs.add_parser("project", help="write the jobflow-remote project file")
    common(p)
    p.add_argument("--folder", help="projects folder (default: jobflow-remote's, ~/.jfremote)")
    p.set_defaults(func=_cmd_project)
    i = hs.add_parser("inputs", help="write the VASP inputs of every full-size job type")
    common(i)
    i.add_argument("--material", required=True, choices=["WOx", "NbOx"])
    i.add_argument("--host", help="amorphous host for the Li-stage inputs (default: start)")
    i.add_argument("-o", "--output", required=True)
    i.set_defaults(func=_cmd_inputs)
    s = hs.add_parser("submit", help="submit the full-size flows")
    common(s)
    s.add_argument("--material", nargs="+")
    s.add_argument("--again", action="store_true",
                   help="submit even if flows of the same name are already queued")  # fmt: skip
    s.set_defaults(func=_cmd_submit)
    st = hs.add_parser("status", help="state of the submitted jobs (exit 1 if any failed)")
    common(st)
    st.add_argument("--flow", nargs="+", help="flow uuids (default: all)")
    st.set_defaults(func=_cmd_status)
    r = hs.add_parser("rerun", help="rerun failed jobs after fixing their cause")
    common(r)
    r.add_argument("db_id", nargs="+")
    r.add_argument("--force", action="store_true",
                   help="also rerun COMPLETED jobs (deletes their results)")  # fmt: skip
    r.set_defaults(func=_cmd_rerun)

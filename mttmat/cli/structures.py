"""``mttmat structures`` (build / pack / check), ``calc`` (static or relax of one structure
with a backend, into the store) and ``vasp-inputs`` (what VASP would run)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mttmat.cli.common import add_store_argument, store_path
from mttmat.cli.common import progress as _progress
from mttmat.materials import CATIONS

__all__ = ["add_parsers"]


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
        require_elements(s, CATIONS, "an ECRAM channel cell")
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


def _cmd_calc(args: argparse.Namespace) -> int:
    from mttmat.backends import get_backend
    from mttmat.store import get_store, run_flow
    from mttmat.structures import check_min_distances, read_structure, require_elements

    s = read_structure(args.file)
    check_min_distances(s)
    if args.require_cation:
        require_elements(s, CATIONS, "an ECRAM channel calculation")
    backend = get_backend(args.backend)
    backend.check_structure(s)
    kw = {"calculator_kwargs": json.loads(args.calc_kwargs)} if args.calc_kwargs else {}
    maker = backend.static_maker(**kw) if args.kind == "static" else backend.relax_maker(**kw)
    store = get_store(store_path(args.store))
    job = maker.make(s)
    _progress(f"{args.kind} of {s.composition.formula} with {args.backend} (job {job.uuid})")
    run_flow(job, store, store_path(args.store) / "jobs")
    store.connect()
    out = store.get_output(job.uuid)
    energy = out["output"]["energy"]
    _progress(f"done: energy {energy:.6f} eV; stored in {store_path(args.store)} as {job.uuid}")
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


def add_parsers(sub: Any) -> None:
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
    pk.add_argument("--require-cation", action="store_true", help="demand a channel cation")
    pk.add_argument("-o", "--output", required=True)
    pk.set_defaults(func=_cmd_structures_pack)
    ck = sts.add_parser("check", help="read a structure and check distances")
    ck.add_argument("file")
    ck.set_defaults(func=_cmd_structures_check)

    c = sub.add_parser("calc", help="static or relax of one structure, stored")
    c.add_argument("kind", choices=["static", "relax"])
    c.add_argument("file")
    c.add_argument("--backend", default=None, help="chgnet | gpaw | vasp (default: settings)")
    add_store_argument(c)
    c.add_argument("--calc-kwargs", help="JSON, e.g. '{\"kpts\": [2, 2, 2]}'")
    c.add_argument("--require-cation", action="store_true", help="demand a channel cation")
    c.set_defaults(func=_cmd_calc, heavy=True)

    v = sub.add_parser("vasp-inputs", help="write VASP inputs (INCAR, KPOINTS, POTCAR.spec)")
    v.add_argument("kind", choices=["static", "relax", "md"])
    v.add_argument("file")
    v.add_argument("-o", "--output", required=True)
    v.add_argument("--temperature", type=float, default=300.0)
    v.add_argument("--steps", type=int, default=1000)
    v.set_defaults(func=_cmd_vasp_inputs)

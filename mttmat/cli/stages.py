"""``mttmat melt-quench`` and ``li-migration``: the MD and NEB stage commands, resumable.

Bad input raises :class:`mttmat.cli.common.UserError` or a library error (exit 2).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mttmat.cli.common import UserError, add_store_argument, store_path
from mttmat.cli.common import progress as _progress
from mttmat.materials import CATIONS

__all__ = ["add_parsers", "stages_of"]


def _load_schedule(path: str | None, overrides: Sequence[str]) -> Any:
    import yaml

    from mttmat.jobs.melt_quench import MeltQuenchSchedule

    data: dict[str, Any] = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"schedule file {p} not found; see workflows/melt_quench_*.yaml")
        loaded = yaml.safe_load(p.read_text()) or {}
        if not isinstance(loaded, dict):
            raise UserError(f"schedule file {p} must hold a mapping of schedule fields")
        data.update(loaded.get("schedule", loaded))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set takes KEY=VALUE, got {item!r}")
        data[key.strip()] = yaml.safe_load(value)
    return MeltQuenchSchedule.model_validate(data)


def _melt_quench_start(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    from mttmat.chain.build import build_start
    from mttmat.chain.config import StartCell
    from mttmat.config_files import validated
    from mttmat.structures import check_min_distances, parent_crystal, read_structure

    if sum(x is not None for x in (args.structure, args.crystal, args.pack)) != 1:
        raise UserError(
            "give exactly one start: --structure FILE, --crystal NAME or --pack FORMULA"
        )
    if args.crystal:
        start, parent, _ = build_start(validated(StartCell, {
            "start": "crystal", "crystal": args.crystal,
            "supercell": args.supercell or [1, 1, 1]}, " (--crystal, --supercell)"))
        info = {"start": f"crystal {args.crystal}", "supercell": args.supercell}
    elif args.pack:
        if args.density is None:
            raise UserError("--pack needs --density (g/cm³) for the random packing")
        start, parent, _ = build_start(validated(StartCell, {
            "start": "random", "composition": args.pack, "density_g_cm3": args.density,
            "seed": args.seed}, " (--pack, --density, --seed)"))
        info = {"start": "random packing", "composition": args.pack, "density": args.density}
    else:  # a file: read as it is, and its own reference for the order check
        start = read_structure(args.structure)
        check_min_distances(start)
        info = {"start": f"file {args.structure}"}
        parent = start
    if args.parent:
        parent = (
            read_structure(args.parent)
            if Path(args.parent).exists()
            else parent_crystal(args.parent)
        )
        info["parent"] = args.parent
    return start, parent, info


def _cmd_melt_quench(args: argparse.Namespace) -> int:
    import hashlib

    from mttmat.backends import get_backend
    from mttmat.flows.melt_quench import MeltQuenchMaker
    from mttmat.jobs.melt_quench import software_versions
    from mttmat.store import get_store, run_resumable
    from mttmat.structures import write_structure
    from mttmat.structures.io import atomic_write_text, ensure_writable_dir

    schedule = _load_schedule(args.schedule, args.set or [])
    if not get_backend(args.backend).in_process:
        raise UserError(
            f"the {args.backend} backend runs on HPC: submit the chain with `mttmat hpc "
            "submit` (jobflow-remote); locally use chgnet or gpaw"
        )
    start, parent, info = _melt_quench_start(args)
    out = Path(args.output)
    ensure_writable_dir(out.parent if str(out.parent) else Path("."))
    maker = MeltQuenchMaker(backend=args.backend, schedule=schedule, replicas=args.replicas)
    flow = maker.make(start, parent=parent)
    key = hashlib.sha256(
        json.dumps(
            [schedule.model_dump(mode="json"), args.backend, args.replicas, start.as_dict()],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:10]
    store = get_store(store_path(args.store))
    root = store_path(args.store).resolve() / "melt_quench"
    steps = schedule.n_steps()
    _progress(
        f"melt-quench of {start.composition.formula} ({len(start)} atoms) with {args.backend}: "
        f"{args.replicas} replica(s) × {steps} MD steps; flow {key} in {root}"
    )
    flow = run_resumable(flow, store, root, root / f"flow-{key}.json", progress=_progress)
    store.connect()
    # the flow's own output names its documents: no lookup by job display name
    cells = [store.get_output(c.uuid, load=True) for c in flow.output["cells"]]
    summary = store.get_output(flow.output["summary"].uuid)
    from pymatgen.core import Structure

    md_stages = [stages_of(store, cell) for cell in cells]  # per replica, in stage order
    from mttmat.jobs.amorphous import is_melted

    written = []
    for k, cell in enumerate(cells):
        s = Structure.from_dict(cell["structure"])
        if parent is None:  # no parent crystal: an order ratio vs the start would mislead
            cell["long_range_order"] = None
        if cell.get("melted") is None:  # cells analysed before the melt check existed
            melt_doc = md_stages[k][1]
            msd = melt_doc["msd_a2"]
            cell["melt_msd_a2"] = msd
            cell["melted"] = is_melted(msd)
        path = out.with_name(out.name + (f"-r{k}" if k else "") + ".cif")
        meta = {
            **info,
            "backend": args.backend,
            "replica": k,
            "seed": cell["seed"],
            "schedule": schedule.model_dump(mode="json"),
            "md_steps": steps,
            "stage_uuids": cell["stage_uuids"],
            "store": str(store_path(args.store).resolve()),
            "software": software_versions(),
            "metrics": {
                key_: cell.get(key_)
                for key_ in (
                    "formula",
                    "n_atoms",
                    "density_g_cm3",
                    "min_distances_a",
                    "coordination",
                    "long_range_order",
                    "max_force_ev_a",
                    "melt_msd_a2",
                    "melted",
                )
            },
            "angles_mean_deg": {a: v["mean_deg"] for a, v in cell["angles"].items()},
            "stage_wall_s": {d["title"]: round(d["wall_time_s"], 1) for d in md_stages[k]},
        }
        written.append(write_structure(s, path, metadata=meta))
    atomic_write_text(
        out.with_name(out.name + "-summary.json"), json.dumps(summary, indent=2, default=str)
    )
    if not args.no_figures:
        from mttmat.plots.melt_quench import save_melt_quench_figures

        figs = save_melt_quench_figures(
            md_stages[0], cells[0], parent, out.with_name(out.name + "-figures")
        )
        _progress(f"figures: {', '.join(str(f) for f in figs)}")
    for w, cell in zip(written, cells, strict=False):
        cn = {k: round(v["mean"], 2) for k, v in cell["coordination"].items()}
        lro = cell["long_range_order"]
        if cell.get("melted") is False:
            _progress(
                f"WARNING: {w} did not melt (melt-stage MSD {cell['melt_msd_a2']} Å²): it is a "
                "quenched crystal, not a glass. Raise melt_temperature_k or melt_steps."
            )
        _progress(
            f"wrote {w}: {cell['formula']}, {cell['density_g_cm3']:.2f} g/cm³, CN {cn}, "
            f"max force {cell['max_force_ev_a']:.3f} eV/Å"
            + (f", LRO ratio {lro['ratio']:.2f}" if lro else "")
        )
    return 0


def stages_of(store: Any, cell: dict[str, Any]) -> list[Any]:
    """The MD-stage documents (init, melt, quench) of one analysed cell, by its stage uuids."""
    return [store.get_output(cell["stage_uuids"][k], load=True) for k in ("init", "melt", "quench")]


def _cmd_li_migration(args: argparse.Namespace) -> int:
    from mttmat.flows.li_migration import LiMigrationMaker
    from mttmat.plots.neb import save_neb_figures
    from mttmat.store import get_store, run_resumable
    from mttmat.structures import check_min_distances, read_structure, require_elements
    from mttmat.structures.io import atomic_write_text, ensure_writable_dir
    from mttmat.structures.voids import find_voids

    host = read_structure(args.structure)
    check_min_distances(host)
    require_elements(host, CATIONS, "Li migration")
    if args.sites_file:
        sites = json.loads(Path(args.sites_file).read_text())
    else:
        sites = [v[0].tolist() for v in find_voids(host, n=args.n_sites, min_separation_a=2.0)]
    out = ensure_writable_dir(Path(args.output))
    maker = LiMigrationMaker(
        dft_backend=args.dft, hop_cutoff_a=args.cutoff, n_images=args.images,
        max_neb_steps=args.max_steps, temperature_k=args.temperature,
        dft_calculator_kwargs=json.loads(args.calc_kwargs) if args.calc_kwargs else {},
    )  # fmt: skip
    flow = maker.make(host, sites)
    n_neb = sum(j.metadata.get("role") in ("ml neb", "dft neb") for j in flow.jobs)
    _progress(f"{len(sites)} Li sites, {n_neb} NEB jobs in {out}; rerun to resume after a kill")
    store = get_store(store_path(args.store))
    flow = run_resumable(flow, store, out / "jobs", out / "flow.json", progress=_progress)
    store.connect()
    net = store.get_output(flow.output.uuid)  # the flow's output: the network document
    final_fid = "dft" if args.dft else "ml"
    hops = [store.get_output(j.uuid, load=True) for j in flow.jobs
            if j.metadata.get("role") in ("ml neb", "dft neb")]  # fmt: skip
    atomic_write_text(out / "li_network.json", json.dumps(net, indent=2, default=str))
    atomic_write_text(out / "neb_hops.json", json.dumps(hops, default=str))
    shown = [h for h in hops if h["fidelity"] == final_fid]
    figs = save_neb_figures(shown, net, host.lattice.matrix, out / "figures")
    perc = net["percolation_barrier_ev"]
    _progress(
        "percolation barrier (eV): "
        + ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} none" for k, v in perc.items())
    )
    _progress(f"wrote {out / 'li_network.json'}, {out / 'neb_hops.json'}, {len(figs)} figures")
    return 0


def add_parsers(sub: Any) -> None:
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
    add_store_argument(m, "job store folder (resumes from it)")
    m.add_argument("--no-figures", action="store_true")
    m.add_argument("-o", "--output", required=True, help="output prefix, e.g. structures/a-WOx")
    m.set_defaults(func=_cmd_melt_quench, heavy=True)

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
    add_store_argument(li)
    li.add_argument("-o", "--output", default="li_migration")
    li.set_defaults(func=_cmd_li_migration, heavy=True)

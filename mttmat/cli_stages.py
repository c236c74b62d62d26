"""``mttmat melt-quench``, ``li-dos`` and ``li-migration``: the MD, DOS and NEB stage commands.

Kept apart from :mod:`mttmat.cli` (parser, structure/DFT/device commands); the parser there
wires these in. Bad input raises :class:`mttmat.cli.UserError` or a library error (exit 2).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mttmat.cli_common import UserError
from mttmat.cli_common import progress as _progress

__all__ = ["stages_of"]


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
    from mttmat.structures import (
        check_min_distances,
        make_supercell,
        parent_crystal,
        random_packing,
        read_structure,
    )

    if sum(x is not None for x in (args.structure, args.crystal, args.pack)) != 1:
        raise UserError(
            "give exactly one start: --structure FILE, --crystal NAME or --pack FORMULA"
        )
    if args.crystal:
        start = parent_crystal(args.crystal)
        if args.supercell:
            start = make_supercell(start, args.supercell)
        info = {"start": f"crystal {args.crystal}", "supercell": args.supercell}
        parent = start
    elif args.pack:
        if args.density is None:
            raise UserError("--pack needs --density (g/cm³) for the random packing")
        start = random_packing(args.pack, args.density, seed=args.seed)
        info = {"start": "random packing", "composition": args.pack, "density": args.density}
        parent = None
    else:
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
    if get_backend(args.backend).name == "vasp":
        raise UserError(
            "the vasp backend runs on HPC: build and submit the flow with "
            "workflows/melt_quench_hpc.py (jobflow-remote); locally use chgnet or gpaw"
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
    store = get_store(args.store)
    root = Path(args.store).resolve() / "melt_quench"
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
    from mttmat.flows.melt_quench import is_melted

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
            "store": str(Path(args.store).resolve()),
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
        from mttmat.analysis.melt_quench_plots import save_melt_quench_figures

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
    from mttmat.analysis.neb_plots import save_neb_figures
    from mttmat.flows.li_migration import LiMigrationMaker
    from mttmat.store import get_store, run_resumable
    from mttmat.structures import check_min_distances, read_structure, require_elements
    from mttmat.structures.io import atomic_write_text, ensure_writable_dir
    from mttmat.structures.voids import find_voids

    host = read_structure(args.structure)
    check_min_distances(host)
    require_elements(host, ("W", "Nb"), "Li migration")
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
    store = get_store(args.store)
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


def _json_arg(text: str | None, what: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{what} is not valid JSON ({err}), e.g. '{{\"kpts\": [1, 2]}}'") from err
    if not isinstance(value, dict):
        raise UserError(f"{what} must be a JSON object, e.g. '{{\"kpts\": [1, 2, 2]}}'")
    return value


def _cmd_li_dos(args: argparse.Namespace) -> int:
    from mttmat.analysis.dos_plots import save_li_dos_figures
    from mttmat.flows.li_dos import LiSitesDosMaker
    from mttmat.store import get_store, run_resumable
    from mttmat.structures import check_min_distances, read_structure, write_structure
    from mttmat.structures.io import atomic_write_text, ensure_writable_dir

    host = read_structure(args.structure)
    check_min_distances(host)
    if args.n_sites < 1 or args.n_lowest < 0 or args.max_candidates < args.n_sites:
        raise UserError(
            f"need n_sites >= 1, n_lowest >= 0 and max_candidates >= n_sites (got "
            f"{args.n_sites}, {args.n_lowest}, {args.max_candidates})"
        )
    out = ensure_writable_dir(Path(args.output))
    maker = LiSitesDosMaker(
        dft_backend=args.dft, n_sites=args.n_sites, n_lowest=args.n_lowest,
        max_candidates=args.max_candidates, dft_relax=not args.no_dft_relax,
        relax_steps=args.relax_steps, dft_kwargs=_json_arg(args.calc_kwargs, "--calc-kwargs"),
        dos_kwargs=_json_arg(args.dos_kwargs, "--dos-kwargs"),
        spin_polarized_doped=not args.spin_paired,
        screening_kwargs={"rattle_a": args.rattle},
    )  # fmt: skip
    flow = maker.make(host)
    if args.dft == "vasp":
        atomic_write_text(out / "flow.json", flow.to_json())
        _progress(
            f"wrote the VASP flow ({len(flow.jobs)} jobs) to {out / 'flow.json'}; VASP runs on "
            "HPC: submit it with jobflow-remote (see the README's HPC section)"
        )
        return 0
    _progress(f"{len(flow.jobs)} jobs in {out}; rerun the same command to resume after a kill")
    store = get_store(args.store)
    flow = run_resumable(flow, store, out / "jobs", out / "flow.json", progress=_progress)
    store.connect()
    outs = {j.name: store.get_output(j.uuid, load=True) for j in flow.jobs}
    screening, summary = outs["Li site screening"], outs["Li DOS summary"]
    host_dos = outs["DOS host"]
    doped = [outs[f"DOS {c['label']}"] for c in summary["cells"]]
    for i, s in enumerate(screening["selected_structures"]):
        from pymatgen.core import Structure

        write_structure(Structure.from_dict(s), out / f"site_{i + 1}.cif")
    slim = {k: v for k, v in screening.items() if k != "selected_structures"}
    atomic_write_text(out / "li_sites.json", json.dumps(slim, indent=1, default=str))
    atomic_write_text(out / "li_dos_summary.json", json.dumps(summary, indent=1, default=str))
    atomic_write_text(
        out / "dos.json",
        json.dumps({"host": host_dos, **{c["label"]: d for c, d in zip(summary["cells"], doped,
                                                                       strict=True)}}),
    )  # fmt: skip
    figs = save_li_dos_figures(screening, host_dos, doped, summary, out / "figures")
    for c in summary["cells"]:
        _progress(
            f"{c['label']}: E_F − host CBM {c['fermi_above_host_cbm_ev']:+.2f} eV, "
            f"{c['electrons_donated_per_li']:.2f} e in the CB per Li, moment "
            f"{c['total_magnetic_moment_mub'] or 0:.2f} μB, polaron-like {c['polaron_like']}"
        )
    _progress(
        f"host gap {summary['host_band_gap_ev']:.2f} eV; min site similarity "
        f"{summary['min_site_similarity']:.2f}; wrote li_sites.json, li_dos_summary.json, "
        f"dos.json, site_*.cif and {len(figs)} figures to {out}"
    )
    return 0


def _labelled(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        label, sep, value = item.partition("=")
        if not sep or not label or not value:
            raise UserError(f"{what} takes LABEL=VALUE (e.g. a-WOx=structures/a-WOx-32.cif), "
                            f"got {item!r}")  # fmt: skip
        if label in out:
            raise UserError(f"{what} label {label!r} given twice")
        out[label] = value
    return out


def _cmd_li_formation(args: argparse.Namespace) -> int:
    from mttmat.analysis.defect_plots import comparison_markdown, save_formation_figures
    from mttmat.flows.li_formation import LiFormationMaker
    from mttmat.store import get_store, run_resumable
    from mttmat.structures import check_min_distances, read_structure
    from mttmat.structures.io import atomic_write_text, ensure_writable_dir

    hosts = _labelled(args.host, "--host")
    eps = {k: float(v) for k, v in _labelled(args.dielectric, "--dielectric").items()}
    if set(eps) == {"all"}:
        eps = dict.fromkeys(hosts, eps["all"])
    if missing := sorted(set(hosts) - set(eps)):
        raise UserError(f"no --dielectric for {missing}: give LABEL=ε per host or all=ε")
    out = ensure_writable_dir(Path(args.output))
    calc = _json_arg(args.calc_kwargs, "--calc-kwargs")
    flows = {}
    for label, path in hosts.items():  # build every flow first: bad input fails before DFT
        host = read_structure(path)
        check_min_distances(host)
        maker = LiFormationMaker(
            dielectric=eps[label], dielectric_source=args.dielectric_source,
            n_sites=args.n_sites, n_lowest=args.n_sites, max_candidates=args.max_candidates,
            dft_kwargs=calc, multi_li=args.multi_li, temperature_k=args.temperature,
            spin_polarized_neutral=not args.spin_paired_neutral,
        )  # fmt: skip
        flows[label] = maker.make(host)
    store = get_store(args.store)
    docs = {}
    for label, flow in flows.items():
        _progress(f"{label}: {len(flow.jobs)} jobs in {out / label}")
        d = ensure_writable_dir(out / label)
        flow = run_resumable(flow, store, d / "jobs", d / "flow.json", progress=_progress)
        store.connect()
        docs[label] = store.get_output(flow.jobs[-1].uuid, load=True)
        atomic_write_text(d / "li_formation.json", json.dumps(docs[label], indent=1, default=str))
    atomic_write_text(out / "comparison.json", json.dumps(docs, default=str))
    table = comparison_markdown(docs)
    atomic_write_text(out / "comparison.md", table)
    figs = save_formation_figures(docs, out / "figures")
    print(table)
    _progress(f"wrote comparison.md, comparison.json, <host>/li_formation.json and "
              f"{len(figs)} figures to {out}")  # fmt: skip
    return 0

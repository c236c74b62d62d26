"""``mttmat li-dos`` (Li sites by ML screening, then the DFT+U DOS/PDOS) and ``li-formation``
(the Li_i formation energy vs E_F, hosts side by side): resumable stage commands."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mttmat.cli.common import UserError, add_store_argument, store_path
from mttmat.cli.common import progress as _progress

__all__ = ["add_parsers", "json_arg", "labelled"]


def json_arg(text: str | None, what: str) -> dict[str, Any]:
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
    from mttmat.flows.li_dos import LiSitesDosMaker
    from mttmat.plots.dos import save_li_dos_figures
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
        relax_steps=args.relax_steps, dft_kwargs=json_arg(args.calc_kwargs, "--calc-kwargs"),
        dos_kwargs=json_arg(args.dos_kwargs, "--dos-kwargs"),
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
    store = get_store(store_path(args.store))
    flow = run_resumable(flow, store, out / "jobs", out / "flow.json", progress=_progress)
    store.connect()
    # the documents by the roles the summary records, not by job names
    summary = store.get_output(flow.output.uuid, load=True)
    by_role = summary["uuids"]
    screening = store.get_output(by_role["screening"], load=True)
    host_dos = store.get_output(by_role["dos host"], load=True)
    doped = [store.get_output(by_role[f"dos {c['label']}"], load=True) for c in summary["cells"]]
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


def labelled(items: Sequence[str], what: str) -> dict[str, str]:
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
    from mttmat.flows.li_formation import LiFormationMaker
    from mttmat.plots.defects import comparison_markdown, save_formation_figures
    from mttmat.store import get_store, run_resumable
    from mttmat.structures import check_min_distances, read_structure
    from mttmat.structures.io import atomic_write_text, ensure_writable_dir

    hosts = labelled(args.host, "--host")
    eps = {k: float(v) for k, v in labelled(args.dielectric, "--dielectric").items()}
    if set(eps) == {"all"}:
        eps = dict.fromkeys(hosts, eps["all"])
    if missing := sorted(set(hosts) - set(eps)):
        raise UserError(f"no --dielectric for {missing}: give LABEL=ε per host or all=ε")
    out = ensure_writable_dir(Path(args.output))
    calc = json_arg(args.calc_kwargs, "--calc-kwargs")
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
    store = get_store(store_path(args.store))
    docs = {}
    for label, flow in flows.items():
        _progress(f"{label}: {len(flow.jobs)} jobs in {out / label}")
        d = ensure_writable_dir(out / label)
        flow = run_resumable(flow, store, d / "jobs", d / "flow.json", progress=_progress)
        store.connect()
        docs[label] = store.get_output(flow.output.uuid, load=True)  # the flow's document
        atomic_write_text(d / "li_formation.json", json.dumps(docs[label], indent=1, default=str))
    atomic_write_text(out / "comparison.json", json.dumps(docs, default=str))
    table = comparison_markdown(docs)
    atomic_write_text(out / "comparison.md", table)
    figs = save_formation_figures(docs, out / "figures")
    print(table)
    _progress(f"wrote comparison.md, comparison.json, <host>/li_formation.json and "
              f"{len(figs)} figures to {out}")  # fmt: skip
    return 0


def add_parsers(sub: Any) -> None:
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
    add_store_argument(ld)
    ld.add_argument("-o", "--output", default="li_dos")
    ld.set_defaults(func=_cmd_li_dos, heavy=True)

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
    add_store_argument(lf)
    lf.add_argument("-o", "--output", default="li_formation")
    lf.set_defaults(func=_cmd_li_formation, heavy=True)

"""Benchmark: CHGNet fine-tuned on a fixed DFT budget of the shipped amorphous cells.

Per material (``structures/a-WOx-32.cif``, ``structures/a-NbOx-28.cif``), with the main job's
DFT settings (GPAW PBE+U, U_W 6.2 / U_Nb 4.0 eV, 300 eV, Γ, Fermi-Dirac 0.05 eV,
spin-paired):

1. the chain's frames: DFT single points of the host and of Li at the two lowest CHGNet sites;
2. the pool the potential meets: CHGNet MD snapshots of the Li cell at site 0 (1000 K, every
   20 steps of 2 fs), the interior images of a CHGNet CI-NEB hop between the two sites, and
   both sites deformed by ± 2 % at constant volume (``label_candidates``);
3. ``--budget`` extra labels: the pool cells where a committee of 3 heads (20 epochs on the
   chain's frames) spreads most;
4. ``--heldout`` held-out frames: snapshots of a *separate* CHGNet MD trajectory (Li at
   site 1, another seed), drawn at random (seeded): nothing held out is a neighbour in time
   or a strained copy of a training frame (the nearest-frame distance is printed);
5. CHGNet fine-tuned 40 epochs on chain frames + labels.

It prints the held-out force MAE of the pretrained and the fine-tuned model (target: at
least halved), the energy MAE per atom, the committee's spread at the picked cells and at
the held-out ones, and the wall time of the fine-tuning. DFT budget: 3 + ``budget`` +
``heldout`` single points per material (default 3 + 3 + 4 = 10).

Every DFT single point is saved as it finishes (``dft/<name>.json``): a killed run resumes.

``--barriers`` adds the issue's barrier targets (hours of GPAW on 2 cores; not run on the
2-core development machine): a DFT CI-NEB of the hop seeded by IDPP as the reference,
then DFT CI-NEBs seeded by the pretrained and by the fine-tuned CHGNet band, printing
|E_a(ML) − E_a(DFT)| of both models and the DFT force calls of each seeding (target: the
fine-tuned seed ≤ 0.25× the IDPP one).

Run: ``.venv/bin/python benchmarks/bench_finetune.py [--material WOx] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.backends.chgnet_training import (
    committee_disagreement,
    finetune_chgnet,
    load_model,
    most_uncertain,
    parity,
    train_committee,
)
from mttmat.chain.config import DftConfig
from mttmat.jobs.finetune import nearest_distance_a
from mttmat.jobs.hop_network import ml_hop_network
from mttmat.jobs.labels import label_candidates
from mttmat.jobs.migration import neb_hop
from mttmat.jobs.sites import screen_li_sites
from mttmat.materials import cation_of
from mttmat.schemas.frames import DftFrame, FrameSettings
from mttmat.structures.io import atomic_write_text, atoms_to_structure, read_structure

CELLS = {"WOx": "structures/a-WOx-32.cif", "NbOx": "structures/a-NbOx-28.cif"}
ROOT = Path(__file__).parents[1]


def dft_kwargs(material: str) -> dict[str, Any]:
    kw = DftConfig().calculator_kwargs([cation_of(material), "O", "Li"])
    return {**kw, "spin_polarized": False}


def dft_frame(s: Structure, name: str, material: str, folder: Path) -> DftFrame:
    """A GPAW single point of ``s`` (saved, so a rerun reads it back)."""
    path = folder / f"{name}.json"
    if path.is_file():
        return DftFrame.model_validate_json(path.read_text())
    kw = dft_kwargs(material)
    atoms = s.to_ase_atoms()
    gpaw = get_backend("gpaw")
    atoms.calc = gpaw.ase_calculator(**{**kw, "txt": str(folder / f"{name}.txt")})
    t = time.perf_counter()
    energy = float(atoms.get_potential_energy())
    frame = DftFrame(
        structure=s.as_dict(), energy_ev=energy, forces_ev_a=atoms.get_forces().tolist(),
        settings=FrameSettings(code="gpaw", hubbard_u_ev=kw["hubbard_u_ev"],
                               ecut_ev=kw["ecut_ev"], kpts=list(kw["kpts"]),
                               smearing_ev=kw["smearing_ev"]),
        job_uuid=None, role=name,
    )  # fmt: skip
    atomic_write_text(path, frame.model_dump_json())
    print(f"  DFT {name}: {time.perf_counter() - t:.0f} s", flush=True)
    return frame


def md_snapshots(s: Structure, n: int, every: int, seed: int) -> list[Structure]:
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    atoms = s.to_ase_atoms()
    atoms.calc = get_backend("chgnet").ase_calculator()
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=1000, rng=rng)
    dyn = Langevin(atoms, 2 * units.fs, temperature_K=1000, friction=0.01 / units.fs, rng=rng)
    out = []
    for _ in range(n):
        dyn.run(every)
        out.append(atoms_to_structure(atoms))
    return out


def pool_and_chain(material: str, work: Path, seed: int) -> tuple[list, list, list, Any]:
    """(chain cells [(name, structure)], label pool [(structure, origin)], held-out pool
    [(structure, origin)], the CHGNet network)."""
    host = read_structure(ROOT / CELLS[material])
    cache = work / "ml.json"
    if cache.is_file():
        d = json.loads(cache.read_text())
        screen, net = d["screen"], d["net"]
        md = [Structure.from_dict(x) for x in d["md"]]
        md_held = [Structure.from_dict(x) for x in d["md_held"]]
    else:
        os.chdir(work)
        screen = screen_li_sites.original(host, n_sites=2, n_lowest=2, backend="chgnet",
                                          max_candidates=6).model_dump()  # fmt: skip
        net = ml_hop_network.original(screen, "chgnet", 3, 0.05, 150, 1, 1, 6.0).model_dump()
        cells = [Structure.from_dict(_d(x)) for x in screen["selected_structures"]]
        md = md_snapshots(cells[0], 10, 20, seed)
        md_held = md_snapshots(cells[1], 10, 20, seed + 1)
        atomic_write_text(cache, json.dumps({
            "screen": _j(screen), "net": _j(net), "md": [s.as_dict() for s in md],
            "md_held": [s.as_dict() for s in md_held],
        }))  # fmt: skip
    sites = [Structure.from_dict(_d(x)) for x in screen["selected_structures"]]
    chain = [("host", host), ("Li site 0", sites[0]), ("Li site 1", sites[1])]
    pool = [(s, f"MD snapshot {k}") for k, s in enumerate(md)] + label_candidates(net)
    held = [(s, f"held-out MD snapshot {k}") for k, s in enumerate(md_held)]
    return chain, pool, held, net


def _d(x: Any) -> dict:
    return x if isinstance(x, dict) else x.as_dict()


def _j(doc: Any) -> Any:
    from monty.json import jsanitize

    return jsanitize(doc, strict=True)


def run_material(material: str, out: Path, budget: int, n_held: int, seed: int,
                 barriers: bool) -> dict[str, Any]:  # fmt: skip
    work = out / material
    (work / "dft").mkdir(parents=True, exist_ok=True)
    print(f"{material}: ML sites, hop band and MD snapshots", flush=True)
    chain_cells, pool, held_pool, net = pool_and_chain(material, work, seed)
    chain = [dft_frame(s, n, material, work / "dft") for n, s in chain_cells]
    t = time.perf_counter()
    heads = train_committee(chain, work / "committee", members=3, epochs=20, seed=seed)
    spread = committee_disagreement([load_model(c) for c in heads], [s for s, _ in pool])
    t_committee = time.perf_counter() - t
    picked = most_uncertain(spread, budget)
    held_idx = sorted(np.random.default_rng(seed).choice(len(held_pool), n_held, replace=False))
    held_spread = committee_disagreement([load_model(c) for c in heads],
                                         [held_pool[k][0] for k in held_idx])  # fmt: skip
    labels = [dft_frame(pool[k][0], f"label {pool[k][1]}", material, work / "dft")
              for k in picked]  # fmt: skip
    held = [dft_frame(held_pool[k][0], held_pool[k][1], material, work / "dft")
            for k in held_idx]  # fmt: skip
    train = chain + labels
    t = time.perf_counter()
    res = finetune_chgnet(train, work / "finetune", epochs=40, seed=seed)
    t_ft = time.perf_counter() - t
    base, tuned = load_model(), load_model(res["checkpoint"])
    # does the committee's spread pick the frames the pretrained model gets most wrong?
    scored = labels + held
    spread_scored = [float(spread[k]) for k in picked] + [float(d) for d in held_spread]
    err = [parity(base, [f])["force_mae_ev_a"] for f in scored]
    rank = float(np.corrcoef(np.argsort(np.argsort(spread_scored)),
                             np.argsort(np.argsort(err)))[0, 1])  # fmt: skip
    rows = {}
    for name, model in (("pretrained", base), ("fine-tuned", tuned)):
        offsets = parity(model, train)["offsets_ev"]
        rows[name] = parity(model, held, offsets)
    out_row = {
        "material": material, "dft_budget": len(train) + len(held),
        "labels": [(pool[k][1], float(spread[k])) for k in picked],
        "heldout": [(held_pool[k][1], float(d)) for k, d in zip(held_idx, held_spread,
                                                                   strict=True)],
        "heldout_nearest_a": [nearest_distance_a(f, train) for f in held],
        "force_mae_ev_a": {k: v["force_mae_ev_a"] for k, v in rows.items()},
        "energy_mae_mev_atom": {k: 1e3 * v["energy_mae_ev_atom"] for k, v in rows.items()},
        "committee_wall_s": t_committee, "finetune_wall_s": t_ft,
        "spread_vs_error": {"spread_ev_a": spread_scored, "pretrained_force_mae_ev_a": err,
                            "spearman": rank},
    }
    if barriers:
        out_row["barriers"] = barrier_part(material, net, res["checkpoint"], work)
    return out_row


def barrier_part(material: str, net: Any, checkpoint: str, work: Path) -> dict[str, Any]:
    """DFT CI-NEB of the network's hop: IDPP-seeded (the reference), then seeded by the
    pretrained and by the fine-tuned CHGNet band (each a CHGNet CI-NEB between the same
    CHGNet endpoints). Hours of GPAW on 2 cores."""
    band = net["bands"][0]
    ends = [Structure.from_dict(_d(band["images"][0])), Structure.from_dict(_d(band["images"][-1]))]
    hop, kw = band["hop"], dft_kwargs(material)
    rows: dict[str, Any] = {}
    for label, seed_kw in (("pretrained", None), ("fine-tuned", {"model_path": checkpoint})):
        d = work / f"ml_neb_{label}"
        d.mkdir(exist_ok=True)
        os.chdir(d)
        rows[f"ml {label}"] = neb_hop.original(*ends, hop, "chgnet", 3, 0.05, max_steps=300,
                                                calculator_kwargs=seed_kw)  # fmt: skip
    for label, seed in (("idpp", None), ("pretrained", rows["ml pretrained"]),
                        ("fine-tuned", rows["ml fine-tuned"])):  # fmt: skip
        d = work / f"dft_neb_{label}"
        d.mkdir(exist_ok=True)
        os.chdir(d)
        rows[f"dft {label}"] = neb_hop.original(
            *ends, hop, "gpaw", 3, 0.05, max_steps=300, calculator_kwargs=kw,
            seed_images=None if seed is None else seed.images,
            seed_fidelity=None if seed is None else "ml",
        )  # fmt: skip
    ref = rows["dft idpp"].barrier_forward_ev
    return {
        "E_a_dft_ev": ref,
        "error_ev": {m: abs(rows[f"ml {m}"].barrier_forward_ev - ref)
                     for m in ("pretrained", "fine-tuned")},
        "dft_force_calls": {k: rows[f"dft {k}"].force_calls
                            for k in ("idpp", "pretrained", "fine-tuned")},
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--material", choices=sorted(CELLS), action="append")
    ap.add_argument("--out", type=Path, default=Path("bench_finetune"))
    ap.add_argument("--budget", type=int, default=3, help="extra DFT labels per material")
    ap.add_argument("--heldout", type=int, default=4, help="held-out DFT frames per material")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--barriers", action="store_true", help="DFT CI-NEB references (hours)")
    args = ap.parse_args()
    out = args.out.resolve()
    for m in args.material or sorted(CELLS):
        r = run_material(m, out, args.budget, args.heldout, args.seed, args.barriers)
        atomic_write_text(out / f"{m}.json", json.dumps(r, indent=1))
        f, e = r["force_mae_ev_a"], r["energy_mae_mev_atom"]
        ratio = f["fine-tuned"] / f["pretrained"]
        print(f"\n{m}: {r['dft_budget']} DFT single points ({args.budget} committee labels, "
              f"{args.heldout} held out)")  # fmt: skip
        print(f"  held-out force MAE: pretrained {f['pretrained']:.3f}, fine-tuned "
              f"{f['fine-tuned']:.3f} eV/Å ({ratio:.2f}x; target ≤ 0.5x: "
              f"{'met' if ratio <= 0.5 else 'MISSED'})")  # fmt: skip
        print(f"  held-out energy MAE: {e['pretrained']:.1f} → {e['fine-tuned']:.1f} meV/atom")
        print(f"  labels (committee spread eV/Å): {r['labels']}")
        print(f"  held out (spread eV/Å): {r['heldout']}")
        sv = r["spread_vs_error"]
        n_sc = len(sv["spread_ev_a"])
        print(f"  committee spread vs the pretrained model's force MAE over the {n_sc}"
              f" DFT-labelled pool cells: Spearman {sv['spearman']:+.2f}; the labels' MAE "
              + ", ".join(f"{e:.3f}" for e in sv["pretrained_force_mae_ev_a"][:args.budget])
              + ", the held-out frames' "
              + ", ".join(f"{e:.3f}" for e in sv["pretrained_force_mae_ev_a"][args.budget:]))
        print("  held-out frames' largest atom distance to the nearest training frame (Å): "
              + ", ".join("-" if d is None else f"{d:.2f}" for d in r["heldout_nearest_a"]))
        print(f"  committee {r['committee_wall_s']:.0f} s, fine-tuning {r['finetune_wall_s']:.0f}"
              " s wall on this machine")  # fmt: skip
        if "barriers" in r:
            b = r["barriers"]
            print(f"  DFT CI-NEB E_a {b['E_a_dft_ev']:.3f} eV; |E_a(ML) − E_a(DFT)| "
                  f"{b['error_ev']}; DFT force calls {b['dft_force_calls']}")  # fmt: skip


if __name__ == "__main__":
    main()

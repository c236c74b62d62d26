"""Li interstitial sites of a host: Voronoi candidates → ML relax and rank → selection.

:func:`screen_li_sites` (a jobflow job) finds the candidate voids
(:func:`mttmat.structures.sites.find_interstitial_sites`), puts one Li in each, relaxes every
cell with the ML backend (host atoms free, Li rattled off any symmetric saddle), merges
candidates whose Li ends at the same place, and selects ``n_sites`` of the distinct sites:
the ``n_lowest`` lowest in energy, then the lowest of each Li–O coordination not yet chosen
(other local environments), then the next lowest. Every candidate stays in the document with
its energy. The loop writes ``li_site_screening.json`` after each candidate, so a killed job
resumes where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import job
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.materials import CATIONS
from mttmat.schemas.li_sites import LiSiteCandidate, LiSiteScreeningDoc
from mttmat.structures.io import atomic_write_text, atoms_to_structure
from mttmat.structures.sites import InterstitialSite, find_interstitial_sites
from mttmat.structures.validate import StructureError, require_elements

__all__ = ["PROGRESS_FILE", "rescreen_li_sites", "screen_li_sites", "screening_job",
           "select_sites"]  # fmt: skip

PROGRESS_FILE = "li_site_screening.json"


def _relax_candidate(
    host: Structure, site: InterstitialSite, calc: Any, fmax: float, max_steps: int,
    rattle_a: float, seed: int, li_o_cutoff_a: float,
) -> dict[str, Any]:  # fmt: skip

    doped = host.copy()
    doped.append("Li", site.frac_coords)
    atoms = doped.to_ase_atoms()
    rng = np.random.default_rng(seed)
    pos = atoms.get_positions()
    pos[-1] += rng.normal(0.0, rattle_a, 3)  # off any symmetric saddle (e.g. a cube window)
    atoms.set_positions(pos)
    return _relax_atoms(atoms, site.frac_coords, calc, fmax, max_steps, li_o_cutoff_a)


def _relax_atoms(atoms: Any, start_frac: Any, calc: Any, fmax: float, max_steps: int,
                 li_o_cutoff_a: float) -> dict[str, Any]:  # fmt: skip
    """Relax a host + Li cell (Li last) and describe where its Li ended."""
    from ase.optimize import FIRE

    atoms.calc = calc
    opt = FIRE(atoms, logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=max_steps))
    relaxed = atoms_to_structure(atoms)
    li_frac = np.mod(relaxed.frac_coords[-1], 1.0)
    o = np.array([s.specie.symbol == "O" for s in relaxed])
    d_o = relaxed.lattice.get_all_distances(li_frac[None], relaxed.frac_coords[o])[0]
    disp = relaxed.lattice.get_all_distances(li_frac[None], np.array([start_frac]))[0, 0]
    return {
        "frac_coords_relaxed": li_frac.tolist(),
        "li_displacement_a": float(disp),
        "li_o_coordination": int((d_o < li_o_cutoff_a).sum()),
        "nearest_o_relaxed_a": float(d_o.min()) if d_o.size else None,
        "energy_ev": float(atoms.get_potential_energy()),
        "max_force_ev_a": float(np.linalg.norm(atoms.get_forces(), axis=1).max()),
        "converged": converged,
        "n_steps": int(opt.nsteps),
        "structure": relaxed.as_dict(),
    }


def select_sites(
    candidates: list[LiSiteCandidate],
    structures: dict[int, Structure],
    n_sites: int,
    n_lowest: int,
    dedup_tol_a: float,
    n_sites_max: int | None = None,
) -> list[int]:
    """Mark duplicates and the selection in ``candidates`` (in place); return the chosen ones.

    At least ``n_sites``; with ``n_sites_max``, as many distinct sites as the host holds up
    to that number.

    Raises
    ------
    StructureError
        Fewer distinct sites than ``n_sites`` (more Li sites asked for than the host holds).
    """
    done = sorted((c for c in candidates if c.energy_ev is not None), key=lambda c: c.energy_ev)
    if not done:
        raise StructureError("no candidate site could be relaxed")
    e0 = done[0].energy_ev
    unique: list[LiSiteCandidate] = []
    for c in done:
        c.relative_energy_ev = c.energy_ev - e0
        lat = structures[c.index].lattice
        for u in unique:
            if lat.get_distance_and_image(c.frac_coords_relaxed, u.frac_coords_relaxed)[0] < (
                dedup_tol_a
            ):
                c.duplicate_of = u.index
                break
        else:
            unique.append(c)
    if n_sites > len(unique):
        raise StructureError(
            f"{n_sites} Li sites requested, but the host holds only {len(unique)} distinct "
            f"ones (of {len(candidates)} candidates after relaxation; duplicates within "
            f"{dedup_tol_a} Å merged). Ask for fewer sites, screen more candidates "
            "(max_candidates), or use a larger cell"
        )
    if n_sites_max is not None:
        n_sites = max(n_sites, min(n_sites_max, len(unique)))
    chosen: list[LiSiteCandidate] = []
    for c in unique[: min(n_lowest, n_sites)]:
        c.selection_reason = "lowest"
        chosen.append(c)
    cns = {c.li_o_coordination for c in chosen}
    for c in unique:
        if len(chosen) == n_sites:
            break
        if c not in chosen and c.li_o_coordination not in cns:
            c.selection_reason = f"distinct (Li-O CN {c.li_o_coordination})"
            cns.add(c.li_o_coordination)
            chosen.append(c)
    for c in unique:
        if len(chosen) == n_sites:
            break
        if c not in chosen:
            c.selection_reason = "next lowest"
            chosen.append(c)
    for c in chosen:
        c.selected = True
    return [c.index for c in chosen]


@job(data=["selected_structures", "candidate_structures"], output_schema=LiSiteScreeningDoc)
def screen_li_sites(
    host: Structure,
    n_sites: int = 3,
    n_lowest: int = 2,
    backend: str = "chgnet",
    max_candidates: int | None = 24,
    min_dist_cation_a: float = 2.2,
    min_dist_anion_a: float = 1.75,
    fmax: float = 0.05,
    max_steps: int = 300,
    dedup_tol_a: float = 0.5,
    li_o_cutoff_a: float = 2.4,
    rattle_a: float = 0.05,
    seed: int = 0,
    calculator_kwargs: dict[str, Any] | None = None,
    n_sites_max: int | None = None,
) -> LiSiteScreeningDoc:
    """Find, relax (ML) and rank Li interstitial sites of ``host``; choose ``n_sites``
    (or more, up to ``n_sites_max``, when the host holds them).

    Raises
    ------
    StructureError
        A host without W/Nb, without a void large enough, with fewer distinct sites than
        ``n_sites``; or bad counts.
    """
    require_elements(host, CATIONS, "Li site screening")
    if n_sites < 1 or n_lowest < 0:
        raise StructureError(f"n_sites must be >= 1 and n_lowest >= 0 (got {n_sites}, {n_lowest})")
    sites = find_interstitial_sites(host, min_dist_cation_a, min_dist_anion_a)
    n_found = len(sites)
    if max_candidates is not None:
        sites = sites[:max_candidates]
    be = get_backend(backend)
    be.check_structure(host)
    model = be.model_label(calculator_kwargs)
    progress_path = Path(PROGRESS_FILE)
    done: dict[str, Any] = {}
    if progress_path.exists():  # resume a killed screening
        saved = json.loads(progress_path.read_text())
        same = (saved.get("backend"), saved.get("model", model)) == (backend, model)
        if saved.get("n_host_atoms") == len(host) and same:
            done = saved["results"]
    calc = None
    for k, site in enumerate(sites):
        if str(k) in done:
            continue
        if calc is None:
            calc = be.ase_calculator(**(calculator_kwargs or {}))
        done[str(k)] = _relax_candidate(
            host, site, calc, fmax, max_steps, rattle_a, seed + k, li_o_cutoff_a
        )
        atomic_write_text(
            progress_path,
            json.dumps({"n_host_atoms": len(host), "backend": backend, "model": model,
                        "results": done}),
        )
        r = done[str(k)]
        print(
            f"  Li site {k + 1}/{len(sites)}: E = {r['energy_ev']:.3f} eV, Li moved "
            f"{r['li_displacement_a']:.2f} Å, Li-O CN {r['li_o_coordination']}",
            flush=True,
        )
    cands, structs = [], {}
    for k, site in enumerate(sites):
        r = dict(done[str(k)])
        structs[k] = Structure.from_dict(r.pop("structure"))
        cands.append(
            LiSiteCandidate(
                index=k,
                frac_coords_initial=list(site.frac_coords),
                void_radius_a=site.radius_a,
                nearest_cation_a=site.nearest_cation_a,
                nearest_anion_a=site.nearest_anion_a,
                **r,
            )
        )
    chosen = select_sites(cands, structs, n_sites, n_lowest, dedup_tol_a, n_sites_max)
    uniq = [c.energy_ev for c in cands if c.duplicate_of is None and c.energy_ev is not None]
    return LiSiteScreeningDoc(
        host_formula=host.composition.reduced_formula,
        n_host_atoms=len(host),
        backend=backend,
        fidelity=be.fidelity,
        model=model,
        min_dist_cation_a=min_dist_cation_a,
        min_dist_anion_a=min_dist_anion_a,
        dedup_tol_a=dedup_tol_a,
        li_o_cutoff_a=li_o_cutoff_a,
        fmax_ev_a=fmax,
        n_candidates_found=n_found,
        candidates=cands,
        selected=chosen,
        selected_structures=[structs[i] for i in chosen],
        candidate_structures=[structs[k] for k in range(len(cands))],
        n_unique_sites=len(uniq),
        energy_spread_ev=float(max(uniq) - min(uniq)),
    )


@job(data=["selected_structures", "candidate_structures"], output_schema=LiSiteScreeningDoc)
def rescreen_li_sites(
    screening: Any,
    backend: str = "chgnet",
    fmax: float = 0.05,
    max_steps: int = 300,
    calculator_kwargs: dict[str, Any] | None = None,
    n_sites_max: int | None = None,
) -> LiSiteScreeningDoc:
    """Every distinct site of a screening, each relaxed again from its relaxed cell with
    another model (``calculator_kwargs``, e.g. a fine-tuned checkpoint) and ranked by its
    energies, selected as :func:`screen_li_sites` selects (the lowest, up to
    ``n_sites_max``): the other model's site energies, spread and geometries over the same
    sites, at a fraction of a screening's cost (no void search; sites that merge are marked
    duplicates). A screening stored before it kept every candidate's cell gives only its
    selected sites. Resumable like :func:`screen_li_sites`."""
    doc = screening if isinstance(screening, dict) else screening.model_dump()
    old_cands = [x if isinstance(x, dict) else x.model_dump() for x in doc["candidates"]]
    if doc.get("candidate_structures"):
        keep = [c["index"] for c in old_cands
                if c.get("duplicate_of") is None and c.get("energy_ev") is not None]  # fmt: skip
        cells = [doc["candidate_structures"][i] for i in keep]
    else:
        keep, cells = list(doc["selected"]), doc["selected_structures"]
    cells = [s if isinstance(s, Structure) else Structure.from_dict(s) for s in cells]
    old = {c["index"]: c for c in old_cands}
    be = get_backend(backend)
    model = be.model_label(calculator_kwargs)
    progress_path = Path(PROGRESS_FILE)
    done: dict[str, Any] = {}
    if progress_path.exists():
        saved = json.loads(progress_path.read_text())
        if saved.get("model") == model and saved.get("n_cells") == len(cells):
            done = saved["results"]
    calc = None
    for k, cell in enumerate(cells):
        if str(k) in done:
            continue
        calc = calc or be.ase_calculator(**(calculator_kwargs or {}))
        done[str(k)] = _relax_atoms(cell.to_ase_atoms(), cell.frac_coords[-1], calc, fmax,
                                    max_steps, doc.get("li_o_cutoff_a", 2.4))  # fmt: skip
        atomic_write_text(progress_path, json.dumps({"model": model, "n_cells": len(cells),
                                                     "results": done}))  # fmt: skip
    cands, structs = [], {}
    for k, idx in enumerate(keep):
        r = dict(done[str(k)])
        structs[k] = Structure.from_dict(r.pop("structure"))
        o = old[idx]
        cands.append(LiSiteCandidate(
            index=k, frac_coords_initial=list(map(float, cells[k].frac_coords[-1])),
            void_radius_a=o["void_radius_a"], nearest_cation_a=o["nearest_cation_a"],
            nearest_anion_a=o["nearest_anion_a"], **r,
        ))  # fmt: skip
    n_max = n_sites_max or len(cands)
    chosen = select_sites(cands, structs, 2, n_max, doc["dedup_tol_a"], n_max)
    uniq = [c.energy_ev for c in cands if c.duplicate_of is None and c.energy_ev is not None]
    return LiSiteScreeningDoc(
        host_formula=doc["host_formula"], n_host_atoms=doc["n_host_atoms"], backend=backend,
        fidelity=be.fidelity, model=model, min_dist_cation_a=doc["min_dist_cation_a"],
        min_dist_anion_a=doc["min_dist_anion_a"], dedup_tol_a=doc["dedup_tol_a"],
        li_o_cutoff_a=doc["li_o_cutoff_a"], fmax_ev_a=fmax,
        n_candidates_found=doc["n_candidates_found"], candidates=cands, selected=chosen,
        selected_structures=[structs[i] for i in chosen],
        candidate_structures=[structs[k] for k in range(len(cands))], n_unique_sites=len(uniq),
        energy_spread_ev=float(max(uniq) - min(uniq)),
    )  # fmt: skip


def screening_job(host: Structure, purpose: str, **kwargs: Any) -> Any:
    """The named screening job of a Li-free W/Nb host (the first job of the DOS and
    formation flows); refuses a host that already holds Li."""
    require_elements(host, CATIONS, purpose)
    if "Li" in host.composition:
        raise ValueError(
            f"the host {host.composition.reduced_formula} already contains Li: start from the "
            "Li-free host (the sites and the host reference need it)"
        )
    if kwargs.get("n_sites", 1) < 1:
        raise ValueError(f"n_sites must be >= 1, got {kwargs['n_sites']}")
    screen = screen_li_sites(host, **kwargs)
    screen.name = "Li site screening"
    return screen

"""Jobs of Li migration: an endpoint cell, one CI-NEB hop (any in-process backend, resumable),
the hop network (percolation barrier, diffusion coefficient)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from ase.constraints import FixAtoms
from ase.geometry import find_mic
from ase.utils.forcecurve import fit_images
from jobflow import job
from pymatgen.core import Structure

from mttmat.analysis.network import Hop, diffusion_coefficient, percolation_barrier
from mttmat.backends import get_backend
from mttmat.backends.defaults import DEFAULTS
from mttmat.jobs.neb import NebError, hop_summary, interpolate_images, run_neb
from mttmat.schemas.migration import HopSpec, LiNetworkDoc, NebHopDoc
from mttmat.structures.io import atoms_to_structure
from mttmat.structures.sites import insert_li

__all__ = ["endpoint", "li_network", "mobile_index", "neb_hop", "reanchor"]


def mobile_index(structure: Structure) -> int:
    li = [k for k, sp in enumerate(structure.species) if sp.symbol == "Li"]
    if len(li) != 1:
        raise NebError(f"a hop endpoint must hold exactly one Li, found {len(li)}")
    return li[0]


@job(data=["images"])
def neb_hop(
    initial: Structure,
    final: Structure,
    hop: HopSpec | dict,
    backend: str,
    n_images: int = 3,
    fmax: float | None = None,
    seed_images: list[Structure] | None = None,
    seed_fidelity: str | None = None,
    calculator_kwargs: dict[str, Any] | None = None,
    max_steps: int = 300,
    fix_host: bool = False,
) -> NebHopDoc:
    """CI-NEB between two relaxed endpoints; resumes from ``neb_images.npz`` in the job folder.

    ``seed_images`` (all images including endpoints, e.g. the converged ML band) replace
    the IDPP interpolation; their endpoints are swapped for ``initial``/``final``.
    ``fix_host`` freezes every atom but Li (a quick rigid-host barrier; an upper bound).
    """
    hop = HopSpec.model_validate(hop)
    be = get_backend(backend)
    be.check_structure(initial)
    kwargs = dict(calculator_kwargs or {})
    for k, v in be.log_kwargs(None).items():  # one calculator per image: no shared log file
        kwargs.setdefault(k, v)
    a, b = initial.to_ase_atoms(), final.to_ase_atoms()
    li = mobile_index(initial)
    if seed_images is not None:
        seed_atoms = [s.to_ase_atoms() for s in seed_images]
        if len(seed_atoms) < 3 or len(seed_atoms[0]) != len(a):
            raise NebError("seed images must be a band of ≥ 3 structures of the same atoms")
        images = reanchor(seed_atoms, a, b)
        seed = seed_fidelity or "seed"
    else:
        # IDPP would move frozen host atoms in the interior images: linear for a rigid host
        method = "linear" if fix_host else "idpp"
        images = interpolate_images(a, _unwrap_final(a, b, li, hop), n_images, method, mic=False)
        seed = method
    for im in images:
        im.set_initial_magnetic_moments(None)
        be.prepare_atoms(im, **kwargs)
        if fix_host:
            im.set_constraint(FixAtoms(indices=[k for k in range(len(im)) if k != li]))
    with be.thread_limits():
        run = run_neb(
            images,
            lambda: be.ase_calculator(**kwargs),
            fmax=fmax or DEFAULTS.neb_fmax_ev_a,
            climb=True,
            max_steps=max_steps,
            checkpoint=Path.cwd() / "neb_images.npz",
            progress=lambda msg: print(msg, flush=True),
        )
    summ = hop_summary(run, li)
    fit = fit_images(run.images)
    return NebHopDoc(
        hop=hop,
        backend=backend,
        fidelity=be.fidelity,
        model=be.model_label(calculator_kwargs),
        seed=seed,
        images=[atoms_to_structure(im) for im in run.images],
        max_force_ev_a=run.forces_max_ev_a,
        converged=run.converged,
        n_steps=run.n_steps,
        force_calls=run.force_calls,
        resumed_from_step=run.resumed_from_step,
        wall_time_s=run.wall_time_s,
        fit={
            "path_a": np.asarray(fit.path).tolist(),
            "energies_ev": np.asarray(fit.energies).tolist(),
            "fit_path_a": np.asarray(fit.fit_path).tolist(),
            "fit_energies_ev": np.asarray(fit.fit_energies).tolist(),
        },
        **summ,
    )


def reanchor(seed: list[Any], first: Any, last: Any) -> list[Any]:
    """Seed band moved onto new endpoints: image k shifts by (1−t)·ΔA + t·ΔB (MIC), t = k/n.

    ``ΔA``/``ΔB`` are how far the new endpoints (e.g. DFT-relaxed) sit from the seed's own
    (ML-relaxed) ones, so the interior keeps the seed's shape and stays continuous.
    """
    n = len(seed) - 1
    d_a, _ = find_mic(first.positions - seed[0].positions, first.cell, first.pbc)
    d_b, _ = find_mic(last.positions - seed[-1].positions, last.cell, last.pbc)
    out = [first]
    for k in range(1, n):
        t = k / n
        im = seed[k].copy()
        im.set_cell(first.cell)
        im.positions = seed[k].positions + (1 - t) * d_a + t * d_b
        out.append(im)
    out.append(last)
    return out


def _unwrap_final(a: Any, b: Any, li: int, hop: HopSpec) -> Any:
    """``b`` with every host atom at its image nearest ``a`` and Li at the image that makes
    its displacement closest to the hop vector (the hop's own path, not the minimum image)."""
    out = b.copy()
    d, _ = find_mic(b.positions - a.positions, a.cell, a.pbc)
    out.positions = a.positions + d
    fa = a.cell.scaled_positions(a.positions[li : li + 1])[0]
    fb = b.cell.scaled_positions(b.positions[li : li + 1])[0]
    m = np.round(np.asarray(hop.vector_frac) - (fb - fa))
    out.positions[li] = a.cell.cartesian_positions((fb + m)[None, :])[0]
    return out


@job
def li_network(
    hop_docs: list[Any],
    sites_frac: list[list[float]],
    uuids: dict[str, str],
    temperature_k: float = 300.0,
    attempt_frequency_hz: float = 1e13,
) -> LiNetworkDoc:
    """Percolation barrier and D from the hop barriers (max of forward and backward)."""
    hops, rows = [], []
    for d in hop_docs:
        d = d if isinstance(d, dict) else d.model_dump()
        h = HopSpec.model_validate(d["hop"])
        # a hop limits transport in both directions: the higher of the two barriers
        barrier = max(d["barrier_forward_ev"], d["barrier_backward_ev"])
        hops.append(Hop(h.i, h.j, tuple(h.image), barrier, d["hop_length_a"]))
        rows.append({**h.model_dump(), "barrier_ev": barrier, "fidelity": d["fidelity"]})
    perc = percolation_barrier(len(sites_frac), hops)
    ea = perc["all"] if perc["all"] is not None else perc["any"]
    dim = 3 if perc["all"] is not None else 1
    mean_len = float(np.mean([h.length_a for h in hops])) if hops else float("nan")
    d_eff = (
        diffusion_coefficient(ea, mean_len, temperature_k, attempt_frequency_hz, dim)
        if ea is not None
        else None
    )
    return LiNetworkDoc(
        n_sites=len(sites_frac),
        sites_frac=sites_frac,
        hops=rows,
        percolation_barrier_ev=perc,
        diffusion_coefficient_cm2_s=d_eff,
        temperature_k=temperature_k,
        attempt_frequency_hz=attempt_frequency_hz,
        mean_hop_length_a=mean_len,
        uuids=uuids,
    )


@job
def endpoint(host: Structure, frac: list[float]) -> Structure:
    """Host plus one Li at ``frac`` (checked against the host's minimum distances)."""
    return insert_li(host, [frac], 1)

"""Li hop jobs on one ML band: the hop between two screened sites (HPC flow), and DFT single
points of every image of a converged band (:func:`dft_band_energies`, resumable)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import job
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.schemas.migration import HopSpec
from mttmat.structures.io import atomic_write_text, atoms_to_structure

__all__ = [
    "BAND_PROGRESS_FILE",
    "BandEnergiesDoc",
    "dft_band_energies",
    "hop_between_sites",
]

BAND_PROGRESS_FILE = "band_energies.json"


def _structure(s: Any) -> Structure:
    return Structure.from_dict(s) if isinstance(s, dict) else s


def _doc(d: Any) -> dict[str, Any]:
    return d if isinstance(d, dict) else d.model_dump()


#: hops shorter than this (Å) are the same site
MIN_HOP_A = 1.0


@job
def hop_between_sites(
    screening: Any, backend: str | None = None, fmax: float = 0.05, max_steps: int = 300
) -> dict[str, Any]:
    """The hop from the lowest screened site to its nearest distinct neighbour site.

    The initial cell is the ML-relaxed cell of the lowest site. The final cell is that cell
    with Li moved to a neighbour's relaxed position (nearest periodic image), relaxed with
    ``backend`` (host free) when one is given. A neighbour whose Li slides back to within
    :data:`MIN_HOP_A` of the initial site in this host is no separate minimum here, and the
    next nearest one is tried. The nearest neighbour rather than the second-lowest site:
    in a small amorphous cell the lowest sites can be equivalent sites far apart, and a
    long straight hop runs through atoms.
    """
    doc = _doc(screening)
    a = _structure(doc["selected_structures"][0])
    fa = a.frac_coords[-1] % 1.0
    lowest = doc["selected"][0]
    options = []
    for c in doc["candidates"]:
        f = c.get("frac_coords_relaxed")
        if c["index"] == lowest or c.get("duplicate_of") is not None or f is None:
            continue
        for image in itertools.product((-1, 0, 1), repeat=3):
            vec = np.asarray(f) % 1.0 + np.array(image) - fa
            dist = float(np.linalg.norm(a.lattice.get_cartesian_coords(vec)))
            if dist >= MIN_HOP_A:
                options.append((dist, c["index"], vec))
    options.sort(key=lambda o: o[0])
    tried = []
    for dist, j, vec in options:
        if j in tried:
            continue
        tried.append(j)
        final = a.copy()
        final.replace(len(final) - 1, "Li", coords=(fa + vec) % 1.0)
        if backend is not None:
            final = _relax_positions(final, backend, fmax, max_steps)
            # the relaxed Li, at the image nearest the intended end point
            d = (final.frac_coords[-1] - (fa + vec) + 0.5) % 1.0 - 0.5
            vec = fa + vec + d - fa
            dist = float(np.linalg.norm(a.lattice.get_cartesian_coords(vec)))
            if dist < MIN_HOP_A:
                continue
        hop = HopSpec(i=0, j=1, image=tuple(int(x) for x in np.floor(fa + vec)),
                      length_a=dist, vector_frac=tuple(vec.tolist()))  # fmt: skip
        return {"initial": a, "final": final, "hop": hop.model_dump(), "final_candidate": j,
                "tried_candidates": tried}  # fmt: skip
    raise ValueError(
        f"the Li hop needs two distinct sites; in {doc['host_formula']} none of the "
        f"{len(tried)} other screened sites stays apart from the lowest one when relaxed: "
        "raise li_sites.max_candidates in the config"
    )


def _relax_positions(s: Structure, backend: str, fmax: float, max_steps: int) -> Structure:
    from ase.optimize import FIRE

    atoms = s.to_ase_atoms()
    atoms.calc = get_backend(backend).ase_calculator()
    FIRE(atoms, logfile=None).run(fmax=fmax, steps=max_steps)
    return atoms_to_structure(atoms)


class BandEnergiesDoc(BaseModel):
    """DFT single points along a converged (ML) NEB band: a DFT barrier on the ML path.

    Energies in eV relative to the initial image. Not a DFT saddle search: the DFT saddle of
    the relaxed band lies at or below the highest energy found here only if the ML path is
    close to the DFT one; compare ``ml_energies_ev`` to judge the shape.
    """

    backend: str
    fidelity: str = Field(description="'dft energies on the ml path'")
    charge: float = Field(description="cell charge of every image (+1: the Li ion alone)")
    spin_polarized: bool
    calculator_kwargs: dict[str, Any]
    path_uuid: str | None = Field(None, description="store uuid of the ML CI-NEB")
    energies_ev: list[float]
    total_energies_ev: list[float]
    ml_energies_ev: list[float]
    path_a: list[float] = Field(description="cumulative image-to-image distance (Å)")
    max_image_step_a: float = Field(description="largest atom move between neighbouring images")
    barrier_forward_ev: float
    barrier_backward_ev: float
    reaction_energy_ev: float
    saddle_index: int
    saddle_is_interior: bool
    ml_barrier_forward_ev: float
    ml_converged: bool = Field(description="the ML CI-NEB reached its force limit")
    ml_max_force_ev_a: float
    closest_pair_a: float = Field(description="closest approach of two atoms on the band (Å)")
    hop_length_a: float
    n_scf: int = Field(description="single points computed in this run (not read back)")
    wall_time_s: float


#: closest approach (Å) of two atoms on a band worth a DFT single point
MIN_PAIR_A = 1.0


def _closest_pair(s: Structure) -> float:
    d = s.distance_matrix + np.eye(len(s)) * 1e3
    return float(d.min())


def _image_steps(images: list[Structure]) -> list[float]:
    """Largest minimum-image atom displacement between neighbouring images (Å)."""
    out = []
    for x, y in itertools.pairwise(images):
        d = np.mod(y.frac_coords - x.frac_coords + 0.5, 1.0) - 0.5
        out.append(float(np.linalg.norm(x.lattice.get_cartesian_coords(d), axis=1).max()))
    return out


@job
def dft_band_energies(
    neb: Any,
    backend: str,
    calculator_kwargs: dict[str, Any],
    path_uuid: str | None = None,
) -> BandEnergiesDoc:
    """DFT single point of every image of ``neb`` (a :class:`NebHopDoc`), resumable.

    One calculator walks the band, so each image starts from the previous image's density.
    Finished energies are kept in ``band_energies.json`` in the job folder; a killed job
    resumes at the first image without an energy.
    """
    doc = _doc(neb)
    images = [_structure(s) for s in doc["images"]]
    closest = min(_closest_pair(s) for s in images)
    if closest < MIN_PAIR_A:
        raise ValueError(
            f"the ML band brings two atoms within {closest:.2f} Å (converged: "
            f"{doc['converged']}, max force {doc['max_force_ev_a']:.2f} eV/Å): no DFT on it; "
            "raise neb.max_steps or choose other sites"
        )
    be = get_backend(backend)
    kw = dict(calculator_kwargs)
    progress_file = Path.cwd() / BAND_PROGRESS_FILE
    done: dict[str, float] = {}
    if progress_file.is_file():
        saved = json.loads(progress_file.read_text())
        if saved.get("calculator_kwargs") == kw and saved.get("n_images") == len(images):
            done = saved["energies"]
    t0, n_scf, calc = time.perf_counter(), 0, None
    with be.thread_limits():
        for k, image in enumerate(images):
            if str(k) in done:
                continue
            atoms = image.to_ase_atoms()
            be.prepare_atoms(atoms, **kw)
            if calc is None:
                calc = be.ase_calculator(**{**kw, **be.log_kwargs(f"{be.name}.txt")})
            atoms.calc = calc
            done[str(k)] = float(atoms.get_potential_energy())
            n_scf += 1
            print(f"image {k}/{len(images) - 1}: E = {done[str(k)]:.4f} eV", flush=True)
            atomic_write_text(
                progress_file,
                json.dumps({"calculator_kwargs": kw, "n_images": len(images), "energies": done}),
            )
    e = [done[str(k)] for k in range(len(images))]
    return _band_doc(doc, images, e, be.name, be.fidelity, kw, path_uuid, closest, n_scf,
                     time.perf_counter() - t0)  # fmt: skip


def _band_doc(
    doc: dict[str, Any], images: list[Structure], energies: list[float], backend: str,
    fidelity: str, kw: dict[str, Any], path_uuid: str | None, closest: float, n_scf: int,
    wall_time_s: float,
) -> BandEnergiesDoc:  # fmt: skip
    e = np.asarray(energies, float)
    rel = e - e[0]
    top = int(np.argmax(rel))
    ml = np.asarray(doc["energies_ev"], float)
    steps = _image_steps(images)
    return BandEnergiesDoc(
        backend=backend,
        fidelity=f"{fidelity} energies on the {doc['fidelity']} path",
        charge=float(kw.get("charge", 0.0)),
        spin_polarized=bool(kw.get("spin_polarized", False)),
        calculator_kwargs=kw,
        path_uuid=path_uuid,
        energies_ev=rel.tolist(),
        total_energies_ev=e.tolist(),
        ml_energies_ev=(ml - ml[0]).tolist(),
        path_a=np.concatenate([[0.0], np.cumsum(steps)]).tolist(),
        max_image_step_a=max(steps),
        barrier_forward_ev=float(rel[top]),
        barrier_backward_ev=float(rel[top] - rel[-1]),
        reaction_energy_ev=float(rel[-1]),
        saddle_index=top,
        saddle_is_interior=0 < top < len(images) - 1,
        ml_barrier_forward_ev=float(doc["barrier_forward_ev"]),
        ml_converged=bool(doc["converged"]),
        ml_max_force_ev_a=float(doc["max_force_ev_a"]),
        closest_pair_a=closest,
        hop_length_a=float(doc["hop_length_a"]),
        n_scf=n_scf,
        wall_time_s=wall_time_s,
    )

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
from mttmat.jobs.migration import mobile_index, reanchor
from mttmat.schemas.migration import HopSpec, NebHopDoc
from mttmat.structures.io import atomic_write_text

__all__ = [
    "BAND_PROGRESS_FILE",
    "BandEnergiesDoc",
    "band_from_statics",
    "dft_band_energies",
    "hop_between_sites",
    "neb_doc_from_vasp",
    "reanchor_band",
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

    from mttmat.structures.io import atoms_to_structure

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


@job
def band_from_statics(
    neb: Any, statics: list[Any], backend: str, calculator_kwargs: dict[str, Any],
    path_uuid: str | None = None,
) -> BandEnergiesDoc:  # fmt: skip
    """The :class:`BandEnergiesDoc` of a band whose images were computed one static job each
    (codes run as separate jobs, e.g. VASP on HPC); ``statics`` in image order."""
    doc = _doc(neb)
    images = [_structure(s) for s in doc["images"]]
    if len(statics) != len(images):
        raise ValueError(f"{len(statics)} statics for a band of {len(images)} images")
    energies = [float(_doc(t)["output"]["energy"]) for t in statics]
    be = get_backend(backend)
    closest = min(_closest_pair(s) for s in images)
    return _band_doc(doc, images, energies, be.name, be.fidelity, dict(calculator_kwargs),
                     path_uuid, closest, len(statics), 0.0)  # fmt: skip


@job
def reanchor_band(band: Any, initial: Structure, final: Structure) -> list[Structure]:
    """The converged ML band moved onto DFT-relaxed endpoints (``initial``, ``final``): image
    k shifts by (1−t)·ΔA + t·ΔB (t = k/n), so the interior keeps the ML shape. The seed of a
    DFT CI-NEB run as separate jobs (VASP on HPC)."""
    from mttmat.structures.io import atoms_to_structure

    doc = _doc(band)
    seed = [_structure(s).to_ase_atoms() for s in doc["images"]]
    a, b = _structure(initial).to_ase_atoms(), _structure(final).to_ase_atoms()
    order = seed[0].get_chemical_symbols()
    if a.get_chemical_symbols() != order or b.get_chemical_symbols() != order:
        raise ValueError(
            "the relaxed endpoints do not hold the band's atoms in the band's order (a code "
            "that sorted the cell?): the band cannot be moved onto them"
        )
    images = [atoms_to_structure(im) for im in reanchor(seed, a, b)]
    closest = min(_closest_pair(s) for s in images)
    if closest < MIN_PAIR_A:
        raise ValueError(
            f"the ML band on the DFT endpoints brings two atoms within {closest:.2f} Å: the "
            "endpoints moved too far in the DFT relaxation for this seed"
        )
    return images


@job
def neb_doc_from_vasp(
    band: Any, neb: Any, endpoints: list[Any], images_doc: Any, calculator_kwargs: dict[str, Any],
    fmax: float, max_steps: int,
) -> Any:  # fmt: skip
    """The :class:`~mttmat.schemas.migration.NebHopDoc` of a VASP CI-NEB, the same
    document as a local CI-NEB's, so the hop network and the ECRAM parameters read it alike.

    ``neb``: atomate2's ``NebTaskDoc`` (:func:`atomate2.vasp.jobs.neb.collect_neb_output`
    without its calculations: endpoint energies from the endpoint relaxations, the image
    energies and structures); ``endpoints``: the two relax TaskDocs; ``images_doc``: the NEB
    job's own document (its image calculations). Refused unless both endpoints and every
    image completed by VASP's own measure (an image that reached NSW fails the NEB job
    itself in atomate2, so a document is only made for a band whose images all reached
    EDIFFG: ``converged`` is then True). ``max_force_ev_a``: the largest NEB force of an
    image (VTST's ``FORCES: max atom`` in its OUTCAR, the projected force that EDIFFG
    limits), else the largest true atomic force (a VASP without VTST prints none); the
    force fit uses the true forces. ``wall_time_s``: the images run at once, so the longest.
    """

    doc, n, img = _doc(band), _doc(neb), _doc(images_doc)
    calcs = [_doc(c) for c in img.get("calculations") or []]
    # each calculation's own verdict: emmet's NebTaskDoc.from_directories reads a ``state``
    # that its Calculation lacks, so the collected document's state is always 'failed'
    done = [str(_doc(t).get("state")) for t in endpoints]
    done += [str(c.get("has_vasp_completed")) for c in calcs]
    if not calcs or any("success" not in x.lower() for x in done):
        raise ValueError(f"the VASP CI-NEB's endpoint relaxations and images ended {done}: "
                         "no barrier from them")  # fmt: skip
    e = np.asarray([np.nan if x is None else float(x) for x in n["energies"]], float)
    if not np.isfinite(e).all():
        raise ValueError(f"the VASP CI-NEB has images without an energy: {e.tolist()}")
    images = [_structure(s) for s in n["images"]]
    steps, forces, neb_forces, wall = [], [], [], 0.0
    for c in calcs:
        ionic = c["output"].get("ionic_steps") or []
        steps.append(len(ionic))
        f = ionic[-1].get("forces") if ionic else None
        forces.append(None if f is None else np.asarray(f, float))
        wall = max(wall, float((c["output"].get("run_stats") or {}).get("elapsed_time") or 0))
        neb_forces.append(_vtst_max_force(c.get("dir_name")))
    if len(steps) != len(images) - 2:
        raise ValueError(f"{len(steps)} image calculations for a band of {len(images)} images")
    li = mobile_index(images[0])
    d = images[-1].cart_coords[li] - images[0].cart_coords[li]
    frac = images[0].lattice.get_fractional_coords(d)
    length = float(np.linalg.norm(images[0].lattice.get_cartesian_coords(frac - np.round(frac))))
    top = int(np.argmax(e))
    ends = [float(_doc(t)["output"]["energy"]) for t in endpoints]
    if not np.allclose(ends, [e[0], e[-1]], atol=1e-6):
        raise ValueError(f"the NEB's endpoint energies {e[[0, -1]]} are not its "
                         f"relaxations' {ends}")  # fmt: skip
    fit = _force_fit(images, e, [None, *forces, None])
    if all(x is not None for x in neb_forces):
        interior = [float(x) for x in neb_forces]
    else:
        interior = [float(np.linalg.norm(f, axis=1).max()) for f in forces if f is not None]
    return NebHopDoc(
        hop=HopSpec.model_validate(doc["hop"]),
        backend="vasp",
        fidelity="dft",
        seed=str(doc.get("fidelity", "ml")),
        images=images,
        energies_ev=(e - e[0]).tolist(),
        barrier_forward_ev=float(e[top] - e[0]),
        barrier_backward_ev=float(e[top] - e[-1]),
        reaction_energy_ev=float(e[-1] - e[0]),
        hop_length_a=length,
        climbing_index=top,
        saddle_is_interior=0 < top < len(e) - 1,
        max_force_ev_a=max(interior) if interior else float("nan"),
        converged=True,
        n_steps=max(steps) if steps else 0,
        force_calls=int(sum(steps)),
        resumed_from_step=0,
        wall_time_s=wall,
        fit=fit,
    )


def _vtst_max_force(dir_name: str | None) -> float | None:
    """VTST's NEB force of an image (the last ``FORCES: max atom, RMS`` of its OUTCAR), or
    None when the folder or the line is not there."""
    import gzip

    if not dir_name:
        return None
    folder = Path(str(dir_name).split(":")[-1])
    for name in ("OUTCAR", "OUTCAR.gz"):
        f = folder / name
        if f.is_file():
            text = (gzip.open(f, "rt") if name.endswith(".gz") else open(f)).read()
            hits = [ln for ln in text.splitlines() if "FORCES: max atom, RMS" in ln]
            return float(hits[-1].split()[-2]) if hits else None
    return None


def _force_fit(
    images: list[Structure], energies: np.ndarray, forces: list[np.ndarray | None]
) -> dict[str, list[float]]:
    """ASE's energy-and-force fit of a band (as a local CI-NEB stores it); the relaxed
    endpoints without reported forces count as force-free."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.utils.forcecurve import fit_images

    atoms = []
    for s, en, f in zip(images, energies, forces, strict=True):
        a = s.to_ase_atoms()
        f = np.zeros((len(a), 3)) if f is None else f
        a.calc = SinglePointCalculator(a, energy=float(en), forces=f)
        atoms.append(a)
    fit = fit_images(atoms)  # energies relative to the first image
    return {
        "path_a": np.asarray(fit.path).tolist(),
        "energies_ev": np.asarray(fit.energies).tolist(),
        "fit_path_a": np.asarray(fit.fit_path).tolist(),
        "fit_energies_ev": np.asarray(fit.fit_energies).tolist(),
    }

"""Jobs of DFT on the ML band that run as atomate2 VASP jobs on a cluster: the band document
from one static per image, the ML band moved onto the VASP-relaxed endpoints, and the
:class:`~mttmat.schemas.migration.NebHopDoc` of atomate2's VASP CI-NEB (used by
:class:`mttmat.flows.vasp.VaspMaterialChainMaker`)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import job
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.jobs.band_energies import (
    MIN_PAIR_A,
    BandEnergiesDoc,
    _band_doc,
    _closest_pair,
    _doc,
    _structure,
)
from mttmat.jobs.migration import mobile_index, reanchor
from mttmat.schemas.migration import HopSpec, NebHopDoc
from mttmat.structures.io import atoms_to_structure

__all__ = ["band_from_statics", "neb_doc_from_vasp", "reanchor_band"]


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

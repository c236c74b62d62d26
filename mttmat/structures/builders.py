"""Supercells, random packing at a target density and oxygen sub-stoichiometry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pymatgen.core import Composition, Lattice, Structure

from mttmat.materials import CATIONS
from mttmat.structures.validate import (
    DEFAULT_MIN_DISTANCES_A,
    StructureError,
    min_distance_for,
)

__all__ = [
    "OxygenRemoval",
    "density_g_cm3",
    "make_supercell",
    "random_packing",
    "remove_oxygen",
]

_AMU_PER_A3_TO_G_CM3 = 1.66053906660


def density_g_cm3(structure: Structure) -> float:
    """Mass density (g/cm³)."""
    return float(structure.composition.weight) * _AMU_PER_A3_TO_G_CM3 / structure.volume


def make_supercell(structure: Structure, scaling: Sequence[int] | int) -> Structure:
    """Supercell of ``structure`` by a diagonal scaling (e.g. ``(2, 2, 1)``)."""
    if isinstance(scaling, int):
        scaling = (scaling, scaling, scaling)
    if len(scaling) != 3 or any(int(s) < 1 for s in scaling):
        raise ValueError(f"scaling must be three integers >= 1, got {scaling}")
    return structure.make_supercell([int(s) for s in scaling], in_place=False)


def random_packing(
    composition: str | Composition,
    density_g_cm3: float,
    seed: int = 0,
    min_distances: dict[frozenset[str], float] | None = None,
    max_attempts_per_atom: int = 20000,
    max_restarts: int = 50,
) -> Structure:
    """Random packing of ``composition`` in a cubic box at ``density_g_cm3``.

    Atoms are inserted in random order (cations first: they have the largest exclusion
    spheres) at uniformly random positions, rejecting any position closer than the per-pair
    minimum distance to an atom already placed (periodic images included). If an insertion
    fails ``max_attempts_per_atom`` times the packing restarts with the next random stream.

    Parameters
    ----------
    composition
        Full cell composition, e.g. ``"Nb48O120"`` (168 atoms).
    density_g_cm3
        Target density; the box edge follows from the cell mass.
    seed
        Seed of the random stream (recorded by callers for provenance).
    min_distances
        Per-pair minimum distances (Å); default :data:`DEFAULT_MIN_DISTANCES_A` scaled by 0.9
        (a melt start does not need equilibrium distances, only no overlaps).

    Raises
    ------
    ValueError
        Non-positive density, or an empty composition.
    StructureError
        The density is too high for the minimum distances (no packing found).
    """
    comp = Composition(composition)
    if not density_g_cm3 > 0:
        raise ValueError(
            f"density must be > 0 g/cm³, got {density_g_cm3}; a-WOx is ~6-7, a-NbOx ~4.5"
        )
    if comp.num_atoms < 1 or abs(comp.num_atoms - round(comp.num_atoms)) > 1e-8:
        raise ValueError(f"composition {composition!r} must give a whole number of atoms")
    if min_distances is None:
        min_distances = {k: 0.9 * v for k, v in DEFAULT_MIN_DISTANCES_A.items()}
    volume = float(comp.weight) * _AMU_PER_A3_TO_G_CM3 / density_g_cm3
    edge = volume ** (1.0 / 3.0)
    # cations first (bigger exclusion), then anions
    elements = sorted(comp.elements, key=lambda e: (e.symbol == "O", e.symbol))
    symbols = [e.symbol for e in elements for _ in range(round(comp[e]))]
    lim = np.array([[min_distance_for(a, b, min_distances) for b in symbols] for a in symbols])
    rng = np.random.default_rng(seed)
    for _ in range(max_restarts):
        pos = np.empty((len(symbols), 3))
        ok = True
        for n in range(len(symbols)):
            placed = False
            for _ in range(max_attempts_per_atom // 200):
                trial = rng.random((200, 3)) * edge  # batch of candidate positions
                if n:
                    d = trial[:, None, :] - pos[None, :n, :]
                    d -= edge * np.round(d / edge)
                    dist = np.sqrt((d**2).sum(-1))
                    good = np.all(dist >= lim[n, :n][None, :], axis=1)
                else:
                    good = np.ones(len(trial), bool)
                if good.any():
                    pos[n] = trial[np.argmax(good)]
                    placed = True
                    break
            if not placed:
                ok = False
                break
        if ok:
            return Structure(
                Lattice.cubic(edge), symbols, pos, coords_are_cartesian=True
            ).get_sorted_structure()
    raise StructureError(
        f"could not pack {comp.formula} at {density_g_cm3} g/cm³ with the minimum distances "
        f"after {max_restarts} restarts: lower the density or the minimum distances"
    )


@dataclass
class OxygenRemoval:
    """Result of :func:`remove_oxygen`: the new structure and what was removed."""

    structure: Structure
    x_requested: float
    x_achieved: float
    removed_indices: list[int]
    removed_frac_coords: list[list[float]] = field(default_factory=list)
    seed: int = 0

    def as_dict(self) -> dict:
        return {
            "x_requested": self.x_requested,
            "x_achieved": self.x_achieved,
            "removed_indices": self.removed_indices,
            "removed_frac_coords": self.removed_frac_coords,
            "seed": self.seed,
            "formula": self.structure.composition.formula,
        }


def remove_oxygen(structure: Structure, x: float, seed: int = 0) -> OxygenRemoval:
    """Remove O atoms at random to reach M O_x (M = all W and Nb atoms).

    The number removed is ``round(n_O - x * n_M)``; the achieved x is within ``0.5 / n_M`` of
    the request (the cell's granularity). Indices refer to the input structure.

    Raises
    ------
    StructureError
        The structure has no W or Nb, or no O to remove.
    ValueError
        ``x`` is not below the current O/M ratio, or not positive.
    """
    n_m = sum(1 for s in structure if s.specie.symbol in CATIONS)
    o_idx = [i for i, s in enumerate(structure) if s.specie.symbol == "O"]
    if n_m == 0:
        raise StructureError(
            f"{structure.composition.reduced_formula} has no W or Nb: O sub-stoichiometry "
            "is defined as O per W/Nb"
        )
    x_now = len(o_idx) / n_m
    if not 0 < x <= x_now:
        raise ValueError(
            f"requested x = {x} must be in (0, {x_now:.4g}] (the current O/M ratio of "
            f"{structure.composition.reduced_formula})"
        )
    n_remove = round(len(o_idx) - x * n_m)
    rng = np.random.default_rng(seed)
    removed = sorted(int(i) for i in rng.choice(o_idx, size=n_remove, replace=False))
    new = structure.copy()
    new.remove_sites(removed)
    return OxygenRemoval(
        structure=new,
        x_requested=float(x),
        x_achieved=(len(o_idx) - n_remove) / n_m,
        removed_indices=removed,
        removed_frac_coords=[structure[i].frac_coords.tolist() for i in removed],
        seed=seed,
    )

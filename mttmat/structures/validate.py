"""Physical sanity checks on structures, shared by readers, builders and Makers."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from pymatgen.core import Structure

__all__ = [
    "DEFAULT_MIN_DISTANCES_A",
    "StructureError",
    "check_min_distances",
    "min_distance_for",
    "require_elements",
]


class StructureError(ValueError):
    """A structure is unphysical or unsuitable; the message says what and how to fix it."""


# Per-pair minimum distances (Å) for building and for rejecting unphysical input.
# Cation-O: ~80 % of the shortest bond in the oxides (W-O 1.72, Nb-O 1.76, Li-O 1.9 Å);
# O-O: ~85 % of the O-O edge of a distorted octahedron (~2.5 Å); cation-cation: 2.6-2.8 Å.
DEFAULT_MIN_DISTANCES_A: dict[frozenset[str], float] = {
    frozenset({"W", "O"}): 1.60,
    frozenset({"Nb", "O"}): 1.65,
    frozenset({"Li", "O"}): 1.60,
    frozenset({"O"}): 2.20,
    frozenset({"W"}): 2.60,
    frozenset({"Nb"}): 2.70,
    frozenset({"W", "Nb"}): 2.65,
    frozenset({"Li"}): 2.00,
    frozenset({"Li", "W"}): 2.20,
    frozenset({"Li", "Nb"}): 2.20,
}
# Below this, any two atoms overlap whatever the elements (Å).
ABSOLUTE_MIN_DISTANCE_A = 0.7


def min_distance_for(
    a: str, b: str, table: dict[frozenset[str], float] | None = None, default: float = 1.0
) -> float:
    """Minimum allowed distance (Å) between elements ``a`` and ``b``."""
    table = DEFAULT_MIN_DISTANCES_A if table is None else table
    return float(table.get(frozenset({a, b}), default))


def check_min_distances(
    structure: Structure,
    table: dict[frozenset[str], float] | None = None,
    scale: float = 1.0,
    absolute_only: bool = False,
) -> None:
    """Raise :class:`StructureError` if two atoms are closer than allowed.

    Parameters
    ----------
    structure
        Periodic structure to check (periodic images included).
    table
        Per-pair minimum distances (Å); defaults to :data:`DEFAULT_MIN_DISTANCES_A`.
    scale
        Multiply every limit by this (e.g. 0.8 for hot MD snapshots).
    absolute_only
        Only apply :data:`ABSOLUTE_MIN_DISTANCE_A` (overlapping atoms), not the pair table.
    """
    if len(structure) < 2:
        return
    dmat = structure.distance_matrix
    np.fill_diagonal(dmat, np.inf)
    symbols = [site.specie.symbol for site in structure]
    # self-image distances for tiny cells
    short_lattice = min(structure.lattice.abc)
    i_idx, j_idx = np.triu_indices(len(structure), k=1)
    worst: tuple[float, int, int, float] | None = None
    for i, j in zip(i_idx, j_idx, strict=False):
        d = dmat[i, j]
        limit = (
            ABSOLUTE_MIN_DISTANCE_A
            if absolute_only
            else scale * min_distance_for(symbols[i], symbols[j], table)
        )
        if d < limit and (worst is None or d / limit < worst[0] / worst[3]):
            worst = (d, i, j, limit)
    if worst is not None:
        d, i, j, limit = worst
        raise StructureError(
            f"atoms {i} ({symbols[i]}) and {j} ({symbols[j]}) are {d:.3f} Å apart, below the "
            f"physical minimum {limit:.2f} Å: the structure is unphysical (overlapping atoms, "
            "wrong units or a wrong lattice). Fix the coordinates or the cell."
        )
    if short_lattice < ABSOLUTE_MIN_DISTANCE_A:
        raise StructureError(f"lattice vector of {short_lattice:.3f} Å is unphysically short")


def require_elements(structure: Structure, any_of: Iterable[str], purpose: str) -> None:
    """Raise :class:`StructureError` unless the structure contains one of ``any_of``."""
    wanted = set(any_of)
    present = {el.symbol for el in structure.composition.elements}
    if not wanted & present:
        raise StructureError(
            f"{purpose} needs a host containing one of {sorted(wanted)}, but the structure is "
            f"{structure.composition.reduced_formula}. Use a W or Nb oxide (e.g. `mttmat "
            "structures build gamma-WO3`)."
        )

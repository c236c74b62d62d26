"""Largest empty spheres of a periodic host: where an interstitial Li fits.

A grid search (not a full Voronoi site finder): grid points are scored by their distance to
the nearest atom (periodic images included); local maxima further apart than ``min_separation``
are returned, largest first. Candidates closer to any atom than the Li–cation / Li–O minimum
distances are rejected.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Structure

from mttmat.structures.validate import StructureError, min_distance_for

__all__ = ["find_voids"]


def find_voids(
    host: Structure,
    n: int = 1,
    spacing_a: float = 0.25,
    min_separation_a: float = 1.5,
    species: str = "Li",
) -> list[tuple[np.ndarray, float]]:
    """Up to ``n`` void centres (fractional coords) with their radius (Å), largest first.

    Raises
    ------
    StructureError
        No point of the host is far enough from every atom to hold ``species``.
    """
    # multiples of 4 so that high-symmetry points (½, ¼) lie on the grid
    divs = [4 * max(1, int(np.ceil(length / spacing_a / 4))) for length in host.lattice.abc]
    axes = [np.arange(d) / d for d in divs]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    symbols = [s.specie.symbol for s in host]
    limits = np.array([min_distance_for(species, s) for s in symbols])
    frac = host.frac_coords
    # periodic distances grid → atoms, in chunks to bound memory
    best_ratio = np.empty(len(grid))
    dmin = np.empty(len(grid))
    for start in range(0, len(grid), 4096):
        g = grid[start : start + 4096]
        d = host.lattice.get_all_distances(g, frac)  # minimum image (pymatgen)
        dmin[start : start + 4096] = d.min(axis=1)
        best_ratio[start : start + 4096] = (d / limits).min(axis=1)
    ok = best_ratio >= 1.0
    if not ok.any():
        raise StructureError(
            f"no void in {host.composition.reduced_formula} can hold {species}: the largest "
            f"empty sphere ({dmin.max():.2f} Å) is below the {species} minimum distances. Use a "
            "less dense host or a larger cell"
        )
    order = np.argsort(-dmin)
    picked: list[tuple[np.ndarray, float]] = []
    for i in order:
        if not ok[i]:
            continue
        fc = grid[i]
        if picked:
            sep = host.lattice.get_all_distances(fc[None, :], np.array([p[0] for p in picked]))
            if sep.min() < min_separation_a:
                continue
        picked.append((fc.copy(), float(dmin[i])))
        if len(picked) == n:
            break
    return picked

"""Interstitial sites of a periodic host: Voronoi vertices as empty-sphere centres.

The candidates are the vertices of the periodic Voronoi tessellation of the host atoms (the
centres of locally largest empty spheres, the same idea as pymatgen's
``TopographyAnalyzer``/``VoronoiInterstitialGenerator``), wrapped into the cell, filtered by
the minimum distance to cations and to anions, and clustered under periodic boundaries (the
vertex with the largest empty sphere represents its cluster). pymatgen-analysis-defects'
generator also groups sites by symmetry with a ``StructureMatcher``; for an amorphous P1 cell
that step only costs time (minutes for 128 atoms, measured), so it is not used here.

Examples
--------
>>> from mttmat.structures import cubic_wo3
>>> site = find_interstitial_sites(cubic_wo3())[0]
>>> [round(float(x), 3) % 1.0 for x in site.frac_coords]   # the cube centre (A site)
[0.0, 0.0, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymatgen.core import Structure
from scipy.spatial import Voronoi

from mttmat.materials import CATIONS
from mttmat.structures.validate import StructureError, check_min_distances, require_elements
from mttmat.structures.voids import find_voids

__all__ = [
    "ANIONS",
    "InterstitialSite",
    "check_site_free",
    "find_interstitial_sites",
    "insert_li",
]

ANIONS = frozenset({"O", "F", "S", "N"})


@dataclass(frozen=True)
class InterstitialSite:
    """One candidate interstitial site of a host.

    Attributes
    ----------
    frac_coords
        Fractional coordinates in the host cell, wrapped into [0, 1).
    radius_a
        Distance to the nearest host atom (Å): the empty-sphere radius.
    nearest_cation_a, nearest_anion_a
        Distance to the nearest cation / anion (Å); inf when the host has none.
    n_anion_neighbours
        Anions within ``coordination_cutoff_a`` (default 2.8 Å): the site's O coordination.
    """

    frac_coords: tuple[float, float, float]
    radius_a: float
    nearest_cation_a: float
    nearest_anion_a: float
    n_anion_neighbours: int


def _nearest(host: Structure, frac: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if not mask.any():
        return np.full(len(frac), np.inf)
    return host.lattice.get_all_distances(frac, host.frac_coords[mask]).min(axis=1)


def find_interstitial_sites(
    host: Structure,
    min_dist_cation_a: float = 2.2,
    min_dist_anion_a: float = 1.75,
    cluster_tol_a: float = 0.5,
    coordination_cutoff_a: float = 2.8,
    max_sites: int | None = None,
) -> list[InterstitialSite]:
    """Candidate interstitial sites of ``host``, largest empty sphere first.

    Parameters
    ----------
    host
        Periodic host (crystal or amorphous). Atoms already in it (Li included) count as
        obstacles.
    min_dist_cation_a, min_dist_anion_a
        A site closer than this to any cation / anion (Å) is rejected. The defaults fit Li in
        oxides (shortest Li–O ≈ 1.9 Å, Li–W/Nb ≈ 2.6 Å in lithium tungstates/niobates).
    cluster_tol_a
        Voronoi vertices closer than this (periodic images included) are one site.
    coordination_cutoff_a
        Radius for :attr:`InterstitialSite.n_anion_neighbours`.
    max_sites
        Keep at most this many (the largest) sites.

    Raises
    ------
    StructureError
        No point of the host is far enough from every atom (a host with no void large enough).
    """
    if len(host) == 0:
        raise StructureError("the host structure has no atoms")
    if min(min_dist_cation_a, min_dist_anion_a) <= 0 or cluster_tol_a < 0:
        raise StructureError("minimum distances must be > 0 and cluster_tol_a >= 0")
    lat = host.lattice
    frac0 = np.mod(host.frac_coords, 1.0)
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    pts = lat.get_cartesian_coords((frac0[None, :, :] + shifts[:, None, :]).reshape(-1, 3))
    vor = Voronoi(pts)
    fv = lat.get_fractional_coords(vor.vertices)
    inside = np.all((fv >= -1e-8) & (fv < 1.0 - 1e-8), axis=1)
    fv = np.mod(fv[inside], 1.0)
    if len(fv) == 0:  # pragma: no cover - a 3×3×3 image set always has interior vertices
        raise StructureError("no Voronoi vertex inside the cell; is the lattice valid?")
    symbols = np.array([s.specie.symbol for s in host])
    anion = np.isin(symbols, list(ANIONS))
    d_cat = _nearest(host, fv, ~anion)
    d_an = _nearest(host, fv, anion)
    radius = np.minimum(d_cat, d_an)
    ok = (d_cat >= min_dist_cation_a) & (d_an >= min_dist_anion_a)
    if not ok.any():
        raise StructureError(
            f"no void in {host.composition.reduced_formula} ({len(host)} atoms) is large enough "
            f"for an interstitial: the largest empty sphere has radius {radius.max():.2f} Å, "
            f"and a site needs >= {min_dist_cation_a} Å to cations and >= {min_dist_anion_a} Å "
            "to anions. Use a less dense host, a larger cell, or lower the minimum distances"
        )
    cand, d_cat, d_an, radius = fv[ok], d_cat[ok], d_an[ok], radius[ok]
    order = np.argsort(-radius, kind="stable")
    kept: list[int] = []
    for i in order:
        if kept and lat.get_all_distances(cand[i][None], cand[kept]).min() < cluster_tol_a:
            continue
        kept.append(int(i))
        if max_sites is not None and len(kept) >= max_sites:
            break
    out = []
    for i in kept:
        # periodic images count (a small cell's site sees several images of one O)
        near = host.get_sites_in_sphere(lat.get_cartesian_coords(cand[i]), coordination_cutoff_a)
        n_an = sum(1 for nb in near if nb.specie.symbol in ANIONS)
        fc = tuple(float(x) for x in np.round(cand[i], 10) % 1.0)
        out.append(InterstitialSite(fc, float(radius[i]), float(d_cat[i]), float(d_an[i]), n_an))
    return out


def check_site_free(
    host: Structure, frac_coords: list[float] | np.ndarray, species: str = "Li", tol_a: float = 1.0
) -> None:
    """Raise :class:`StructureError` if ``host`` already has ``species`` at ``frac_coords``."""
    same = np.array([s.specie.symbol == species for s in host])
    if not same.any():
        return
    d = host.lattice.get_all_distances(np.asarray(frac_coords, float)[None], host.frac_coords[same])
    if d.min() < tol_a:
        idx = int(np.flatnonzero(same)[int(d.argmin())])
        raise StructureError(
            f"the host already contains {species} (atom {idx}) {d.min():.2f} Å from the chosen "
            f"site {list(np.round(frac_coords, 4))}: choose another site, or start from the "
            f"{species}-free host"
        )


def insert_li(host: Structure, frac_coords: list[list[float]] | None, n_li: int = 1) -> Structure:
    """Host plus Li at ``frac_coords`` (or in the ``n_li`` largest voids when None).

    Refuses sites too close to host atoms, and a host that already holds Li there.
    """

    require_elements(host, CATIONS, "Li insertion")
    if frac_coords is None:
        frac_coords = [v[0].tolist() for v in find_voids(host, n=n_li)]
        if len(frac_coords) < n_li:
            raise StructureError(
                f"the host holds only {len(frac_coords)} separate Li voids, {n_li} requested"
            )
    doped = host.copy()
    for fc in frac_coords:
        check_site_free(doped, fc, "Li")  # Li already there (host or an earlier site)
        doped.append("Li", fc)
    try:
        check_min_distances(doped)
    except StructureError as err:
        raise StructureError(f"Li site {frac_coords} is not a void of the host: {err}") from err
    return doped

"""Li hop networks in periodic cells: percolation barrier and effective diffusion coefficient.

A hop joins site ``i`` to site ``j`` in the periodic image ``image`` (integer lattice vector
added to ``j``). The percolation barrier along a direction is the smallest ``E`` such that
hops with barrier ≤ ``E`` connect a site to its own periodic image along that direction,
i.e. an infinite path exists. It is found by adding hops in order of barrier to a union-find
that stores each site's lattice offset from its cluster root: a hop inside one cluster whose
offsets disagree closes a loop that winds around the cell by that offset.

Examples
--------
>>> hops = [Hop(0, 0, (1, 0, 0), 0.3, 3.8)]        # a 1D chain with one site per cell
>>> percolation_barrier(1, hops)["x"]
0.3
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Hop",
    "SaddleHop",
    "diffusion_coefficient",
    "percolation_barrier",
    "saddle_percolation",
]

KB_EV = 8.617333262e-5


@dataclass(frozen=True)
class Hop:
    """A migration hop ``i → j + image``: the barrier (eV) that limits it in both directions
    (the network job uses max(forward, backward)) and its length (Å)."""

    i: int
    j: int
    image: tuple[int, int, int]
    barrier_ev: float
    length_a: float


class _OffsetUnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.offset = [np.zeros(3, dtype=int) for _ in range(n)]  # offset to parent

    def find(self, x: int) -> tuple[int, np.ndarray]:
        """Root of ``x`` and the lattice image of ``x`` in the root's frame."""
        off = np.zeros(3, dtype=int)
        while self.parent[x] != x:
            off = off + self.offset[x]
            x = self.parent[x]
        return x, off


def percolation_barrier(
    n_sites: int, hops: Sequence[Hop], lattice: np.ndarray | None = None
) -> dict[str, float | None]:
    """Smallest barrier (eV) at which the hop network percolates along x, y, z, and overall.

    Site positions are ``r_i`` with the convention that a hop reaches ``r_j + image·L``.
    ``"x"``/``"y"``/``"z"`` are the barriers for winding along each lattice vector (``None``
    if never), ``"any"`` the smallest of them, ``"all"`` the largest (3D percolation; ``None``
    unless all three percolate). ``lattice`` is unused except for validating shapes.
    """
    if n_sites < 1:
        raise ValueError("the network has no sites")
    if lattice is not None and np.shape(lattice) != (3, 3):
        raise ValueError("lattice must be a 3×3 matrix")
    uf = _OffsetUnionFind(n_sites)
    basis: list[np.ndarray] = []
    found: dict[int, float] = {}
    for hop in sorted(hops, key=lambda h: h.barrier_ev):
        if not (0 <= hop.i < n_sites and 0 <= hop.j < n_sites):
            raise ValueError(f"hop {hop} refers to a site outside 0..{n_sites - 1}")
        ri, oi = uf.find(hop.i)
        rj, oj = uf.find(hop.j)
        # position of j's image relative to i's root: oj + image ; of i: oi
        if ri != rj:
            uf.parent[rj] = ri
            uf.offset[rj] = oi + np.asarray(hop.image) - oj
            continue
        winding = oi + np.asarray(hop.image) - oj
        if not np.any(winding):
            continue
        basis.append(winding)
        for k in _directions_spanned(basis):
            found.setdefault(k, hop.barrier_ev)
        if len(found) == 3:
            break
    names = "xyz"
    out: dict[str, float | None] = {names[k]: found.get(k) for k in range(3)}
    vals = [v for v in out.values() if v is not None]
    out["any"] = min(vals) if vals else None
    out["all"] = max(vals) if len(vals) == 3 else None
    return out


@dataclass(frozen=True)
class SaddleHop:
    """A hop ``i → j + image`` with the absolute energy of its saddle (eV, same scale as the
    site energies): ``E_i + E_a(i→j) = E_j + E_a(j→i)``."""

    i: int
    j: int
    image: tuple[int, int, int]
    saddle_ev: float


def saddle_percolation(
    site_energies_ev: Sequence[float], hops: Sequence[SaddleHop]
) -> dict[str, dict[str, float | int] | None]:
    """Percolation barrier on absolute saddle energies, per lattice direction.

    Hops join sites in order of their saddle energy S_ij. Along direction k the network first
    percolates at S*_k, when a cluster winds around the cell along k; the barrier is
    E_perc,k = S*_k − min E_i over that cluster: a Li in the deepest site of the percolating
    set must climb to the highest saddle it needs (trap-limited transport, not the largest
    single-hop barrier). Returns, for ``x``/``y``/``z``, ``{"barrier_ev", "saddle_ev",
    "min_site_ev", "hop"}`` (``hop``: index into ``hops`` of the limiting one) or None; and
    ``any`` (the lowest) and ``all`` (the highest, when all three percolate).
    """
    e = np.asarray(site_energies_ev, float)
    n = len(e)
    if n < 1:
        raise ValueError("the network has no sites")
    uf = _OffsetUnionFind(n)
    low = list(e)  # lowest site energy per cluster root
    windings: dict[int, list[np.ndarray]] = {}
    found: dict[int, dict[str, float | int]] = {}
    order = sorted(range(len(hops)), key=lambda k: hops[k].saddle_ev)
    for k in order:
        hop = hops[k]
        if not (0 <= hop.i < n and 0 <= hop.j < n):
            raise ValueError(f"hop {hop} refers to a site outside 0..{n - 1}")
        if hop.saddle_ev < max(e[hop.i], e[hop.j]) - 1e-9:
            raise ValueError(
                f"hop {hop.i}→{hop.j}: saddle {hop.saddle_ev:.4f} eV below an end site "
                f"({e[hop.i]:.4f}, {e[hop.j]:.4f} eV); a saddle is at or above both ends"
            )
        ri, oi = uf.find(hop.i)
        rj, oj = uf.find(hop.j)
        if ri != rj:
            uf.parent[rj] = ri
            uf.offset[rj] = oi + np.asarray(hop.image) - oj
            low[ri] = min(low[ri], low[rj])
            windings[ri] = windings.get(ri, []) + windings.pop(rj, [])
        else:
            w = oi + np.asarray(hop.image) - oj
            if np.any(w):
                windings.setdefault(ri, []).append(w)
        root = uf.find(hop.i)[0]
        for d in _directions_spanned(windings.get(root, [])) if windings.get(root) else []:
            found.setdefault(d, {"barrier_ev": float(hop.saddle_ev - low[root]),
                                 "saddle_ev": float(hop.saddle_ev),
                                 "min_site_ev": float(low[root]), "hop": int(k)})  # fmt: skip
        if len(found) == 3:
            break
    out: dict[str, dict[str, float | int] | None] = {c: found.get(d) for d, c in enumerate("xyz")}
    vals = [v for v in out.values() if v is not None]
    out["any"] = min(vals, key=lambda v: v["barrier_ev"]) if vals else None
    out["all"] = max(vals, key=lambda v: v["barrier_ev"]) if len(vals) == 3 else None
    return out


def _directions_spanned(vectors: list[np.ndarray]) -> list[int]:
    """Lattice directions k for which some integer combination of ``vectors`` winds along k.

    A cluster percolates along direction k when its winding vectors have a nonzero k
    component (an infinite path then advances along k).
    """
    m = np.array(vectors)
    return [k for k in range(3) if np.any(m[:, k] != 0)]


def diffusion_coefficient(
    barrier_ev: float,
    hop_length_a: float,
    temperature_k: float = 300.0,
    attempt_frequency_hz: float = 1e13,
    dimensionality: int = 3,
) -> float:
    """Effective ``D = a² ν0 exp(−E_a / kT) / (2d)`` in cm²/s.

    ``ν0`` defaults to 10¹³ Hz, a typical optical-phonon attempt frequency (an assumption,
    not computed; say so wherever D is reported).
    """
    if barrier_ev < 0 or hop_length_a <= 0 or temperature_k <= 0 or attempt_frequency_hz <= 0:
        raise ValueError("need barrier ≥ 0 eV, hop length > 0 Å, T > 0 K, ν0 > 0 Hz")
    a_cm = hop_length_a * 1e-8
    return (
        a_cm**2
        * attempt_frequency_hz
        * np.exp(-barrier_ev / (KB_EV * temperature_k))
        / (2 * dimensionality)
    )

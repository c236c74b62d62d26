"""Amorphous-structure metrics (pure functions): RDFs, coordination, bond angles, order.

Distances come from ASE's periodic neighbour list, which includes periodic images, so
``r_max`` may exceed half the cell (then a small cell's own periodicity shows up as peaks:
read long-range order only within the cell's smallest width).

Examples
--------
>>> from mttmat.structures.crystals import cubic_wo3
>>> from mttmat.structures.builders import make_supercell
>>> s = make_supercell(cubic_wo3(), 2)
>>> cn = coordination(s, "W", "O", 2.3)
>>> float(cn.mean())
6.0
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from itertools import combinations_with_replacement

import numpy as np
from pymatgen.core import Structure

from mttmat.structures.builders import density_g_cm3

__all__ = [
    "RdfResult",
    "analyze_amorphous",
    "bond_angles",
    "coordination",
    "first_minimum",
    "long_range_order",
    "rdf",
    "summarize_replicas",
]


def _pairs_ijd(structure: Structure, r_max: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from ase.neighborlist import neighbor_list

    atoms = structure.to_ase_atoms()
    return neighbor_list("ijd", atoms, r_max, self_interaction=False)


class RdfResult(dict):
    """``r`` (Å bin centres), ``total`` g(r) and ``partials[\"A-B\"]`` g_AB(r)."""

    @property
    def r(self) -> np.ndarray:
        return self["r"]

    @property
    def total(self) -> np.ndarray:
        return self["total"]

    @property
    def partials(self) -> dict[str, np.ndarray]:
        return self["partials"]


def _smooth(g: np.ndarray, dr: float, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return g
    half = int(np.ceil(4 * sigma / dr))
    x = np.arange(-half, half + 1) * dr
    kern = np.exp(-0.5 * (x / sigma) ** 2)
    kern /= kern.sum()
    return np.convolve(g, kern, mode="same")


def rdf(
    structure: Structure,
    r_max: float = 6.0,
    dr: float = 0.05,
    sigma: float = 0.0,
) -> RdfResult:
    """Total and partial radial distribution functions, normalised to 1 at large r.

    ``g_AB(r) = V / (N_A N_B) · n_AB(r) / (4π r² dr)`` with ``n_AB`` the number of (A, B)
    ordered pairs at distance r (periodic images included); the total is
    ``Σ c_A c_B g_AB``. ``sigma`` (Å) Gaussian-broadens the histograms (use it to compare a
    0 K crystal with a thermal or amorphous cell).
    """
    if r_max <= 0 or dr <= 0:
        raise ValueError(f"r_max and dr must be > 0 Å, got r_max={r_max}, dr={dr}")
    i, j, d = _pairs_ijd(structure, r_max)
    symbols = np.array([sp.symbol for sp in structure.species])
    edges = np.arange(0.0, r_max + dr / 2, dr)
    r = 0.5 * (edges[1:] + edges[:-1])
    shell = 4.0 * np.pi * r**2 * dr
    vol, n = structure.volume, len(structure)
    elements = sorted(set(symbols), key=lambda e: (e == "O", e))
    partials: dict[str, np.ndarray] = {}
    for a, b in combinations_with_replacement(elements, 2):
        mask = (symbols[i] == a) & (symbols[j] == b)
        if a != b:
            mask |= (symbols[i] == b) & (symbols[j] == a)
        counts, _ = np.histogram(d[mask], bins=edges)
        na, nb = np.sum(symbols == a), np.sum(symbols == b)
        norm = na * nb * (2 if a != b else 1)
        partials[f"{a}-{b}"] = _smooth(vol * counts / (norm * shell), dr, sigma)
    counts, _ = np.histogram(d, bins=edges)
    total = _smooth(vol * counts / (n * n * shell), dr, sigma)
    return RdfResult(r=r, total=total, partials=partials)


def first_minimum(
    r: np.ndarray, g: np.ndarray, r_peak_max: float = 3.0, window: float = 1.5
) -> float:
    """Position (Å) of the first minimum after the first peak of ``g`` (a coordination cutoff).

    The first peak is the maximum at ``r < r_peak_max``; the minimum is the lowest point
    within ``window`` Å after it. Where g is flat at its minimum (a crystal's empty gap
    between shells) the middle of that flat stretch is returned.
    """
    r = np.asarray(r, float)
    g = _smooth(np.asarray(g, float), float(r[1] - r[0]), 0.05)
    sel = np.where(r < r_peak_max)[0]
    if len(sel) == 0 or g[sel].max() <= 0:
        raise ValueError("g(r) has no first peak below r_peak_max; widen r_peak_max")
    ip = sel[np.argmax(g[sel])]
    win = np.where((r > r[ip]) & (r <= r[ip] + window))[0]
    if len(win) == 0:
        raise ValueError("g(r) ends right after its first peak; increase r_max")
    gw = g[win]
    low = gw <= gw.min() + 0.02 * g[ip]
    k = int(np.argmin(gw))
    lo = k
    while lo > 0 and low[lo - 1]:
        lo -= 1
    hi = k
    while hi < len(gw) - 1 and low[hi + 1]:
        hi += 1
    return float(0.5 * (r[win[lo]] + r[win[hi]]))


def coordination(structure: Structure, center: str, neighbor: str, cutoff: float) -> np.ndarray:
    """Number of ``neighbor`` atoms within ``cutoff`` Å of each ``center`` atom."""
    i, j, _ = _pairs_ijd(structure, cutoff)
    symbols = np.array([sp.symbol for sp in structure.species])
    centers = np.where(symbols == center)[0]
    if len(centers) == 0:
        raise ValueError(f"no {center} atoms in {structure.composition.reduced_formula}")
    mask = symbols[j] == neighbor
    counts = np.bincount(i[mask], minlength=len(structure))
    return counts[centers]


def bond_angles(structure: Structure, center: str, end: str, cutoff: float) -> np.ndarray:
    """All ``end``–``center``–``end`` angles (degrees) with both bonds shorter than ``cutoff``."""
    from ase.neighborlist import neighbor_list

    atoms = structure.to_ase_atoms()
    i, j, dvec = neighbor_list("ijD", atoms, cutoff, self_interaction=False)
    symbols = np.array(atoms.get_chemical_symbols())
    keep = (symbols[i] == center) & (symbols[j] == end)
    i, dvec = i[keep], dvec[keep]
    out = []
    order = np.argsort(i, kind="stable")
    i, dvec = i[order], dvec[order]
    bounds = np.flatnonzero(np.diff(np.r_[-1, i, -2]))
    for a, b in itertools.pairwise(bounds):
        v = dvec[a:b]
        if len(v) < 2:
            continue
        u = v / np.linalg.norm(v, axis=1)[:, None]
        cos = np.clip(u @ u.T, -1.0, 1.0)
        iu = np.triu_indices(len(v), 1)
        out.append(np.degrees(np.arccos(cos[iu])))
    return np.concatenate(out) if out else np.zeros(0)


def long_range_order(
    structure: Structure,
    parent: Structure,
    r_min: float = 3.5,
    r_max: float | None = None,
    sigma: float = 0.1,
    dr: float = 0.05,
) -> dict[str, float]:
    """How much of the parent crystal's long-range RDF structure survives in ``structure``.

    Both total g(r) are broadened by ``sigma`` (Å) and compared over ``r_min ≤ r ≤ r_max``
    (default: the smallest perpendicular width of ``structure``'s cell, beyond which a small
    periodic cell repeats itself). ``order`` is the RMS of ``g − 1`` there, and
    ``ratio = order / order_parent``: a crystal gives ~1, a glass ≪ 1.
    ``peak_retention`` is the mean g − 1 at the parent's peaks there, relative to the parent's.
    """
    if r_max is None:
        cell = structure.lattice.matrix
        vol = abs(np.linalg.det(cell))
        widths = [
            vol / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)
        ]
        r_max = float(min(widths))
    if r_max <= r_min:
        raise ValueError(
            f"cell too small for a long-range-order check: width {r_max:.2f} Å ≤ r_min {r_min} Å"
        )
    ga = rdf(structure, r_max=r_max, dr=dr, sigma=sigma)
    gp = rdf(parent, r_max=r_max, dr=dr, sigma=sigma)
    sel = ga.r >= r_min
    dev_a = ga.total[sel] - 1.0
    dev_p = gp.total[sel] - 1.0
    order_a = float(np.sqrt(np.mean(dev_a**2)))
    order_p = float(np.sqrt(np.mean(dev_p**2)))
    # parent peaks: local maxima of g_parent - 1 above 0.5
    dp = dev_p
    peaks = np.where((dp[1:-1] > dp[:-2]) & (dp[1:-1] >= dp[2:]) & (dp[1:-1] > 0.5))[0] + 1
    retention = float(np.mean(dev_a[peaks]) / np.mean(dp[peaks])) if len(peaks) else float("nan")
    return {
        "r_min_a": r_min,
        "r_max_a": r_max,
        "order": order_a,
        "order_parent": order_p,
        "ratio": order_a / order_p if order_p > 0 else float("nan"),
        "peak_retention": retention,
        "n_parent_peaks": len(peaks),
    }


def _hist(values: np.ndarray, lo: float, hi: float, width: float) -> dict[str, list[float]]:
    edges = np.arange(lo, hi + width / 2, width)
    h, _ = np.histogram(values, bins=edges)
    return {"centers": (0.5 * (edges[1:] + edges[:-1])).tolist(), "counts": h.tolist()}


def analyze_amorphous(
    structure: Structure,
    parent: Structure | None = None,
    r_max: float = 6.0,
    dr: float = 0.05,
    cutoffs: dict[str, float] | None = None,
) -> dict:
    """Everything :class:`~mttmat.schemas.amorphous.AmorphousStructureDoc` holds, for one cell.

    Cation–O coordination cutoffs come from the first minimum of the partial g_MO(r) unless
    given in ``cutoffs`` (``{"W-O": 2.4}``).
    """

    symbols = sorted({sp.symbol for sp in structure.species})
    if "O" not in symbols:
        raise ValueError("amorphous-oxide analysis needs O in the structure")
    metals = [e for e in symbols if e not in ("O", "Li")]
    g = rdf(structure, r_max=r_max, dr=dr)
    cutoffs = dict(cutoffs or {})
    cn: dict[str, dict] = {}
    angles: dict[str, dict] = {}
    for m in metals:
        key = f"{m}-O"
        if key not in cutoffs:
            cutoffs[key] = first_minimum(g.r, g.partials[key])
        rc = cutoffs[key]
        c_mo = coordination(structure, m, "O", rc)
        c_om = coordination(structure, "O", m, rc)
        cn[key] = {
            "cutoff_a": rc,
            "mean": float(c_mo.mean()),
            "std": float(c_mo.std()),
            "histogram": {
                str(k): int(v) for k, v in zip(*np.unique(c_mo, return_counts=True), strict=False)
            },
        }
        cn[f"O-{m}"] = {
            "cutoff_a": rc,
            "mean": float(c_om.mean()),
            "std": float(c_om.std()),
            "histogram": {
                str(k): int(v) for k, v in zip(*np.unique(c_om, return_counts=True), strict=False)
            },
        }
        for name, center, end in ((f"O-{m}-O", m, "O"), (f"{m}-O-{m}", "O", m)):
            a = bond_angles(structure, center, end, rc)
            angles[name] = {
                "mean_deg": float(a.mean()) if len(a) else float("nan"),
                "n": len(a),
                "histogram": _hist(a, 0.0, 180.0, 5.0),
            }
    out = {
        "formula": structure.composition.formula.replace(" ", ""),
        "reduced_formula": structure.composition.reduced_formula,
        "n_atoms": len(structure),
        "density_g_cm3": density_g_cm3(structure),
        "volume_a3": structure.volume,
        "min_distances_a": _min_distances(structure),
        "rdf": {
            "r": g.r.tolist(),
            "total": g.total.tolist(),
            **{k: v.tolist() for k, v in g.partials.items()},
        },
        "coordination": cn,
        "angles": angles,
        "long_range_order": None,
    }
    if parent is not None:
        out["long_range_order"] = long_range_order(structure, parent)
    return out


def _min_distances(structure: Structure) -> dict[str, float]:
    i, j, d = _pairs_ijd(structure, 4.0)
    symbols = np.array([sp.symbol for sp in structure.species])
    out: dict[str, float] = {}
    for a, b, dist in zip(symbols[i], symbols[j], d, strict=False):
        key = "-".join(sorted((a, b), key=lambda e: (e == "O", e)))
        if dist < out.get(key, np.inf):
            out[key] = float(dist)
    return out


def summarize_replicas(docs: Sequence[dict]) -> dict[str, dict[str, float]]:
    """Mean ± std over replicas of density, coordination, mean angles and order ratio."""
    if not docs:
        raise ValueError("no replica documents to summarise")
    values: dict[str, list[float]] = {"density_g_cm3": [d["density_g_cm3"] for d in docs]}
    for d in docs:
        for k, v in d["coordination"].items():
            values.setdefault(f"cn {k}", []).append(v["mean"])
        for k, v in d["angles"].items():
            values.setdefault(f"angle {k} (deg)", []).append(v["mean_deg"])
        if d.get("long_range_order"):
            values.setdefault("lro ratio", []).append(d["long_range_order"]["ratio"])
    return {
        k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
        for k, v in values.items()
    }

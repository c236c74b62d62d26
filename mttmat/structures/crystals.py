"""Parent crystals built in code from the crystal data in DESIGN.md (no downloads).

Examples
--------
>>> from mttmat.structures.crystals import gamma_wo3
>>> s = gamma_wo3()
>>> s.composition.reduced_formula, len(s)
('WO3', 32)
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

__all__ = ["PARENT_CRYSTALS", "bcc_li", "cubic_wo3", "gamma_wo3", "parent_crystal"]

# γ-WO3, P2_1/n (No. 14, unique axis b), Z = 8, all sites 4e.
# Lattice: natural WO3 (experiment); coordinates: LDA-relaxed structure (DESIGN.md).
_GAMMA_WO3_LATTICE = (7.32582, 7.54767, 7.71128, 90.0, 90.678, 90.0)
_GAMMA_WO3_SITES = {
    "W1": ("W", (0.73396, 0.01073, 0.27549)),
    "W2": ("W", (0.23361, 0.99111, 0.22301)),
    "O1": ("O", (0.72744, 0.98102, 0.00701)),
    "O2": ("O", (0.72704, 0.52386, 0.99234)),
    "O3": ("O", (0.99486, 0.04324, 0.22599)),
    "O4": ("O", (0.00457, 0.45753, 0.22573)),
    "O5": ("O", (0.79506, 0.75426, 0.26580)),
    "O6": ("O", (0.20850, 0.74503, 0.22449)),
}
# The four general-position operations of P2_1/n: (x,y,z); (-x+1/2, y+1/2, -z+1/2);
# (-x,-y,-z); (x+1/2, -y+1/2, z+1/2), as rotation matrix + translation.
_P21N_OPS = (
    (np.diag([1, 1, 1]), np.array([0.0, 0.0, 0.0])),
    (np.diag([-1, 1, -1]), np.array([0.5, 0.5, 0.5])),
    (np.diag([-1, -1, -1]), np.array([0.0, 0.0, 0.0])),
    (np.diag([1, -1, 1]), np.array([0.5, 0.5, 0.5])),
)


def gamma_wo3() -> Structure:
    """Monoclinic γ-WO3 (P2₁/n, 32 atoms), expanded from the 8 Wyckoff 4e sites.

    Returns
    -------
    Structure
        W8O24 with site property ``wyckoff_label`` (W1, O3, ...) on every atom.
    """
    lattice = Lattice.from_parameters(*_GAMMA_WO3_LATTICE)
    species, coords, labels = [], [], []
    for label, (element, xyz) in _GAMMA_WO3_SITES.items():
        orbit: list[np.ndarray] = []
        for rot, trans in _P21N_OPS:
            new = np.mod(rot @ np.asarray(xyz) + trans, 1.0)
            if not any(_frac_close(new, old) for old in orbit):
                orbit.append(new)
        if len(orbit) != 4:
            raise RuntimeError(f"site {label} gave multiplicity {len(orbit)}, expected 4 (4e)")
        species += [element] * 4
        coords += orbit
        labels += [label] * 4
    structure = Structure(lattice, species, coords, site_properties={"wyckoff_label": labels})
    return structure.get_sorted_structure()


def _frac_close(a: np.ndarray, b: np.ndarray, tol: float = 1e-4) -> bool:
    d = a - b
    d -= np.round(d)
    return bool(np.all(np.abs(d) < tol))


def cubic_wo3(a: float = 3.78) -> Structure:
    """Cubic ReO3-type WO3 (Pm-3m, 4 atoms): W at (½,½,½), O at the face centres.

    The cube centre of this cell's corner-sharing octahedra network, (0, 0, 0), is the
    interstitial (perovskite A) site where Li sits in cubic Li_xWO3.
    """
    if a <= 0:
        raise ValueError(f"lattice constant must be > 0 Å, got {a}")
    return Structure(
        Lattice.cubic(a),
        ["W", "O", "O", "O"],
        [[0.5, 0.5, 0.5], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]],
    )


def bcc_li(a: float = 3.49) -> Structure:
    """Conventional bcc Li (Im-3m, 2 atoms), the μ_Li reference."""
    if a <= 0:
        raise ValueError(f"lattice constant must be > 0 Å, got {a}")
    return Structure(Lattice.cubic(a), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])


PARENT_CRYSTALS = {
    "gamma-WO3": gamma_wo3,
    "cubic-WO3": cubic_wo3,
    "bcc-Li": bcc_li,
}


def parent_crystal(name: str) -> Structure:
    """A parent crystal by name (one of :data:`PARENT_CRYSTALS`)."""
    try:
        return PARENT_CRYSTALS[name]()
    except KeyError:
        raise ValueError(
            f"unknown parent crystal {name!r}; choose one of {sorted(PARENT_CRYSTALS)}"
        ) from None

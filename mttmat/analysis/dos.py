"""Density of states from eigenvalues: broadening, projections, counting, comparison.

Pure numpy functions shared by the GPAW and VASP paths. Conventions: eigenvalues are
``[spin][k][band]`` (eV), k weights sum to 1, and a spin-paired calculation holds 2 electrons
per state (``degeneracy = 2 / nspins``). DOS values are states/eV per cell, spin channels
summed unless a function says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "broadened_dos",
    "count_electrons",
    "dos_similarity",
    "fermi_occupations",
    "participation_number",
]


def _arrays(eigs: Sequence, kweights: Sequence[float]) -> tuple[np.ndarray, np.ndarray, float]:
    e = np.asarray(eigs, float)
    if e.ndim != 3:
        raise ValueError(f"eigenvalues must be [spin][k][band], got shape {e.shape}")
    w = np.asarray(kweights, float)
    if len(w) != e.shape[1]:
        raise ValueError(f"{len(w)} k weights for {e.shape[1]} k-points")
    return e, w, 2.0 / e.shape[0]


def broadened_dos(
    eigs: Sequence,
    kweights: Sequence[float],
    energies: np.ndarray,
    width: float,
    state_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Gaussian-broadened DOS per spin channel, shape (nspins, nE) or (nspins, nE, nchan).

    ``state_weights`` (shape (nspins, nk, nbands[, nchan])) projects each state; the
    degeneracy 2/nspins is included, so ``sum(axis=0)`` integrates to the electron count.
    """
    e, w, g = _arrays(eigs, kweights)
    if width <= 0:
        raise ValueError(f"broadening width must be > 0 eV, got {width}")
    en = np.asarray(energies, float)
    sw = None if state_weights is None else np.asarray(state_weights, float)
    if sw is not None and sw.shape[:3] != e.shape:
        raise ValueError(f"state weights {sw.shape} do not match eigenvalues {e.shape}")
    shape = (e.shape[0], len(en)) + (() if sw is None or sw.ndim == 3 else (sw.shape[3],))
    out = np.zeros(shape)
    norm = g / (np.sqrt(np.pi) * width)
    for s in range(e.shape[0]):  # one (k, band, E) block at a time bounds the memory
        for k in range(e.shape[1]):
            gauss = np.exp(-(((en[None, :] - e[s, k][:, None]) / width) ** 2)) * (norm * w[k])
            if sw is None:
                out[s] += gauss.sum(axis=0)
            elif sw.ndim == 3:
                out[s] += sw[s, k] @ gauss
            else:
                out[s] += gauss.T @ sw[s, k]
    return out


def fermi_occupations(eigs: Sequence, fermi_level: float, width: float) -> np.ndarray:
    """Fermi–Dirac occupations (0..1 per state) at smearing ``width`` (eV)."""
    e = np.asarray(eigs, float)
    if width <= 0:
        return (e <= fermi_level).astype(float)
    x = np.clip((e - fermi_level) / width, -60.0, 60.0)
    return 1.0 / (1.0 + np.exp(x))


def count_electrons(
    eigs: Sequence,
    kweights: Sequence[float],
    fermi_level: float,
    width: float,
    emin: float = -np.inf,
    emax: float = np.inf,
) -> float:
    """Electrons in states with ``emin <= ε < emax`` (Fermi–Dirac filled at ``fermi_level``)."""
    e, w, g = _arrays(eigs, kweights)
    f = fermi_occupations(e, fermi_level, width)
    mask = (e >= emin) & (e < emax)
    return float((g * w[None, :, None] * f * mask).sum())


def participation_number(atom_weights: np.ndarray) -> np.ndarray:
    """1 / Σ_a p_a² over atoms for each state (p normalised): ~1 localised, ~N_atoms spread."""
    p = np.asarray(atom_weights, float)
    s = p.sum(axis=-1, keepdims=True)
    p = np.divide(p, s, out=np.zeros_like(p), where=s > 0)
    ipr = (p**2).sum(axis=-1)
    return np.divide(1.0, ipr, out=np.zeros_like(ipr), where=ipr > 0)


def dos_similarity(
    curves: Sequence[np.ndarray], energies: np.ndarray, window: tuple[float, float]
) -> np.ndarray:
    """Pearson correlation of DOS curves over ``window`` (same grid, e.g. E − E_F).

    1 = same shape; used to compare the DOS of one host with Li at different sites.
    """
    en = np.asarray(energies, float)
    m = (en >= window[0]) & (en <= window[1])
    if m.sum() < 3:
        raise ValueError(f"the window {window} holds fewer than 3 grid points")
    x = np.array([np.asarray(c, float)[m] for c in curves])
    return np.corrcoef(x) if len(x) > 1 else np.ones((1, 1))

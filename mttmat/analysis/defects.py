"""Li interstitial formation energies: the equations, as pure functions.

Conventions (energies in eV, E_F measured from the host valence-band maximum E_VBM)::

    E_f(q, E_F) = E(host + Li_i^q) − E(host) − μ_Li + q (E_VBM + E_F) + E_corr(q)
    ε(+/0)      = E(q=0) − E(q=+1) − E_corr(+1) − E_VBM                 (E_f(+1) = E_f(0))
    ΔE_ins      = E(host + Li) − E(host) − μ_Li = E_f(0, ·)   (neutral: no E_F, no correction)
    V           = −ΔE_ins / e   (average intercalation voltage vs Li/Li⁺, μ_Li = bcc Li)

E_corr(0) = 0 by construction. Site statistics over an amorphous host: the minimum, the
Boltzmann-weighted mean at T (weights exp(−E_f/kT), i.e. the thermal occupation of dilute
Li among the sites), and the standard deviation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "K_B_EV",
    "boltzmann_stats",
    "formation_energy",
    "intercalation_voltage",
    "transition_level",
]

K_B_EV = 8.617333262e-5


def formation_energy(
    e_defect: float,
    e_host: float,
    mu_li: float,
    q: int,
    e_vbm: float,
    e_fermi: float | np.ndarray,
    correction: float = 0.0,
) -> float | np.ndarray:
    """E_f(q, E_F) of Li_i^q; ``e_fermi`` from the VBM (scalar or array)."""
    if q == 0 and correction != 0.0:
        raise ValueError("a neutral defect takes no charge correction (got a non-zero one)")
    return e_defect - e_host - mu_li + q * (e_vbm + np.asarray(e_fermi)) + correction


def transition_level(
    e_q1: float, e_q2: float, q1: int, q2: int, e_vbm: float, corr_q1: float, corr_q2: float
) -> float:
    """ε(q1/q2) from the VBM: the E_F where E_f(q1) = E_f(q2)."""
    if q1 == q2:
        raise ValueError("a transition level needs two different charge states")
    return ((e_q2 + corr_q2) - (e_q1 + corr_q1)) / (q1 - q2) - e_vbm


def intercalation_voltage(e_doped: float, e_host: float, mu_li: float, n_li: int) -> float:
    """Average voltage vs Li/Li⁺ (V) for ``n_li`` Li inserted into the host cell."""
    if n_li < 1:
        raise ValueError(f"n_li must be >= 1, got {n_li}")
    return -(e_doped - e_host - n_li * mu_li) / n_li


def boltzmann_stats(energies: Sequence[float], temperature_k: float = 300.0) -> dict[str, float]:
    """min, Boltzmann-weighted mean at T, plain mean, std and count of site energies."""
    e = np.asarray(energies, float)
    if e.size == 0:
        raise ValueError("no site energies")
    if temperature_k <= 0:
        raise ValueError(f"temperature must be > 0 K, got {temperature_k}")
    w = np.exp(-(e - e.min()) / (K_B_EV * temperature_k))
    w /= w.sum()
    return {
        "min": float(e.min()),
        "boltzmann_mean": float((w * e).sum()),
        "mean": float(e.mean()),
        "std": float(e.std(ddof=1)) if e.size > 1 else 0.0,
        "n": int(e.size),
        "temperature_k": float(temperature_k),
    }

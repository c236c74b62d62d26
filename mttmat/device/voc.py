"""Li site-energy statistics → filling x(μ) → open-circuit voltage V_oc(x).

Li sites have energies E (neutral Li_i vs Li metal, from the DFT formation energies) spread
as a Gaussian g(E) = N(E_s, σ). At Li chemical potential μ (vs Li metal) the filled fraction
of sites is θ(μ) = ∫ g(E) f_FD(E − μ) dE. Inverting gives μ(θ) and the open-circuit
voltage V_oc(θ) = −μ(θ)/e vs Li/Li⁺. σ = 0 recovers the ideal lattice gas
V_oc = −E_s/e − (kT/e) ln(θ / (1 − θ)).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["K_B_EV", "VocCurve", "filling"]

K_B_EV = 8.617333262e-5  # eV/K


def filling(mu_ev: np.ndarray, mean_ev: float, sigma_ev: float, temperature_k: float) -> np.ndarray:
    """Filled fraction θ(μ) of Gaussian-distributed sites (Gauss–Hermite quadrature)."""
    kt = K_B_EV * temperature_k
    mu = np.asarray(mu_ev, dtype=float)
    if sigma_ev <= 0:
        return 0.5 * (1.0 - np.tanh((mean_ev - mu) / (2 * kt)))
    x, w = np.polynomial.hermite_e.hermegauss(80)  # ∫ e^{-x²/2} h(x) dx
    e = mean_ev + sigma_ev * x
    occ = 0.5 * (1.0 - np.tanh((e[None, :] - mu.reshape(-1, 1)) / (2 * kt)))
    return (occ @ w / np.sqrt(2 * np.pi)).reshape(mu.shape)


@dataclass
class VocCurve:
    """Tabulated θ ↔ V_oc for one site-energy distribution (fast vectorised lookups)."""

    mean_ev: float
    sigma_ev: float
    temperature_k: float = 300.0
    n_grid: int = 4001
    _theta: np.ndarray = field(init=False, repr=False)
    _voc: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.sigma_ev < 0:
            raise ValueError(f"site-energy spread must be >= 0 eV, got {self.sigma_ev}")
        if self.temperature_k <= 0:
            raise ValueError(f"temperature must be > 0 K, got {self.temperature_k}")
        kt = K_B_EV * self.temperature_k
        half = 5 * self.sigma_ev + 30 * kt
        mu = np.linspace(self.mean_ev - half, self.mean_ev + half, self.n_grid)
        theta = filling(mu, self.mean_ev, self.sigma_ev, self.temperature_k)
        self._theta, self._voc = theta, -mu  # θ increases with μ; V_oc = −μ/e

    def voc(self, theta: np.ndarray | float) -> np.ndarray:
        """V_oc(θ) in V vs Li/Li⁺ (θ clipped to the tabulated range)."""
        return np.interp(theta, self._theta, self._voc)

    def theta_at(self, voc: np.ndarray | float) -> np.ndarray:
        """Inverse: the filling at which V_oc equals ``voc``."""
        return np.interp(-np.asarray(voc), -self._voc, self._theta)

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """(θ, V_oc) arrays of the table."""
        return self._theta.copy(), self._voc.copy()

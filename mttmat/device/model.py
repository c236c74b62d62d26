"""Physics-based ECRAM compact model, vectorised over arrays of devices.

State: the Li site filling θ ∈ [0, 1] of each device (Li per metal x = θ·x_max).

Ion kinetics (high-field hopping, one equation for pulses and for retention)::

    dθ/dt = k · 2 sinh(u) · S(θ),     u = α q (V_G − V_back(θ)) / (2 k_B T)
    k     = f_int · ν0 · exp(−E_a / k_B T)        (E_a: channel Li barrier from CI-NEB)
    S(θ)  = 1 − θ  (insertion, u > 0),   θ  (extraction, u < 0)      → soft bounds
    V_back(θ) = V_oc(θ_rest) − V_oc(θ)             (V_oc from the site-energy statistics)

α (``field_factor``, the fraction of q·V_G acting across one hop) and f_int
(``kinetic_prefactor``) are calibrated to device data; E_a, ν0, the site-energy mean/spread
and the electrons per Li come from DFT. At V_G = 0 the same law relaxes θ toward θ_rest:
retention (``rest``) uses the retention barrier E_b in place of E_a (at rest the Li has to
leave the channel into the electronically insulating electrolyte) and the bare attempt
frequency, k_rest = ν0 exp(−E_b / k_B T): the retention time ∝ ν0⁻¹ exp(E_b / k_B T).
f_int is not used at rest. It was calibrated to the pulse kinetics, which pin
f_int·exp(−E_a/kT); reusing it made a lower channel barrier give a *longer* retention
(E_a 0.8 eV → 1.4×10⁶ s, 0.5 eV → 1.8×10¹¹ s before this was fixed).

Conductance (uniform doping over the channel; size scaling G ∝ W/L as measured)::

    G(θ) = (W/L) · [g0 + q μ n_e/Li x_max θ N_M t]

Pulses integrate with an exponential integrator (exact for a frozen rate) in ``n_sub``
sub-steps, never stepping past the equilibrium filling θ_eq(V_G); the step is tabulated on
a fine θ grid once per pulse shape, so a pulse on millions of devices is one interpolation.
Cycle-to-cycle noise multiplies each step by (1 + σ_c2c ξ); device-to-device spread
multiplies k and the conductance scale by log-normal factors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mttmat.device.parameters import EcramParameters, ParameterError
from mttmat.device.voc import K_B_EV, VocCurve

__all__ = ["Q_E", "EcramModel"]

Q_E = 1.602176634e-19  # C


@dataclass
class EcramModel:
    """An array of ``n_devices`` ECRAM devices sharing one parameter set.

    Examples
    --------
    >>> from mttmat.device import EcramModel, EcramParameters
    >>> m = EcramModel(EcramParameters.paper_defaults(), n_devices=4, seed=0)
    >>> g0 = m.conductance().copy()
    >>> m.apply_pulse(10.0, 2e-3)
    >>> bool((m.conductance() > g0).all())
    True
    """

    params: EcramParameters
    n_devices: int = 1
    seed: int | None = 0
    variation: bool = True
    dtype: type = np.float32
    n_table: int = 16385
    theta: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.n_devices < 1:
            raise ParameterError(f"n_devices must be >= 1, got {self.n_devices}")
        p = self.params.values()
        self._p = p
        self.rng = np.random.default_rng(self.seed)
        self.kt = K_B_EV * p["temperature_k"]
        self.voc_curve = VocCurve(
            p["site_energy_mean_ev"], p["site_energy_sigma_ev"], p["temperature_k"]
        )
        self.v_rest = float(self.voc_curve.voc(p["theta_rest"]))
        self.u_per_volt = p["field_factor"] / (2 * self.kt)
        nu = p["kinetic_prefactor"] * p["attempt_frequency_hz"]
        self.k = nu * np.exp(-p["channel_barrier_ev"] / self.kt)
        # own prefactor (bare ν0): f_int belongs to the calibrated pulse kinetics
        self.k_rest = p["attempt_frequency_hz"] * np.exp(-p["retention_barrier_ev"] / self.kt)
        n = self.n_devices
        if self.variation and p["d2d_sigma"] > 0:
            self.k_dev = np.exp(p["d2d_sigma"] * self.rng.standard_normal(n)).astype(self.dtype)
            self.g_dev = np.exp(p["d2d_sigma"] * self.rng.standard_normal(n)).astype(self.dtype)
        else:
            self.k_dev = np.ones(n, self.dtype)
            self.g_dev = np.ones(n, self.dtype)
        self.theta = np.full(n, p["theta_rest"], dtype=self.dtype)
        # conductance per square: g0 + g1 θ  (S)
        t_cm = p["channel_thickness_nm"] * 1e-7
        self.g1 = (
            Q_E
            * p["mobility_cm2_vs"]
            * p["electrons_per_li"]
            * p["x_max"]
            * (p["w_density_cm3"] * t_cm)
        )
        self.aspect = p["width_um"] / p["length_um"]
        self._tables: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    # ------------------------------------------------------------------ state → outputs
    def conductance(self, theta: np.ndarray | None = None) -> np.ndarray:
        """Channel conductance (S) of every device (or of the fillings ``theta``)."""
        th = self.theta if theta is None else np.asarray(theta)
        g = self.aspect * (self._p["g0_sheet_s"] + self.g1 * th)
        return g * self.g_dev if theta is None else g

    def li_per_metal(self) -> np.ndarray:
        """x = θ · x_max (Li per W/Nb)."""
        return self.theta * self._p["x_max"]

    def v_back(self, theta: np.ndarray) -> np.ndarray:
        """Back-EMF (V) opposing insertion: V_oc(θ_rest) − V_oc(θ)."""
        return self.v_rest - self.voc_curve.voc(theta)

    def theta_eq(self, voltage: float) -> float:
        """Filling where the gate voltage balances the back-EMF (no net flux)."""
        return float(self.voc_curve.theta_at(self.v_rest - voltage))

    def rate(
        self, theta: np.ndarray, voltage: float | np.ndarray, resting: bool = False
    ) -> np.ndarray:
        """dθ/dt (1/s) at filling ``theta`` under gate voltage ``voltage`` (or at rest)."""
        u = self.u_per_volt * (voltage - self.v_back(theta))
        s = np.where(u > 0, 1.0 - theta, theta)
        return (self.k_rest if resting else self.k) * 2.0 * np.sinh(np.clip(u, -700, 700)) * s

    # ------------------------------------------------------------------ dynamics
    def exact_step(
        self, theta: np.ndarray, voltage: float, width_s: float, n_sub: int, k: float
    ) -> np.ndarray:
        """Nominal-device filling after a pulse (exponential integrator, ``n_sub`` steps).

        Exact for a rate frozen within each sub-step; never steps across θ_eq(V).
        """
        th = np.asarray(theta, dtype=np.float64).copy()
        th_eq = self.theta_eq(voltage)
        h = width_s / n_sub
        for _ in range(n_sub):
            u = self.u_per_volt * (voltage - self.v_back(th))
            up = u > 0
            target = up.astype(np.float64)  # 1 for insertion, 0 for extraction
            rate = np.abs(np.sinh(np.clip(u, -700.0, 700.0)))  # no overflow at huge fields
            th = target + (th - target) * np.exp(-(k * h * 2.0) * rate)
            th = np.where(
                up,
                np.minimum(th, np.maximum(th_eq, theta)),
                np.maximum(th, np.minimum(th_eq, theta)),
            )
        return th

    def _step_table(self, voltage: float, width_s: float, n_sub: int, k: float) -> tuple:
        """Δθ(θ) of one pulse on a uniform θ grid, cached per (V, width, n_sub, k)."""
        key = (voltage, width_s, n_sub, k)
        tab = self._tables.get(key)
        if tab is None:
            grid = np.linspace(0.0, 1.0, self.n_table)
            delta = self.exact_step(grid, voltage, width_s, n_sub, k) - grid
            slope = np.append(np.diff(delta), 0.0)
            tab = (delta.astype(self.dtype), slope.astype(self.dtype))
            if len(self._tables) > 64:
                self._tables.clear()
            self._tables[key] = tab
        return tab

    def apply_pulse(
        self,
        voltage: float,
        width_s: float,
        n_sub: int = 4,
        mask: np.ndarray | None = None,
        _k: float | None = None,
    ) -> None:
        """One gate pulse (``voltage`` V, ``width_s`` s) on all devices or on ``mask``.

        The nominal step Δθ(θ) is tabulated once per pulse shape on a fine θ grid (exact
        exponential integrator); each device then costs one interpolation, scaled by its
        device-to-device rate factor and a cycle-to-cycle factor (1 + σ ξ). The d2d scaling
        of the step is first order in the step size (steps are ≲ 1 % of the range).
        """
        if not width_s > 0:
            raise ParameterError(f"pulse width must be > 0 s, got {width_s}")
        if n_sub < 1:
            raise ParameterError(f"n_sub must be >= 1, got {n_sub}")
        delta, slope = self._step_table(
            float(voltage), float(width_s), int(n_sub), self.k if _k is None else _k
        )
        th = self.theta if mask is None else self.theta[mask]
        x = th * self.dtype(self.n_table - 1)
        i = x.astype(np.int32)
        np.minimum(i, self.n_table - 2, out=i)
        x -= i
        d = slope[i]
        d *= x
        d += delta[i]
        if self.variation:
            d *= self.k_dev if mask is None else self.k_dev[mask]
            if self._p["c2c_sigma"] > 0:
                noise = self.rng.standard_normal(d.shape, dtype=np.float32)
                noise *= self._p["c2c_sigma"]
                noise += 1.0
                d *= noise
        th += d
        np.clip(th, 0.0, 1.0, out=th)
        if mask is not None:
            self.theta[mask] = th

    def rest(self, duration_s: float, n_steps: int = 60) -> None:
        """Relax at V_G = 0 for ``duration_s`` (log-spaced steps; retention)."""
        if duration_s <= 0:
            return
        edges = np.concatenate([[0.0], np.geomspace(duration_s * 1e-6, duration_s, n_steps)])
        variation, self.variation = self.variation, False
        try:
            for dt in np.diff(edges):
                self.apply_pulse(0.0, float(dt), n_sub=1, _k=self.k_rest)
        finally:
            self.variation = variation

    def pulse_train(
        self, voltages: np.ndarray | list[float], width_s: float, n_sub: int = 4
    ) -> np.ndarray:
        """Apply pulses in order; conductance (S) before and after each: shape (P+1, n)."""
        out = np.empty((len(voltages) + 1, self.n_devices))
        out[0] = self.conductance()
        for i, v in enumerate(voltages):
            self.apply_pulse(float(v), width_s, n_sub=n_sub)
            out[i + 1] = self.conductance()
        return out

    def retention_time_s(self, theta: float) -> float:
        """Time constant (s) of the decay of a state θ toward θ_rest at V_G = 0.

        τ = (θ − θ_rest) / |dθ/dt|  ∝  ν0⁻¹ exp(E_b / k_B T)  (Arrhenius in the barrier).
        """
        th = np.array([theta])
        dth = float(self.rate(th, 0.0, resting=True)[0])
        gap = theta - self._p["theta_rest"]
        if gap == 0 or dth == 0:
            return float("inf")
        return abs(gap / dth)

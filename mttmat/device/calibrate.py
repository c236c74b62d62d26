"""Calibrate the parameters DFT cannot give (mobility, off conductance, field factor,
interface prefactor) against the paper's device numbers or a user's measured pulse trace.

Paper targets (DESIGN.md): 180 LTP pulses at +10 V / 2 ms and 180 LTD pulses at −7 V / 2 ms,
G_max 40–50 µS (45 µS used), switching ratio 56 (DC sweep) and 632 (write-verify).

Closure used for the paper targets (each a stated modelling choice, recorded in the sources):

1. the write-verify window (632) spans the film from empty sites, G(θ = 0) = G_max / 632;
2. the 180/180 pulse cycle is periodic between θ_bot and θ_top with G(θ_top) = G_max and
   G(θ_top)/G(θ_bot) = 56;
3. the filling at the top of the window, θ_top, is fitted with a weak prior toward 0.5: the
   paper's linearity statistics did not survive extraction, and (1)–(2) with the soft-bound
   kinetics leave a one-parameter family of solutions; the prior picks the member nearest
   half filling;
4. the channel rests at θ_bot at V_G = 0 (θ_rest = θ_bot).

(1)–(3) fix g0 and the mobility given θ_top; the two periodicity conditions fix the field
factor α and the prefactor f_int (residuals reported).
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from mttmat.device.model import Q_E, EcramModel
from mttmat.device.parameters import (
    RANGES,
    DeviceDoesNotSwitchError,
    EcramParameters,
    Param,
    ParameterError,
    Source,
)
from mttmat.device.voc import K_B_EV
from mttmat.structures.io import atomic_write_text

__all__ = ["CalibrationResult", "DeviceTargets", "PulseTrace", "calibrate", "fit_trace"]

PAPER = "Yang et al., Adv. Sci. (MTT/ECRAM): Fig. 3 device data, DESIGN.md table"


@dataclass(frozen=True)
class DeviceTargets:
    """Device numbers the calibration reproduces (defaults: the paper)."""

    g_max_s: float = 45e-6
    ratio_pulse: float = 56.0
    ratio_write_verify: float = 632.0
    n_pulses: int = 180
    v_set: float = 10.0
    v_reset: float = -7.0
    width_s: float = 2e-3
    theta_top: float = 0.5
    prior_weight: float = 0.05

    def __post_init__(self) -> None:
        if not (self.g_max_s > 0 and self.width_s > 0 and self.n_pulses > 0):
            raise ParameterError("G_max, pulse width and pulse count must be > 0")
        if not 1 < self.ratio_pulse < self.ratio_write_verify:
            raise ParameterError("need 1 < pulse ratio < write-verify ratio")
        if not (self.v_set > 0 > self.v_reset):
            raise ParameterError("set voltage must be > 0 and reset voltage < 0")
        if not 0 < self.theta_top < 1:
            raise ParameterError("theta_top must be in (0, 1)")


@dataclass
class CalibrationResult:
    """Calibrated parameters, the residuals, and the simulated cycle."""

    params: EcramParameters
    residuals: dict[str, float]
    theta_bot: float
    theta_top: float
    trace_s: np.ndarray  # conductance before and after each pulse
    pulse_voltages_v: np.ndarray  # amplitude of each pulse (len(trace_s) - 1)
    pulse_widths_s: np.ndarray

    def ltp_ltd(self) -> tuple[np.ndarray, np.ndarray]:
        """(LTP, LTD) conductance curves: the first run of positive pulses (from the initial
        state) and the run of negative pulses that follows it, each with its start point."""
        n_up, n_dn = split_cycle(self.pulse_voltages_v)
        return self.trace_s[: n_up + 1], self.trace_s[n_up : n_up + n_dn + 1]


def split_cycle(voltages: np.ndarray) -> tuple[int, int]:
    """Lengths of the leading run of positive pulses and the negative run after it."""
    v = np.asarray(voltages)
    n_up = int(np.argmax(v <= 0)) if np.any(v <= 0) else len(v)
    rest = v[n_up:]
    n_dn = int(np.argmax(rest >= 0)) if np.any(rest >= 0) else len(rest)
    if n_up < 2 or n_dn < 2:
        raise ParameterError(
            "the trace needs a run of >= 2 positive (LTP) pulses followed by >= 2 negative "
            f"(LTD) pulses; got {n_up} then {n_dn}"
        )
    return n_up, n_dn


#: a calibration whose θ_top/θ_bot miss their targets by more than this fraction, with the
#: kinetic prefactor at its limit, has not fitted the device
STALLED_FIT_REL = 0.05


def _cal(value: float, unit: str, residual: float, note: str) -> Param:
    return Param(
        value=float(value),
        unit=unit,
        source=Source(kind="calibration", reference=PAPER, residual=float(residual), note=note),
    )


def calibrate(params: EcramParameters, targets: DeviceTargets | None = None) -> CalibrationResult:
    """Fit g0, mobility, field factor, kinetic prefactor and θ_top to the device targets.

    DFT-derived parameters (barrier, site energies, electrons per Li) are kept; only the
    transport parameters and θ_rest are replaced (source ``calibration``).
    """
    t = targets or DeviceTargets()
    p = params.values()
    if p["electrons_per_li"] <= 0:
        raise ParameterError(
            f"{params.material}: electrons_per_li = 0 (Li traps its electron in the DFT), so "
            "Li content cannot change the conductance: cannot calibrate on this material"
        )
    aspect = p["width_um"] / p["length_um"]
    g0 = t.g_max_s / t.ratio_write_verify / aspect
    g_top, g_bot = t.g_max_s / aspect, t.g_max_s / t.ratio_pulse / aspect
    t_cm = p["channel_thickness_nm"] * 1e-7
    scale = Q_E * p["electrons_per_li"] * p["x_max"] * p["w_density_cm3"] * t_cm
    bot_over_top = (g_bot - g0) / (g_top - g0)  # θ_bot / θ_top, fixed by the two ratios

    def unpack(x: np.ndarray) -> tuple[EcramParameters, float, float]:
        theta_top = float(1.0 / (1.0 + np.exp(-x[2])))
        theta_bot = bot_over_top * theta_top
        g1 = (g_top - g0) / theta_top
        pp = params.updated(
            g0_sheet_s=g0,
            mobility_cm2_vs=g1 / scale,
            theta_rest=theta_bot,
            field_factor=float(np.exp(x[0])),
            kinetic_prefactor=float(np.exp(x[1])),
        )
        return pp, theta_top, theta_bot

    def cycle(x: np.ndarray) -> tuple[float, float, np.ndarray]:
        pp, _, theta_bot = unpack(x)
        m = EcramModel(pp, n_devices=1, variation=False)
        m.theta[:] = theta_bot
        tr = m.pulse_train([t.v_set] * t.n_pulses, t.width_s)
        top = float(m.theta[0])
        tr2 = m.pulse_train([t.v_reset] * t.n_pulses, t.width_s)
        return top, float(m.theta[0]), np.concatenate([tr[:, 0], tr2[1:, 0]])

    def resid(x: np.ndarray) -> np.ndarray:
        _, theta_top, theta_bot = unpack(x)
        top, bot, _ = cycle(x)
        return np.array(
            [
                np.log(max(top, 1e-12) / theta_top),
                np.log(max(bot, 1e-12) / theta_bot),
                t.prior_weight * (theta_top - t.theta_top),
            ]
        )

    # Starts: the prefactor that keeps f_int·exp(−E_a/kT) at the paper-default rate, besides
    # f_int = 1: with a much lower DFT barrier the pulse train saturates from f_int = 1 and
    # the residuals are flat there (the fit stalls with θ at its bounds).
    kt = K_B_EV * p["temperature_k"]
    e_ref = EcramParameters.paper_defaults(params.material).channel_barrier_ev.value
    # the prefactor stays inside the range EcramParameters accepts (log space, rounded in)
    k_hi = float(np.log(RANGES["kinetic_prefactor"][1])) - 1e-9
    k0 = float(np.clip((p["channel_barrier_ev"] - e_ref) / kt, -35, k_hi - 1e-6))
    best = None
    for a0, k in itertools.product((np.log(0.003), np.log(0.03)), sorted({0.0, k0})):
        sol = least_squares(
            resid,
            x0=[a0, k, 0.0],
            bounds=([np.log(1e-4), -40, -6], [np.log(0.2), k_hi, 6]),
            xtol=1e-10,
            ftol=1e-10,
            diff_step=1e-4,  # the pulse train is piecewise smooth: see fit_trace
        )
        if best is None or sol.cost < best.cost:
            best = sol
    pp, theta_top, theta_bot = unpack(best.x)
    top, bot, trace = cycle(best.x)
    r_top, r_bot = top / theta_top - 1, bot / theta_bot - 1
    rel = float(max(abs(r_top), abs(r_bot)))
    if best.x[1] > k_hi - 1e-3 and rel > STALLED_FIT_REL:
        raise DeviceDoesNotSwitchError(
            f"{params.material}: the device does not switch with the DFT barrier E_a = "
            f"{p['channel_barrier_ev']:.3f} eV: at the largest kinetic prefactor accepted "
            f"({RANGES['kinetic_prefactor'][1]:g}, i.e. f_int·exp(−E_a/kT) cannot rise "
            f"further) the pulse train misses the device's window by {rel:.0%}. The paper's "
            f"device has E_a ≈ {e_ref:.2f} eV: check the barrier (the hop network, its DFT "
            "band and the saddle) before calibrating on this material"
        )
    note = (
        f"periodic {t.n_pulses}x{t.v_set:+g} V / {t.n_pulses}x{t.v_reset:+g} V, "
        f"{t.width_s:g} s pulses between G_max/{t.ratio_pulse:g} and G_max = {t.g_max_s:g} S"
    )
    out = params.updated(
        g0_sheet_s=_cal(g0, "S", 0.0, f"G(θ=0) = G_max/{t.ratio_write_verify:g}"),
        mobility_cm2_vs=_cal(
            pp.mobility_cm2_vs.value,
            "cm^2/(V s)",
            rel,
            f"G(θ_top = {theta_top:.3f}) = G_max; " + note,
        ),
        theta_rest=_cal(theta_bot, "1", rel, f"G(θ_bot) = G_max/{t.ratio_pulse:g}"),
        field_factor=_cal(pp.field_factor.value, "1", rel, note),
        kinetic_prefactor=_cal(pp.kinetic_prefactor.value, "1", rel, note),
    )
    return CalibrationResult(
        params=out,
        residuals={"theta_top_rel": float(r_top), "theta_bot_rel": float(r_bot)},
        theta_bot=float(theta_bot),
        theta_top=float(theta_top),
        trace_s=trace,
        pulse_voltages_v=np.array([t.v_set] * t.n_pulses + [t.v_reset] * t.n_pulses),
        pulse_widths_s=np.full(2 * t.n_pulses, t.width_s),
    )


# ---------------------------------------------------------------------- measured traces
@dataclass
class PulseTrace:
    """A measured pulse trace: conductance after each pulse (pulse 0 = initial state)."""

    voltage_v: np.ndarray  # amplitude of pulse i (i >= 1); entry 0 ignored
    width_s: np.ndarray
    conductance_s: np.ndarray

    @classmethod
    def from_csv(cls, path: str | Path) -> PulseTrace:
        """Columns ``pulse,voltage_v,width_s,conductance_s`` (header required)."""
        path = Path(path)
        if not path.is_file():
            raise ParameterError(f"trace file {path} does not exist")
        with path.open() as fh:
            rows = list(csv.DictReader(fh))
        need = {"pulse", "voltage_v", "width_s", "conductance_s"}
        if not rows or not need <= set(rows[0]):
            raise ParameterError(f"{path}: need a header with columns {sorted(need)}")
        try:
            rows.sort(key=lambda r: int(r["pulse"]))
            v = np.array([float(r["voltage_v"]) for r in rows])
            w = np.array([float(r["width_s"]) for r in rows])
            g = np.array([float(r["conductance_s"]) for r in rows])
        except ValueError as err:
            raise ParameterError(f"{path}: non-numeric entry ({err})") from err
        if np.any(g <= 0) or np.any(w[1:] <= 0):
            raise ParameterError(f"{path}: conductances and pulse widths must be > 0")
        return cls(v, w, g)

    def to_csv(self, path: str | Path) -> None:
        lines = ["pulse,voltage_v,width_s,conductance_s"]
        lines += [
            f"{i},{v:.6g},{w:.6g},{g:.9g}"
            for i, (v, w, g) in enumerate(
                zip(self.voltage_v, self.width_s, self.conductance_s, strict=True)
            )
        ]
        atomic_write_text(path, "\n".join(lines) + "\n")


def simulate_trace(params: EcramParameters, trace: PulseTrace, theta0: float) -> np.ndarray:
    """Model conductance along the pulses of ``trace`` from filling ``theta0``."""
    m = EcramModel(params, n_devices=1, variation=False)
    m.theta[:] = theta0
    out = [m.conductance()[0]]
    for v, w in zip(trace.voltage_v[1:], trace.width_s[1:], strict=True):
        m.apply_pulse(float(v), float(w))
        out.append(m.conductance()[0])
    return np.array(out)


def fit_trace(params: EcramParameters, trace: PulseTrace) -> CalibrationResult:
    """Least-squares fit of g0, mobility, field factor, prefactor to a measured trace (log G)."""
    split_cycle(trace.voltage_v[1:])  # refuse a trace without an LTP and an LTD run up front
    p0 = params.values()
    if p0["electrons_per_li"] <= 0:
        raise ParameterError(
            f"{params.material}: electrons_per_li = 0 (Li traps its electron), so Li content "
            "cannot change the conductance: a pulse trace cannot be fitted on this material"
        )
    aspect = p0["width_um"] / p0["length_um"]
    t_cm = p0["channel_thickness_nm"] * 1e-7
    scale = Q_E * p0["electrons_per_li"] * p0["x_max"] * p0["w_density_cm3"] * t_cm
    g_lo = float(trace.conductance_s.min()) / aspect

    def unpack(x: np.ndarray) -> tuple[EcramParameters, float]:
        g0, g1, alpha, f = np.exp(x[:4])
        theta0 = float(np.clip((trace.conductance_s[0] / aspect - g0) / g1, 1e-6, 1 - 1e-6))
        return params.updated(
            g0_sheet_s=g0,
            mobility_cm2_vs=g1 / scale,
            field_factor=alpha,
            kinetic_prefactor=f,
            theta_rest=theta0,
        ), theta0

    def resid(x: np.ndarray) -> np.ndarray:
        pp, th0 = unpack(x)
        return np.log(simulate_trace(pp, trace, th0)) - np.log(trace.conductance_s)

    # The fit stays inside the region EcramParameters accepts (bounds in log space, not an
    # exception in the residual): 0 < g0 <= min(G_min, 1 S), mobility <= its range limit,
    # 0 < alpha <= 10, 0 < f_int <= 1e12. g0 above the lowest measured G could not be
    # reached by any filling, so G_min bounds it too.
    lo = np.log([1e-9 * g_lo, 1e-9 * g_lo, 1e-6, 1e-12])
    hi = np.log(
        [
            min(g_lo, RANGES["g0_sheet_s"][1]),
            RANGES["mobility_cm2_vs"][1] * scale,
            RANGES["field_factor"][1],
            RANGES["kinetic_prefactor"][1],
        ]
    )
    x0 = np.log(
        [
            0.5 * g_lo,
            4 * float(trace.conductance_s.max()) / aspect,
            p0["field_factor"],
            max(p0["kinetic_prefactor"], 1e-6),
        ]
    )
    hi = hi - 1e-9  # exp(log(limit)) can round above the limit the validation checks
    span = hi - lo
    x0 = np.clip(x0, lo + 1e-6 * span, hi - 1e-6 * span)
    # The simulated trace is piecewise smooth in the parameters (pulse-by-pulse integration):
    # with least_squares' default finite-difference step (~1e-8 relative) the Jacobian is
    # noise, and the solver stopped where it started, a change of 1e-9 in the trace (a CSV
    # round trip) deciding whether it found the optimum (rms 0.0003) or not (0.04). A 1e-4
    # step fixes that; starts with the prefactor 30× lower and higher guard the shallow
    # field-factor/prefactor valley, and the lowest cost wins.
    starts = [x0]
    for shift in (-np.log(30.0), np.log(30.0)):
        x = x0.copy()
        x[3] += shift
        starts.append(np.clip(x, lo + 1e-6 * span, hi - 1e-6 * span))
    sol = min(
        (
            least_squares(resid, x0=x, bounds=(lo, hi), xtol=1e-10, ftol=1e-10, max_nfev=400,
                          diff_step=1e-4)
            for x in starts
        ),
        key=lambda r: r.cost,
    )
    pp, th0 = unpack(sol.x)
    rms = float(np.sqrt(np.mean(sol.fun**2)))
    note = f"least squares on log G of a measured trace ({len(trace.conductance_s)} points)"
    out = params.updated(
        **{
            k: Param(
                value=getattr(pp, k).value,
                unit=getattr(pp, k).unit,
                source=Source(kind="calibration", residual=rms, note=note),
            )
            for k in (
                "g0_sheet_s",
                "mobility_cm2_vs",
                "field_factor",
                "kinetic_prefactor",
                "theta_rest",
            )
        }
    )
    sim = simulate_trace(out, trace, th0)
    # filling at the highest conductance reached (G is linear in θ)
    m = EcramModel(out, n_devices=1, variation=False)
    g_per_theta = m.conductance(np.array([1.0]))[0] - m.conductance(np.array([0.0]))[0]
    theta_top = float((sim.max() - m.conductance(np.array([0.0]))[0]) / g_per_theta)
    return CalibrationResult(
        out,
        {"rms_log_g": rms},
        th0,
        theta_top,
        sim,
        trace.voltage_v[1:].copy(),
        trace.width_s[1:].copy(),
    )

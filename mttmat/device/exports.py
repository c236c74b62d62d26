"""Exports for downstream simulators: NeuroSim LTP/LTD fit, aihwkit device, MTT transfer.

NeuroSim form (Chen et al., used by DNN+NeuroSim)::

    LTP: G(P) = B (1 − exp(−P/A)) + G_min
    LTD: G(P) = −B (1 − exp((P − P_max)/A)) + G_max,   B = (G_max − G_min)/(1 − exp(−P_max/A))

A is reported in pulses and normalised by P_max: NeuroSim's code multiplies the normalised
value by its number of levels (``paramA = GetParamA(NL) * maxNumLevel``), so ``a_normalized``
is what goes in place of ``GetParamA(NL)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from mttmat.device.calibrate import CalibrationResult
from mttmat.device.model import EcramModel
from mttmat.device.mtt import MttTransfer, transfer_coefficients
from mttmat.device.parameters import EcramParameters, ParameterError

__all__ = [
    "AIHWKIT_DOCUMENTED_FIELDS",
    "EXPORT_FORMATS",
    "aihwkit_device",
    "export",
    "fit_neurosim",
    "mtt_parameters",
    "neurosim_curve",
]

EXPORT_FORMATS = ("neurosim", "aihwkit", "mtt", "traces", "all")


def neurosim_curve(
    p: np.ndarray, a: float, g_min: float, g_max: float, p_max: float, ltd: bool = False
) -> np.ndarray:
    """NeuroSim conductance after ``p`` pulses (LTP from G_min, or LTD from G_max)."""
    b = (g_max - g_min) / (1 - np.exp(-p_max / a))
    if ltd:
        return -b * (1 - np.exp((np.asarray(p) - p_max) / a)) + g_max
    return b * (1 - np.exp(-np.asarray(p) / a)) + g_min


def fit_neurosim(g: np.ndarray, ltd: bool = False) -> dict[str, float]:
    """Fit A to a monotone pulse curve ``g`` (g[0] before the first pulse).

    For LTD, ``g`` starts at G_max and pulse n sits at NeuroSim state P = P_max − n.

    Returns A (pulses), A/P_max, G_min, G_max, P_max and the rms relative residual.
    """
    g = np.asarray(g, dtype=float)
    if g.ndim != 1 or len(g) < 3:
        raise ParameterError("need a 1-D curve of at least 3 points")
    p_max = len(g) - 1
    g_min, g_max = (g[-1], g[0]) if ltd else (g[0], g[-1])
    if not g_max > g_min:
        raise ParameterError("curve is not monotone in the expected direction")
    # NeuroSim's state axis P runs 0 → P_max along LTP; depression walks it back down
    p = p_max - np.arange(len(g)) if ltd else np.arange(len(g))

    def resid(log_a: np.ndarray) -> np.ndarray:
        return (neurosim_curve(p, np.exp(log_a[0]), g_min, g_max, p_max, ltd) - g) / (g_max - g_min)

    sol = least_squares(resid, x0=[np.log(p_max / 3)], bounds=([np.log(1e-3)], [np.log(1e6)]))
    a = float(np.exp(sol.x[0]))
    return {
        "a_pulses": a,
        "a_normalized": a / p_max,
        "g_min_s": float(g_min),
        "g_max_s": float(g_max),
        "p_max": int(p_max),
        "rms_rel_residual": float(np.sqrt(np.mean(sol.fun**2))),
    }


# aihwkit: SoftBoundsPmaxDevice's own fields, plus the PulsedDevice fields we set, as
# documented in aihwkit.simulator.configs.devices (aihwkit 0.9-1.2).
AIHWKIT_DOCUMENTED_FIELDS = {
    "SoftBoundsPmaxDevice": {
        "p_max",
        "alpha",
        "range_min",
        "range_max",
        "dw_min_std",
        "dw_min_dtod",
        "w_min_dtod",
        "w_max_dtod",
        "up_down",
        "up_down_dtod",
        "lifetime",
        "lifetime_dtod",
        "construction_seed",
    }
}


def soft_bounds_pmax_curve(
    p: np.ndarray, p_max: int, alpha: float, range_min: float, range_max: float
) -> np.ndarray:
    """aihwkit SoftBoundsPmaxDevice up-pulse response w(p) (its documented formula)."""
    b = (range_max - range_min) / (1 - np.exp(-alpha * p_max))
    return b * (1 - np.exp(-alpha * np.asarray(p))) + range_min


def aihwkit_device(
    ltp: np.ndarray,
    ltd: np.ndarray,
    params: EcramParameters,
    pulse_width_s: float,
    theta_mid: float,
) -> dict[str, Any]:
    """An aihwkit device description fitted to the LTP/LTD curves (class + kwargs).

    ``SoftBoundsPmaxDevice(**kwargs)`` builds it in aihwkit; weights map G_min → −1,
    G_max → +1. ``lifetime`` (in pulses of ``pulse_width_s``) carries the retention decay of
    the mid-window state ``theta_mid``.
    """
    up = fit_neurosim(ltp)
    dn = fit_neurosim(ltd, ltd=True)
    p_max = up["p_max"]
    alpha = float(np.sqrt(1 / up["a_pulses"] * 1 / dn["a_pulses"]))  # one slope both ways
    tau = EcramModel(params, variation=False).retention_time_s(theta_mid)
    v = params.values()
    kwargs = {
        "p_max": int(p_max),
        "alpha": alpha,
        "range_min": -1.0,
        "range_max": 1.0,
        "dw_min_std": float(v["c2c_sigma"]),
        "dw_min_dtod": float(v["d2d_sigma"]),
        "up_down": float((dn["a_pulses"] - up["a_pulses"]) / (dn["a_pulses"] + up["a_pulses"])),
        "lifetime": float(min(tau / pulse_width_s, 1e12)),
    }
    unknown = set(kwargs) - AIHWKIT_DOCUMENTED_FIELDS["SoftBoundsPmaxDevice"]
    if unknown:  # pragma: no cover - guards edits of this function
        raise ParameterError(f"not documented SoftBoundsPmaxDevice fields: {unknown}")
    return {
        "module": "aihwkit.simulator.configs.devices",
        "class": "SoftBoundsPmaxDevice",
        "kwargs": kwargs,
        "fit": {"ltp": up, "ltd": dn},
    }


def mtt_parameters(ltp: np.ndarray, ltd: np.ndarray, radius: float = 0.0) -> dict[str, Any]:
    """MTT weight-transfer parameters from the device's pulse curves.

    K is the on/off ratio of the programmed window; B_p and B_n are fitted (with A = 1 + B,
    so that W_b(±1) = ±1) to the transfer the real device gives: for W_h = +w the positive
    device is potentiated from the bottom by w·P LTP pulses; for W_h = −w the negative
    device is depressed from the top by (1 − w)·P LTD pulses. Each branch's conductance is
    normalised to its bottom (the reference, 1) and read through the divider of
    :mod:`mttmat.device.mtt`.
    """
    ltp, ltd = np.asarray(ltp, float), np.asarray(ltd, float)
    k = float(ltp[-1] / ltp[0])
    out: dict[str, Any] = {"K": k}
    for name, curve in (("p", ltp), ("n", ltd[::-1])):
        w_h = np.linspace(0, 1, len(curve))
        g = curve / curve[0]  # reference conductance normalised to 1 → G ∈ [1, K_branch]
        k_b = g[-1]
        v = g / (1 + g) - 0.5
        w_b = v / v[-1]

        # A = 1 + B keeps W_b(±1) = ±1 exactly; B carries the shape
        def resid(x: np.ndarray, w_h: np.ndarray = w_h, w_b: np.ndarray = w_b) -> np.ndarray:
            return (1 + x[0]) * w_h / (1 + x[0] * w_h) - w_b

        _, b0 = transfer_coefficients(k_b)
        sol = least_squares(resid, x0=[b0], bounds=([0.0], [1e6]))
        out[f"A_{name}"], out[f"B_{name}"] = float(1 + sol.x[0]), float(sol.x[0])
        out[f"rms_{name}"] = float(np.sqrt(np.mean(sol.fun**2)))
    out["radius"] = float(radius)
    out["ideal_symmetric"] = dict(zip(("A", "B"), transfer_coefficients(k), strict=True))
    return out


def export(
    cal: CalibrationResult,
    fmt: str,
    out_dir: str | Path,
    ternary_radius: float = 0.0,
) -> list[Path]:
    """Write the export(s) ``fmt`` (one of :data:`EXPORT_FORMATS`) to ``out_dir``.

    LTP and LTD curves come from the pulse voltages of ``cal`` (:meth:`ltp_ltd`), so the
    paper cycle and a measured trace are exported the same way.
    """
    if fmt not in EXPORT_FORMATS:
        raise ParameterError(f"unknown export format {fmt!r}; choose one of {EXPORT_FORMATS}")
    from mttmat.structures.io import atomic_write_text

    out = Path(out_dir)
    ltp, ltd = cal.ltp_ltd()
    pulse_width_s = float(cal.pulse_widths_s[0])
    written: list[Path] = []

    def dump(name: str, data: Any) -> None:
        written.append(atomic_write_text(out / name, json.dumps(data, indent=2)))

    if fmt in ("neurosim", "all"):
        up, dn = fit_neurosim(ltp), fit_neurosim(ltd, ltd=True)
        dump(
            "neurosim.json",
            {
                "ltp": up,
                "ltd": dn,
                "c2c_sigma": cal.params.c2c_sigma.value,
                "d2d_sigma": cal.params.d2d_sigma.value,
                "note": "a_normalized replaces NeuroSim's GetParamA(NL) (A / number of pulses)",
            },
        )
    if fmt in ("aihwkit", "all"):
        mid = 0.5 * (cal.theta_bot + cal.theta_top)
        dump("aihwkit_device.json", aihwkit_device(ltp, ltd, cal.params, pulse_width_s, mid))
    if fmt in ("mtt", "all"):
        mtt = mtt_parameters(ltp, ltd, ternary_radius)
        t = MttTransfer(mtt["A_p"], mtt["B_p"], mtt["A_n"], mtt["B_n"], ternary_radius)
        w = np.linspace(-1, 1, 41)
        mtt["transfer_table"] = {"w_h": w.tolist(), "w_b": t(w).tolist()}
        dump("mtt_transfer.json", mtt)
    if fmt in ("traces", "all"):
        lines = ["pulse,voltage_v,width_s,conductance_s"]
        lines.append(f"0,0,0,{cal.trace_s[0]:.9g}")
        for i, (v, w, g) in enumerate(
            zip(cal.pulse_voltages_v, cal.pulse_widths_s, cal.trace_s[1:], strict=True), 1
        ):
            lines.append(f"{i},{v:g},{w:g},{g:.9g}")
        written.append(atomic_write_text(out / "pulse_trace.csv", "\n".join(lines) + "\n"))
    return written

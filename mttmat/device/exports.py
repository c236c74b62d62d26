"""Exports for downstream simulators: NeuroSim LTP/LTD fit, aihwkit device, MTT transfer.

NeuroSim (Chen et al., MLP/DNN+NeuroSim ``formula.cpp``, ``Cell.cpp``) describes both LTP and
LTD with one function of the pulse state P ∈ [0, P_max] (``NonlinearWeight``)::

    G(P) = B (1 − exp(−P/A)) + G_min,     B = (G_max − G_min) / (1 − exp(−P_max/A))

with A > 0 for LTP and **A < 0 for LTD** (``getParamA`` returns ``sign(NL)·A(|NL|)``, and the
default LTD label is negative, e.g. ``NL_LTD = −4.88``). A write of n pulses moves P by
+n (LTP) or −n (LTD) from ``InvNonlinearWeight(G)``. NeuroSim multiplies the normalised A by
its number of levels (``paramA = getParamA(NL) · maxNumLevel``): ``a_normalized`` = A/P_max is
what goes in place of ``getParamA(NL)``, with its sign.

The nonlinearity label NL is what ``getParamA`` tabulates (0.01 to 9 in steps of 0.01). Its
table follows NL = max_x[f(x) − x] / (0.07·√2) for the normalised curve
f(x) = (1 − e^{−x/a}) / (1 − e^{−1/a}), a = |A|/P_max (checked against the table's entries in
the tests); :func:`neurosim_nl_label` evaluates it in closed form, so the label is computed,
not looked up.

Variation, converted to NeuroSim's definitions: ``sigmaCtoC`` is an absolute conductance
spread per write, set in NeuroSim as a fraction of (G_max − G_min); the model's
cycle-to-cycle spread multiplies each pulse step (σ_c2c of the step), so the fraction is
σ_c2c times the rms step of the branch relative to the window (the larger of LTP and LTD;
no exact match exists between a step-proportional and a constant spread). ``sigmaDtoD`` is
the spread of the NL label between devices; the model spreads the rate k log-normally
(σ_d2d), which scales A (in pulses) as 1/k, so σ_NL = |NL(A e^{−σ}) − NL(A e^{σ})| / 2.
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
from mttmat.structures.io import atomic_write_text

__all__ = [
    "AIHWKIT_DOCUMENTED_FIELDS",
    "EXPORT_FORMATS",
    "aihwkit_device",
    "export",
    "fit_neurosim",
    "mtt_parameters",
    "neurosim_curve",
    "neurosim_export",
    "neurosim_nl_label",
]

EXPORT_FORMATS = ("neurosim", "aihwkit", "mtt", "traces", "all")

#: NL label ↔ max deviation of the normalised curve from linear: NL = d / (0.07·√2)
_NL_SCALE = 0.07 * np.sqrt(2.0)
#: the range of NeuroSim's getParamA table
NL_TABLE_RANGE = (0.01, 9.0)


def neurosim_curve(
    p: np.ndarray, a: float, g_min: float, g_max: float, p_max: float, ltd: bool = False
) -> np.ndarray:
    """NeuroSim's ``NonlinearWeight``: conductance at pulse state ``p`` for parameter ``a``
    (pulses; > 0 LTP, < 0 LTD). ``ltd=True`` with a positive ``a`` means ``−a``."""
    if ltd and a > 0:
        a = -a
    p = np.asarray(p, dtype=float)
    # G = G_min + (G_max − G_min)(1 − e^{−P/A})/(1 − e^{−P_max/A}), written without overflow:
    # for A < 0 (LTD) and |A| ≪ P_max the plain form is inf/inf
    if a > 0:
        frac = np.expm1(-p / a) / np.expm1(-p_max / a)
    else:
        c = -1.0 / a
        frac = np.exp((p - p_max) * c) * np.expm1(-p * c) / np.expm1(-p_max * c)
    return g_min + (g_max - g_min) * frac


def neurosim_nl_label(a_normalized: float) -> float:
    """NeuroSim's nonlinearity label for a normalised A (its sign kept: LTD labels are < 0)."""
    a = abs(float(a_normalized))
    if a == 0:
        raise ParameterError("A = 0 has no nonlinearity label")
    if a > 1e4:  # linear to within 1e-5: NL → 0
        return 0.0
    c = -np.expm1(-1.0 / a)  # 1 − e^{−1/a}
    x = float(np.clip(-a * np.log(a * c), 0.0, 1.0))  # where f'(x) = 1
    d = -np.expm1(-x / a) / c - x
    return float(np.sign(a_normalized) * d / _NL_SCALE)


def fit_neurosim(g: np.ndarray, ltd: bool = False) -> dict[str, float]:
    """Fit NeuroSim's A to a monotone pulse curve ``g`` (g[0] before the first pulse).

    For LTD, ``g`` starts at G_max and pulse n sits at NeuroSim state P = P_max − n.

    Returns A (pulses, negative for LTD), A/P_max (``getParamA``'s value), the NL label,
    G_min, G_max, P_max and the rms residual relative to the window.
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
    sign = -1.0 if ltd else 1.0

    def resid(log_a: np.ndarray) -> np.ndarray:
        a = sign * np.exp(log_a[0])
        return (neurosim_curve(p, a, g_min, g_max, p_max) - g) / (g_max - g_min)

    sol = least_squares(resid, x0=[np.log(p_max / 3)], bounds=([np.log(1e-3)], [np.log(1e6)]))
    a = sign * float(np.exp(sol.x[0]))
    return {
        "a_pulses": a,
        "a_normalized": a / p_max,
        "nl_label": neurosim_nl_label(a / p_max),
        "g_min_s": float(g_min),
        "g_max_s": float(g_max),
        "p_max": int(p_max),
        "rms_rel_residual": float(np.sqrt(np.mean(sol.fun**2))),
    }


def _for_get_param_a(nl: float) -> float:
    """The label to write for NeuroSim's getParamA, whose index is int(|NL|·100) − 1
    (truncation): half a step above the nearest table entry, sign kept."""
    return float(np.sign(nl) * (round(abs(nl), 2) + 0.005))


def neurosim_export(ltp: np.ndarray, ltd: np.ndarray, params: EcramParameters) -> dict[str, Any]:
    """Everything NeuroSim's ``RealDevice`` needs, in NeuroSim's own conventions."""
    up, dn = fit_neurosim(ltp), fit_neurosim(ltd, ltd=True)
    v = params.values()
    sd = v["d2d_sigma"]
    sigma_nl = {}
    for name, fit in (("ltp", up), ("ltd", dn)):
        lo = neurosim_nl_label(fit["a_normalized"] * np.exp(-sd))
        hi = neurosim_nl_label(fit["a_normalized"] * np.exp(sd))
        sigma_nl[name] = abs(lo - hi) / 2
    # NeuroSim adds a constant spread per pulse; the model's spread scales with each step:
    # match the rms step of each branch (no exact match exists; the mean step would
    # underestimate the noise summed over a sweep)
    rms_step = {}
    for name, curve in (("ltp", np.asarray(ltp, float)), ("ltd", np.asarray(ltd, float))):
        steps = np.diff(curve) / (curve.max() - curve.min())
        rms_step[name] = float(np.sqrt(np.mean(steps**2)))
    c2c = {k: v["c2c_sigma"] * r for k, r in rms_step.items()}
    warnings = []
    for name, fit in (("LTP", up), ("LTD", dn)):
        nl = abs(fit["nl_label"])
        if not NL_TABLE_RANGE[0] <= nl <= NL_TABLE_RANGE[1]:
            warnings.append(
                f"{name}: |NL| = {nl:.3g} is outside getParamA's table "
                f"({NL_TABLE_RANGE[0]}-{NL_TABLE_RANGE[1]}); set paramA from a_normalized "
                "directly (paramA = a_normalized · maxNumLevel)"
            )
    return {
        "ltp": up,
        "ltd": dn,
        "NL_LTP": up["nl_label"],
        "NL_LTD": dn["nl_label"],
        # getParamA truncates |NL|·100 to an index: these land on the nearest table entry
        "NL_LTP_for_getParamA": _for_get_param_a(up["nl_label"]),
        "NL_LTD_for_getParamA": _for_get_param_a(dn["nl_label"]),
        "maxNumLevelLTP": up["p_max"],
        "maxNumLevelLTD": dn["p_max"],
        "sigmaCtoC_fraction_of_range": max(c2c.values()),
        "sigmaCtoC_fraction_of_range_ltp_ltd": c2c,
        "sigmaDtoD_nl": max(sigma_nl.values()),
        "sigmaDtoD_nl_ltp_ltd": sigma_nl,
        "model_c2c_sigma": v["c2c_sigma"],
        "model_d2d_sigma": v["d2d_sigma"],
        "warnings": warnings,
        "note": (
            "NeuroSim conventions: A and NL are negative for LTD; paramA = a_normalized · "
            "maxNumLevel replaces getParamA(NL) · maxNumLevel (exact; NL_*_for_getParamA picks the "
            "nearest table entry instead); sigmaCtoC = "
            "sigmaCtoC_fraction_of_range · (maxConductance − minConductance); sigmaDtoD is the "
            "spread of NL. The model's device-to-device spread of the conductance scale has "
            "no NeuroSim counterpart and is not exported."
        ),
    }


# aihwkit's SoftBoundsDevice (a PulsedDevice; aihwkit.simulator.configs.devices): the fields
# this export sets, as documented there (aihwkit 0.9-1.x).
AIHWKIT_DOCUMENTED_FIELDS = {
    "SoftBoundsDevice": {
        "dw_min",
        "up_down",
        "up_down_dtod",
        "w_min",
        "w_max",
        "w_min_dtod",
        "w_max_dtod",
        "dw_min_std",
        "dw_min_dtod",
        "mult_noise",
        "lifetime",
        "lifetime_dtod",
        "reset",
        "reset_dtod",
        "reset_std",
    }
}


def _aihwkit_steps(dw_min: float, up_down: float) -> tuple[float, float]:
    """(up, down) step sizes as aihwkit's C++ ``PulsedRPUDevice::populate`` sets them:
    up_down > 0 shrinks the down step, dw_min·(1 − up_down); up_down < 0 shrinks the up step,
    dw_min·(1 + up_down). (Its Python docstring reads dw_min·(1 ± up_down); the code is what
    runs.)"""
    up_bias = 0.0 if up_down > 0 else up_down
    down_bias = -up_down if up_down > 0 else 0.0
    return dw_min * (1 + up_bias), dw_min * (1 + down_bias)


def soft_bounds_trace(kwargs: dict[str, Any], n_up: int, n_down: int) -> np.ndarray:
    """aihwkit SoftBoundsDevice's update without noise: from w = −1, ``n_up`` up pulses, then
    ``n_down`` down pulses. Soft bounds scale the steps by (1 − w/w_max) up and
    (1 − w/w_min) down (a LinearStepDevice with slopes −1/bound)."""
    up, dn = _aihwkit_steps(kwargs["dw_min"], kwargs["up_down"])
    w = [-1.0]
    for _ in range(n_up):
        w.append(w[-1] + up * (1 - w[-1] / kwargs["w_max"]))
    for _ in range(n_down):
        w.append(w[-1] - dn * (1 - w[-1] / kwargs["w_min"]))
    return np.array(w)


def aihwkit_device(
    ltp: np.ndarray,
    ltd: np.ndarray,
    params: EcramParameters,
    pulse_width_s: float,
    theta_mid: float,
    batch_time_s: float = 1.0,
) -> dict[str, Any]:
    """An aihwkit ``SoftBoundsDevice`` fitted to the LTP/LTD curves (class + kwargs).

    Weights map the programmed window G_min → −1, G_max → +1. The NeuroSim fit of each branch
    (an exponential approach with A pulses) is a soft-bounds device exactly: the up branch
    approaches its asymptote w_max = −1 + 2/(1 − e^{−P/A_up}) with Δw_up = w_max (1 −
    e^{−1/A_up}), the down branch w_min = 1 − 2/(1 − e^{−P/|A_down|}) with Δw_down = |w_min|
    (1 − e^{−1/|A_down|}). ``dw_min`` and ``up_down`` carry the two step sizes separately, as
    aihwkit's C++ applies them (dw_min = the larger step, the other one dw_min·(1 − |up_down|);
    SoftBoundsPmaxDevice, used before, overwrites ``up_down`` in its bindings and so lost the
    LTP/LTD asymmetry). ``lifetime`` is in mini-batches, as aihwkit applies the decay once per
    mini-batch, w ← (w − reset)(1 − 1/lifetime) + reset: lifetime = 1/(1 − exp(−Δt_batch/τ)),
    with τ the model's retention time of the mid-window state and Δt_batch =
    ``batch_time_s`` (stated in the export); ``reset`` = −1, the rest state (bottom of the
    window) the device relaxes to.
    """
    if not batch_time_s > 0:
        raise ParameterError(f"batch_time_s must be > 0, got {batch_time_s}")
    up = fit_neurosim(ltp)
    dn = fit_neurosim(ltd, ltd=True)
    p_up, p_dn = up["p_max"], dn["p_max"]
    a_up, a_dn = up["a_pulses"], abs(dn["a_pulses"])
    w_max = -1.0 + 2.0 / -np.expm1(-p_up / a_up)
    w_min = 1.0 - 2.0 / -np.expm1(-p_dn / a_dn)
    dw_up = w_max * -np.expm1(-1.0 / a_up)
    dw_dn = abs(w_min) * -np.expm1(-1.0 / a_dn)
    tau = EcramModel(params, variation=False).retention_time_s(theta_mid)
    lifetime = 1.0 / -np.expm1(-batch_time_s / tau) if np.isfinite(tau) else 0.0
    v = params.values()
    big = max(dw_up, dw_dn)
    kwargs = {
        "dw_min": float(big),
        "up_down": float((dw_up - dw_dn) / big),
        "up_down_dtod": 0.0,
        "w_min": float(w_min),
        "w_max": float(w_max),
        "w_min_dtod": 0.0,
        "w_max_dtod": 0.0,
        "dw_min_std": float(v["c2c_sigma"]),  # multiplicative, like the model's c2c
        "dw_min_dtod": float(v["d2d_sigma"]),  # the model's log-normal rate spread, 1st order
        "mult_noise": True,
        "lifetime": float(min(lifetime, 1e12)),  # 0 = no decay (aihwkit's convention)
        "lifetime_dtod": 0.0,
        "reset": -1.0,  # decay target: the rest state, G_min of the window
        "reset_dtod": 0.0,
        "reset_std": 0.0,
    }
    unknown = set(kwargs) - AIHWKIT_DOCUMENTED_FIELDS["SoftBoundsDevice"]
    if unknown:  # pragma: no cover - guards edits of this function
        raise ParameterError(f"not documented SoftBoundsDevice fields: {unknown}")
    w_model = np.concatenate([ltp, ltd[1:]])
    w_model = -1 + 2 * (w_model - ltp[0]) / (ltp[-1] - ltp[0])
    w_fit = soft_bounds_trace(kwargs, p_up, p_dn)
    rms_w = float(np.sqrt(np.mean((w_fit - w_model) ** 2)))
    return {
        "module": "aihwkit.simulator.configs.devices",
        "class": "SoftBoundsDevice",
        "kwargs": kwargs,
        "batch_time_s": batch_time_s,
        "retention_time_s": float(tau),
        "pulse_width_s": pulse_width_s,
        "fit": {"ltp": up, "ltd": dn, "rms_w_residual": rms_w},
        "note": "weights: G_min → −1, G_max → +1 over the programmed window; lifetime in "
        "mini-batches of batch_time_s: lifetime = 1/(1 − exp(−batch_time_s/retention_time_s))",
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

    out = Path(out_dir)
    ltp, ltd = cal.ltp_ltd()
    pulse_width_s = float(cal.pulse_widths_s[0])
    written: list[Path] = []

    def dump(name: str, data: Any) -> None:
        written.append(atomic_write_text(out / name, json.dumps(data, indent=2)))

    if fmt in ("neurosim", "all"):
        dump("neurosim.json", neurosim_export(ltp, ltd, cal.params))
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

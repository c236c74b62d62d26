"""Device-level figures. Each function takes data (and ``ax=None``) and returns the Figure;
none computes physics beyond evaluating the model it is handed. :func:`make_figures` draws
every figure of a device folder (``mttmat ecram``, the main job's ``device/``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mttmat.device.calibrate import PulseTrace
from mttmat.device.model import EcramModel
from mttmat.device.mtt import MttTransfer
from mttmat.device.parameters import EcramParameters, ParameterError
from mttmat.device.report import fitted_transfer

__all__ = [
    "make_figures",
    "plot_conductance_vs_li",
    "plot_ltp_ltd",
    "plot_retention",
    "plot_transfer_functions",
    "plot_voc",
    "retention_curves",
]


def _fig_ax(ax: Axes | None, size: tuple[float, float] = (4.5, 3.4)) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=size, layout="constrained")
        return fig, ax
    return ax.figure, ax


def plot_ltp_ltd(traces: Mapping[str, np.ndarray], n_pulses: int, ax: Axes | None = None) -> Figure:
    """Conductance (µS) vs pulse number through LTP then LTD (Fig. 3d style)."""
    fig, ax = _fig_ax(ax)
    for label, g in traces.items():
        ax.plot(np.arange(len(g)), np.asarray(g) * 1e6, ".", ms=2.5, label=label)
    ax.axvline(n_pulses, color="0.6", lw=0.8, ls="--")
    ax.set(xlabel="pulse number", ylabel="conductance (µS)", title="LTP / LTD")
    ax.legend(frameon=False, fontsize=8)
    return fig


def plot_conductance_vs_li(
    x_li: np.ndarray, g_s: Mapping[str, np.ndarray], ax: Axes | None = None
) -> Figure:
    """Channel conductance vs Li content x (Li per W/Nb)."""
    fig, ax = _fig_ax(ax)
    for label, g in g_s.items():
        ax.plot(x_li, np.asarray(g) * 1e6, label=label)
    ax.set(xlabel="x (Li per metal)", ylabel="G (µS)", title="conductance vs Li content")
    ax.legend(frameon=False, fontsize=8)
    return fig


def plot_voc(x_li: np.ndarray, voc: Mapping[str, np.ndarray], ax: Axes | None = None) -> Figure:
    """Open-circuit voltage V_oc(x) vs Li/Li⁺ from the site-energy statistics."""
    fig, ax = _fig_ax(ax)
    for label, v in voc.items():
        ax.plot(x_li, v, label=label)
    ax.set(xlabel="x (Li per metal)", ylabel="V_oc (V vs Li/Li⁺)", title="open-circuit voltage")
    ax.legend(frameon=False, fontsize=8)
    return fig


def plot_transfer_functions(
    w_h: np.ndarray, curves: Mapping[str, np.ndarray], ax: Axes | None = None
) -> Figure:
    """MTT weight-transfer W_b(W_h) for several K (Fig. S11c style)."""
    fig, ax = _fig_ax(ax)
    for label, w_b in curves.items():
        ax.plot(w_h, w_b, label=label)
    ax.plot(w_h, np.sign(w_h), color="k", lw=0.8, ls=":", label="sign")
    ax.set(xlabel="hidden weight W_h", ylabel="binary weight W_b", title="MTT transfer")
    ax.legend(frameon=False, fontsize=8)
    return fig


def plot_retention(t_s: np.ndarray, g_s: Sequence[np.ndarray], ax: Axes | None = None) -> Figure:
    """Conductance of several programmed states vs time at V_G = 0 (Fig. 3i style)."""
    fig, ax = _fig_ax(ax)
    for g in g_s:
        ax.semilogx(t_s, np.asarray(g) * 1e6)
    ax.set(xlabel="time (s)", ylabel="G (µS)", title="retention")
    return fig


def plot_accuracy_vs_k(
    k_values: Sequence[float], accuracy: Sequence[float], ax: Axes | None = None
) -> Figure:
    """Network accuracy vs the MTT on/off ratio K."""
    fig, ax = _fig_ax(ax)
    ax.semilogx(k_values, np.asarray(accuracy) * 100, "o-")
    ax.set(xlabel="K (on/off ratio)", ylabel="test accuracy (%)", title="accuracy vs K")
    return fig


def retention_curves(
    params: EcramParameters, theta_lo: float, theta_hi: float, n_states: int = 16
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Conductance of ``n_states`` devices spread over the window, relaxing at rest (1 s to
    10^6 s, the model's retention)."""
    m = EcramModel(params, n_devices=n_states, variation=False)
    m.theta[:] = np.linspace(theta_lo, theta_hi, n_states)
    times = np.geomspace(1.0, 1e6, 25)
    g = [m.conductance().copy()]
    last = 0.0
    for t in times:
        m.rest(t - last, n_steps=20)
        last = t
        g.append(m.conductance().copy())
    g_arr = np.array(g[1:])
    return times, [g_arr[:, i] for i in range(n_states)]


def make_figures(device_dir: str | Path) -> list[Path]:
    """(Re)draw every device figure from the files of a finished run (no recomputation
    beyond evaluating the stored model parameters). Returns the PNG paths."""
    import matplotlib.pyplot as plt

    device_dir = Path(device_dir)
    summary_path = device_dir / "device_summary.json"
    if not summary_path.is_file():
        raise ParameterError(f"{device_dir} has no device_summary.json: not a device run folder")
    summary = json.loads(summary_path.read_text())
    mats = list(summary["materials"])
    params = {m: EcramParameters.from_json(device_dir / f"ecram_parameters_{m}.json") for m in mats}
    n_pulses = int(summary["targets"]["n_pulses"])
    figs = {}
    traces = {}
    for m in mats:
        trace_csv = device_dir / "exports" / m / "pulse_trace.csv"
        if trace_csv.is_file():
            traces[m] = PulseTrace.from_csv(trace_csv).conductance_s
    if traces:
        figs["ltp_ltd"] = plot_ltp_ltd(traces, n_pulses)
    th = np.linspace(0.0, 1.0, 200)
    x_li = {m: th * params[m].x_max.value for m in mats}
    models = {m: EcramModel(params[m], variation=False) for m in mats}
    figs["g_vs_x"] = plot_conductance_vs_li(
        x_li[mats[0]], {m: models[m].conductance(th) for m in mats}
    )
    figs["voc"] = plot_voc(
        x_li[mats[0]], {m: models[m].voc_curve.voc(np.clip(th, 1e-4, 1 - 1e-4)) for m in mats}
    )
    w = np.linspace(-1, 1, 401)
    curves = {f"K = {k:g}": MttTransfer.symmetric(k)(w) for k in (1, 5, 20, 100)}
    ref_dir = device_dir / "exports" / summary["reference"]
    if (ref_dir / "mtt_transfer.json").is_file():
        curves["device fit"] = fitted_transfer(ref_dir)(w)
    figs["transfer"] = plot_transfer_functions(w, curves)
    lo, hi = summary["theta_window"]
    times, g_ret = retention_curves(params[summary["reference"]], lo, hi)
    figs["retention"] = plot_retention(times, g_ret)
    if "k_sweep" in summary:
        figs["accuracy_vs_k"] = plot_accuracy_vs_k(
            summary["k_sweep"]["K"], summary["k_sweep"]["accuracy"]
        )
    fig_dir = device_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figs.items():
        paths.append(fig_dir / f"{name}.png")
        fig.savefig(paths[-1], dpi=130)
        plt.close(fig)
    return paths

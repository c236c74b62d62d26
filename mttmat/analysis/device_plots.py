"""Device-level figures. Each function takes data (and ``ax=None``) and returns the Figure;
none computes physics beyond evaluating the model it is handed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "plot_conductance_vs_li",
    "plot_ltp_ltd",
    "plot_retention",
    "plot_transfer_functions",
    "plot_voc",
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

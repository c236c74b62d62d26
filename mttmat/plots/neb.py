"""Li migration figures: NEB energy profile with its force fit (Fig. 2j), barrier histogram,
the hop network coloured by barrier. Documents in (dicts as stored), Figure out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mttmat.plots.device import _fig_ax

__all__ = ["plot_barrier_histogram", "plot_neb_profile", "plot_network", "save_neb_figures"]


def plot_neb_profile(docs: Sequence[dict[str, Any]], ax: Any = None) -> Figure:
    """Energy along the path (images as points, ASE's force-based spline fit as lines)."""
    fig, ax = _fig_ax(ax, (5.0, 3.6))
    for d in docs:
        fit = d["fit"]
        e0 = fit["energies_ev"][0]
        label = f"{d['backend']} ({d['seed']} seed): {d['barrier_forward_ev']:.2f} eV"
        (line,) = ax.plot(fit["fit_path_a"], np.asarray(fit["fit_energies_ev"]) - e0, lw=1.2)
        ax.plot(fit["path_a"], np.asarray(fit["energies_ev"]) - e0, "o", color=line.get_color(),
                ms=4, label=label)  # fmt: skip
        ci = d["climbing_index"]
        ax.plot(fit["path_a"][ci], fit["energies_ev"][ci] - e0, "*", color=line.get_color(), ms=10)
    ax.set(xlabel="reaction coordinate (Å)", ylabel="E − E_initial (eV)",
           title="Li migration (CI-NEB; ★ climbing image)")  # fmt: skip
    ax.legend(frameon=False, fontsize=7)
    return fig


def plot_barrier_histogram(network: dict[str, Any], ax: Any = None) -> Figure:
    """Histogram of hop barriers with the percolation barrier marked."""
    fig, ax = _fig_ax(ax, (4.5, 3.4))
    b = [h["barrier_ev"] for h in network["hops"]]
    ax.hist(b, bins=max(5, len(b) // 2), color="tab:blue", alpha=0.8)
    perc = network["percolation_barrier_ev"]
    for key, ls in (("any", ":"), ("all", "--")):
        if perc.get(key) is not None:
            ax.axvline(
                perc[key], color="k", ls=ls, lw=1, label=f"percolation ({key}) {perc[key]:.2f} eV"
            )
    ax.set(xlabel="hop barrier (eV)", ylabel="hops", title="barrier distribution")
    ax.legend(frameon=False, fontsize=7)
    return fig


def plot_network(network: dict[str, Any], lattice: np.ndarray, ax: Any = None) -> Figure:
    """Sites and hops projected on the a–b plane, hops coloured by barrier."""
    fig, ax = _fig_ax(ax, (4.8, 4.2))
    lat = np.asarray(lattice)
    f = np.asarray(network["sites_frac"], float)
    xyz = f @ lat
    b = np.array([h["barrier_ev"] for h in network["hops"]])
    norm = plt.Normalize(b.min() if len(b) else 0, b.max() if len(b) else 1)
    cmap = plt.get_cmap("viridis")
    for h, e in zip(network["hops"], b, strict=False):
        start = xyz[h["i"]]
        end = (f[h["j"]] + np.asarray(h["image"])) @ lat
        ax.plot([start[0], end[0]], [start[1], end[1]], color=cmap(norm(e)), lw=2)
    ax.scatter(xyz[:, 0], xyz[:, 1], c="tab:red", s=25, zorder=3, label="Li sites")
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]) @ lat[:2, :2]
    ax.plot(corners[:, 0], corners[:, 1], color="0.6", lw=0.8)
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, label="barrier (eV)")
    ax.set(xlabel="x (Å)", ylabel="y (Å)", title="Li hop network", aspect="equal")
    return fig


def save_neb_figures(
    hop_docs: Sequence[dict[str, Any]],
    network: dict[str, Any] | None,
    lattice: np.ndarray | None,
    out_dir: str | Path,
) -> list[Path]:
    """neb_profile.png, and with a network: barrier_histogram.png and network.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figs = {"neb_profile.png": plot_neb_profile(hop_docs)}
    if network is not None:
        figs["barrier_histogram.png"] = plot_barrier_histogram(network)
        if lattice is not None:
            figs["network.png"] = plot_network(network, lattice)
    paths = []
    for name, fig in figs.items():
        fig.savefig(out / name, dpi=150)
        plt.close(fig)
        paths.append(out / name)
    return paths

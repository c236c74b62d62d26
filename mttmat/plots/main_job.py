"""Every figure of a finished main job (``mttmat run``), drawn from its result files only.

``save_main_job_figures(results_dir)`` reads the per-material JSON files the run wrote
(``<material>/melt_quench.json``, ``li_sites.json``, ``dos.json``, ``li_dos_summary.json``,
``li_formation.json``, ``neb.json``) and ``device/``; nothing is recomputed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mttmat.plots.common import save_figure
from mttmat.plots.defects import save_formation_figures
from mttmat.plots.device import make_figures
from mttmat.plots.dos import plot_li_electron, save_li_dos_figures
from mttmat.plots.finetune import plot_parity
from mttmat.plots.melt_quench import save_melt_quench_figures

__all__ = ["plot_band_profile", "save_main_job_figures"]


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def plot_band_profile(neb: dict[str, Any], title: str) -> Any:
    """Every ML band of the hop network on one absolute scale (0 = the lowest site), the
    percolation saddle S*, and the DFT energies on the limiting band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    net, band = neb["network"], neb.get("band")
    sites = [s["energy_ev"] for s in net["sites"]]
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for h in net["hops"]:
        b = net["bands"][h["neb_index"]]
        fit = b["fit"]
        e0 = fit["energies_ev"][0] - sites[h["i"]]
        t = np.asarray(fit["fit_path_a"]) / max(fit["fit_path_a"][-1], 1e-9)
        lim = h["neb_index"] == net["limiting_hop"]
        line = ax.plot(t, np.asarray(fit["fit_energies_ev"]) - e0, lw=2.0 if lim else 0.9)[0]
        lab = (
            f"hop {h['neb_index']} {h['i']}→{h['j']} ({h['length_a']:.1f} Å)"
            + (" limiting" if lim else "")
            + ("" if h["has_saddle"] else ", no saddle")
        )
        x = np.asarray(fit["path_a"]) / max(fit["path_a"][-1], 1e-9)
        ax.plot(x, np.asarray(fit["energies_ev"]) - e0, "o", ms=3, color=line.get_color(),
                label=lab)  # fmt: skip
    if band is not None:
        lim = net["hops"][net["limiting_hop"]]
        e = np.asarray(band["energies_ev"], float)
        # on the sites' scale, anchored at the hop's lower end as the barrier is
        if sites[lim["i"]] <= sites[lim["j"]]:
            e = e + sites[lim["i"]]
        else:
            e = e - e[-1] + sites[lim["j"]]
        x = np.asarray(band.get("path_a") or np.linspace(0, 1, len(e)), float)
        t = x / max(x[-1], 1e-9)
        lab = f"{band['backend']} on the limiting band: {band.get('verdict', '')}"
        ax.plot(t, e, "s--", color="k", ms=5, lw=0.8, label=lab)
    if net.get("percolation_barrier_ev") is not None:
        p = net["percolation"][net["direction"]]
        lab = f"S* (ML): E_perc = {p['barrier_ev']:.2f} eV ({net['direction']})"
        ax.axhline(p["saddle_ev"], color="tab:red", ls=":", lw=1, label=lab)
    ax.set(xlabel="reaction coordinate (fraction of the hop)",
           ylabel="E − E(lowest site) (eV)")  # fmt: skip
    ax.set_title(title, fontsize=9)
    ax.legend(frameon=False, fontsize=6)
    return fig


def save_main_job_figures(results: str | Path, device_figures: bool = True) -> list[Path]:
    """Draw every figure of the run in ``results``; returns the PNG paths."""

    out = Path(results)
    materials = sorted(p.parent.name for p in out.glob("*/li_formation.json"))
    if not materials:
        raise FileNotFoundError(f"{out} holds no finished main-job material (*/li_formation.json)")
    paths: list[Path] = []
    formation = {}
    for m in materials:
        folder, figs = out / m, out / m / "figures"
        mq = _load(folder / "melt_quench.json")
        if mq is not None:
            paths += save_melt_quench_figures(mq["stages"], mq["cell"], None, figs)
        dos = _load(folder / "dos.json")
        summary = _load(folder / "li_dos_summary.json")
        electron = _load(folder / "li_electron.json")
        cells = {c["label"]: c for c in summary["cells"]}
        g = electron["ground_state"]
        paths += save_li_dos_figures(
            _load(folder / "li_sites.json"), dos["host"], [dos[g]],
            {**summary, "cells": [cells[g]]}, figs, sites_figure=False,
        )  # fmt: skip
        fig = plot_li_electron(dos, cells, electron)
        paths.append(save_figure(fig, figs / "li_electron.png"))
        net = _load(folder / "neb.json")
        title = f"{m}: {len(net['network']['hops'])} Li hops between the lowest sites"
        fig = plot_band_profile(net, title)
        paths.append(save_figure(fig, figs / "neb_profile.png"))
        formation[m] = _load(folder / "li_formation.json")
        ft = _load(folder / "finetune.json")
        pairs = (ft or {}).get("finetune", {}).get("heldout_pairs")
        if pairs:
            paths.append(plot_parity(pairs, figs / "parity.png", m))
    paths += save_formation_figures(formation, out / "figures")
    if device_figures and (out / "device" / "device_summary.json").is_file():
        paths += make_figures(out / "device")
    return paths

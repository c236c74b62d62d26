"""Figures of the Li-site / DOS stage (Fig. 2h, 2i, S4 of the paper, plus the screening).

All functions take documents as dicts (from the store or the JSON files the CLI writes), so
``analysis/plot_li_dos.py`` redraws them without recomputing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mttmat.plots.common import save_figure

__all__ = ["plot_li_electron", "save_li_dos_figures"]

_COLORS = {"W": "tab:blue", "Nb": "tab:green", "O": "tab:red", "Li": "tab:purple"}


def _arr(doc: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(doc["energies_ev"]), np.asarray(doc["total"]).sum(axis=0)


def _ymax(ax, window: tuple[float, float]) -> None:
    """y range from what lies inside the plotted energy window."""
    top = 0.0
    for line in ax.get_lines():
        x, y = (np.asarray(v, float) for v in line.get_data())
        m = (x >= window[0]) & (x <= window[1])
        if m.any() and y.size == x.size:
            top = max(top, float(y[m].max()))
    for coll in ax.collections:
        for path in coll.get_paths():
            v = path.vertices
            m = (v[:, 0] >= window[0]) & (v[:, 0] <= window[1])
            if m.any():
                top = max(top, float(v[m, 1].max()))
    ax.set_ylim(0, 1.1 * top if top > 0 else 1.0)


def _main_channels(doc: dict[str, Any]) -> list[str]:
    want = []
    for name in doc["pdos"]:
        el, ell = name.split(":")
        if (el, ell) in {("W", "d"), ("Nb", "d"), ("O", "p"), ("Li", "s")}:
            want.append(name)
    return want


def save_li_dos_figures(
    screening: dict[str, Any],
    host: dict[str, Any],
    doped: list[dict[str, Any]],
    summary: dict[str, Any],
    outdir: str | Path,
    window: tuple[float, float] = (-8.0, 4.0),
    sites_figure: bool = True,
) -> list[Path]:
    """dos.png (doped vs host, E_F at 0), pdos.png, dos_sites.png (``sites_figure``),
    li_sites.png. The first doped cell is the one dos.png and pdos.png show."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    cells = summary["cells"]
    d0, c0 = doped[0], cells[0]
    ef = d0["fermi_level_ev"]
    shift = c0["host_vbm_aligned_ev"] - host["vbm_ev"]  # host scale → doped-cell scale

    # Fig. 2h + undoped comparison: total DOS, E_F of the doped cell at 0
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    en, tot = _arr(d0)
    ax.fill_between(en - ef, tot, color="0.75", label=f"{d0['formula']} ({c0['label']})")
    hen, htot = _arr(host)
    ax.plot(hen + shift - ef, htot, color="k", lw=1.0, label=f"host {host['formula']} (aligned)")
    ax.axvline(0.0, color="tab:red", ls="--", lw=1, label="$E_F$ (doped)")
    ax.axvline(c0["host_cbm_aligned_ev"] - ef, color="tab:blue", ls=":", lw=1, label="host CBM")
    ax.set(xlim=window, xlabel="E − E$_F$ (eV)", ylabel="DOS (states/eV/cell)",
           title=f"Li-doped {host['formula']}: E$_F$ − CBM$_{{host}}$ = "
           f"{c0['fermi_above_host_cbm_ev']:+.2f} eV")  # fmt: skip
    _ymax(ax, window)
    ax.legend(fontsize=7, frameon=False)
    paths.append(save_figure(fig, out / "dos.png"))

    # Fig. 2i: PDOS W/Nb d, O p, Li s
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name in _main_channels(d0):
        y = np.asarray(d0["pdos"][name]).sum(axis=0)
        li = name.startswith("Li")
        ax.plot(en - ef, y * (10 if li else 1), color=_COLORS.get(name.split(":")[0]),
                label=name.replace(":", " ") + (" ×10" if li else ""))  # fmt: skip
    ax.plot(en - ef, tot, color="0.6", lw=0.8, label="total")
    ax.axvline(0.0, color="k", ls="--", lw=1)
    ax.set(xlim=window, xlabel="E − E$_F$ (eV)", ylabel="PDOS (states/eV/cell)",
           title=f"PDOS ({d0['pdos_method'].split(':')[0]})")  # fmt: skip
    _ymax(ax, window)
    ax.legend(fontsize=7, frameon=False)
    paths.append(save_figure(fig, out / "pdos.png"))

    if sites_figure:  # Fig. S4: DOS for every Li site, each with its own E_F at 0
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for d, c in zip(doped, cells, strict=True):
            e, t = _arr(d)
            ax.plot(e - d["fermi_level_ev"], t, lw=1, label=c["label"])
        ax.axvline(0.0, color="k", ls="--", lw=1)
        ax.set(
            xlim=window,
            xlabel="E − E$_F$ (eV)",
            ylabel="DOS (states/eV/cell)",
            title=f"Li at different sites: min similarity {summary['min_site_similarity']:.2f}",
        )
        _ymax(ax, window)
        ax.legend(fontsize=7, frameon=False)
        paths.append(save_figure(fig, out / "dos_sites.png"))

    # screening: relative ML energy of every candidate
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    cands = [c for c in screening["candidates"] if c.get("relative_energy_ev") is not None]
    x = [c["index"] for c in cands]
    y = [c["relative_energy_ev"] for c in cands]
    col = ["tab:red" if c["selected"] else ("0.75" if c["duplicate_of"] is not None else "0.35")
           for c in cands]  # fmt: skip
    ax.bar(x, y, color=col)
    ax.set(xlabel="candidate (largest void first)", ylabel="E − E$_{min}$ (eV)",
           title=f"{screening['backend']} screening: {screening['n_unique_sites']} distinct sites "
           "(red: selected, light: duplicate)")  # fmt: skip
    ax.title.set_fontsize(8)
    paths.append(save_figure(fig, out / "li_sites.png"))
    return paths


def plot_li_electron(
    dos: dict[str, dict[str, Any]],
    cells: dict[str, dict[str, Any]],
    electron: dict[str, Any],
    window: tuple[float, float] = (-5.0, 3.0),
) -> Any:
    """Band and polaron solutions of Li_i^0 side by side: spin-resolved DOS (up > 0, down
    < 0; a spin-paired cell shows half its DOS in each), on the host-CBM scale (0 = aligned
    host CBM), with E_F, the host band edges, and the highest occupied level marked (a gap
    state when it lies below the CBM)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [lab for lab in ("band", "polaron") if lab in dos]
    fig, axes = plt.subplots(1, len(labels), figsize=(4.2 * len(labels), 3.8), sharey=True)
    axes = np.atleast_1d(axes)
    sols = {x["label"]: x for x in electron["solutions"]}
    mx = max(float(np.abs(np.asarray(dos[lab]["total"])).max()) for lab in labels)
    for ax, lab in zip(axes, labels, strict=True):
        d, c, sol = dos[lab], cells[lab], sols[lab]
        x = np.asarray(d["energies_ev"]) - c["host_cbm_aligned_ev"]
        tot = np.asarray(d["total"], float)
        up, down = (tot[0], tot[1]) if len(tot) == 2 else (tot[0] / 2, tot[0] / 2)
        ax.fill_between(x, up, color="tab:blue", alpha=0.5, lw=0, label="spin up")
        ax.fill_between(x, -down, color="tab:orange", alpha=0.5, lw=0, label="spin down")
        ax.axhline(0, color="k", lw=0.5)
        ax.axvspan(c["host_vbm_aligned_ev"] - c["host_cbm_aligned_ev"], 0.0, color="0.93",
                   zorder=0, label="host gap")  # fmt: skip
        ax.axvline(sol["fermi_above_host_cbm_ev"], color="tab:red", ls="--", lw=1,
                   label=f"E$_F$ ({sol['fermi_above_host_cbm_ev']:+.2f} eV)")  # fmt: skip
        ho = sol["highest_occupied_above_host_cbm_ev"]
        if ho < 0:
            ax.annotate(f"occupied gap state {ho:+.2f} eV", xy=(ho, 0), xytext=(ho, 0.45 * mx),
                        fontsize=7, ha="center",
                        arrowprops={"arrowstyle": "->", "lw": 0.8})  # fmt: skip
        de = sol["total_energy_ev"] - min(s["total_energy_ev"] for s in sols.values())
        ground = " (ground state)" if lab == electron["ground_state"] else ""
        m = sol.get("max_local_moment_mub")
        ax.set_title(f"{lab}{ground}: E − E$_{{min}}$ = {de:.3f} eV\n"
                     f"{sol['electrons_above_host_cbm_per_li']:.2f} e/Li above CBM"
                     + (f", max moment {m:.2f} μ$_B$" if m is not None else ""),
                     fontsize=8)  # fmt: skip
        ax.set_xlim(window)
        ax.set_xlabel("E − host CBM (eV)")
        ax.legend(fontsize=6, frameon=False, loc="lower left")
    axes[0].set_ylabel("DOS (states/eV/cell), down < 0")
    axes[0].set_ylim(-0.6 * mx, 0.6 * mx)
    fig.suptitle(f"{dos[labels[0]]['formula']}: Li_i$^0$, band vs polaron", fontsize=9)
    return fig

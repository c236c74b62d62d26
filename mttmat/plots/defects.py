"""Li_i formation energy vs Fermi level, host by host side by side (Fig. S5), and the table.

Takes :class:`~mttmat.schemas.defects.LiFormationDoc` dicts keyed by a label ("a-WOx"), so
``analysis/plot_li_formation.py`` redraws everything from the JSON the CLI writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mttmat.plots.common import save_figure

__all__ = ["comparison_markdown", "comparison_rows", "save_formation_figures"]


def _envelope(site: dict[str, Any], ef: np.ndarray) -> np.ndarray:
    lines = [s["formation_energy_vbm_ev"] + s["q"] * ef for s in site["states"]]
    return np.min(lines, axis=0)


def comparison_rows(docs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per host: the numbers of the side-by-side comparison (eV, V)."""
    rows = []
    for label, d in docs.items():
        st0 = d["stats_by_q"].get("+0", {})
        st1 = d["stats_by_q"].get("+1", {})
        eps = d.get("transition_level_stats") or {}
        v = d.get("voltage_one_li_v") or {}
        rows.append({
            "host": label,
            "formula": d["host_formula"],
            "gap_ev": d["host_band_gap_ev"],
            "n_sites": len(d["sites"]),
            "Ef0_min_ev": st0.get("min"),
            "Ef0_boltzmann_ev": st0.get("boltzmann_mean"),
            "Ef0_std_ev": st0.get("std"),
            "Ef1_vbm_min_ev": st1.get("min"),
            "eps_plus0_mean_ev": eps.get("mean"),
            "voltage_max_v": v.get("max"),
            "voltage_multi_v": d.get("voltage_multi_li_v"),
            "dielectric": d["dielectric"],
        })  # fmt: skip
    return rows


def comparison_markdown(docs: dict[str, dict[str, Any]]) -> str:
    """The comparison table as Markdown."""
    head = ("| host | gap (eV) | sites | E_f(0) min (eV) | E_f(0) Boltzmann 300 K (eV) | "
            "σ (eV) | ε(+/0) mean (eV above VBM) | V max (V) | ε |")  # fmt: skip
    out = [head, "|" + "---|" * 9]

    def f(x: Any, nd: int = 3) -> str:
        return "–" if x is None else f"{x:.{nd}f}"

    for r in comparison_rows(docs):
        out.append(
            f"| {r['host']} ({r['formula']}) | {f(r['gap_ev'], 2)} | {r['n_sites']} | "
            f"{f(r['Ef0_min_ev'])} | {f(r['Ef0_boltzmann_ev'])} | {f(r['Ef0_std_ev'])} | "
            f"{f(r['eps_plus0_mean_ev'])} | {f(r['voltage_max_v'])} | {r['dielectric']:g} |"
        )
    return "\n".join(out) + "\n"


def save_formation_figures(docs: dict[str, dict[str, Any]], outdir: str | Path) -> list[Path]:
    """formation_energy.png (one panel per host, E_F from VBM to CBM) and
    formation_distribution.png (E_f(q=0) of every site per host)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    n = len(docs)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), sharey=True, squeeze=False)
    for ax, (label, d) in zip(axes[0], docs.items(), strict=True):
        gap = max(d["host_band_gap_ev"], 0.5)
        ef = np.linspace(0.0, gap, 200)
        envs = [_envelope(s, ef) for s in d["sites"]]
        best = int(np.argmin([e.min() for e in envs]))
        for k, (s, e) in enumerate(zip(d["sites"], envs, strict=True)):
            ax.plot(ef, e, color="tab:red" if k == best else "0.6", lw=2 if k == best else 0.8,
                    label="lowest site" if k == best else ("other sites" if k == (best == 0)
                                                            else None))  # fmt: skip
            if s.get("transition_level_ev") is not None and 0 <= s["transition_level_ev"] <= gap:
                x = s["transition_level_ev"]
                ax.plot([x], [np.interp(x, ef, e)], "o", ms=3, color="k")
        ax.axvline(d["host_band_gap_ev"], color="tab:blue", ls=":", lw=1)
        ax.set(xlabel="E$_F$ − E$_{VBM}$ (eV)", title=f"{label} ({d['host_formula']})")
        ax.title.set_fontsize(9)
    axes[0][0].set_ylabel("E$_f$(Li$_i$) (eV)")
    axes[0][0].legend(fontsize=7, frameon=False)
    paths = [save_figure(fig, out / "formation_energy.png")]

    fig, ax = plt.subplots(figsize=(1.8 + 1.4 * n, 3.2))
    for k, d in enumerate(docs.values()):
        e0 = [s["intercalation_energy_ev"] for s in d["sites"]
              if s.get("intercalation_energy_ev") is not None]  # fmt: skip
        ax.plot(np.full(len(e0), k) + np.linspace(-0.1, 0.1, len(e0)), e0, "o", ms=4)
        if e0:
            ax.hlines(np.min(e0), k - 0.25, k + 0.25, color="k", lw=1)
    ax.set_xticks(range(n), list(docs), fontsize=8)
    ax.set(ylabel="E$_f$(Li$_i^0$) = ΔE$_{ins}$ (eV)", title="Li$^0$ over sites (bar: min)")
    ax.title.set_fontsize(9)
    paths.append(save_figure(fig, out / "formation_distribution.png"))
    return paths

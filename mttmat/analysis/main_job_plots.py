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

from mttmat.analysis.dos import save_figure

__all__ = ["plot_band_profile", "save_main_job_figures"]


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def plot_band_profile(neb: dict[str, dict[str, Any]], title: str) -> Any:
    """ML CI-NEB profile (images and ASE's force fit) with the DFT energies on its images."""
    import matplotlib

    from mttmat.analysis.hops import has_saddle

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    ml = next((d for d in neb.values() if "fit" in d and d.get("backend") != "gpaw"), None)
    if ml is not None:
        fit = ml["fit"]
        e0 = fit["energies_ev"][0]
        ax.plot(fit["fit_path_a"], np.asarray(fit["fit_energies_ev"]) - e0, color="tab:blue",
                lw=1.2)  # fmt: skip
        ax.plot(fit["path_a"], np.asarray(fit["energies_ev"]) - e0, "o", color="tab:blue", ms=4,
                label=f"{ml['backend']} CI-NEB: {ml['barrier_forward_ev']:.2f} eV")  # fmt: skip
        ci = ml["climbing_index"]
        ax.plot(fit["path_a"][ci], fit["energies_ev"][ci] - e0, "*", color="tab:blue", ms=10)
    for name, d in neb.items():
        if "energies_ev" in d and "fit" not in d:  # DFT single points on the ML band
            x = ml["fit"]["path_a"] if ml is not None else d["path_a"]
            e = np.asarray(d["energies_ev"], float)
            what = (f"E_a {d['barrier_forward_ev']:.2f} eV" if has_saddle(e)
                    else f"no saddle, ΔE {e[-1] - e[0]:+.2f} eV")  # fmt: skip
            ax.plot(x, d["energies_ev"], "s--", color="tab:red", ms=5, lw=0.8,
                    label=f"{d['backend']} on the band (q={d['charge']:+g}): {what}")  # fmt: skip
        elif "fit" in d and d is not ml:  # a DFT CI-NEB
            fit = d["fit"]
            e0 = fit["energies_ev"][0]
            ax.plot(fit["fit_path_a"], np.asarray(fit["fit_energies_ev"]) - e0, color="tab:red")
            ax.plot(fit["path_a"], np.asarray(fit["energies_ev"]) - e0, "s", color="tab:red",
                    label=f"{name}: {d['barrier_forward_ev']:.2f} eV")  # fmt: skip
    ax.set(xlabel="reaction coordinate (Å)", ylabel="E − E_initial (eV)", title=title)
    ax.legend(frameon=False, fontsize=7)
    return fig


def save_main_job_figures(results: str | Path, device_figures: bool = True) -> list[Path]:
    """Draw every figure of the run in ``results``; returns the PNG paths."""
    from mttmat.analysis.defect_plots import save_formation_figures
    from mttmat.analysis.dos_plots import save_li_dos_figures
    from mttmat.analysis.melt_quench_plots import save_melt_quench_figures

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
        paths += save_li_dos_figures(
            _load(folder / "li_sites.json"), dos["host"], [dos["site 1"]],
            _load(folder / "li_dos_summary.json"), figs,
        )  # fmt: skip
        title = f"{m}: Li hop, lowest site → nearest distinct site"
        fig = plot_band_profile(_load(folder / "neb.json"), title)
        paths.append(save_figure(fig, figs / "neb_profile.png"))
        formation[m] = _load(folder / "li_formation.json")
    paths += save_formation_figures(formation, out / "figures")
    if device_figures and (out / "device" / "device_summary.json").is_file():
        from mttmat.device.report import make_figures

        paths += make_figures(out / "device")
    return paths

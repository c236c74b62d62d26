"""Melt-quench figures: schedule trace, RDF crystal vs amorphous, bond angles, snapshots.

Functions take documents (dicts as stored) and ``ax=None``; they return the Figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from pymatgen.core import Structure

from mttmat.analysis.amorphous import rdf
from mttmat.plots.device import _fig_ax

__all__ = [
    "plot_angles",
    "plot_rdf_comparison",
    "plot_schedule",
    "plot_snapshots",
    "save_melt_quench_figures",
]

_STAGE_COLORS = {"init": "tab:blue", "melt": "tab:red", "quench": "tab:purple"}


def _get(doc: Any, key: str) -> Any:
    return doc[key] if isinstance(doc, dict) else getattr(doc, key)


def plot_schedule(stages: Sequence[Any]) -> Figure:
    """Temperature (target and instantaneous) and potential energy through the MD stages."""
    fig, (ax_t, ax_e) = plt.subplots(2, 1, figsize=(6, 4.6), sharex=True, layout="constrained")
    t0 = 0.0
    for d in stages:
        log = _get(d, "log")
        t = np.asarray(log["time_ps"]) + t0
        stage = _get(d, "stage")
        c = _STAGE_COLORS.get(stage, "k")
        ax_t.plot(t, log["t_k"], color=c, lw=0.8, label=_get(d, "title"))
        ax_t.plot(t, log["t_target_k"], color="k", lw=0.8, ls="--")
        n = _get(d, "n_atoms")
        ax_e.plot(t, np.asarray(log["e_pot_ev"]) / n, color=c, lw=0.8)
        t0 = t[-1] if len(t) else t0
        ax_t.axvline(t0, color="0.7", lw=0.6)
        ax_e.axvline(t0, color="0.7", lw=0.6)
    ax_t.set(ylabel="T (K)", title="melt-quench schedule (dashed: target)")
    ax_t.legend(frameon=False, fontsize=8)
    ax_e.set(xlabel="time (ps)", ylabel="E_pot (eV/atom)")
    return fig


def plot_rdf_comparison(
    cell: Any, parent: Structure | None, ax: Any = None, sigma: float = 0.08
) -> Figure:
    """Total g(r) of the amorphous cell vs the parent crystal (broadened), plus g_MO(r)."""
    fig, ax = _fig_ax(ax, (5.0, 3.6))
    g = _get(cell, "rdf")
    r = np.asarray(g["r"])
    ax.plot(r, g["total"], color="tab:red", label="amorphous (total)")
    for key, vals in g.items():
        if key.endswith("-O") and key != "O-O":
            ax.plot(r, vals, color="tab:orange", lw=0.8, ls=":", label=f"amorphous {key}")
    if parent is not None:
        gp = rdf(parent, r_max=float(r[-1] + (r[1] - r[0]) / 2), dr=float(r[1] - r[0]), sigma=sigma)
        ax.plot(gp.r, gp.total, color="0.3", lw=0.9, label="parent crystal (σ = 0.08 Å)")
    ax.axhline(1.0, color="0.7", lw=0.6)
    ax.set(xlabel="r (Å)", ylabel="g(r)", title="radial distribution", ylim=(0, None))
    ax.legend(frameon=False, fontsize=7)
    return fig


def plot_angles(cell: Any, ax: Any = None) -> Figure:
    """Bond-angle distributions O–M–O and M–O–M (normalised histograms)."""
    fig, ax = _fig_ax(ax, (5.0, 3.4))
    for name, a in _get(cell, "angles").items():
        h = np.asarray(a["histogram"]["counts"], float)
        if h.sum() == 0:
            continue
        ax.plot(a["histogram"]["centers"], h / h.sum(), drawstyle="steps-mid", label=name)
    ax.set(xlabel="angle (deg)", ylabel="fraction", title="bond angles", xlim=(0, 180))
    ax.legend(frameon=False, fontsize=8)
    return fig


def plot_snapshots(structures: dict[str, Structure]) -> Figure:
    """Rendered cells side by side (the paper's Fig. 2g / S3: crystal and amorphous)."""
    from ase.visualize.plot import plot_atoms

    fig, axes = plt.subplots(1, len(structures), figsize=(3.6 * len(structures), 3.6),
                             layout="constrained", squeeze=False)  # fmt: skip
    for ax, (title, s) in zip(axes[0], structures.items(), strict=False):
        atoms = s.to_ase_atoms()
        atoms.wrap()
        plot_atoms(atoms, ax, rotation="15x,-20y,0z", radii=0.5)
        ax.set_title(f"{title}\n{s.composition.formula}", fontsize=9)
        ax.set_axis_off()
    return fig


def save_melt_quench_figures(
    stages: Sequence[Any], cell: Any, parent: Structure | None, out_dir: str | Path
) -> list[Path]:
    """Write schedule.png, rdf.png, angles.png and snapshot.png into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    amorphous = (
        Structure.from_dict(_get(cell, "structure")) if isinstance(cell, dict) else cell.structure
    )
    figs = {
        "schedule.png": plot_schedule(stages) if stages else None,
        "rdf.png": plot_rdf_comparison(cell, parent),
        "angles.png": plot_angles(cell),
        "snapshot.png": plot_snapshots(
            {**({"parent crystal": parent} if parent is not None else {}), "amorphous": amorphous}
        ),
    }
    paths = []
    for name, fig in figs.items():
        if fig is None:
            continue
        fig.savefig(out / name, dpi=150)
        plt.close(fig)
        paths.append(out / name)
    return paths

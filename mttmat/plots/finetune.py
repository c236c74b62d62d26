"""Parity figure of a fine-tuning: held-out DFT frames, pretrained vs fine-tuned CHGNet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mttmat.plots.common import save_figure

__all__ = ["plot_parity"]


def plot_parity(pairs: dict[str, Any], path: str | Path, material: str = "") -> Path:
    """Energy per atom and force components, DFT vs ML, for ``pairs`` (``base`` and
    ``finetuned``, each with ``energy_pairs_ev_atom`` and ``force_pairs_ev_a``)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, key, unit, title in (
        (axes[0], "energy_pairs_ev_atom", "eV/atom", "energy per atom"),
        (axes[1], "force_pairs_ev_a", "eV/Å", "force components"),
    ):
        lo, hi = np.inf, -np.inf
        for name, color in (("base", "0.55"), ("finetuned", "C3")):
            if name not in pairs:
                continue
            xy = np.asarray(pairs[name][key], float)
            mae = float(np.abs(xy[:, 1] - xy[:, 0]).mean())
            label = f"{'pretrained' if name == 'base' else 'fine-tuned'} (MAE {mae:.3g})"
            ax.scatter(xy[:, 0], xy[:, 1], s=8, color=color, label=label, alpha=0.7)
            lo, hi = min(lo, xy.min()), max(hi, xy.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"DFT ({unit})")
        ax.set_ylabel(f"CHGNet ({unit})")
        ax.set_title(f"{material} held-out {title}".strip())
        ax.legend(fontsize=8)
    return save_figure(fig, Path(path))

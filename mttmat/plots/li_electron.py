"""The figure of the band-vs-polaron study (``mttmat li-electron-study``)."""

from __future__ import annotations

from typing import Any

__all__ = ["plot_study"]


def plot_study(doc: dict[str, Any]) -> Any:
    """ΔE(polaron − band) and the Li electron's level − CBM of both solutions against U."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = doc["rows"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.0, 3.6))
    for cell in dict.fromkeys(r["cell"] for r in rows):
        for geom, marker in (("ml", "o"), ("unrelaxed", "^"), ("dft", "s")):
            rr = sorted((r for r in rows if r["cell"] == cell and r["geometry"] == geom),
                        key=lambda r: r["u_ev"])  # fmt: skip
            if not rr:
                continue
            u = [r["u_ev"] for r in rr]
            lab = f"{cell} ({rr[0]['n_atoms']} at.), {geom}"
            a1.plot(u, [r["delta_e_polaron_minus_band_ev"] for r in rr], marker=marker,
                    label=lab)  # fmt: skip
            line = a2.plot(u, [r.get("highest_occupied_minus_cbm_polaron_ev") for r in rr],
                           marker=marker, label=f"{lab}, spin-polarised")[0]  # fmt: skip
            a2.plot(
                u,
                [r["highest_occupied_minus_cbm_band_ev"] for r in rr],
                marker=marker,
                ls="--",
                mfc="none",
                color=line.get_color(),
                label=f"{lab}, spin-paired",
            )
    a1.axhline(0, color="k", lw=0.6)
    a1.set(xlabel="U$_{eff}$ (eV)", ylabel="E(polaron) − E(band) (eV)",
           title="< 0: the localised solution is lower")  # fmt: skip
    a2.axhline(0, color="k", lw=0.6)
    a2.set(xlabel="U$_{eff}$ (eV)", ylabel="Li electron's level − aligned host CBM (eV)",
           title="highest occupied Kohn-Sham level; > 0: in the CB (the paper's)")  # fmt: skip
    for a in (a1, a2):
        a.title.set_fontsize(8)
        a.legend(fontsize=6, frameon=False)
    fig.tight_layout()
    return fig

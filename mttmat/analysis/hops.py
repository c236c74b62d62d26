"""When a NEB band gives a barrier: an interior saddle, at least k_B T above both ends."""

from __future__ import annotations

from typing import Any

import numpy as np

from mttmat.analysis.network import SaddleHop, saddle_percolation

__all__ = [
    "DFT_CI_NEB_ML_SITES",
    "DFT_SADDLE_ML_SITES",
    "SADDLE_MIN_EV",
    "has_saddle",
    "hop_barrier",
    "network_barrier",
    "saddle_verdict",
]


#: a saddle must rise at least this far above both ends of the band (eV): ≈ k_B T at 300 K;
#: a smaller interior bump on a downhill band is noise on a reaction energy, not a barrier
SADDLE_MIN_EV = 0.025


def _interior_max(energies: Any) -> bool:
    e = np.asarray(energies if energies is not None else [], float)
    if len(e) < 3 or not 0 < int(np.argmax(e)) < len(e) - 1:
        return False
    return bool(e.max() - max(e[0], e[-1]) >= SADDLE_MIN_EV)


def saddle_verdict(mig: dict[str, Any]) -> str:
    """One phrase on the hop's saddle: "saddle at image k: E_a = …" or "no saddle: ΔE = …"."""
    e = np.asarray(mig.get("energies_ev") or [], float)
    if len(e) < 2:
        return "no band energies"
    if _interior_max(e):
        k = int(np.argmax(e))
        return f"saddle at image {k} of {len(e) - 1}: E_a = {e[k] - min(e[0], e[-1]):.3f} eV"
    if len(e) >= 3 and 0 < int(np.argmax(e)) < len(e) - 1:
        return (f"no saddle: an interior bump {e.max() - max(e[0], e[-1]):.3f} eV "
                f"(< {SADDLE_MIN_EV} eV) on a band with ΔE = {e[-1] - e[0]:+.3f} eV")  # fmt: skip
    return f"no saddle: the band is monotonic, ΔE = {e[-1] - e[0]:+.3f} eV"


def has_saddle(energies: Any) -> bool:
    """True when the band's highest image is interior and ≥ :data:`SADDLE_MIN_EV` above both
    ends."""
    return _interior_max(energies)


def hop_barrier(mig: dict[str, Any]) -> tuple[float, str, str] | None:
    """(barrier, fidelity, note) of a hop, only from a band with an interior maximum.

    A band whose highest image is an end point has no saddle: its "barrier" is a reaction
    energy and is never used. When the DFT energies on an ML band have no saddle but the ML
    band itself has one, the ML barrier is used (fidelity ``ml``) and the note says so;
    without any saddle the result is None.
    """
    if _interior_max(mig.get("energies_ev")):
        return (max(mig["barrier_forward_ev"], mig["barrier_backward_ev"]),
                mig["fidelity"], "")  # fmt: skip
    ml = np.asarray(mig.get("ml_energies_ev") or [], float)
    if _interior_max(ml):
        top = float(ml.max())
        return (max(top - ml[0], top - ml[-1]), "ml",
                f"; {saddle_verdict(mig)} on the DFT energies, so the ML CI-NEB barrier is "
                "used")  # fmt: skip
    return None


#: fidelity of a percolation barrier whose limiting saddle is a DFT one on an ML band, with
#: ML site energies: neither a DFT nor an ML number, and labelled so
DFT_SADDLE_ML_SITES = "dft saddle on ml band, ml site energies"
#: fidelity of a percolation barrier whose limiting saddle is a DFT CI-NEB's (seeded by ML)
DFT_CI_NEB_ML_SITES = "dft ci-neb saddle, ml site energies"
#: |ΔE_DFT(end − start) − ΔE_ML(site j − site i)| (eV) above which the note flags the hop
END_MISMATCH_EV = 0.05


def network_barrier(
    net: dict[str, Any], band: dict[str, Any] | None
) -> tuple[float | None, str, str, int]:
    """(percolation barrier, fidelity, note, limiting hop) of a hop network with a DFT band.

    ``net`` is a :class:`~mttmat.schemas.hop_network.HopNetworkDoc` (ML saddles and site
    energies); ``band`` the DFT energies on its limiting hop's band (the Li ion, q = +1) or a
    DFT CI-NEB of it. A DFT band with an interior saddle replaces that hop's ML saddle,
    anchored at the hop's lower-energy end (S = E_low(ML) + E_max(DFT) − E_low(DFT)), and the
    percolation is recomputed: fidelity :data:`DFT_SADDLE_ML_SITES` when that hop still
    limits, ``ml`` when another hop takes over. A DFT band without a saddle is never used as
    a barrier: the ML saddle stays, and the note says why. The note also flags a DFT
    reaction energy that disagrees with the ML site energies by more than
    :data:`END_MISMATCH_EV`, and unconverged ML bands. The hops are the shortest ones that
    percolate, not every route: E_perc is an upper bound for these sites.
    """

    hops, sites = net["hops"], net["sites"]
    k = int(net["limiting_hop"])
    lim = hops[k]
    tag = f"hop {lim['i']}→{lim['j']} {tuple(lim['image'])}"
    unconverged = [n for n, h in enumerate(hops) if not h.get("converged", True)]
    head = (f"percolation over {len(hops)} ML hops ({net['selection']}); an upper bound: "
            "other routes between these sites were not computed")  # fmt: skip
    if unconverged:
        head += (f"; ML CI-NEB of hop(s) {unconverged} did not reach its force limit (their "
                 "saddles are estimates)")  # fmt: skip
    if net["direction"] is None:
        return None, "ml", f"{head}: no winding path among them, no percolation barrier", k
    head += f"; direction {net['direction']}"
    value = float(net["percolation_barrier_ev"])
    fidelity = net["fidelity"]
    ml_note = "" if lim["has_saddle"] else (
        f"; the limiting {tag} has no ML saddle ({lim['verdict']}): the barrier is a "
        "site-energy difference"
    )
    if band is None:
        return value, fidelity, f"{head}; limiting {tag}{ml_note}", k
    e = np.asarray(band.get("energies_ev") or [], float)
    ci_neb = "seed" in band  # a CI-NEB document (NebHopDoc), not energies on the ML band
    what = band.get("fidelity", "dft")
    if ci_neb:
        what = f"{what} CI-NEB seeded by the {band['seed']} band"
    e_site = [float(x["energy_ev"]) for x in sites]
    de_ml = e_site[lim["j"]] - e_site[lim["i"]]
    mismatch = ""
    if len(e) >= 2 and abs(float(e[-1] - e[0]) - de_ml) > END_MISMATCH_EV:
        mismatch = (f"; its DFT ΔE(end − start) {e[-1] - e[0]:+.3f} eV differs from the ML "
                    f"site energies' {de_ml:+.3f} eV")  # fmt: skip
    if not _interior_max(e):
        return value, fidelity, (
            f"{head}; limiting {tag}: {saddle_verdict(band)} on the {what}, so its ML saddle "
            f"is used{ml_note}{mismatch}"
        ), k
    # anchor the DFT barrier at the lower-energy end of the hop (ML site energies)
    low_first = e_site[lim["i"]] <= e_site[lim["j"]]
    e_low_ml = min(e_site[lim["i"]], e_site[lim["j"]])
    e_low_dft = float(e[0] if low_first else e[-1])
    s_dft = max(e_low_ml + float(e.max()) - e_low_dft, e_site[lim["i"]], e_site[lim["j"]])
    saddles = [SaddleHop(h["i"], h["j"], tuple(h["image"]), float(h["saddle_ev"])) for h in hops]
    saddles[k] = SaddleHop(lim["i"], lim["j"], tuple(lim["image"]), s_dft)
    perc = saddle_percolation(e_site, saddles)
    res = perc[net["direction"]] or perc["any"]
    if res is None:  # cannot happen: lowering or raising one saddle keeps the winding set
        return value, fidelity, f"{head}; limiting {tag}{ml_note}", k
    k2 = int(res["hop"])
    note = (f"{head}; the {what} of the limiting {tag} ({saddle_verdict(band)}) replaces its ML "
            f"saddle ({lim['barrier_forward_ev']:.3f} eV forward), anchored at its lower end"
            f"{mismatch}")  # fmt: skip
    if k2 != k:
        h2 = hops[k2]
        return float(res["barrier_ev"]), fidelity, (
            f"{note}; hop {h2['i']}→{h2['j']} {tuple(h2['image'])} (ML) then limits"
        ), k2
    return float(res["barrier_ev"]), DFT_CI_NEB_ML_SITES if ci_neb else DFT_SADDLE_ML_SITES, note, k

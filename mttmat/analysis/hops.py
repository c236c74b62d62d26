"""When a NEB band gives a barrier: an interior saddle, at least k_B T above both ends."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["SADDLE_MIN_EV", "has_saddle", "hop_barrier", "saddle_verdict"]


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

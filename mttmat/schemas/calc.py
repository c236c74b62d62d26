"""Output documents of single calculations (static / relax) run through a backend."""

from __future__ import annotations

from typing import Any, Literal

from atomate2.ase.schemas import AseStructureTaskDoc
from pydantic import BaseModel, Field

__all__ = ["CalcTaskDoc", "ElectronicSummary", "band_edges_at_filling"]


class ElectronicSummary(BaseModel):
    """Electronic results of a DFT calculation, in eV and Bohr magnetons."""

    code: str = Field(..., description="DFT code that produced these numbers (gpaw, vasp).")
    fermi_level_ev: float = Field(..., description="Fermi level (eV, code's absolute scale).")
    n_electrons: float = Field(..., description="Number of valence electrons in the cell.")
    charge: float = Field(0.0, description="Net charge of the cell (e); 0 for documents "
                          "made before it was recorded.")
    total_magnetic_moment_mub: float | None = Field(
        None, description="Total magnetic moment of the cell (μ_B); None when not spin-polarised."
    )
    magnetic_moments_mub: list[float] | None = Field(
        None, description="Local (per-atom) magnetic moments (μ_B)."
    )
    vbm_ev: float | None = Field(
        None,
        description="Highest level with occupation > 0.5 (eV); valence-band max of insulators.",
    )
    cbm_ev: float | None = Field(
        None,
        description="Lowest level with occupation < 0.5 (eV); conduction-band min of insulators.",
    )
    band_gap_ev: float | None = Field(
        None, description="max(0, cbm - vbm) over spins and k-points (eV)."
    )
    hubbard_u_ev: dict[str, float] = Field(
        default_factory=dict, description="U_eff (eV) applied per element (Dudarev, d shell)."
    )
    ecut_ev: float | None = Field(None, description="Plane-wave cutoff (eV).")
    kpts: list[int] | None = Field(None, description="Monkhorst-Pack mesh.")
    spin_polarized: bool = Field(False, description="Whether the calculation was spin-polarised.")
    eigenvalues_ev: list[list[list[float]]] | None = Field(
        None, description="Kohn-Sham eigenvalues (eV) as [spin][k-point][band]."
    )
    kpoint_weights: list[float] | None = Field(
        None, description="Weights of the irreducible k-points (sum 1)."
    )
    smearing_ev: float | None = Field(None, description="Fermi-Dirac smearing width (eV).")
    pdos_channels: list[str] | None = Field(
        None, description="PDOS channels 'El:l' (e.g. 'W:d') of pdos_weights' last axis."
    )
    pdos_weights: list[list[list[list[float]]]] | None = Field(
        None,
        description="[spin][k][band][channel] share of each state per channel (sums to 1 per "
        "state): bound-state PAW projector weights normalised per state (GPAW).",
    )
    participation: list[list[list[float]]] | None = Field(
        None, description="[spin][k][band] participation number over the cations (1/Σ p_c²)."
    )
    planar_avg_potential_ev: list[list[float]] | None = Field(
        None,
        description="Planar averages of the electrostatic potential energy of an electron "
        "(eV) along a, b, c (GPAW vHt; the LOCPOT convention), for Freysoldt corrections.",
    )
    restart_file: str | None = Field(
        None, description="Path of the code's restart file (GPAW .gpw) in the job directory."
    )
    log_file: str | None = Field(None, description="Path of the code's text log.")


def band_edges_at_filling(
    eigenvalues_ev: list[list[list[float]]], kpoint_weights: list[float], n_electrons: float
) -> tuple[float, float]:
    """(highest occupied, lowest empty) level when ``n_electrons`` fill the lowest states.

    Used to find the host-like valence-band top of a doped cell (fill it with the host's
    electron count): levels are compared within one cell, so no potential alignment between
    cells is needed.
    """
    nspins = len(eigenvalues_ev)
    levels, weights = [], []
    for spin in eigenvalues_ev:
        for k, bands in enumerate(spin):
            levels.extend(bands)
            weights.extend([kpoint_weights[k] * (2.0 / nspins)] * len(bands))
    order = sorted(range(len(levels)), key=levels.__getitem__)
    filled = 0.0
    for pos, i in enumerate(order):
        filled += weights[i]
        if filled >= n_electrons - 1e-6:
            nxt = order[pos + 1] if pos + 1 < len(order) else i
            return levels[i], levels[nxt]
    raise ValueError(f"not enough bands for {n_electrons} electrons")


class CalcTaskDoc(AseStructureTaskDoc):
    """atomate2's ASE task document plus which backend/fidelity ran it and electronic data."""

    backend: str = Field("", description="mttmat backend name that ran the calculation.")
    fidelity: Literal["ml", "dft", ""] = Field(
        "", description="'ml' (machine-learned potential) or 'dft'."
    )
    electronic: ElectronicSummary | None = Field(
        None, description="Electronic summary (DFT backends only)."
    )

    @classmethod
    def from_ase_doc(
        cls,
        doc: AseStructureTaskDoc,
        backend: str,
        fidelity: str,
        electronic: dict[str, Any] | ElectronicSummary | None = None,
    ) -> CalcTaskDoc:
        fields = {name: getattr(doc, name) for name in type(doc).model_fields}
        if isinstance(electronic, dict):
            electronic = ElectronicSummary(**electronic)
        return cls.model_construct(
            **fields, backend=backend, fidelity=fidelity, electronic=electronic
        )

"""The band and polaron solutions of the Li_i^0 cell (see :mod:`mttmat.jobs.li_electron`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["LiElectronDoc", "LiElectronStudyDoc", "LiSolution"]


class LiSolution(BaseModel):
    """One self-consistent solution of the Li_i^0 cell (energies in eV)."""

    label: str = Field(description="band | polaron")
    treatment: str = Field(description="spin treatment and start of the SCF")
    total_energy_ev: float
    fermi_above_host_cbm_ev: float = Field(description="E_F − aligned host CBM (> 0: in the CB)")
    highest_occupied_above_host_cbm_ev: float = Field(
        description="highest occupied level − aligned host CBM (< 0: a gap state this deep)"
    )
    electrons_above_host_cbm_per_li: float
    electrons_in_gap: float
    total_magnetic_moment_mub: float | None = None
    max_local_moment_mub: float | None = None
    participation: float | None = Field(None, description="cations holding the Li electron")
    localized: bool | None = Field(None, description="the DOS summary's polaron_like verdict")
    static_uuid: str | None = None
    dos_uuid: str | None = None


class LiElectronDoc(BaseModel):
    """Band vs polaron for Li_i^0: both solutions, the ground state, the paper's picture."""

    solutions: list[LiSolution] = Field(description="band first, then polaron")
    delta_e_polaron_minus_band_ev: float = Field(description="< 0: the polaron is lower")
    ground_state: str = Field(description="label of the lower-energy solution (band | polaron)")
    ground_state_name: str = Field(
        "", description="what it is: 'band', 'polaron', or 'spin-polarised (delocalised)' when "
        "the polaron start did not localise",
    )  # fmt: skip
    polaron_localized: bool = Field(
        description="the symmetry-broken start ended localised (a moment ≥ 0.5 μ_B on one "
        "cation or a localised DOS); if not, both starts found one solution"
    )
    n_type: bool = Field(description="the ground state puts ≥ 0.5 e per Li above the host CBM")
    verdict: str = Field(description="one sentence on the paper's n-type picture")
    ground_state_doc: dict[str, Any] = Field(
        description="the single point of the ground state (the formation energy's Li_i^0)"
    )
    uuids: dict[str, str] = Field(default_factory=dict)

    def solution(self, label: str) -> LiSolution:
        """The solution called ``label``."""
        return next(s for s in self.solutions if s.label == label)


class LiElectronStudyDoc(BaseModel):
    """One row per (cell, geometry, U): both solutions and which is lower (eV)."""

    rows: list[dict[str, Any]] = Field(
        description="cell, n_atoms, geometry, u_ev, e_band_ev, e_polaron_ev, "
        "delta_e_polaron_minus_band_ev, ground_state, n_type, polaron_localized, "
        "ef_minus_cbm_band_ev, ef_minus_cbm_polaron_ev, highest_occupied_minus_cbm_{band,"
        "polaron}_ev (Kohn-Sham levels; E_F of a smeared cell with a gap lies between the "
        "highest occupied and lowest empty level), participation_{band,polaron} (cations "
        "holding the Li electron), band_localized, electrons_above_cbm_band, verdict"
    )
    settings: dict[str, Any]

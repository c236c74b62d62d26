"""Documents of the Li site search: every screened candidate, and the selection."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

__all__ = ["LiSiteCandidate", "LiSiteScreeningDoc"]


class LiSiteCandidate(BaseModel):
    """One candidate interstitial site, before and after the ML relaxation."""

    index: int = Field(..., description="Candidate number (largest void first).")
    frac_coords_initial: list[float] = Field(..., description="Void centre (fractional).")
    void_radius_a: float = Field(..., description="Empty-sphere radius of the void (Å).")
    nearest_cation_a: float = Field(..., description="Void centre to nearest cation (Å).")
    nearest_anion_a: float = Field(..., description="Void centre to nearest anion (Å).")
    frac_coords_relaxed: list[float] | None = Field(
        None, description="Li position after the ML relaxation (fractional)."
    )
    li_displacement_a: float | None = Field(None, description="How far Li moved on relaxing (Å).")
    li_o_coordination: int | None = Field(
        None, description="O atoms within the Li–O cutoff of the relaxed Li."
    )
    nearest_o_relaxed_a: float | None = Field(None, description="Shortest relaxed Li–O (Å).")
    energy_ev: float | None = Field(None, description="ML energy of host + Li, relaxed (eV).")
    relative_energy_ev: float | None = Field(
        None, description="energy_ev minus the lowest candidate energy (eV)."
    )
    max_force_ev_a: float | None = Field(None, description="Largest force after relaxing.")
    converged: bool | None = Field(None, description="Relaxation reached fmax.")
    n_steps: int | None = Field(None, description="Optimizer steps taken.")
    duplicate_of: int | None = Field(
        None, description="Lower-energy candidate whose Li ended within dedup_tol_a of this one."
    )
    selected: bool = Field(False, description="Chosen for the DFT stage.")
    selection_reason: str | None = Field(
        None, description="'lowest' (among the n_lowest) or 'distinct (Li–O CN k)'."
    )


class LiSiteScreeningDoc(BaseModel):
    """All candidates of a host with their ML energies, and the sites chosen for DFT."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    host_formula: str
    n_host_atoms: int
    backend: str = Field(..., description="Backend of the screening relaxations.")
    fidelity: str = Field(..., description="'ml' (or 'dft' if screened with DFT).")
    model: str | None = Field(
        None, description="the model behind the ML numbers (pretrained or fine-tuned weights)"
    )
    min_dist_cation_a: float
    min_dist_anion_a: float
    dedup_tol_a: float = Field(..., description="Relaxed Li closer than this = one site (Å).")
    li_o_cutoff_a: float = Field(..., description="Li–O coordination cutoff (Å).")
    fmax_ev_a: float
    n_candidates_found: int = Field(..., description="Voids passing the distance filter.")
    candidates: list[LiSiteCandidate] = Field(..., description="Every screened candidate.")
    selected: list[int] = Field(..., description="Candidate indices chosen, in rank order.")
    selected_structures: list[Structure] = Field(
        ..., description="Relaxed host + Li cells of the selected sites, same order."
    )
    candidate_structures: list[Structure] | None = Field(
        None, description="Relaxed host + Li cell of every candidate, in candidate order."
    )
    n_unique_sites: int = Field(..., description="Distinct relaxed Li sites found.")
    energy_spread_ev: float = Field(
        ..., description="Max minus min energy over the distinct sites (eV)."
    )

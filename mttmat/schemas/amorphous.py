"""Documents of the melt-quench flow: one per amorphous cell, and the replica summary."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

__all__ = ["AmorphousStructureDoc", "MeltQuenchSummary"]


class AmorphousStructureDoc(BaseModel):
    """Structure metrics of one quenched and relaxed cell (lengths Å, angles degrees)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    structure: Structure
    replica: int = 0
    seed: int = 0
    formula: str
    reduced_formula: str
    n_atoms: int
    density_g_cm3: float
    volume_a3: float
    min_distances_a: dict[str, float] = Field(description="shortest distance per element pair")
    rdf: dict[str, list[float]] = Field(description="r (Å), total and partial g(r)")
    coordination: dict[str, dict[str, Any]] = Field(
        description="per pair (e.g. W-O): cutoff_a (first g minimum), mean, std, histogram"
    )
    angles: dict[str, dict[str, Any]] = Field(
        description="O-M-O and M-O-M: mean_deg, n, histogram (5° bins)"
    )
    long_range_order: dict[str, float] | None = Field(
        None, description="RMS(g−1) beyond r_min vs the parent crystal; ratio ≪ 1 = no LRO"
    )
    max_force_ev_a: float | None = Field(None, description="largest force after the relax")
    melt_msd_a2: dict[str, float] | None = Field(
        None, description="mean squared displacement per element over the last melt hold (Å²)"
    )
    melted: bool | None = Field(
        None, description="cations diffused ≥ melt_threshold_a2 in the melt (None: not measured)"
    )
    melt_threshold_a2: float | None = Field(None, description="the melt check's cation MSD (Å²)")
    melt_attempts: list[dict[str, Any]] = Field(
        default_factory=list, description="every melt hold: temperature_k, steps, msd_a2, melted"
    )
    stage_uuids: dict[str, str] = Field(description="job uuid of each stage (provenance)")


class MeltQuenchSummary(BaseModel):
    """Mean ± std over the replicas of one melt-quench flow."""

    backend: str
    schedule: dict[str, Any]
    n_replicas: int
    stats: dict[str, dict[str, float]]
    replica_uuids: list[dict[str, str]]
    software: dict[str, str]

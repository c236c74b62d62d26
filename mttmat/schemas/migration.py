"""Documents of Li migration: a hop, one CI-NEB hop, the hop network of one host."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

__all__ = ["HopSpec", "LiNetworkDoc", "NebHopDoc"]


class HopSpec(BaseModel):
    """Hop from site ``i`` to site ``j`` displaced by lattice vector ``image``."""

    i: int
    j: int
    image: tuple[int, int, int]
    length_a: float
    vector_frac: tuple[float, float, float] = Field(description="f_j + image − f_i")


class NebHopDoc(BaseModel):
    """One CI-NEB hop (energies eV relative to the initial endpoint; lengths Å)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    hop: HopSpec
    backend: str
    fidelity: str = Field(description="fidelity of the energies and converged images")
    model: str | None = Field(
        None, description="the model behind the ML numbers (pretrained or fine-tuned weights)"
    )
    seed: str = Field(
        description="interpolation (idpp | linear), or the fidelity of the band that seeded it"
    )
    images: list[Structure]
    energies_ev: list[float]
    barrier_forward_ev: float
    barrier_backward_ev: float
    reaction_energy_ev: float
    hop_length_a: float
    climbing_index: int
    saddle_is_interior: bool
    max_force_ev_a: float
    converged: bool
    n_steps: int
    force_calls: int
    resumed_from_step: int
    wall_time_s: float
    fit: dict[str, list[float]] = Field(description="path (Å) and energies of ASE's force fit")


class LiNetworkDoc(BaseModel):
    """Hop network of one host: barriers, percolation barrier, diffusion coefficient."""

    n_sites: int
    sites_frac: list[list[float]]
    hops: list[dict[str, Any]] = Field(description="i, j, image, length_a, barrier_ev, fidelity")
    percolation_barrier_ev: dict[str, float | None] = Field(
        description="x, y, z, any (1D), all (3D) percolation barriers"
    )
    diffusion_coefficient_cm2_s: float | None = Field(
        description="a² ν0 exp(−E_a/kT)/(2d) at E_a = percolation barrier (all, else any)"
    )
    temperature_k: float
    attempt_frequency_hz: float = Field(description="ν0, assumed (not computed)")
    mean_hop_length_a: float
    uuids: dict[str, str]

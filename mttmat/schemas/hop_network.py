"""The Li hop network of one host: sites, hops with their saddles, the percolation barrier."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["HopNetworkDoc", "HopRecord", "SiteRecord"]


class SiteRecord(BaseModel):
    """One Li site of the network (ML-relaxed)."""

    index: int = Field(description="site number in the network (0 = lowest)")
    candidate: int = Field(description="index of the screening candidate")
    frac_coords: list[float]
    energy_ev: float = Field(description="total energy relative to the lowest site (eV)")


class HopRecord(BaseModel):
    """One hop ``i → j + image`` and its band (energies in eV)."""

    i: int
    j: int
    image: tuple[int, int, int]
    length_a: float
    barrier_forward_ev: float = Field(description="max of the band − its initial image")
    barrier_backward_ev: float = Field(description="max of the band − its final image")
    saddle_ev: float = Field(description="absolute saddle S_ij, relative to the lowest site")
    has_saddle: bool = Field(description="the band's maximum is interior and ≥ k_B T above ends")
    verdict: str = Field(description="'saddle at image k: E_a = …' or 'no saddle: ΔE = …'")
    converged: bool
    max_force_ev_a: float
    end_mismatch_ev: float = Field(
        description="E_i + ΔE(band end − start) − E_j: ≠ 0 when the band's end is not the "
        "screened site j (the band was not relaxed into it)"
    )
    neb_index: int = Field(description="position of its band in HopNetworkDoc.bands")


class HopNetworkDoc(BaseModel):
    """ML CI-NEB of several hops between the lowest sites and their percolation barrier.

    The percolation barrier is computed on absolute saddle energies
    (:func:`mttmat.analysis.network.saddle_percolation`): E_perc = S* − E_min over the
    cluster that first winds around the cell.
    """

    backend: str
    fidelity: str
    model: str | None = Field(
        None, description="the model behind the ML numbers (pretrained or fine-tuned weights)"
    )
    sites: list[SiteRecord]
    hops: list[HopRecord]
    percolation: dict[str, dict[str, Any] | None] = Field(
        description="per direction x/y/z, any, all: barrier_ev, saddle_ev, min_site_ev, hop"
    )
    direction: str | None = Field(
        description="'all' (3D) when the set percolates in x, y and z, else 'any'; None: no "
        "winding path among the computed hops"
    )
    percolation_barrier_ev: float | None
    limiting_hop: int = Field(
        description="hop that sets the percolation barrier; without percolation the hop with "
        "the highest saddle (the bottleneck of the connected set)"
    )
    limiting_band: dict[str, Any] = Field(description="NebHopDoc of the limiting hop")
    bands: list[dict[str, Any]] = Field(description="NebHopDoc of every hop")
    selection: str = Field(description="how the hops were chosen")
    wall_time_s: float

"""The channel materials mttmat knows: one row per material, used by every path.

Each row holds what is specific to the material: its cation, the Hubbard U_eff on the
cation's d shell (Dudarev; the paper's W 6.2 eV, Nb 4.0 eV), the supplied static dielectric
constant of the charge correction, and the default start cells of the local main job (small,
GPAW-sized) and of the full-size HPC run. Configs start from these rows and may override any
of them; the row itself is never read at run time, only when a flow is built.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CATIONS",
    "MATERIALS",
    "MaterialSpec",
    "cation_of",
    "check_hubbard_u",
    "hubbard_u_of",
    "material_spec",
]

DIELECTRIC_SOURCE = "assumed: order of the static ε of amorphous WO3 and Nb2O5 films (20-50)"


class MaterialSpec(BaseModel):
    """One channel material."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    cation: str
    hubbard_u_ev: float = Field(ge=0, description="Dudarev U_eff on the cation's d shell (eV)")
    hubbard_l: int = Field(2, description="angular momentum of the +U channel (2 = d)")
    dielectric: float = Field(gt=0, description="static ε of the charge correction (supplied)")
    dielectric_source: str = DIELECTRIC_SOURCE
    small_cell: dict[str, Any] = Field(description="start cell of the local main job")
    full_cell: dict[str, Any] = Field(description="start cell of the full-size HPC run")


MATERIALS: dict[str, MaterialSpec] = {
    "WOx": MaterialSpec(
        name="WOx", cation="W", hubbard_u_ev=6.2, dielectric=25.0,
        # 16 atoms: the largest cell whose Li_i^0 SCFs and band energies fit the 15-minute
        # budget on 2 cores
        small_cell={"start": "random", "composition": "W4O12", "density_g_cm3": 6.5},
        full_cell={"start": "crystal", "crystal": "gamma-WO3", "supercell": [2, 2, 1]},
    ),
    "NbOx": MaterialSpec(
        name="NbOx", cation="Nb", hubbard_u_ev=4.0, dielectric=25.0,
        small_cell={"start": "random", "composition": "Nb4O10", "density_g_cm3": 4.5},
        full_cell={"start": "random", "composition": "Nb48O120", "density_g_cm3": 4.5},
    ),
}

#: the cations of the known materials (what makes a cell an ECRAM channel cell)
CATIONS: tuple[str, ...] = tuple(m.cation for m in MATERIALS.values())


def check_hubbard_u(u: dict[str, float]) -> dict[str, float]:
    """``u`` (U_eff per species, eV) if no value is negative; else a ValueError naming them."""
    bad = {k: x for k, x in u.items() if x < 0}
    if bad:
        raise ValueError(f"Hubbard U must be >= 0 eV, got {bad}")
    return u


def material_spec(name: str) -> MaterialSpec:
    """The row of ``name``; a clear error listing the known ones."""
    try:
        return MATERIALS[name]
    except KeyError:
        raise ValueError(f"unknown material {name!r}; known: {sorted(MATERIALS)}") from None


def cation_of(name: str) -> str:
    """The cation of material ``name`` (``WOx`` → ``W``)."""
    return material_spec(name).cation


def hubbard_u_of(names: list[str] | None = None) -> dict[str, float]:
    """U_eff per cation of ``names`` (all known materials by default)."""
    rows = [material_spec(n) for n in names] if names else list(MATERIALS.values())
    return {m.cation: m.hubbard_u_ev for m in rows}

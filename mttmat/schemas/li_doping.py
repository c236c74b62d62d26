"""Summary document of a Li-doping calculation (host vs host+Li vs bcc Li)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mttmat.schemas.calc import band_edges_at_filling

__all__ = ["LiDopingSummary"]


def _has(doc: Any, key: str) -> bool:
    return (
        (key in doc and doc[key] is not None)
        if isinstance(doc, dict)
        else (getattr(doc, key, None) is not None)
    )


def _get(doc: Any, *path: str) -> Any:
    for key in path:
        doc = doc[key] if isinstance(doc, dict) else getattr(doc, key)
    return doc


class LiDopingSummary(BaseModel):
    """Li insertion energetics and Fermi-level response from one host/doped pair."""

    host_formula: str = Field(..., description="Reduced formula of the host.")
    n_li: int = Field(..., description="Li atoms added to the host cell.")
    backend: str = Field(..., description="DFT backend of the energies below.")
    fidelity: str = Field(..., description="Fidelity of the energies ('dft' or 'ml').")
    energy_host_ev: float = Field(..., description="Total energy of the host cell (eV).")
    energy_doped_ev: float = Field(..., description="Total energy of host + n_li Li (eV).")
    energy_li_metal_per_atom_ev: float = Field(..., description="bcc Li energy per atom (eV).")
    insertion_energy_per_li_ev: float = Field(
        ...,
        description="[E(host+nLi) - E(host) - n E_Li(bcc)] / n (eV); negative = Li binds.",
    )
    voltage_vs_li_v: float = Field(
        ..., description="Average intercalation voltage vs Li/Li+ = -insertion energy / e (V)."
    )
    fermi_level_host_ev: float = Field(..., description="Host Fermi level (eV, code scale).")
    fermi_level_doped_ev: float = Field(..., description="Doped Fermi level (eV, code scale).")
    fermi_shift_ev: float = Field(
        ...,
        description="E_F(doped) - E_F(host) (eV). Same cell, same code; no potential alignment.",
    )
    host_cbm_ev: float | None = Field(None, description="Host conduction-band minimum (eV).")
    host_band_gap_ev: float | None = Field(None, description="Host band gap (eV).")
    fermi_above_host_cbm_ev: float | None = Field(
        None,
        description="E_F(doped) - CBM(host) (eV), the two cells aligned at their valence-band "
        "top (the doped cell filled with the host's electron count); > 0: E_F in the CB.",
    )
    donor_depth_ev: float | None = Field(
        None,
        description="How far E_F(doped) stays below the aligned host CBM (eV), i.e. the depth "
        "of the level holding the Li electron; 0: E_F in the CB (shallow donor).",
    )
    alignment: str = Field(
        "vbm", description="How host and doped eigenvalues were aligned ('vbm' or 'none')."
    )
    electrons_added: float = Field(
        ..., description="Valence electrons of doped minus host cell (Li valence x n_li)."
    )
    doped_magnetic_moment_mub: float | None = Field(
        None, description="Total moment of the doped cell (μ_B); ~n_li if the electron is unpaired."
    )
    hubbard_u_ev: dict[str, float] = Field(
        default_factory=dict, description="U_eff (eV) used for the host and doped cells."
    )
    ml_energies_ev: dict[str, float] = Field(
        default_factory=dict, description="ML-potential energies of the relaxed cells (eV)."
    )
    uuids: dict[str, str] = Field(
        default_factory=dict, description="Store uuids of the calculations used (by role)."
    )

    @classmethod
    def from_docs(
        cls,
        host: Any,
        doped: Any,
        li_metal: Any,
        n_li: int,
        ml_energies: dict[str, float] | None = None,
        uuids: dict[str, str] | None = None,
    ) -> LiDopingSummary:
        """Build from three :class:`~mttmat.schemas.calc.CalcTaskDoc` (objects or dicts)."""
        if n_li < 1:
            raise ValueError(f"n_li must be >= 1, got {n_li}")
        e_host = float(_get(host, "output", "energy"))
        e_doped = float(_get(doped, "output", "energy"))
        n_li_metal = len(_get(li_metal, "structure"))
        e_li = float(_get(li_metal, "output", "energy")) / n_li_metal
        n_host = len(_get(host, "structure"))
        n_doped = len(_get(doped, "structure"))
        if n_doped - n_host != n_li:
            raise ValueError(
                f"doped cell has {n_doped - n_host} more atoms than the host, declared n_li = "
                f"{n_li}: the cells do not belong together"
            )
        eh, ed = _get(host, "electronic"), _get(doped, "electronic")
        if eh is None or ed is None:
            raise ValueError("host and doped documents need electronic data (a DFT backend)")
        u_h, u_d = _get(eh, "hubbard_u_ev"), _get(ed, "hubbard_u_ev")
        if dict(u_h) != dict(u_d):
            raise ValueError(f"host U {u_h} differs from doped-cell U {u_d}: refusing to mix")
        de = (e_doped - e_host - n_li * e_li) / n_li
        ef_h, ef_d = float(_get(eh, "fermi_level_ev")), float(_get(ed, "fermi_level_ev"))
        cbm = _get(eh, "cbm_ev")
        gap_h = _get(eh, "band_gap_ev")
        eig_d = _get(ed, "eigenvalues_ev") if _has(ed, "eigenvalues_ev") else None
        above = depth = None
        alignment = "none"
        if eig_d is not None and gap_h is not None:
            vbm_d, _ = band_edges_at_filling(
                eig_d, _get(ed, "kpoint_weights"), float(_get(eh, "n_electrons"))
            )
            above = ef_d - (vbm_d + float(gap_h))
            alignment = "vbm"
        if above is not None:
            depth = max(0.0, -above)
        elif cbm is not None:
            above = ef_d - float(cbm)
        return cls(
            host_formula=_get(host, "structure").composition.reduced_formula
            if not isinstance(host, dict)
            else str(host.get("formula_pretty", "")),
            n_li=n_li,
            backend=str(_get(host, "backend")),
            fidelity=str(_get(host, "fidelity")),
            energy_host_ev=e_host,
            energy_doped_ev=e_doped,
            energy_li_metal_per_atom_ev=e_li,
            insertion_energy_per_li_ev=de,
            voltage_vs_li_v=-de,
            fermi_level_host_ev=ef_h,
            fermi_level_doped_ev=ef_d,
            fermi_shift_ev=ef_d - ef_h,
            host_cbm_ev=cbm,
            host_band_gap_ev=_get(eh, "band_gap_ev"),
            fermi_above_host_cbm_ev=above,
            donor_depth_ev=depth,
            alignment=alignment,
            electrons_added=float(_get(ed, "n_electrons")) - float(_get(eh, "n_electrons")),
            doped_magnetic_moment_mub=_get(ed, "total_magnetic_moment_mub"),
            hubbard_u_ev=dict(u_h),
            ml_energies_ev=dict(ml_energies or {}),
            uuids=dict(uuids or {}),
        )

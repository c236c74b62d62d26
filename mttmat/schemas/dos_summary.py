"""The derived numbers of Li-doped cells against their host, from :class:`DosDoc` documents:
E_F and the highest occupied level against the host CBM, electrons donated per Li, DOS at
E_F, moments and localisation, site-to-site similarity (:class:`LiDosSummary`)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from mttmat.analysis.dos import dos_similarity
from mttmat.schemas.calc import band_edges_at_filling
from mttmat.schemas.dos import DosDoc

__all__ = ["DopedCellElectronics", "LiDosSummary"]


class DopedCellElectronics(BaseModel):
    """Derived numbers of one Li-doped cell against its host (energies eV)."""

    label: str = Field(..., description="Which doped cell (e.g. 'site 3').")
    n_li: int
    alignment: str = Field(
        "vbm", description="Host and doped eigenvalues aligned at the host-filled VBM."
    )
    host_vbm_aligned_ev: float = Field(..., description="Host VBM on the doped cell's scale.")
    host_cbm_aligned_ev: float = Field(..., description="Host CBM on the doped cell's scale.")
    fermi_level_ev: float = Field(..., description="E_F of the doped cell (its scale).")
    fermi_above_host_cbm_ev: float = Field(
        ..., description="E_F − aligned host CBM; > 0: E_F in the conduction band (n-type)."
    )
    fermi_shift_raw_ev: float = Field(..., description="E_F(doped) − E_F(host), no alignment.")
    highest_occupied_above_host_cbm_ev: float = Field(
        ...,
        description="Highest level with occupation ≥ 0.1 minus the aligned host CBM; < 0: the "
        "Li electron sits in a gap state this deep (trap); ≥ 0: in the conduction band.",
    )
    electrons_above_host_cbm: float = Field(
        ..., description="Occupied states at or above the aligned host CBM (e per cell)."
    )
    electrons_donated_per_li: float = Field(
        ..., description="electrons_above_host_cbm / n_li: ~1 for a shallow donor."
    )
    electrons_in_gap: float = Field(
        ..., description="Occupied states between aligned host VBM+0.1 eV and CBM (trapped)."
    )
    dos_at_fermi_per_ev: float = Field(..., description="Total DOS at E_F (states/eV/cell).")
    total_magnetic_moment_mub: float | None = None
    max_local_moment_mub: float | None = Field(
        None, description="Largest |local moment| on a cation (μ_B)."
    )
    max_moment_atom: int | None = None
    extra_electron_participation: float | None = Field(
        None,
        description="Occupation-weighted participation number (cations) of the occupied states "
        "above the aligned host VBM + 0.05 eV: the states that hold the Li electrons.",
    )
    n_cations: int = Field(..., description="W/Nb atoms in the cell.")
    polaron_like: bool | None = Field(
        ...,
        description="Extra electron localised: participation ≤ max(2, N_cation/4) or one cation "
        "≥ 0.5 μ_B. None when the cell has < 4 cations (no room to tell).",
    )
    dos_uuid: str | None = None


class LiDosSummary(BaseModel):
    """Host + Li-doped cells of one material: gaps, E_F positions, similarity across sites."""

    host_formula: str
    code: str
    host_band_gap_ev: float
    host_vbm_ev: float
    host_cbm_ev: float
    host_fermi_level_ev: float
    cells: list[DopedCellElectronics]
    similarity_window_ev: tuple[float, float] = Field(
        ..., description="Window of the DOS similarity, relative to the aligned host VBM (eV)."
    )
    site_similarity: list[list[float]] = Field(
        ...,
        description="Pearson correlation of the doped-cell DOS between sites, each curve "
        "relative to its aligned host VBM (E_F can sit anywhere in a gap when the electron "
        "localises, so it is no common reference).",
    )
    min_site_similarity: float
    mean_fermi_above_cbm_ev: float
    mean_electrons_donated_per_li: float
    li_setup_electrons: float = Field(
        1.0, description="Electrons one Li brings in this code's setup: 1 (GPAW's Li) or 3 "
        "(VASP's Li_sv, whose 1s pair is filled below the host valence band)",
    )
    uuids: dict[str, str] = Field(default_factory=dict, description="Store uuids by role.")

    @classmethod
    def build(
        cls,
        host: DosDoc,
        doped: list[DosDoc],
        n_li: int,
        labels: list[str],
        window: tuple[float, float] = (-6.0, 5.0),
        uuids: dict[str, str] | None = None,
    ) -> LiDosSummary:
        if n_li < 1:
            raise ValueError(f"n_li must be >= 1, got {n_li}")
        if not doped:
            raise ValueError("no doped cell to analyse")
        cells = []
        curves = []
        z_valences: list[float] = []
        grid = np.arange(window[0], window[1] + 1e-9, 0.01)
        for d, label in zip(doped, labels, strict=True):
            n_extra = d.n_electrons - host.n_electrons
            z_li = n_extra / n_li  # GPAW's Li: 1 valence electron; VASP's Li_sv: 3 (1s²2s¹)
            if min(abs(z_li - 1.0), abs(z_li - 3.0)) > 1e-6 or d.n_atoms - host.n_atoms != n_li:
                raise ValueError(
                    f"{label}: {d.n_atoms - host.n_atoms} extra atoms and {n_extra:g} extra "
                    f"electrons, declared n_li = {n_li} (a Li setup brings 1 or 3 electrons): "
                    "the cells do not belong together"
                )
            if z_valences and abs(z_li - z_valences[0]) > 1e-6:
                raise ValueError(f"{label}: {z_li:g} electrons per Li, the other cells "
                                 f"{z_valences[0]:g}: different Li setups")  # fmt: skip
            z_valences.append(z_li)
            if d.hubbard_u_ev != host.hubbard_u_ev or d.ecut_ev != host.ecut_ev:
                raise ValueError(
                    f"{label} was computed with U {d.hubbard_u_ev}, cutoff {d.ecut_ev} eV but "
                    f"the host with U {host.hubbard_u_ev}, {host.ecut_ev} eV: refusing to mix"
                )
            # the host's filling plus the Li semicore electrons (Li_sv's 1s, deep below it)
            core = n_extra - n_li
            vbm_al, _ = band_edges_at_filling(d.eigenvalues_ev, d.kpoint_weights,
                                              host.n_electrons + core)  # fmt: skip
            cbm_al = vbm_al + host.band_gap_ev
            above = d.electrons_between(cbm_al - 1e-6)
            gap_e = d.electrons_between(vbm_al + 0.1, cbm_al - 1e-6)
            part = None
            if d.participation is not None:
                e = np.asarray(d.eigenvalues_ev)
                f = np.asarray(d.kpoint_weights)[None, :, None] * d.occupation_array()
                m = e > vbm_al + 0.05  # the occupied states beyond the host's filling
                wsum = (f * m).sum()
                if wsum > 0:
                    part = float((f * m * np.asarray(d.participation)).sum() / wsum)
            max_m = max_atom = None
            if d.magnetic_moments_mub:
                mm = np.abs(np.asarray(d.magnetic_moments_mub))
                cat = [i for i, s in enumerate(d.species) if s not in ("O", "Li")]
                if cat:
                    max_atom = int(cat[int(np.argmax(mm[cat]))])
                    max_m = float(mm[max_atom])
            n_cat = sum(1 for s in d.species if s in ("W", "Nb", "Mo", "Ti", "Ta", "V"))
            polaron = None
            if n_cat >= 4:
                polaron = bool(
                    (part is not None and part <= max(2.0, n_cat / 4)) or (max_m or 0.0) >= 0.5
                )
            cells.append(
                DopedCellElectronics(
                    label=label,
                    n_li=n_li,
                    host_vbm_aligned_ev=vbm_al,
                    host_cbm_aligned_ev=cbm_al,
                    fermi_level_ev=d.fermi_level_ev,
                    fermi_above_host_cbm_ev=d.fermi_level_ev - cbm_al,
                    fermi_shift_raw_ev=d.fermi_level_ev - host.fermi_level_ev,
                    highest_occupied_above_host_cbm_ev=float(
                        np.asarray(d.eigenvalues_ev)[d.occupation_array() >= 0.1].max() - cbm_al
                    ),
                    electrons_above_host_cbm=above,
                    electrons_donated_per_li=above / n_li,
                    electrons_in_gap=gap_e,
                    dos_at_fermi_per_ev=d.dos_at(d.fermi_level_ev),
                    total_magnetic_moment_mub=d.total_magnetic_moment_mub,
                    max_local_moment_mub=max_m,
                    max_moment_atom=max_atom,
                    extra_electron_participation=part,
                    n_cations=n_cat,
                    polaron_like=polaron,
                    dos_uuid=d.source_uuid,
                )
            )
            en, tot = d.arrays()
            curves.append(np.interp(grid, en - vbm_al, tot))
        sim = dos_similarity(curves, grid, window)
        return cls(
            host_formula=host.formula,
            code=host.code,
            host_band_gap_ev=host.band_gap_ev,
            host_vbm_ev=host.vbm_ev,
            host_cbm_ev=host.cbm_ev,
            host_fermi_level_ev=host.fermi_level_ev,
            cells=cells,
            similarity_window_ev=window,
            site_similarity=np.round(sim, 5).tolist(),
            min_site_similarity=float(sim.min()),
            mean_fermi_above_cbm_ev=float(np.mean([c.fermi_above_host_cbm_ev for c in cells])),
            mean_electrons_donated_per_li=float(
                np.mean([c.electrons_donated_per_li for c in cells])
            ),
            li_setup_electrons=z_valences[0],
            uuids=dict(uuids or {}),
        )

"""One DOS/PDOS document for GPAW and VASP (the doped-cell numbers: :mod:`.dos_summary`).

:class:`DosDoc` holds the eigenvalues (for counting and alignment), a broadened total DOS,
the PDOS per element and angular momentum (``"W:d"``, ``"O:p"``, ``"Li:s"``), and per state
the participation number over atoms (localisation). :meth:`DosDoc.from_electronic` builds it
from a GPAW calculation's :class:`~mttmat.schemas.calc.ElectronicSummary`;
:meth:`DosDoc.from_vasprun` from a VASP ``vasprun.xml`` (``LORBIT = 11``), through pymatgen.

PDOS conventions differ by code, and the document says which (``pdos_method``):

- GPAW: squared projections of each Kohn–Sham state on the bound-state PAW projectors of
  every atom and l, normalised per state so that the channels of a state sum to 1. The
  channels then add up to the total DOS (``pdos_spill`` = 0 up to rounding), like a Mulliken
  partition. Raw projector norms are not probabilities (they range 0.1–3 per state), so an
  unnormalised sum would not be a decomposition.
- VASP ``LORBIT = 11``: projections inside the Wigner–Seitz spheres (RWIGS of the POTCARs);
  charge between the spheres is in no channel, so the channels sum to less than the total:
  ``pdos_spill`` reports the missing fraction of the occupied states.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from mttmat.analysis.dos import (
    broadened_dos,
    count_electrons,
    fermi_occupations,
    participation_number,
)
from mttmat.schemas.calc import band_edges_at_filling

__all__ = ["L_LETTERS", "DosDoc"]

L_LETTERS = "spdf"


def _grid(eigs: np.ndarray, fermi: float, step: float, margin: float) -> np.ndarray:
    lo = max(float(eigs.min()), fermi - 25.0) - margin
    hi = min(float(eigs.max()), fermi + 10.0) + margin
    return np.arange(lo, hi + step / 2, step)


class DosDoc(BaseModel):
    """Total and projected DOS of one cell (energies absolute, eV; DOS in states/eV/cell)."""

    code: str = Field(..., description="DFT code (gpaw or vasp).")
    formula: str
    n_atoms: int
    species: list[str] = Field(..., description="Element of each atom, in order.")
    fermi_level_ev: float
    n_electrons: float
    nspins: int
    smearing_ev: float = Field(..., description="Occupation smearing of the calculation (eV).")
    width_ev: float = Field(..., description="Gaussian broadening of the curves below (eV).")
    energies_ev: list[float] = Field(..., description="Energy grid (absolute, eV).")
    total: list[list[float]] = Field(
        ..., description="[spin][E] DOS per spin channel; spin-paired: one channel, both spins."
    )
    pdos: dict[str, list[list[float]]] = Field(
        ..., description="Channel 'El:l' (e.g. 'W:d') → [spin][E], summed over the element's atoms."
    )
    pdos_method: str = Field(..., description="How the projections were made (see module doc).")
    pdos_spill: float = Field(
        ..., description="1 − (PDOS sum / total DOS) over the occupied states; 0 = complete."
    )
    eigenvalues_ev: list[list[list[float]]] = Field(..., description="[spin][k][band] (eV).")
    kpoint_weights: list[float]
    occupations: list[list[list[float]]] | None = Field(
        None,
        description="[spin][k][band] occupations 0..1 as the code reported them (VASP); None: "
        "Fermi-Dirac at smearing_ev around E_F (GPAW's own scheme).",
    )
    participation: list[list[list[float]]] | None = Field(
        None,
        description="[spin][k][band] 1/Σ_c p_c² over the cations: ~1 on one cation (polaron), "
        "~N_cation for a band state.",
    )
    vbm_ev: float = Field(..., description="Highest level filled by n_electrons (eV).")
    cbm_ev: float = Field(..., description="Next level above it (eV).")
    band_gap_ev: float = Field(..., description="max(0, cbm − vbm) (eV).")
    total_magnetic_moment_mub: float | None = None
    magnetic_moments_mub: list[float] | None = None
    hubbard_u_ev: dict[str, float] = Field(default_factory=dict)
    ecut_ev: float | None = None
    kpts: list[int] | None = None
    source_uuid: str | None = Field(None, description="Store uuid of the calculation.")

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_arrays(
        cls,
        *,
        code: str,
        species: list[str],
        formula: str,
        eigs: np.ndarray,
        kweights: np.ndarray,
        fermi: float,
        n_electrons: float,
        smearing: float,
        channel_weights: np.ndarray | None,
        channels: list[str],
        atom_weights: np.ndarray | None,
        pdos_method: str,
        width: float = 0.1,
        step: float = 0.01,
        pdos_override: dict[str, np.ndarray] | None = None,
        total_override: np.ndarray | None = None,
        energies_override: np.ndarray | None = None,
        participation: list | None = None,
        **extra: Any,
    ) -> DosDoc:
        """Broaden eigenvalues (and per-state channel weights) onto a grid; find the edges."""
        eigs = np.asarray(eigs, float)
        kweights = np.asarray(kweights, float)
        if energies_override is not None:
            en = np.asarray(energies_override, float)
            total = np.asarray(total_override, float)
            pdos = {k: np.asarray(v, float) for k, v in (pdos_override or {}).items()}
        else:
            en = _grid(eigs, fermi, step, 5 * width)
            total = broadened_dos(eigs, kweights, en, width)
            pdos = {}
            if channel_weights is not None:
                per = broadened_dos(eigs, kweights, en, width, channel_weights)
                pdos = {c: per[..., i] for i, c in enumerate(channels)}
        spill = 0.0
        if pdos:
            occ = en <= fermi
            tot_occ = np.trapezoid(total.sum(0)[occ], en[occ])
            p_occ = sum(np.trapezoid(v.sum(0)[occ], en[occ]) for v in pdos.values())
            spill = float(1.0 - p_occ / tot_occ) if tot_occ > 0 else 0.0
        vbm, cbm = band_edges_at_filling(eigs.tolist(), kweights.tolist(), n_electrons)
        part = participation
        if atom_weights is not None:
            part = np.round(participation_number(atom_weights), 3).tolist()
        return cls(
            code=code,
            formula=formula,
            n_atoms=len(species),
            species=species,
            fermi_level_ev=float(fermi),
            n_electrons=float(n_electrons),
            nspins=eigs.shape[0],
            smearing_ev=float(smearing),
            width_ev=float(width),
            energies_ev=np.round(en, 5).tolist(),
            total=np.round(total, 6).tolist(),
            pdos={k: np.round(v, 6).tolist() for k, v in pdos.items()},
            pdos_method=pdos_method,
            pdos_spill=round(spill, 6),
            eigenvalues_ev=eigs.tolist(),
            kpoint_weights=kweights.tolist(),
            participation=part,
            vbm_ev=float(vbm),
            cbm_ev=float(cbm),
            band_gap_ev=float(max(0.0, cbm - vbm)),
            **extra,
        )

    @classmethod
    def from_electronic(
        cls, electronic: Any, structure: Any, width: float = 0.1, uuid: str | None = None
    ) -> DosDoc:
        """From a GPAW :class:`~mttmat.schemas.calc.ElectronicSummary` with projections."""
        el = electronic if isinstance(electronic, dict) else electronic.model_dump()
        if el.get("pdos_weights") is None:
            raise ValueError(
                "this calculation has no PDOS projections: run the DOS step with the gpaw "
                "backend (its electronic summary stores them) or parse a VASP vasprun.xml"
            )
        species = [s.specie.symbol for s in structure]
        return cls.from_arrays(
            code=el["code"],
            species=species,
            formula=structure.composition.reduced_formula,
            eigs=np.asarray(el["eigenvalues_ev"]),
            kweights=np.asarray(el["kpoint_weights"]),
            fermi=el["fermi_level_ev"],
            n_electrons=el["n_electrons"],
            smearing=el.get("smearing_ev") or 0.0,
            channel_weights=np.asarray(el["pdos_weights"]),
            channels=list(el["pdos_channels"]),
            atom_weights=None,
            participation=el.get("participation"),
            pdos_method="gpaw: bound-state PAW projector weights, normalised per state",
            width=width,
            total_magnetic_moment_mub=el.get("total_magnetic_moment_mub"),
            magnetic_moments_mub=el.get("magnetic_moments_mub"),
            hubbard_u_ev=dict(el.get("hubbard_u_ev") or {}),
            ecut_ev=el.get("ecut_ev"),
            kpts=el.get("kpts"),
            source_uuid=uuid,
        )

    @classmethod
    def from_vasprun(cls, path: str | Path, uuid: str | None = None) -> DosDoc:
        """From ``vasprun.xml`` via pymatgen; PDOS per element and l needs ``LORBIT = 11``."""
        from pymatgen.electronic_structure.core import Spin
        from pymatgen.io.vasp import Vasprun

        vr = Vasprun(str(path), parse_potcar_file=False, parse_projected_eigen=True)
        spins = [Spin.up] + ([Spin.down] if vr.is_spin else [])
        kw = np.asarray(vr.actual_kpoints_weights, float)
        eigs = np.array([vr.eigenvalues[s][:, :, 0] for s in spins])
        occs = np.array([vr.eigenvalues[s][:, :, 1] for s in spins])
        en = np.asarray(vr.complete_dos.energies, float)
        total = np.array([vr.complete_dos.densities[s] for s in spins])
        pdos: dict[str, np.ndarray] = {}
        atom_w = None
        if vr.complete_dos.pdos:
            for el in vr.final_structure.composition.elements:
                for orb, dos in vr.complete_dos.get_element_spd_dos(el).items():
                    pdos[f"{el.symbol}:{str(orb)[0]}"] = np.array([dos.densities[s] for s in spins])
            if vr.projected_eigenvalues:  # [s][k][band][atom][orbital] → per atom
                atom_w = np.array([vr.projected_eigenvalues[s].sum(axis=-1) for s in spins])
        method = (
            "vasp: LORBIT=11 projections in Wigner-Seitz spheres"
            if pdos
            else "vasp: no projections in this vasprun (set LORBIT = 11)"
        )
        incar = vr.incar or {}
        sigma = float(incar.get("SIGMA", vr.parameters.get("SIGMA", 0.0)))
        u = {}
        if incar.get("LDAU"):  # LDAUU is in POSCAR species order
            order = list(dict.fromkeys(vr.atomic_symbols))
            u = {el: float(x) for el, x in zip(order, incar.get("LDAUU", []), strict=False) if x}
        return cls.from_arrays(
            code="vasp",
            species=[s.specie.symbol for s in vr.final_structure],
            formula=vr.final_structure.composition.reduced_formula,
            eigs=eigs,
            kweights=kw,
            fermi=float(vr.efermi),
            n_electrons=float(vr.parameters["NELECT"]),
            smearing=sigma,
            channel_weights=None,
            channels=[],
            atom_weights=atom_w,
            pdos_method=method,
            width=sigma or 0.1,
            pdos_override=pdos,
            total_override=total,
            energies_override=en,
            total_magnetic_moment_mub=None,
            occupations=occs.tolist(),
            hubbard_u_ev=u,
            ecut_ev=float(incar["ENCUT"]) if "ENCUT" in incar else None,
            source_uuid=uuid,
        )

    # ------------------------------------------------------------------ views
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(energies, total DOS summed over spins)."""
        return np.asarray(self.energies_ev), np.asarray(self.total).sum(axis=0)

    def channel(self, name: str) -> np.ndarray:
        """PDOS of channel ``name`` ('W:d') summed over spins."""
        return np.asarray(self.pdos[name]).sum(axis=0)

    def element_dos(self) -> dict[str, np.ndarray]:
        """DOS per element (all its channels, spins summed)."""
        out: dict[str, np.ndarray] = {}
        for name in self.pdos:
            el = name.split(":")[0]
            out[el] = out.get(el, 0.0) + self.channel(name)
        return out

    def occupation_array(self) -> np.ndarray:
        """Occupations 0..1 per state: the code's own, else Fermi–Dirac at E_F."""
        if self.occupations is not None:
            return np.asarray(self.occupations, float)
        return fermi_occupations(self.eigenvalues_ev, self.fermi_level_ev, self.smearing_ev)

    def electrons_between(self, emin: float = -np.inf, emax: float = np.inf) -> float:
        """Electrons in states with emin <= ε < emax (occupations of :meth:`occupation_array`)."""
        if self.occupations is not None:
            e = np.asarray(self.eigenvalues_ev)
            w = np.asarray(self.kpoint_weights)[None, :, None] * (2.0 / e.shape[0])
            mask = (e >= emin) & (e < emax)
            return float((w * self.occupation_array() * mask).sum())
        return count_electrons(
            self.eigenvalues_ev, self.kpoint_weights, self.fermi_level_ev,
            self.smearing_ev, emin, emax,
        )  # fmt: skip

    def dos_at(self, energy: float) -> float:
        """Broadened total DOS at ``energy`` (states/eV/cell)."""
        en, tot = self.arrays()
        return float(np.interp(energy, en, tot))


def __getattr__(name: str) -> Any:
    """Documents stored before the doped-cell numbers moved to :mod:`.dos_summary` name this
    module (``@module``): they still load."""
    if name in ("LiDosSummary", "DopedCellElectronics"):
        from mttmat.schemas import dos_summary

        return getattr(dos_summary, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

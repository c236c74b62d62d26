"""Labelled DFT frames of a run: what the ML potential is fine-tuned on.

A :class:`DftFrame` is one DFT result of the chain (a single point, or the final step of a
DFT relaxation, whose forces belong to its final positions): the structure, the total
energy, the forces, the stress and the local magnetic moments where the calculation gave
them, the settings that make energies comparable (code, U per species, cutoff, k-mesh,
smearing) and the uuid of the job that computed it.

A :class:`FrameSet` holds frames of **one** setting only: energies of different U, cutoff or
k-mesh are not on one scale, so adding a frame of other settings raises
:class:`MixedSettingsError` naming the difference. Charged cells are not frames (the ML
potential has no electron count). A set is written to and read from extended XYZ (ASE),
the format every ML-potential trainer reads.

Units: energy eV, forces eV/Å, stress eV/Å³ with ASE's sign (tension positive), moments μ_B.
atomate2's task documents hold the stress in kBar with VASP's sign (compression positive);
:meth:`DftFrame.from_calc` converts it. The energy is the one atomate2 stores
(``get_potential_energy``: GPAW's σ → 0 extrapolation), the forces the code's.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from pydantic import BaseModel, Field
from pymatgen.core import Structure

__all__ = ["DftFrame", "FrameSet", "FrameSettings", "MixedSettingsError"]


class MixedSettingsError(ValueError):
    """A frame whose DFT settings differ from the set's: its energy is on another scale."""


class FrameSettings(BaseModel):
    """The settings that put DFT energies on one scale."""

    code: str = Field(description="DFT code (gpaw, vasp).")
    hubbard_u_ev: dict[str, float] = Field(description="U_eff per species (eV).")
    ecut_ev: float | None = Field(description="Plane-wave cutoff (eV).")
    kpts: list[int] | None = Field(description="k-point mesh.")
    smearing_ev: float | None = Field(None, description="Smearing width (eV).")
    spin_polarized: bool = Field(
        False,
        description="Spin treatment: a spin-paired and a spin-polarised calculation of one "
        "cell are two different labels for one structure (e.g. the Li_i^0 band and polaron "
        "solutions at one geometry), so a set holds one treatment only.",
    )

    def differences(self, other: FrameSettings) -> dict[str, tuple[Any, Any]]:
        """{field: (this, other)} for every setting that differs."""
        a, b = self.model_dump(), other.model_dump()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


class DftFrame(BaseModel):
    """One labelled DFT frame (see the module doc for units)."""

    structure: dict[str, Any] = Field(description="pymatgen Structure (as_dict).")
    energy_ev: float = Field(description="Total energy (eV).")
    forces_ev_a: list[list[float]] = Field(description="Forces (eV/Å), one row per site.")
    stress_ev_a3: list[list[float]] | None = Field(
        None, description="Stress (eV/Å³, 3×3, ASE sign), when computed."
    )
    magmoms_mub: list[float] | None = Field(
        None, description="Local moments (μ_B) of a spin-polarised calculation."
    )
    spin_polarized: bool = Field(False)
    settings: FrameSettings
    job_uuid: str | None = Field(None, description="uuid of the job that computed it.")
    role: str = Field("", description="What the frame is in the chain (host, Li_i^0 ...).")

    @property
    def pmg(self) -> Structure:
        return Structure.from_dict(self.structure)

    @property
    def n_atoms(self) -> int:
        return len(self.forces_ev_a)

    @classmethod
    def from_calc(cls, doc: Any, job_uuid: str | None = None, role: str = "") -> DftFrame:
        """The frame of a finished single point, from its task document in the shared shape
        (:meth:`~mttmat.backends.base.Backend.calc_document`: mttmat's GPAW
        :class:`~mttmat.schemas.calc.CalcTaskDoc`, as object or stored JSON).

        Raises
        ------
        ValueError
            For a document without forces or electronic settings, or of a charged cell.
        """
        d = doc if isinstance(doc, dict) else doc.model_dump()
        out, el = d.get("output") or {}, d.get("electronic") or {}
        forces = out.get("forces")
        if forces is None or not el:
            raise ValueError(
                f"the calculation {job_uuid or ''} has no forces or no electronic summary: "
                "only mttmat's DFT single points are frames"
            )
        if float(el.get("charge") or 0.0) != 0.0 or el.get("electron_count_set"):
            raise ValueError(f"the calculation {job_uuid or ''} is of a charged cell: no frame")
        s = d.get("structure") or out.get("structure")
        structure = s if isinstance(s, dict) else s.as_dict()
        kbar = out.get("stress")  # atomate2: kBar, VASP's sign
        stress = None if kbar is None else -0.1 * units.GPa * np.asarray(kbar, float)
        moments = el.get("magnetic_moments_mub") if el.get("spin_polarized") else None
        return cls(
            structure=structure, energy_ev=float(out["energy"]),
            forces_ev_a=np.asarray(forces, float).tolist(),
            stress_ev_a3=None if stress is None else _stress_3x3(stress),
            magmoms_mub=None if moments is None else [float(m) for m in moments],
            spin_polarized=bool(el.get("spin_polarized")),
            settings=FrameSettings(
                code=el["code"], hubbard_u_ev=dict(el.get("hubbard_u_ev") or {}),
                ecut_ev=el.get("ecut_ev"), kpts=el.get("kpts"),
                smearing_ev=el.get("smearing_ev"),
                spin_polarized=bool(el.get("spin_polarized")),
            ),
            job_uuid=job_uuid, role=role,
        )  # fmt: skip


def _settings(info: dict[str, Any]) -> FrameSettings:
    """The settings of an extxyz frame; one written before the spin treatment was a setting
    takes it from the frame's own flag (a polaron frame stays apart from the band's)."""
    import json

    d = json.loads(info["settings"])
    d.setdefault("spin_polarized", bool(info.get("spin_polarized", False)))
    return FrameSettings.model_validate(d)


def _stress_3x3(stress: Any) -> list[list[float]]:
    """3×3 from ASE's Voigt order (xx, yy, zz, yz, xz, xy) or a 3×3 matrix."""
    a = np.asarray(stress, float)
    if a.shape == (6,):
        xx, yy, zz, yz, xz, xy = a
        a = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    if a.shape != (3, 3):
        raise ValueError(f"stress must be 6 Voigt components or 3×3, got shape {a.shape}")
    return a.tolist()


class FrameSet(BaseModel):
    """Frames of one DFT setting (see the module doc)."""

    settings: FrameSettings | None = None
    frames: list[DftFrame] = Field(default_factory=list)

    def add(self, frame: DftFrame) -> None:
        """Append ``frame``; its settings must be the set's.

        Raises
        ------
        MixedSettingsError
            Naming every setting that differs, for a frame of other settings.
        """
        if self.settings is None:
            self.settings = frame.settings
        diff = self.settings.differences(frame.settings)
        if diff:
            what = "; ".join(f"{k}: set {a!r}, frame {b!r}" for k, (a, b) in diff.items())
            raise MixedSettingsError(
                f"frame {frame.role or frame.job_uuid or len(self.frames)} was computed with "
                f"other DFT settings ({what}); its energy is on another scale. Keep frames "
                "of each setting in their own set"
            )
        self.frames.append(frame)

    def __len__(self) -> int:
        return len(self.frames)

    def uuids(self) -> list[str]:
        return [f.job_uuid for f in self.frames if f.job_uuid]

    def write_extxyz(self, path: str | Path) -> Path:
        """The frames as extended XYZ (energy, forces, stress, moments; the settings and
        each frame's uuid and role in the info line), written atomically."""
        from ase.calculators.singlepoint import SinglePointCalculator
        from ase.io import write

        from mttmat.structures.io import atomic_write_text

        images = []
        for f in self.frames:
            s = f.pmg  # a fresh Atoms: the stored structure's properties are not labels
            atoms = Atoms(numbers=s.atomic_numbers, positions=s.cart_coords,
                          cell=s.lattice.matrix, pbc=True)  # fmt: skip
            res: dict[str, Any] = {"energy": f.energy_ev, "forces": np.array(f.forces_ev_a)}
            if f.stress_ev_a3 is not None:
                res["stress"] = np.array(f.stress_ev_a3)
            if f.magmoms_mub is not None:
                res["magmoms"] = np.array(f.magmoms_mub)
            atoms.calc = SinglePointCalculator(atoms, **res)
            atoms.info.update({"job_uuid": f.job_uuid or "", "role": f.role,
                               "spin_polarized": f.spin_polarized,
                               "settings": f.settings.model_dump_json()})  # fmt: skip
            images.append(atoms)
        buf = io.StringIO()
        write(buf, images, format="extxyz")
        return atomic_write_text(Path(path), buf.getvalue())

    @classmethod
    def read_extxyz(cls, path: str | Path) -> FrameSet:
        """A set written by :meth:`write_extxyz` (mixed settings refused as in :meth:`add`)."""
        from ase.io import read

        from mttmat.structures.io import atoms_to_structure

        out = cls()
        for atoms in read(str(path), index=":", format="extxyz"):
            calc = atoms.calc
            stress = calc.results.get("stress") if calc is not None else None
            moments = calc.results.get("magmoms") if calc is not None else None
            out.add(DftFrame(
                structure=atoms_to_structure(atoms).as_dict(),
                energy_ev=float(atoms.get_potential_energy()),
                forces_ev_a=atoms.get_forces().tolist(),
                stress_ev_a3=None if stress is None else _stress_3x3(stress),
                magmoms_mub=None if moments is None else [float(m) for m in moments],
                spin_polarized=bool(atoms.info.get("spin_polarized", False)),
                settings=_settings(atoms.info),
                job_uuid=atoms.info.get("job_uuid") or None, role=atoms.info.get("role", ""),
            ))  # fmt: skip
        return out

"""``EcramParameters``: the versioned, sourced parameter set of the ECRAM compact model.

Every parameter carries value, unit and source. A source is one of

- ``dft``: computed by this package (``uuids`` of the calculations, ``fidelity``),
- ``calibration``: fitted to device data (``residual`` and what it was fitted to),
- ``literature`` / ``device``: a stated external value (``reference``),
- ``structure``: derived from a structure (e.g. W density of the cell),
- ``assumption``: a modelling choice, stated as such.

The JSON form is the public contract consumed by downstream MTT/BNN simulations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mttmat.structures.io import atomic_write_text

__all__ = [
    "RANGES",
    "SCHEMA_VERSION",
    "UNITS",
    "DeviceDoesNotSwitchError",
    "EcramParameters",
    "Param",
    "ParameterError",
    "Source",
]

SCHEMA_VERSION = "1.0"


class ParameterError(ValueError):
    """A parameter is missing its source or outside its physical range."""


class DeviceDoesNotSwitchError(ParameterError):
    """The calibration cannot make the device switch with the material's DFT barrier."""


class Source(BaseModel):
    """Where a parameter value comes from."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["dft", "calibration", "literature", "device", "structure", "assumption"]
    uuids: list[str] = Field(default_factory=list, description="Store uuids of calculations.")
    fidelity: str | None = Field(None, description="'dft' or 'ml' for computed values.")
    reference: str | None = Field(None, description="Citation or data set for stated values.")
    residual: float | None = Field(None, description="Fit residual (relative) for calibrations.")
    note: str | None = None

    @model_validator(mode="after")
    def _traceable(self) -> Source:
        if self.kind == "dft" and not self.uuids:
            raise ValueError("a 'dft' source needs the uuids of the calculations")
        if self.kind in ("literature", "device") and not self.reference:
            raise ValueError(f"a '{self.kind}' source needs a reference")
        return self


class Param(BaseModel):
    """One model parameter: value, unit, source."""

    model_config = ConfigDict(extra="forbid")

    value: float
    unit: str
    source: Source


def _p(value: float, unit: str, kind: str, **src: Any) -> Param:
    return Param(value=value, unit=unit, source=Source(kind=kind, **src))


# Physical ranges: (low, high, inclusive-low); a value outside is refused with the reason.
RANGES: dict[str, tuple[float, float, str]] = {
    "channel_barrier_ev": (0.0, 3.0, "a migration barrier is > 0 and below ~3 eV"),
    "electrolyte_barrier_ev": (0.0, 3.0, "a migration barrier is > 0"),
    "retention_barrier_ev": (0.0, 4.0, "a barrier is > 0"),
    "hop_length_a": (0.5, 10.0, "Li hops are 1-5 Å"),
    "attempt_frequency_hz": (1e9, 1e15, "phonon frequencies are 1e12-1e14 Hz"),
    "site_energy_sigma_ev": (-1e-12, 2.0, "the spread of site energies is >= 0"),
    "electrons_per_li": (-1e-12, 3.0, "free electrons per Li are >= 0 (0: Li is a deep trap)"),
    "w_density_cm3": (1e20, 1e24, "metal densities of oxides are ~1e22 cm^-3"),
    "x_max": (0.0, 3.0, "Li per metal is > 0"),
    "mobility_cm2_vs": (0.0, 1e4, "mobility is > 0"),
    "g0_sheet_s": (0.0, 1.0, "off conductance is > 0"),
    "field_factor": (0.0, 10.0, "the field factor is > 0"),
    "kinetic_prefactor": (0.0, 1e12, "the kinetic prefactor is in (0, 1e12]: beyond, no "
                          "barrier sets the rate"),
    "theta_rest": (0.0, 1.0, "the rest filling is a fraction in (0, 1)"),
    "channel_thickness_nm": (0.0, 1e5, "thickness is > 0"),
    "electrolyte_thickness_nm": (0.0, 1e5, "thickness is > 0"),
    "width_um": (0.0, 1e5, "width is > 0"),
    "length_um": (0.0, 1e5, "length is > 0"),
    "temperature_k": (0.0, 2000.0, "temperature is > 0 K"),
    "c2c_sigma": (-1e-12, 1.0, "relative variation is >= 0"),
    "d2d_sigma": (-1e-12, 1.0, "relative variation is >= 0"),
}


_ENERGY = ("eV",)
_DIMENSIONLESS = ("1", "")
_MICRON = ("µm", "μm", "um")  # micro sign U+00B5, Greek mu U+03BC, ASCII
#: Accepted spellings of each parameter's unit (the first is the one mttmat writes). The model
#: uses the values as they are, so any other unit, even a convertible one, is refused with the
#: conversion the user needs: a barrier in kJ/mol or a temperature in °C used as eV or K
#: would silently change every rate.
UNITS: dict[str, tuple[str, ...]] = {
    "channel_barrier_ev": _ENERGY,
    "electrolyte_barrier_ev": _ENERGY,
    "retention_barrier_ev": _ENERGY,
    "site_energy_mean_ev": _ENERGY,
    "site_energy_sigma_ev": _ENERGY,
    "hop_length_a": ("Å", "A", "angstrom"),
    "attempt_frequency_hz": ("Hz", "1/s", "s^-1"),
    "electrons_per_li": ("e", "e/Li", "1"),
    "w_density_cm3": ("cm^-3", "1/cm^3", "cm-3"),
    "x_max": ("Li/W", "Li/Nb", "Li/M", "1"),
    "mobility_cm2_vs": ("cm^2/(V s)", "cm^2/Vs", "cm2/(V s)", "cm^2 V^-1 s^-1"),
    "g0_sheet_s": ("S",),
    "field_factor": _DIMENSIONLESS,
    "kinetic_prefactor": _DIMENSIONLESS,
    "theta_rest": _DIMENSIONLESS,
    "c2c_sigma": _DIMENSIONLESS,
    "d2d_sigma": _DIMENSIONLESS,
    "channel_thickness_nm": ("nm",),
    "electrolyte_thickness_nm": ("nm",),
    "width_um": _MICRON,
    "length_um": _MICRON,
    "temperature_k": ("K",),
}

#: How to convert the units people commonly write instead (a hint in the error message).
_CONVERSIONS: dict[str, str] = {
    "kj/mol": "1 kJ/mol = 0.0103643 eV",
    "kcal/mol": "1 kcal/mol = 0.0433641 eV",
    "mev": "1 meV = 0.001 eV",
    "j": "1 J = 6.241509e18 eV",
    "°c": "T[K] = T[°C] + 273.15",
    "c": "T[K] = T[°C] + 273.15",
    "degc": "T[K] = T[°C] + 273.15",
    "°f": "T[K] = (T[°F] − 32)·5/9 + 273.15",
    "nm": "1 nm = 10 Å = 0.001 µm",
    "µs": "1 µS = 1e-6 S",
    "us": "1 µS = 1e-6 S",
    "ms": "1 mS = 1e-3 S",
    "thz": "1 THz = 1e12 Hz",
    "cm^-2": "a sheet density is not a volume density: divide by the thickness in cm",
    "m^-3": "1 m^-3 = 1e-6 cm^-3",
    "%": "give a fraction: 5 % = 0.05",
}


def check_unit(name: str, unit: str) -> None:
    r"""Refuse ``unit`` for parameter ``name`` unless it is one of :data:`UNITS`\ [name]."""
    allowed = UNITS.get(name)
    if allowed is None:
        raise ValueError(f"{name}: no unit is defined for this parameter")
    if unit.strip() in allowed:
        return
    hint = _CONVERSIONS.get(unit.strip().lower().replace(" ", ""))
    shown = " or ".join(repr(u) for u in allowed if u) or "'1'"
    raise ValueError(
        f"{name}: unit {unit!r} is not accepted; give the value in {shown}"
        + (f" ({hint})" if hint else "")
    )


class EcramParameters(BaseModel):
    """Parameters of the physics-based ECRAM compact model for one channel material.

    Groups: channel DFT inputs (barrier, hop, site energies, electrons per Li), electrolyte
    literature inputs (kept apart: the gate voltage drops mostly across LiPON, whose own Li
    barrier is not computed here), device geometry, and calibrated transport parameters.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: str = SCHEMA_VERSION
    material: str = Field(..., description="Channel material label, e.g. 'WOx'.")

    # --- channel, from DFT (or stated) ---
    channel_barrier_ev: Param = Field(
        ..., description="Long-range Li barrier in the channel (percolation barrier), eV."
    )
    hop_length_a: Param = Field(..., description="Li hop length, Å.")
    attempt_frequency_hz: Param = Field(..., description="Attempt frequency ν0, Hz.")
    site_energy_mean_ev: Param = Field(
        ..., description="Mean Li site energy vs Li metal (neutral Li_i), eV; < 0 binds."
    )
    site_energy_sigma_ev: Param = Field(..., description="Spread σ of Li site energies, eV.")
    electrons_per_li: Param = Field(..., description="Free electrons donated per Li.")
    w_density_cm3: Param = Field(..., description="Metal (W/Nb) atoms per cm³ of channel.")
    x_max: Param = Field(..., description="Li per metal atom at full filling of the sites.")
    retention_barrier_ev: Param = Field(
        ...,
        description="Barrier of Li back-transfer at V_G = 0 (retention), eV. Differs from the "
        "hop barrier: at rest Li must leave the channel into the electronically insulating "
        "electrolyte.",
    )
    # --- electrolyte (literature; not computed here) ---
    electrolyte_barrier_ev: Param = Field(..., description="Li barrier in LiPON, eV.")
    # --- device geometry ---
    channel_thickness_nm: Param
    electrolyte_thickness_nm: Param
    width_um: Param
    length_um: Param
    temperature_k: Param
    # --- calibrated to device data ---
    mobility_cm2_vs: Param = Field(..., description="Electron mobility in the channel.")
    g0_sheet_s: Param = Field(..., description="Off-state sheet conductance (x = 0), S.")
    field_factor: Param = Field(
        ..., description="Fraction of qV_gate acting across one hop (dimensionless)."
    )
    kinetic_prefactor: Param = Field(
        ..., description="Interface factor multiplying ν0 exp(-E_a/kT) (dimensionless)."
    )
    theta_rest: Param = Field(
        ..., description="Site filling the channel relaxes to at V_G = 0 (retention target)."
    )
    c2c_sigma: Param = Field(..., description="Cycle-to-cycle relative spread of each step.")
    d2d_sigma: Param = Field(..., description="Device-to-device relative spread of rates.")

    @model_validator(mode="after")
    def _physical(self) -> EcramParameters:
        for name in UNITS:
            check_unit(name, getattr(self, name).unit)
        for name, (lo, hi, why) in RANGES.items():
            v = getattr(self, name).value
            if not lo < v <= hi:
                raise ValueError(f"{name} = {v} {getattr(self, name).unit} is out of range: {why}")
        return self

    # ------------------------------------------------------------------ helpers
    def values(self) -> dict[str, float]:
        """``{name: value}`` for every parameter."""
        return {k: v.value for k, v in self if isinstance(v, Param)}

    def sources(self) -> dict[str, str]:
        """``{name: source kind}``."""
        return {k: v.source.kind for k, v in self if isinstance(v, Param)}

    def updated(self, **values: float | Param) -> EcramParameters:
        """A copy with some values replaced (a float keeps unit and source)."""
        data = self.model_dump()
        for k, v in values.items():
            if k not in data or not isinstance(data[k], dict):
                raise ParameterError(f"unknown parameter {k!r}")
            data[k] = v.model_dump() if isinstance(v, Param) else {**data[k], "value": float(v)}
        return EcramParameters.checked(**data)

    def to_json(self, path: str | Path | None = None) -> str:
        text = self.model_dump_json(indent=2)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> EcramParameters:
        p = Path(text_or_path) if not str(text_or_path).lstrip().startswith("{") else None
        text = p.read_text() if p is not None else str(text_or_path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ParameterError(f"parameter file is not valid JSON: {err}") from None
        where = f"{p}" if p is not None else "the parameter text"
        if not isinstance(data, dict):
            raise ParameterError(f"{where} is not an EcramParameters object (a JSON mapping)")
        version = data.get("schema_version")
        if version is None:
            raise ParameterError(
                f"{where} has no schema_version: it is not an EcramParameters file, or one "
                f"written before schema {SCHEMA_VERSION}; write a current one with "
                "'mttmat ecram --write-defaults FILE' and copy your values into it"
            )
        if version != SCHEMA_VERSION:
            raise ParameterError(
                f"{where} has EcramParameters schema {version!r}, this mttmat reads "
                f"{SCHEMA_VERSION!r}; regenerate it with 'mttmat ecram --write-defaults FILE'"
            )
        return cls.checked(**data)

    @classmethod
    def checked(cls, **data: Any) -> EcramParameters:
        """Construct, turning validation errors into one readable :class:`ParameterError`."""
        try:
            return cls(**data)
        except ValidationError as err:
            msgs = []
            for e in err.errors():
                loc = ".".join(str(x) for x in e["loc"]) or "parameters"
                msgs.append(f"{loc}: {e['msg'].removeprefix('Value error, ')}")
            raise ParameterError("invalid ECRAM parameters: " + "; ".join(msgs)) from None

    @classmethod
    def paper_defaults(cls, material: str = "WOx") -> EcramParameters:
        """Stated values before DFT/calibration: paper, literature and explicit assumptions.

        The DFT stages replace the channel entries (barrier, site energies, electrons per Li)
        with computed ones and :func:`mttmat.device.calibrate.calibrate` the transport ones.
        """
        paper = "Yang et al., Adv. Sci. (MTT/ECRAM), DESIGN.md table"
        return cls(
            material=material,
            channel_barrier_ev=_p(0.8, "eV", "literature", reference=f"{paper}: a-WOx CI-NEB max"),
            hop_length_a=_p(2.8, "Å", "assumption", note="typical interstitial-interstitial hop"),
            attempt_frequency_hz=_p(1e13, "Hz", "assumption", note="typical optical phonon"),
            site_energy_mean_ev=_p(-2.0, "eV", "assumption", note="replace with DFT E_f(q=0)"),
            site_energy_sigma_ev=_p(0.1, "eV", "assumption", note="replace with DFT site spread"),
            electrons_per_li=_p(1.0, "e", "assumption", note="shallow donor; replace with DOS"),
            w_density_cm3=_p(1.87e22, "cm^-3", "structure", note="γ-WO3, 7.2 g/cm³"),
            x_max=_p(0.5, "Li/W", "assumption", note="Li_xWO3 intercalation range x <= 0.5"),
            retention_barrier_ev=_p(
                1.1,
                "eV",
                "assumption",
                note="no retention time survived extraction; 1.1 eV gives τ ~ 1 day at 300 K "
                "with ν0 = 1e13 Hz. The barrier for Li to leave the channel at V_G = 0, used "
                "with the bare ν0 (not the calibrated interface factor of the pulses).",
            ),
            electrolyte_barrier_ev=_p(
                0.58, "eV", "literature", reference="Put et al., ACS AMI 2016 (LiPON 0.53-0.63 eV)"
            ),
            channel_thickness_nm=_p(60.0, "nm", "device", reference=paper),
            electrolyte_thickness_nm=_p(120.0, "nm", "device", reference=paper),
            width_um=_p(10.0, "µm", "device", reference=paper),
            length_um=_p(10.0, "µm", "device", reference=paper),
            temperature_k=_p(300.0, "K", "assumption", note="room temperature"),
            mobility_cm2_vs=_p(0.05, "cm^2/(V s)", "assumption", note="to be calibrated"),
            g0_sheet_s=_p(7e-8, "S", "assumption", note="to be calibrated"),
            field_factor=_p(0.03, "1", "assumption", note="to be calibrated"),
            kinetic_prefactor=_p(1.0, "1", "assumption", note="to be calibrated"),
            theta_rest=_p(0.05, "1", "assumption", note="rest filling at V_G = 0"),
            c2c_sigma=_p(0.02, "1", "assumption", note="cycle-to-cycle spread"),
            d2d_sigma=_p(0.05, "1", "assumption", note="device-to-device spread"),
        )

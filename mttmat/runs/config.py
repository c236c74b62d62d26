"""Configuration of the main job (``mttmat run``): the chain config shared with the HPC run
(:class:`~mttmat.chain.config.ChainConfig`) plus backends, the device stage and the store.

Defaults live here; ``workflows/main_job.yaml`` is the same set written out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mttmat.chain.config import (
    ChainConfig,
    DftConfig,
    FormationConfig,
    LiSitesConfig,
    NebConfig,
    StartCell,
)
from mttmat.config_files import read_yaml_mapping, validated
from mttmat.device.calibrate import DeviceTargets

__all__ = [
    "DeviceConfig",
    "DftConfig",
    "FormationConfig",
    "LiSitesConfig",
    "MainJobConfig",
    "MaterialConfig",
    "NebConfig",
    "load_config",
]

MaterialConfig = StartCell  # the start cell of one material (the chain config's)


class DeviceConfig(BaseModel):
    """Device-model stage: calibration targets (the paper's device) and exports."""

    model_config = ConfigDict(extra="forbid")

    reference: str = Field("WOx", description="Material calibrated to the measured device.")
    g_max_s: float = Field(45e-6, gt=0)
    ratio_pulse: float = Field(56.0, gt=1)
    n_pulses: int = Field(180, gt=0)
    v_set: float = Field(10.0, gt=0)
    v_reset: float = Field(-7.0, lt=0)
    width_s: float = Field(2e-3, gt=0)
    export: Literal["neurosim", "aihwkit", "mtt", "traces", "all"] = "all"
    k_sweep: bool = Field(True, description="BNN accuracy vs K sweep (~1 min).")

    def targets(self) -> Any:
        """The calibration targets as :class:`mttmat.device.calibrate.DeviceTargets`."""
        return DeviceTargets(
            g_max_s=self.g_max_s,
            ratio_pulse=self.ratio_pulse,
            n_pulses=self.n_pulses,
            v_set=self.v_set,
            v_reset=self.v_reset,
            width_s=self.width_s,
        )


class MainJobConfig(ChainConfig):
    """Configuration of ``mttmat run``: the chain (:class:`~mttmat.chain.config.ChainConfig`,
    shared with the HPC run) plus backends, the device stage and the store; every field has
    a default."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("mttmat-small", description="Run name: results/<name>/.")
    ml_backend: str = Field("chgnet", description="Backend for MD, screening and the ML NEB.")
    dft_backend: str = Field("gpaw", description="Backend for electronic structure.")
    device: DeviceConfig = Field(default_factory=DeviceConfig)
    store_dir: Path | None = Field(None, description="Job store (default <output>/store).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or "/" in v or v.startswith("."):
            raise ValueError(f"name must be a plain folder name, got {v!r}")
        return v

    @field_validator("ml_backend")
    @classmethod
    def _ml_backend(cls, v: str) -> str:
        if v != "chgnet":
            raise ValueError(f"ml_backend must be an in-process ML potential (chgnet), got {v!r}")
        return v

    @field_validator("dft_backend")
    @classmethod
    def _dft_backend(cls, v: str) -> str:
        if v != "gpaw":
            raise ValueError(
                f"the local main job runs its DFT with gpaw, got {v!r}; full-size VASP runs go "
                "through the HPC path (mttmat hpc, README)"
            )
        return v

    @model_validator(mode="after")
    def _reference(self) -> MainJobConfig:
        if self.device.reference not in self.materials:
            raise ValueError(
                f"device.reference {self.device.reference!r} is not among the materials"
            )
        return self


def load_config(path: str | Path | None = None, **overrides: Any) -> MainJobConfig:
    """Defaults, updated from a YAML file and keyword overrides; clear errors on bad input."""
    data = read_yaml_mapping(path) if path is not None else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return validated(MainJobConfig, data, f" in {path}" if path else "")

"""One settings object for the whole package.

Values come, in increasing priority, from the defaults below, an optional YAML file
(``~/.mttmat.yaml`` or the path in ``MTTMAT_CONFIG_FILE``) and environment variables with the
prefix ``MTTMAT_`` (e.g. ``MTTMAT_FORCE_TOLERANCE_EV_A=0.01``; nested dicts as JSON,
``MTTMAT_HUBBARD_U_EV='{"W": 6.2}'``). This is the only module that reads the environment.

Examples
--------
>>> from mttmat.settings import get_settings
>>> get_settings().hubbard_u_ev["W"]
6.2
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

_DEFAULT_CONFIG_FILE = Path("~/.mttmat.yaml").expanduser()


class _YamlSource(PydanticBaseSettingsSource):
    """Read settings from the YAML file named by ``MTTMAT_CONFIG_FILE`` or ``~/.mttmat.yaml``."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = Path(os.environ.get("MTTMAT_CONFIG_FILE", _DEFAULT_CONFIG_FILE)).expanduser()
        if not path.is_file():
            return {}
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: settings file must hold a mapping of setting: value")
        unknown = set(data) - set(MttmatSettings.model_fields)
        if unknown:
            raise ValueError(
                f"{path}: unknown setting(s) {sorted(unknown)}; "
                f"known: {sorted(MttmatSettings.model_fields)}"
            )
        return data


class MttmatSettings(BaseSettings):
    """Settings of mttmat: physics defaults, DFT presets and where results are stored."""

    model_config = SettingsConfigDict(env_prefix="MTTMAT_", extra="forbid")

    # --- DFT+U (Dudarev, on d states) -------------------------------------------------
    hubbard_u_ev: dict[str, float] = Field(
        default_factory=lambda: {"W": 6.2, "Nb": 4.0},
        description="Dudarev U_eff (eV) on the d shell, per element. Elements absent get U = 0.",
    )
    hubbard_l: dict[str, int] = Field(
        default_factory=lambda: {"W": 2, "Nb": 2},
        description="Angular momentum the U acts on, per element (2 = d).",
    )
    ldau_type: Literal[2] = Field(2, description="VASP LDAUTYPE; 2 = Dudarev (only U-J enters).")

    # --- convergence -------------------------------------------------------------------
    force_tolerance_ev_a: float = Field(
        0.02, gt=0, description="Relaxation stops when max |F| < this (eV/Å)."
    )
    neb_force_tolerance_ev_a: float = Field(
        0.05, gt=0, description="CI-NEB stops when max |F| on the images < this (eV/Å)."
    )
    gpaw_ecut_ev: float = Field(300.0, gt=0, description="GPAW plane-wave cutoff (eV).")
    vasp_encut_ev: float = Field(520.0, gt=0, description="VASP ENCUT (eV).")
    kpoint_density: float = Field(
        2.0,
        gt=0,
        description="GPAW/ASE k-point density (points per Å⁻¹, 2π included): "
        "n_i = ceil(density·|b_i|). 3.8 Å cubic WO3 → 4, 15 Å amorphous cells → Γ.",
    )
    vasp_reciprocal_density: int = Field(
        64, gt=0, description="VASP k-points per Å⁻³ (pymatgen reciprocal_density)."
    )
    smearing_width_ev: float = Field(0.05, gt=0, description="Fermi-Dirac smearing width (eV).")
    spin_polarized: bool = Field(True, description="Spin-polarised DFT by default.")
    gpaw_max_atoms: int = Field(
        40, gt=0, description="Largest cell GPAW is allowed to run locally (atoms)."
    )

    # --- where results go ----------------------------------------------------------------
    store_dir: Path = Field(
        Path("mttmat_runs"),
        description="Directory of the embedded job store (montydb sqlite) and job folders.",
    )
    mongo_uri: str | None = Field(
        None, description="MongoDB URI; when set, the job store uses MongoDB (HPC path)."
    )
    mongo_database: str = Field("mttmat", description="MongoDB database name.")
    default_backend: str = Field("chgnet", description="Backend used when none is named.")
    vasp_potcar_dir: Path | None = Field(
        None,
        description="Directory with VASP POTCARs; when unset, POTCAR.spec is written instead.",
    )
    threads: int | None = Field(
        None,
        gt=0,
        description="Threads per process for torch/BLAS/OpenMP. Unset: cores // live mttmat "
        "runs on this machine (re-read between jobs), or OMP_NUM_THREADS when that is set.",
    )
    runtime_dir: Path | None = Field(
        None,
        description="Folder of the live-run slots that share the cores (default: "
        "<tmp>/mttmat-<uid>/runs). Runs that should share cores must see the same folder.",
    )

    @field_validator("hubbard_u_ev")
    @classmethod
    def _non_negative_u(cls, v: dict[str, float]) -> dict[str, float]:
        from mttmat.materials import check_hubbard_u

        return check_hubbard_u(v)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    def u_for(self, element: str) -> float:
        """U_eff (eV) for ``element``; 0 when none is set."""
        return float(self.hubbard_u_ev.get(element, 0.0))


@lru_cache(maxsize=1)
def get_settings() -> MttmatSettings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` after changes)."""
    return MttmatSettings()

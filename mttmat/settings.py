"""One settings object for the whole package: the environment, never the physics.

Settings say where things are and how to run them: the store, MongoDB, the default backend,
threads and workers, the local GPAW size limit (POTCARs are pymatgen's ``PMG_VASP_PSP_DIR``). Like
atomate2's and quacc's settings, they hold no physics: U per species, cutoffs, k-meshes,
smearing, spin and force tolerances are inputs of the makers, set from the run config when a
flow is built (:mod:`mttmat.chain.config`), with code defaults for direct calls
(:mod:`mttmat.backends.defaults`). So a settings file or variable on a cluster worker cannot
change what a job computes.

Values come, in increasing priority, from the defaults below, an optional YAML file
(``~/.mttmat.yaml`` or the path in ``MTTMAT_CONFIG_FILE``) and environment variables with the
prefix ``MTTMAT_`` (e.g. ``MTTMAT_STORE_DIR=/scratch/runs``). This is the only module that
reads the environment, with :mod:`mttmat.threads` (``OMP_NUM_THREADS``).

Examples
--------
>>> from mttmat.settings import get_settings
>>> get_settings().default_backend
'chgnet'
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field
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
        retired = sorted(set(data) & set(RETIRED))
        if retired:  # ignored, as the variables are (see get_settings)
            warnings.warn(
                f"{path}: {retired} ignored, no longer settings: {RETIRED[retired[0]]}; "
                "remove them from the file",
                RetiredSettingWarning,
                stacklevel=2,
            )
            data = {k: v for k, v in data.items() if k not in RETIRED}
        unknown = set(data) - set(MttmatSettings.model_fields)
        if unknown:
            raise ValueError(
                f"{path}: unknown setting(s) {sorted(unknown)}; "
                f"known: {sorted(MttmatSettings.model_fields)}"
            )
        return data


class RetiredSettingWarning(UserWarning):
    """A setting of an earlier version that is ignored now (shown by the CLI too)."""


_IN_CONFIG = "set it in the run config (dft: ... of workflows/main_job.yaml or hpc.yaml)"
#: settings of earlier versions (physics, and the POTCAR folder): where each now lives
RETIRED: dict[str, str] = {
    "hubbard_u_ev": f"U per species is `dft.hubbard_u_ev`; {_IN_CONFIG}, or --calc-kwargs",
    "hubbard_l": f"`dft.hubbard_l`; {_IN_CONFIG}",
    "ldau_type": "VASP runs Dudarev DFT+U (LDAUTYPE = 2)",
    "force_tolerance_ev_a": f"relax tolerances are maker and config fields; {_IN_CONFIG}",
    "neb_force_tolerance_ev_a": f"`neb.fmax_ev_a`; {_IN_CONFIG}",
    "gpaw_ecut_ev": f"`dft.ecut_ev`; {_IN_CONFIG}, or --calc-kwargs",
    "vasp_encut_ev": f"`dft.ecut_ev`; {_IN_CONFIG}",
    "kpoint_density": f"`dft.kpts`; {_IN_CONFIG}, or --calc-kwargs",
    "vasp_reciprocal_density": f"`dft.kpts`; {_IN_CONFIG}",
    "smearing_width_ev": f"`dft.smearing_ev`; {_IN_CONFIG}",
    "spin_polarized": "the spin treatment is chosen per cell by the chain",
    "vasp_potcar_dir": "POTCARs are found by pymatgen, as atomate2 finds them: set "
    "PMG_VASP_PSP_DIR (`pmg config -p`)",
}


def retired_in_environment() -> list[str]:
    """``MTTMAT_*`` variables of retired physics settings that are set (they are ignored)."""
    return sorted(f"MTTMAT_{k.upper()}" for k in RETIRED if f"MTTMAT_{k.upper()}" in os.environ)


class MttmatSettings(BaseSettings):
    """Settings of mttmat: where results are stored and how jobs run (no physics)."""

    model_config = SettingsConfigDict(env_prefix="MTTMAT_", extra="forbid")

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
    threads: int | None = Field(
        None,
        gt=0,
        description="Threads per process for torch/BLAS/OpenMP. Unset: cores // live mttmat "
        "runs on this machine (re-read between jobs), or OMP_NUM_THREADS when that is set.",
    )
    workers: int | None = Field(
        None,
        gt=0,
        description="Jobs of a local flow run at once, each in its own process (mttmat.pool). "
        "Unset: one per core, at most 4. 1: one job at a time in the calling process.",
    )
    runtime_dir: Path | None = Field(
        None,
        description="Folder of the live-run slots that share the cores (default: "
        "<tmp>/mttmat-<uid>/runs). Runs that should share cores must see the same folder.",
    )

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


@lru_cache(maxsize=1)
def get_settings() -> MttmatSettings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` after changes).

    A retired physics variable in the environment (``MTTMAT_HUBBARD_U_EV`` …) is ignored
    with a warning that names where the value now goes: on a cluster worker it must not
    change a job, and it must not fail one either."""
    old = retired_in_environment()
    if old:
        warnings.warn(
            f"{', '.join(old)} ignored, no longer settings: {RETIRED[old[0][7:].lower()]}",
            RetiredSettingWarning,
            stacklevel=2,
        )
    return MttmatSettings()

"""Exception types that mean "bad input": the CLI prints them as one line and exits 2."""

from __future__ import annotations

from mttmat.backends.base import BackendError
from mttmat.device.parameters import DeviceDoesNotSwitchError
from mttmat.jobs.formation import RelaxNotConvergedError
from mttmat.jobs.melt_quench import MeltNotMeltedError
from mttmat.locks import LockBusyError, LockUnsupportedError
from mttmat.store import StoreError
from mttmat.structures.validate import StructureError


class ConfigError(ValueError):
    """A run configuration is invalid (unknown key, wrong type, unknown material...)."""


# ValueError covers pydantic's ValidationError and ASE-style argument checks.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    StructureError,
    BackendError,
    StoreError,
    LockBusyError,
    LockUnsupportedError,
    FileNotFoundError,
    PermissionError,
    ValueError,
)

# A physical check that failed after the computation tried what its settings allow: the run
# stops with the numbers (exit 3); the input was valid, the result would not be.
PHYSICS_ERRORS: tuple[type[BaseException], ...] = (
    MeltNotMeltedError,
    RelaxNotConvergedError,
    DeviceDoesNotSwitchError,
)

__all__ = [
    "PHYSICS_ERRORS",
    "USER_ERRORS",
    "BackendError",
    "ConfigError",
    "LockBusyError",
    "StoreError",
    "StructureError",
]

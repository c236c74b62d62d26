"""Exception types that mean "bad input": the CLI prints them as one line and exits 2."""

from __future__ import annotations

from mttmat.backends.base import BackendError
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

__all__ = [
    "USER_ERRORS",
    "BackendError",
    "ConfigError",
    "LockBusyError",
    "StoreError",
    "StructureError",
]

"""Backends by name: ``chgnet`` (ML potential), ``gpaw`` (local DFT+U), ``vasp`` (HPC DFT+U)."""

from __future__ import annotations

# Registration happens at import; heavy codes are imported lazily inside the backends.
from mttmat.backends import chgnet as _chgnet  # noqa: F401
from mttmat.backends import gpaw as _gpaw  # noqa: F401
from mttmat.backends import vasp as _vasp  # noqa: F401
from mttmat.backends.base import (
    AseCalculatorBackend,
    Backend,
    BackendError,
    CalculatorMDMaker,
    CalculatorRelaxMaker,
    available_backends,
    get_backend,
    register_backend,
)

__all__ = [
    "AseCalculatorBackend",
    "Backend",
    "BackendError",
    "CalculatorMDMaker",
    "CalculatorRelaxMaker",
    "available_backends",
    "get_backend",
    "register_backend",
]

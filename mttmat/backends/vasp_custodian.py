"""Custodian handlers and validators by class name, and edits to atomate2's defaults."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mttmat.backends.base import BackendError

__all__ = [
    "DEFAULT_CUSTODIAN_VALIDATORS",
    "custodian_handlers",
    "custodian_validators",
    "edited",
]

#: atomate2's run_vasp validators for every job type but NEB (by name: atomate2 keeps them
#: in a private constant)
DEFAULT_CUSTODIAN_VALIDATORS: tuple[str, ...] = ("VasprunXMLValidator", "VaspFilesValidator")


def custodian_handlers(names: Sequence[str]) -> list[Any]:
    """Instantiate custodian VASP error handlers by class name."""
    from custodian.vasp import handlers

    out = []
    for n in names:
        cls = getattr(handlers, n, None)
        if cls is None:
            raise BackendError(
                f"unknown custodian handler {n!r}; see custodian.vasp.handlers "
                "(e.g. VaspErrorHandler, UnconvergedErrorHandler, AliasingErrorHandler)"
            )
        out.append(cls())
    return out


def edited(items: list[Any], remove: Sequence[str], add: list[Any]) -> list[Any]:
    """``items`` without the classes named in ``remove``, plus ``add`` (no duplicates)."""
    kept = [x for x in items if type(x).__name__ not in remove]
    names = {type(x).__name__ for x in kept}
    return kept + [x for x in add if type(x).__name__ not in names]


def custodian_validators(names: Sequence[str]) -> list[Any]:
    """Instantiate custodian VASP validators by class name."""
    from custodian.vasp import validators

    out = []
    for n in names:
        cls = getattr(validators, n, None)
        if cls is None:
            raise BackendError(f"unknown custodian validator {n!r}; see custodian.vasp.validators")
        out.append(cls())
    return out

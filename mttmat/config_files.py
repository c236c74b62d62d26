"""Reading YAML run configurations and turning pydantic errors into one-line messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mttmat.errors import ConfigError

__all__ = ["read_yaml_mapping", "validated"]


def read_yaml_mapping(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """The mapping in a YAML file; ConfigError if the file is missing, bad YAML or no mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{what} {path} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a mapping (key: value)")
    return data


def validated(model: type[BaseModel], data: dict[str, Any], where: str = "") -> Any:
    """``model(**data)``; a ValidationError becomes one ConfigError naming every bad key."""
    try:
        return model(**data)
    except ValidationError as err:
        lines = [
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()
        ]
        raise ConfigError(f"invalid config{where}: " + "; ".join(lines)) from None

"""mttmat: ECRAM channel materials from atoms to a device model."""

from __future__ import annotations

__version__ = "0.1.0"

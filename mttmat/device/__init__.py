"""ECRAM compact model, its parameters, calibration and exports for MTT/BNN simulation."""

from __future__ import annotations

from mttmat.device.model import EcramModel
from mttmat.device.parameters import EcramParameters, Param, ParameterError, Source
from mttmat.device.voc import VocCurve

__all__ = ["EcramModel", "EcramParameters", "Param", "ParameterError", "Source", "VocCurve"]

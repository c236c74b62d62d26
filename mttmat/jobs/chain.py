"""Jobs that close a material chain: the ECRAM parameters from the chain's documents (the one
DFT → device mapping, :func:`mttmat.device.build.parameters_from_chain`) and the chain
document that names every stage's job by role."""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

from jobflow import job

from mttmat.device.build import parameters_from_chain
from mttmat.schemas.chain import MaterialChainDoc

__all__ = ["chain_document", "channel_parameters"]


@job
def channel_parameters(
    material: str,
    host: Any,
    screening: Any,
    dos_summary: Any,
    formation: Any,
    network: Any,
    band: Any,
    site_dos: dict[str, Any],
    uuids: dict[str, str],
    electron: Any,
) -> dict[str, Any]:
    """The computed :class:`EcramParameters` of one material (JSON dict), by
    :func:`mttmat.device.build.parameters_from_chain`."""
    p = parameters_from_chain(material, host, screening, dos_summary, formation, network,
                              band, site_dos, uuids, electron)  # fmt: skip
    return json.loads(p.model_dump_json())


@job(output_schema=MaterialChainDoc)
def chain_document(
    material: str,
    parameters: dict[str, Any],
    stages: dict[str, str],
    ml_backend: str,
    dft_backend: str,
    dft_settings: dict[str, Any],
) -> MaterialChainDoc:
    """The chain's :class:`MaterialChainDoc`: parameters and every stage's uuid by role."""
    return MaterialChainDoc(
        material=material, parameters=parameters, stages=stages, ml_backend=ml_backend,
        dft_backend=dft_backend, dft_settings=dft_settings,
        mttmat_version=version("mttmat"),
    )  # fmt: skip

"""The chain's own output: one document per material that names every stage's document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["CHAIN_DOC_TYPE", "MaterialChainDoc"]

#: ``doc_type`` of :class:`MaterialChainDoc` (how a store query finds the chain outputs)
CHAIN_DOC_TYPE = "mttmat.material_chain"


class MaterialChainDoc(BaseModel):
    """The end of one material's chain, the same for every backend.

    ``stages`` maps each role (``screening``, ``host``, ``Li_i q=+0 band``, ``DOS summary``,
    ``electron``, ``formation``, ``hop network``, ``DFT band``, ``parameters`` ...) to the
    uuid of the job whose output is that stage's document: readers look documents up by
    role, never by a job's display name. ``parameters`` is the
    :class:`~mttmat.device.parameters.EcramParameters` (JSON) the device model reads.
    """

    doc_type: Literal["mttmat.material_chain"] = CHAIN_DOC_TYPE
    material: str
    parameters: dict[str, Any] = Field(description="EcramParameters (JSON) of the material")
    stages: dict[str, str] = Field(description="role → uuid of the job holding that document")
    ml_backend: str
    dft_backend: str
    dft_settings: dict[str, Any] = Field(
        description="calculator settings every DFT cell of the chain shares (U per species, "
        "cutoff, k-mesh, smearing)"
    )
    mttmat_version: str

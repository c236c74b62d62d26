"""Jobs of the Li-doped DOS: one calculation's DOS document (read by its code's backend) and
the summary of a host and its Li cells (band filling, Li PDOS weight, E_F shift)."""

from __future__ import annotations

from typing import Any

from jobflow import job

from mttmat.backends import get_backend
from mttmat.schemas.dos import DosDoc
from mttmat.schemas.dos_summary import LiDosSummary

__all__ = ["dos_document", "summarize_li_dos"]


@job(output_schema=DosDoc)
def dos_document(
    calc: Any, uuid: str | None = None, width_ev: float = 0.1, code: str | None = None
) -> DosDoc:
    """The DOS document of one finished calculation of the DFT ``code``, read by its backend
    (:meth:`~mttmat.backends.base.Backend.dos_document`: GPAW's task document, VASP's
    vasprun.xml). ``code`` None: a job built by mttmat before the code was an input (a
    queued HPC job), read as then: a document with an electronic summary as GPAW's, any
    other as VASP's."""
    if code is None:
        get = calc.get if isinstance(calc, dict) else lambda k, d=None: getattr(calc, k, d)
        code = "gpaw" if get("electronic") is not None else "vasp"
    return get_backend(code).dos_document(calc, uuid=uuid, width_ev=width_ev)


@job(output_schema=LiDosSummary)
def summarize_li_dos(
    host: Any,
    doped: list[Any],
    n_li: int,
    labels: list[str],
    uuids: dict[str, str] | None = None,
) -> LiDosSummary:
    """Derived numbers of every doped cell against the host."""

    def _doc(d: Any) -> DosDoc:
        return d if isinstance(d, DosDoc) else DosDoc.model_validate(d)

    return LiDosSummary.build(
        _doc(host), [_doc(d) for d in doped], n_li=n_li, labels=labels, uuids=uuids
    )

"""Jobs of the Li-doped DOS: one calculation's DOS document (GPAW or VASP) and the summary of
a host and its Li cells (band filling, Li PDOS weight, E_F shift)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobflow import job
from pymatgen.core import Structure

from mttmat.schemas.dos import DosDoc
from mttmat.schemas.dos_summary import LiDosSummary

__all__ = ["dos_document", "summarize_li_dos"]


def _vasprun_in(dir_name: str) -> Path:
    d = Path(str(dir_name).split(":", 1)[-1])  # atomate2 dir_name is "host:/path"
    for name in ("vasprun.xml", "vasprun.xml.gz"):
        if (d / name).exists():
            return d / name
    raise FileNotFoundError(f"no vasprun.xml(.gz) in {d}: did the VASP DOS job finish?")


@job(output_schema=DosDoc)
def dos_document(calc: Any, uuid: str | None = None, width_ev: float = 0.1) -> DosDoc:
    """The DOS document of one finished calculation (GPAW task doc or VASP non-SCF doc)."""
    get = calc.get if isinstance(calc, dict) else lambda k, d=None: getattr(calc, k, d)
    if get("electronic") is not None:  # mttmat's ASE-calculator task document (GPAW)
        structure = get("structure")
        if isinstance(structure, dict):
            structure = Structure.from_dict(structure)
        return DosDoc.from_electronic(get("electronic"), structure, width=width_ev, uuid=uuid)
    if get("dir_name") is not None:  # atomate2 VASP TaskDoc
        return DosDoc.from_vasprun(_vasprun_in(get("dir_name")), uuid=uuid)
    raise ValueError("the calculation document has neither GPAW electronic data nor a VASP dir")


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

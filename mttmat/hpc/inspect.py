"""Write the VASP inputs of every full-size job type, for checking before submission.

``write_job_inputs(cfg, material, out)`` builds the material's flow as it will be submitted
and writes, per VASP job type, the INCAR/KPOINTS/POSCAR/POTCAR.spec of its first job: the
AIMD melt-quench segment and the cell relax on the start cell; the static (host) and the
charged static (Li_i^+, ``defect``) on the host (``host`` argument, e.g. the shipped
melt-quenched cell, else the start cell) with one Li in its largest void. The jobs after the
screening receive their cells at run time; the stand-in used here has the same composition,
so ``NELECT`` and ``LDAUU`` are the ones they will get.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from mttmat.backends.base import BackendError
from mttmat.backends.vasp import write_vasp_inputs
from mttmat.chain.build import start_cell
from mttmat.hpc.config import HpcConfig
from mttmat.hpc.flow import build_material_flow
from mttmat.structures.sites import find_interstitial_sites, insert_li

__all__ = ["write_job_inputs"]


def _first(flow: Any, jt: str) -> Any:
    for j, _ in flow.iterflow():
        if j.metadata.get("mttmat_job_type") == jt and j.name != "bcc Li (μ_Li)":
            return j
    return None


def write_job_inputs(
    cfg: HpcConfig,
    material: str,
    out: str | Path,
    host: Structure | None = None,
    skipped: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Inputs of the aimd, relax, static and defect jobs of ``material``.

    A job whose inputs cannot be written here (a charged cell without POTCARs: no NELECT)
    is left out; with ``skipped`` given, its reason goes there, else the error is raised."""

    out = Path(out)
    start, _, _ = start_cell(material, cfg.workflow.materials[material])
    host = host or start
    doped = insert_li(host, [list(find_interstitial_sites(host)[0].frac_coords)])
    flow = build_material_flow(cfg, material)
    written: dict[str, Path] = {}
    for jt, cell in (("aimd", start), ("relax", start), ("static", host), ("defect", doped)):
        j = _first(flow, jt)
        if j is None:
            continue
        try:
            written[jt] = write_vasp_inputs(j.maker, cell, out / jt)  # NELECT of charged cells
        except BackendError as err:
            if skipped is None:
                raise
            skipped[jt] = str(err)
    return written

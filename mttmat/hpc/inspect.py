"""Write the VASP inputs of every full-size job type, for checking before submission.

``write_job_inputs(cfg, material, out)`` builds the material's flow as it will be submitted
and writes, per job type, the INCAR/KPOINTS/POSCAR/POTCAR.spec that job would run: the AIMD
melt-quench segment and the cell relax on the start cell; the DOS relax/static/non-SCF, the
charged Li_i^+ static and the CI-NEB on the host (``host`` argument, e.g. the shipped
melt-quenched cell, else the start cell) with one Li in its largest void. The jobs that run
after the screening receive their cells at run time; the stand-in used here has the same
composition, so ``NELECT`` and ``LDAUU`` are the ones they will get.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from mttmat.hpc.config import HpcConfig

__all__ = ["write_job_inputs"]


def _first(flow: Any, jt: str, name_part: str = "") -> Any:
    for j, _ in flow.iterflow():
        if j.metadata.get("mttmat_job_type") == jt and name_part in j.name:
            return j
    return None


def write_job_inputs(
    cfg: HpcConfig, material: str, out: str | Path, host: Structure | None = None
) -> dict[str, Path]:
    """Inputs of the aimd, relax, static, dos, defect and neb jobs of ``material``."""
    from mttmat.backends.vasp import write_vasp_inputs
    from mttmat.flows.li_doping import insert_li
    from mttmat.hpc.flow import build_material_flow, li_stages, run_config_map, start_structure
    from mttmat.structures.sites import find_interstitial_sites

    out = Path(out)
    start, _ = start_structure(cfg.workflow.materials[material])
    host = host or start
    doped = insert_li(host, [list(find_interstitial_sites(host)[0].frac_coords)])
    written: dict[str, Path] = {}
    flow = build_material_flow(cfg, material)
    for jt in ("aimd", "relax"):
        j = _first(flow, jt)
        if j is not None:
            written[jt] = write_vasp_inputs(j.maker, start, out / jt)
    w = cfg.workflow
    stages = li_stages.original(
        host, material,
        {"n_sites": w.n_sites, "max_candidates": w.max_candidates,
         "dielectric": w.dielectric[material], "dielectric_source": w.dielectric_source,
         "neb_images": w.neb_images},
        run_config_map(cfg), cfg.custodian.backend_options(),
    ).replace  # fmt: skip
    for jt, part, cell in (("static", "host", host), ("dos", "site 1", doped),
                           ("defect", "q=+1", doped)):  # fmt: skip
        j = _first(stages, jt, part)
        written[jt] = write_vasp_inputs(j.maker, cell, out / jt)
    neb = _first(stages, "neb")
    d = write_vasp_inputs(neb.maker, doped, out / "neb")
    images = doped.interpolate(doped, nimages=w.neb_images + 1)  # stand-in band
    for k, im in enumerate(images):
        (d / f"{k:02d}").mkdir(parents=True, exist_ok=True)
        im.to(filename=str(d / f"{k:02d}" / "POSCAR"), fmt="poscar")
    written["neb"] = d
    return written

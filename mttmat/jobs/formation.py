"""Jobs of the Li formation energy: the two-Li cell for the voltage, the VASP task document in
the code-agnostic shape, and the formation-energy document of a host, bcc Li and Li_i^q."""

from __future__ import annotations

from typing import Any

import numpy as np
from jobflow import job
from monty.json import jsanitize
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.schemas.defects import LiFormationDoc
from mttmat.structures.validate import StructureError

__all__ = ["RelaxNotConvergedError", "li_formation_summary", "multi_li_cell", "vasp_calc_doc"]


class RelaxNotConvergedError(RuntimeError):
    """An ML relax whose result a number depends on did not reach its force limit."""


@job
def multi_li_cell(
    host: Structure,
    doped: list[Structure],
    n_li: int | None = None,
    backend: str | None = None,
    fmax: float = 0.05,
    max_steps: int = 500,
) -> Structure:
    """Host + ``n_li`` Li (default: one per cell in ``doped``, the lowest sites first),
    relaxed together with ``backend`` (all atoms, fixed cell) when one is given.

    The Li positions are those of the one-Li relaxations; a site that overlaps an earlier
    Li or a host atom is skipped for the next one. Without the relax the cell is the
    one-Li positions put together, which is not a minimum of the two-Li cell.
    """
    from mttmat.structures.sites import insert_li

    n_li = len(doped) if n_li is None else n_li
    chosen: list[list[float]] = []
    skipped = []
    for d in doped:
        if len(chosen) == n_li:
            break
        f = d.frac_coords[-1].tolist()
        try:
            insert_li(host, [*chosen, f])
        except StructureError as err:
            skipped.append(str(err))
            continue
        chosen.append(f)
    if len(chosen) < n_li:
        raise StructureError(
            f"only {len(chosen)} of the {len(doped)} screened Li sites fit together, "
            f"{n_li} needed: {'; '.join(skipped)}. Screen more sites (max_candidates)"
        )
    cell = insert_li(host, chosen)
    if backend is None:
        return cell
    from ase.optimize import FIRE

    from mttmat.structures.io import atoms_to_structure

    atoms = cell.to_ase_atoms()
    atoms.calc = get_backend(backend).ase_calculator()
    if not FIRE(atoms, logfile=None).run(fmax=fmax, steps=max_steps):
        f = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
        raise RelaxNotConvergedError(
            f"the {n_li}-Li cell did not relax with {backend} in {max_steps} steps (largest "
            f"force {f:.3f} eV/Å > {fmax} eV/Å): its voltage would not be a minimum's"
        )
    return atoms_to_structure(atoms)


def vasp_calc_doc(task: Any) -> dict[str, Any]:
    """An atomate2 VASP ``TaskDoc`` in the shape :meth:`LiFormationDoc.build` reads (GPAW's).

    Everything comes from the task document itself, as stored (object or its JSON form):
    the last calculation's energy, NELECT, band edges, INCAR (U, ENCUT), KPOINTS and the
    planar averages of the electrostatic potential that atomate2 takes from LOCPOT (LVHAR).
    No file of the job folder is read, so the summary job needs no shared filesystem.
    """
    doc = jsanitize(task, strict=True, enum_values=True)
    calcs = doc.get("calcs_reversed") or []
    if not calcs:
        raise ValueError(
            f"the VASP task document of {doc.get('dir_name')!r} holds no calculation "
            "(calcs_reversed is empty): was it stored by atomate2's VASP job?"
        )
    calc = calcs[0]
    out, inp = calc["output"], calc["input"]
    incar = inp.get("incar") or {}
    params = inp.get("parameters") or {}
    structure = out.get("structure") or doc["output"]["structure"]
    order = list(dict.fromkeys(s["species"][0]["element"] for s in structure["sites"]))
    u = {el: float(x) for el, x in zip(order, incar.get("LDAUU") or [], strict=False) if x}
    locpot = out.get("locpot")  # emmet's keys are "0".."2"; older documents used ints
    axes = [locpot.get(str(i), locpot.get(i)) for i in range(3)] if locpot else []
    avg = [list(map(float, a)) for a in axes] if axes and all(a for a in axes) else None
    kp = inp.get("kpoints") or {}
    # a generated mesh; for an explicit list its first k-point is not a mesh: None
    mesh = str(kp.get("generation_style", "")).lower() in ("gamma", "monkhorst")
    kpts = (kp.get("kpoints") or [None])[0] if mesh else None
    nelect = params.get("NELECT", incar.get("NELECT"))
    if nelect is None:
        raise ValueError(f"the VASP task of {doc.get('dir_name')!r} records no NELECT")
    return {
        "structure": structure,
        "output": {"energy": float(out["energy"])},
        "backend": "vasp",
        "electronic": {
            "code": "vasp",
            "n_electrons": float(nelect),
            "vbm_ev": None if out.get("vbm") is None else float(out["vbm"]),
            "band_gap_ev": None if out.get("bandgap") is None else float(out["bandgap"]),
            "hubbard_u_ev": u,
            "ecut_ev": float(params.get("ENCUT", incar.get("ENCUT", 0.0))),
            "kpts": [int(k) for k in kpts] if kpts else None,
            "planar_avg_potential_ev": avg,
        },
    }


def _as_calc_doc(doc: Any) -> Any:
    get = doc.get if isinstance(doc, dict) else lambda k, d=None: getattr(doc, k, d)
    if doc is None or get("electronic") is not None or get("dir_name") is None:
        return doc
    return vasp_calc_doc(doc)


@job(output_schema=LiFormationDoc)
def li_formation_summary(
    host: Any,
    li_metal: Any,
    cells: list[dict[str, Any]],
    dielectric: float,
    dielectric_source: str,
    mu_li_ev: float | None,
    multi: dict[str, Any] | None,
    temperature_k: float,
    uuids: dict[str, str],
) -> LiFormationDoc:
    """Build the formation-energy document from the finished calculations (GPAW or VASP)."""
    host, li_metal = _as_calc_doc(host), _as_calc_doc(li_metal)
    if multi is not None:
        multi = {"doc": _as_calc_doc(multi["doc"])}
    for c in cells:
        c["doc"] = _as_calc_doc(c["doc"])
    for c in cells:  # the Li position, from the computed structure
        s = c["doc"]["structure"] if isinstance(c["doc"], dict) else c["doc"].structure
        s = Structure.from_dict(s) if isinstance(s, dict) else s
        # by species, not by position: VASP writes POSCAR sorted by electronegativity (Li
        # first), so the last site of a VASP document is an O
        li = [x.frac_coords for x in s if x.specie.symbol == "Li"]
        if len(li) != 1:
            raise ValueError(f"a Li_i cell holds exactly one Li, this one {len(li)}")
        c["li_frac"] = [float(x) for x in li[0] % 1.0]
    return LiFormationDoc.build(
        host, li_metal, cells, dielectric=dielectric, dielectric_source=dielectric_source,
        mu_li_ev=mu_li_ev, multi=multi, temperature_k=temperature_k, uuids=uuids,
    )  # fmt: skip

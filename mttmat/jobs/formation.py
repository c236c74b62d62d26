"""Jobs of the Li formation energy: the two-Li cell for the voltage and the formation-energy
document of a host, bcc Li and Li_i^q (each code's task document read by its backend,
:meth:`~mttmat.backends.base.Backend.calc_document`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from jobflow import job
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.schemas.defects import LiFormationDoc
from mttmat.structures.io import atoms_to_structure
from mttmat.structures.sites import insert_li
from mttmat.structures.validate import StructureError

__all__ = ["RelaxNotConvergedError", "li_formation_summary", "multi_li_cell"]


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

    atoms = cell.to_ase_atoms()
    atoms.calc = get_backend(backend).ase_calculator()
    if not FIRE(atoms, logfile=None).run(fmax=fmax, steps=max_steps):
        f = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
        raise RelaxNotConvergedError(
            f"the {n_li}-Li cell did not relax with {backend} in {max_steps} steps (largest "
            f"force {f:.3f} eV/Å > {fmax} eV/Å): its voltage would not be a minimum's"
        )
    return atoms_to_structure(atoms)


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
    code: str | None = None,
) -> LiFormationDoc:
    """Build the formation-energy document from the finished calculations of the DFT
    ``code`` (its backend reads them into one shape). ``code`` None: a job built before the
    code was an input (a queued HPC job); VASP's reader passes documents already in the
    shared shape (GPAW's) through unchanged, as the job did then."""
    read = get_backend(code or "vasp").calc_document
    host, li_metal = read(host), read(li_metal)
    if multi is not None:
        multi = {"doc": read(multi["doc"])}
    for c in cells:
        c["doc"] = read(c["doc"])
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

"""Li interstitial formation energy vs Fermi level over the sites of a host (one flow per host).

:class:`LiFormationMaker`: ML site screening (:func:`~mttmat.flows.li_sites.screen_li_sites`)
→ DFT+U single points, same U / cutoff / k-mesh for every cell, of the host, of bcc Li, and of
Li_i^q at each chosen site for each q (GPAW ``charge = q``; on VASP, ``NELECT`` = host + Li
valence − q) → :class:`~mttmat.schemas.defects.LiFormationDoc` (lines, ε(+/0), statistics,
voltages; the uuid of every calculation). Optionally one cell with ``multi_li`` Li at the
lowest sites gives the average voltage for several Li.

Geometries are the ML-relaxed ones of the screening (the charged cells cannot be relaxed
with the ML potential); the ``geometry_fidelity`` of the document says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jobflow import Flow, Maker, job
from monty.json import jsanitize
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.flows.li_sites import screening_job
from mttmat.schemas.defects import LiFormationDoc
from mttmat.structures import bcc_li
from mttmat.structures.validate import StructureError

__all__ = ["LiFormationMaker", "li_formation_summary", "multi_li_cell"]


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
    locpot = out.get("locpot")
    avg = [list(map(float, locpot[str(i)])) for i in range(3)] if locpot else None
    kpts = ((inp.get("kpoints") or {}).get("kpoints") or [None])[0]
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
            "ecut_ev": float(incar.get("ENCUT", 0.0)),
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


@dataclass
class LiFormationMaker(Maker):
    """Li_i^q formation energies at ``n_sites`` screened sites of one host.

    Parameters
    ----------
    dielectric, dielectric_source
        ε of the host for the charge correction (supplied, > 0), and where it came from.
    charges
        Charge states (default +1 and 0).
    dft_kwargs
        GPAW options shared by every cell (``kpts``, ``ecut_ev`` ...).
    li_metal_kwargs
        Options of the bcc Li calculation (its own k-mesh; same cutoff is enforced).
    mu_li_ev
        Use this μ_Li (e.g. Li2O-limited) instead of computing bcc Li.
    multi_li
        If > 1: one more cell with this many Li at the lowest sites (average voltage).
    spin_polarized_neutral
        Spin-polarise Li_i^0 (its electron is unpaired; default). In tiny cells its SCF can
        oscillate between polaron states: spin-paired is the fallback.
    backend_options
        Options of the DFT backend (the VASP custodian set).
    """

    name: str = "li formation"
    dielectric: float = 0.0
    dielectric_source: str = "supplied"
    dft_backend: str = "gpaw"
    ml_backend: str = "chgnet"
    charges: tuple[int, ...] = (1, 0)
    n_sites: int = 2
    n_lowest: int = 2
    max_candidates: int | None = 12
    screening_fmax: float = 0.05
    dft_kwargs: dict = field(default_factory=dict)
    li_metal_kwargs: dict = field(default_factory=lambda: {"kpts": [8, 8, 8]})
    mu_li_ev: float | None = None
    multi_li: int = 0
    temperature_k: float = 300.0
    spin_polarized_neutral: bool = True
    backend_options: dict = field(default_factory=dict)

    def make(self, host: Structure, prev_dir: str | None = None) -> Flow:
        if self.dielectric <= 0:
            raise ValueError(
                "the charge correction needs the host's dielectric constant: set dielectric "
                "(> 0) and say where it came from in dielectric_source"
            )
        if not self.charges or any(q not in (-1, 0, 1) for q in self.charges):
            raise ValueError(f"charges must be a subset of (+1, 0, -1), got {self.charges}")
        if self.multi_li > self.n_sites:
            raise ValueError(f"multi_li ({self.multi_li}) > n_sites ({self.n_sites})")
        dft = get_backend(self.dft_backend, **self.backend_options)
        if dft.fidelity != "dft":
            raise ValueError(f"LiFormationMaker needs a DFT backend (gpaw, vasp), got {dft.name!r}")
        dft.check_structure(host)
        screen = screening_job(
            host, "Li formation energies", n_sites=self.n_sites, n_lowest=self.n_lowest,
            backend=self.ml_backend, max_candidates=self.max_candidates,
            fmax=self.screening_fmax,
        )  # fmt: skip
        jobs: list[Any] = [screen]
        kw = dict(self.dft_kwargs)
        host_job = self._static(dft, "host", host, 0, {**kw, "spin_polarized": False})
        jobs.append(host_job)
        li_job = None
        if self.mu_li_ev is None:
            li_kw = {"ecut_ev": kw["ecut_ev"]} if "ecut_ev" in kw else {}
            li_job = self._static(
                dft, "bcc Li", bcc_li(), 0,
                {**li_kw, **self.li_metal_kwargs, "spin_polarized": False},
            )  # fmt: skip
            jobs.append(li_job)
        cells, uuids = [], {"screening": screen.uuid, "host": host_job.uuid}
        for i in range(self.n_sites):
            for q in self.charges:
                label = f"site {i + 1}"
                # q = 0 holds one unpaired electron: spin-polarised; q = ±1 closed shell
                spin = q == 0 and self.spin_polarized_neutral
                j = self._static(
                    dft, f"Li_i {label} q={q:+d}", screen.output.selected_structures[i], q,
                    {**kw, "charge": float(q), "spin_polarized": spin},
                )  # fmt: skip
                jobs.append(j)
                cells.append({"label": label, "q": q, "doc": j.output, "uuid": j.uuid})
                uuids[f"{label} q={q:+d}"] = j.uuid
        multi = None
        if self.multi_li > 1:
            mc = multi_li_cell(
                host, screen.output.selected_structures, self.multi_li, self.ml_backend,
                self.screening_fmax,
            )  # fmt: skip
            mj = self._static(dft, f"{self.multi_li} Li", mc.output, 0,
                              {**kw, "spin_polarized": True})  # fmt: skip
            jobs += [mc, mj]
            multi = {"doc": mj.output}
            uuids[f"{self.multi_li} Li"] = mj.uuid
        if li_job is not None:
            uuids["bcc Li"] = li_job.uuid
        summary = li_formation_summary(
            host_job.output, li_job.output if li_job is not None else None, cells,
            self.dielectric, self.dielectric_source, self.mu_li_ev, multi, self.temperature_k,
            uuids,
        )  # fmt: skip
        summary.name = "Li formation summary"
        jobs.append(summary)
        return Flow(jobs, output=summary.output, name=self.name)

    @staticmethod
    def _static(dft: Any, label: str, structure: Any, q: int, kw: dict[str, Any]) -> Any:
        """One single point of net charge ``q`` (``kw["charge"]``): GPAW's ``charge``; VASP
        sets NELECT from the cell it receives when the job runs, and writes LOCPOT (LVHAR)
        for the potential alignment of the correction."""
        return dft.static_maker(name=f"{dft.name} {label}", calculator_kwargs=kw).make(structure)

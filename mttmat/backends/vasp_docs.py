"""VASP results in the code-agnostic shapes the shared jobs read: an atomate2 ``TaskDoc`` as
the calculation document of :meth:`~mttmat.schemas.defects.LiFormationDoc.build`, and the
non-SCF vasprun.xml of a job folder as a :class:`~mttmat.schemas.dos.DosDoc`.

What really differs between codes is read here, in the backend (atomate2's pattern: the
common defect flow leaves reading the planar-averaged potential to the VASP subclass); the
jobs of :mod:`mttmat.jobs` do not look at which code made a document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monty.json import jsanitize

from mttmat.schemas.dos import DosDoc

__all__ = ["vasp_calc_doc", "vasp_dos_doc", "vasprun_in"]


def vasprun_in(dir_name: str) -> Path:
    """The vasprun.xml(.gz) of a job folder (atomate2's ``dir_name`` is ``host:/path``)."""
    d = Path(str(dir_name).split(":", 1)[-1])
    for name in ("vasprun.xml", "vasprun.xml.gz"):
        if (d / name).exists():
            return d / name
    raise FileNotFoundError(f"no vasprun.xml(.gz) in {d}: did the VASP DOS job finish?")


def vasp_dos_doc(task: Any, uuid: str | None = None) -> Any:
    """The :class:`~mttmat.schemas.dos.DosDoc` of a finished VASP job, from the vasprun.xml
    of its folder (the LORBIT = 11 projections are not in the TaskDoc, so this needs the
    cluster's work folders)."""
    get = task.get if isinstance(task, dict) else lambda k, d=None: getattr(task, k, d)
    if get("dir_name") is None:
        raise ValueError("the VASP task document names no job folder (dir_name)")
    return DosDoc.from_vasprun(vasprun_in(get("dir_name")), uuid=uuid)


def vasp_calc_doc(task: Any) -> dict[str, Any]:
    """An atomate2 VASP ``TaskDoc`` in the shape :meth:`LiFormationDoc.build` reads (GPAW's).

    Everything comes from the task document itself, as stored (object or its JSON form):
    the last calculation's energy, forces and stress (the fine-tuning frames), NELECT, band
    edges, INCAR (U, ENCUT, ISPIN, SIGMA), the moments, KPOINTS and the planar averages of
    the electrostatic potential that atomate2 takes from LOCPOT (LVHAR).
    No file of the job folder is read, so the summary job needs no shared filesystem. A
    document already in that shape (an ``electronic`` summary) passes unchanged.
    """
    get = task.get if isinstance(task, dict) else lambda k, d=None: getattr(task, k, d)
    if task is None or get("electronic") is not None:
        return task
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
    top = doc.get("output") or {}
    steps = out.get("ionic_steps") or [{}]
    forces = top.get("forces") or steps[-1].get("forces")
    stress = top.get("stress") or steps[-1].get("stress")  # kBar, VASP's sign (atomate2's)
    spin = int(params.get("ISPIN", incar.get("ISPIN", 1))) == 2
    mag = (out.get("outcar") or {}).get("magnetization") or []
    moments = [float(m["tot"]) for m in mag] if spin and mag else None
    sigma = params.get("SIGMA", incar.get("SIGMA"))
    return {
        "structure": structure,
        "output": {"energy": float(out["energy"]), "forces": forces, "stress": stress},
        "backend": "vasp",
        "electronic": {
            "code": "vasp",
            "spin_polarized": spin,
            "magnetic_moments_mub": moments,
            "smearing_ev": None if sigma is None else float(sigma),
            # NELECT in the INCAR: the electron count was set, a charged cell (its charge
            # needs the POTCARs' ZVAL, which the task document does not hold)
            "electron_count_set": "NELECT" in incar,
            "n_electrons": float(nelect),
            "vbm_ev": None if out.get("vbm") is None else float(out["vbm"]),
            "band_gap_ev": None if out.get("bandgap") is None else float(out["bandgap"]),
            "hubbard_u_ev": u,
            "ecut_ev": float(params.get("ENCUT", incar.get("ENCUT", 0.0))),
            "kpts": [int(k) for k in kpts] if kpts else None,
            "planar_avg_potential_ev": avg,
        },
    }

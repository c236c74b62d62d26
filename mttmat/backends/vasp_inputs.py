"""VASP inputs of the chain's cells: the DFT+U INCAR, the translation of the chain's
code-agnostic calculator settings, AIMD chunks, and the inputs a job writes for the cell it
receives (site moments, pymatgen's NELECT of a charged cell, POTCAR or POTCAR.spec)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from jobflow import Maker
from pymatgen.core import Structure

from mttmat.backends.base import BackendError
from mttmat.backends.defaults import DEFAULTS, default_hubbard_l, default_hubbard_u
from mttmat.backends.vasp_potcars import charged_copy, potcars_available, require_potcars

__all__ = [
    "CALCULATOR_KEYS",
    "aimd_chunks",
    "calculator_inputs",
    "cell_incar",
    "cell_inputs",
    "dft_u_incar",
    "write_vasp_inputs",
]


def dft_u_incar(
    hubbard_u_ev: dict[str, float] | None = None,
    spin_polarized: bool | None = None,
    hubbard_l: dict[str, int] | None = None,
) -> dict[str, Any]:
    """INCAR settings for Dudarev DFT+U (U per species; the material table's when None).

    LDAUU/LDAUL/LDAUJ are given per element under the most electronegative element ("O"),
    pymatgen's convention; pymatgen writes them as arrays in POSCAR species order. Elements
    without U get L = -1 (no +U channel) and U = 0. With no positive U at all, LDAU is off
    (no +U channel anywhere: VASP's default LDAUL would otherwise put one on every species).
    MAGMOM is per element (0.6 μ_B on the +U cations); a cell whose sites carry ``magmom``
    keeps those instead (:func:`cell_incar`).
    """
    d = DEFAULTS
    u = dict(default_hubbard_u() if hubbard_u_ev is None else hubbard_u_ev)
    lmap = dict(default_hubbard_l() if hubbard_l is None else hubbard_l)
    spin = d.spin_polarized if spin_polarized is None else spin_polarized
    elements = sorted({*u, *default_hubbard_u(), "O", "Li"})
    ldauu = {el: float(u.get(el, 0.0)) for el in elements}
    ldaul = {el: (lmap.get(el, 2) if ldauu[el] > 0 else -1) for el in elements}
    ldauj = dict.fromkeys(elements, 0.0)
    if not any(x > 0 for x in ldauu.values()):
        return {"LDAU": False, "ISPIN": 2 if spin else 1, "EDIFFG": -d.relax_fmax_ev_a,
                "ENCUT": d.vasp_encut_ev, "GGA": "PE"}  # fmt: skip
    return {
        "LDAU": True,
        "LDAUTYPE": d.ldau_type,
        "LDAUU": {"O": ldauu},
        "LDAUL": {"O": ldaul},
        "LDAUJ": {"O": ldauj},
        "LDAUPRINT": 1,
        "LMAXMIX": 4,
        "ISPIN": 2 if spin else 1,
        "EDIFFG": -d.relax_fmax_ev_a,
        "ENCUT": d.vasp_encut_ev,
        "GGA": "PE",  # PBE, as in the paper (atomate2's base set is PBEsol)
        "MAGMOM": {el: (0.6 if ldauu[el] > 0 else 0.0) for el in elements},
    }


#: calculator settings the chain gives every DFT backend (GPAW's keyword names)
CALCULATOR_KEYS = frozenset({"hubbard_u_ev", "hubbard_l", "spin_polarized", "ecut_ev",
                             "smearing_ev", "kpts", "kpts_gamma", "charge"})  # fmt: skip


def calculator_inputs(kw: dict[str, Any] | None) -> tuple[dict[str, Any], Any, float | None]:
    """(INCAR, KPOINTS settings, cell charge) of the chain's code-agnostic calculator kwargs.

    ``hubbard_u_ev`` → LDAU*; ``spin_polarized`` → ISPIN; ``ecut_ev`` → ENCUT;
    ``smearing_ev`` → Fermi smearing (ISMEAR = -1, SIGMA, as GPAW's FermiDirac);
    ``kpts``/``kpts_gamma`` → a Γ-centred or Monkhorst-Pack mesh (the settings'
    default reciprocal density when absent); ``charge`` → NELECT when the job runs (None: no charge
    given, VASP's neutral default).
    """
    from pymatgen.io.vasp import Kpoints

    kw = dict(kw or {})
    unknown = sorted(set(kw) - CALCULATOR_KEYS)
    if unknown:
        raise BackendError(
            f"unknown VASP calculator option(s) {unknown}; known: {sorted(CALCULATOR_KEYS)} "
            "(INCAR tags go in user_incar_settings)"
        )
    incar = dft_u_incar(kw.get("hubbard_u_ev"), kw.get("spin_polarized"), kw.get("hubbard_l"))
    if "ecut_ev" in kw:
        incar["ENCUT"] = float(kw["ecut_ev"])
    if "smearing_ev" in kw:
        incar.update(ISMEAR=-1, SIGMA=float(kw["smearing_ev"]))
    kpts: Any = {"reciprocal_density": DEFAULTS.vasp_reciprocal_density}
    if kw.get("kpts") is not None:
        mesh = tuple(int(n) for n in kw["kpts"])
        gamma = bool(kw.get("kpts_gamma", True))
        kpts = Kpoints.gamma_automatic(mesh) if gamma else Kpoints.monkhorst_automatic(mesh)
    return incar, kpts, (None if kw.get("charge") is None else float(kw["charge"]))


def aimd_chunks(
    t_start_k: float, t_end_k: float, n_steps: int, chunk_steps: int | None
) -> list[tuple[float, float, int]]:
    """``(T_start, T_end, steps)`` of each chunk of a segment: at most ``chunk_steps`` steps
    each (None: one chunk), the linear ramp cut where the steps are cut."""
    if not chunk_steps or n_steps <= chunk_steps:
        return [(float(t_start_k), float(t_end_k), int(n_steps))]
    out, done = [], 0
    while done < n_steps:
        steps = min(chunk_steps, n_steps - done)
        t0 = t_start_k + (t_end_k - t_start_k) * done / n_steps
        t1 = t_start_k + (t_end_k - t_start_k) * (done + steps) / n_steps
        out.append((round(t0, 6), round(t1, 6), steps))
        done += steps
    return out


def cell_incar(maker: Maker, structure: Structure) -> dict[str, Any]:
    """``maker``'s INCAR settings for this very cell, as the chain's static sets them when it
    runs: the cell's own ``magmom`` site moments (e.g. the polaron start: one cation) instead
    of the per-element MAGMOM. (NELECT of a charged cell is pymatgen's: :func:`cell_inputs`.)"""
    incar = dict(maker.input_set_generator.user_incar_settings)
    if "magmom" in structure.site_properties and incar.get("ISPIN") == 2:
        incar.pop("MAGMOM", None)  # pymatgen then writes the site moments
    return incar


def cell_inputs(maker: Maker, structure: Structure) -> Structure:
    """Set ``maker``'s input set up for this very cell, as the chain's static does when it
    runs (:func:`cell_incar`; a charged ``maker.charge`` cell gets pymatgen's NELECT =
    Σ ZVAL of the POTCARs − charge, ``use_structure_charge``), and return the structure to
    write (charged copy or the cell itself). Needs the POTCARs for a charged cell; a charge 0
    is neutral (VASP's own NELECT, no POTCAR needed to write the inputs)."""
    gen = maker.input_set_generator
    gen.user_incar_settings = cell_incar(maker, structure)
    charge = getattr(maker, "charge", None)
    if not charge:
        return structure
    if "NELECT" in gen.user_incar_settings:  # it would silently win over the charge
        raise BackendError(
            f"both a cell charge ({charge:+g}) and an explicit NELECT "
            f"({gen.user_incar_settings['NELECT']}) were given: give only the charge"
        )
    require_potcars(sorted({e.symbol for e in structure.composition.elements}),
                    f"NELECT of a cell with charge {charge:+g}")  # fmt: skip
    gen.use_structure_charge = True
    return charged_copy(structure, charge)


def write_vasp_inputs(maker: Maker, structure: Structure, directory: str | Path) -> Path:
    """Write the inputs ``maker`` would run, as the job writes them when it runs; POTCAR
    from ``PMG_VASP_PSP_DIR`` when pymatgen finds them, else POTCAR.spec.

    Returns the directory. Used for inspection and tests; on HPC atomate2 writes them itself.
    """

    from atomate2.vasp.files import write_vasp_input_set

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    maker = copy.deepcopy(maker)
    cell = cell_inputs(maker, structure)
    elements = sorted({e.symbol for e in structure.composition.elements})
    write_vasp_input_set(
        cell, maker.input_set_generator, directory,
        potcar_spec=not potcars_available(elements), clean_prev=False,
    )  # fmt: skip
    return directory

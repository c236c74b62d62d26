"""A VASP stand-in for tests of the HPC path: an executable that behaves like VASP to
custodian, atomate2 and pymatgen, without computing any DFT.

VASP is licensed and cannot run here. What can be tested without it is everything around
it: that custodian launches the command of the job type through ``srun`` with the ranks of
the job's resources, that the input files are all there (POTCAR included, from
``PMG_VASP_PSP_DIR``), that the output files parse into atomate2's ``TaskDoc`` and into
mttmat's documents, and that a custodian handler fixes an error VASP reports. This program
does that:

- it records how it was launched (argv, working folder, ranks, the Slurm and atomate2
  environment) in ``standin_launch.jsonl`` (one line per launch; under ``srun -n N`` every
  rank records itself and rank 0 writes the outputs);
- it checks INCAR, POSCAR, KPOINTS (unless KSPACING) and POTCAR, and that POTCAR's TITELs
  follow POSCAR's species; a missing or mismatched file is a VASP-like error (exit 1);
- it computes energies and forces with a cheap repulsive pair potential (no physics: a
  smooth function of the geometry, so relaxations and MD move atoms deterministically);
  a static gives one step, a relax (IBRION 1/2/3) a few steepest-descent steps, an MD
  (IBRION 0) NSW steps of damped dynamics;
- it writes what the parsers read: ``vasprun.xml`` (incar, kpoints, parameters, atominfo,
  every ionic step with forces and stress, eigenvalues with a gap, total and (LORBIT)
  projected DOS), ``OUTCAR``, ``OSZICAR``, ``CONTCAR``, ``vasp.out``, and ``LOCPOT`` when
  LVHAR is set (a flat potential), ``CHGCAR`` when LCHARG is set;
- on request it fails once like VASP does: with ``MTTMAT_STANDIN_FAIL=zbrent`` (or
  ``brmix``) in its environment, the first run in a folder prints VASP's message and stops;
  custodian's ``VaspErrorHandler`` recognises it, changes the INCAR and runs it again, and
  the second run succeeds.

The eigenvalues, DOS and energies are fabricated: only the file formats are VASP's. The
file layouts follow VASP 6 output as pymatgen parses it (``pymatgen.io.vasp.outputs``).

Run: ``python -m mttmat.hpc.vasp_standin`` in a folder with VASP inputs (the test puts a
``vasp_std`` script that does this on the worker's PATH).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "run"]

#: VASP's own messages for the errors the stand-in can raise (custodian matches these)
ERRORS = {
    "zbrent": "ZBRENT: fatal error in bracketing\n please rerun with smaller EDIFF, or copy "
    "CONTCAR\n to POSCAR and continue",
    "brmix": "BRMIX: very serious problems\n the old and the new charge density differ",
}


def _ranks() -> int:
    for key in ("SLURM_NTASKS", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 1


def _rank() -> int:
    for key in ("SLURM_PROCID", "PMI_RANK", "OMPI_COMM_WORLD_RANK"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def _record(folder: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("SLURM_", "ATOMATE2_", "PMG_", "OMP_", "MTTMAT_"))}  # fmt: skip
    rec = {"argv": sys.argv, "cwd": str(folder), "ranks": _ranks(), "rank": _rank(),
           "pid": os.getpid(), "time": time.time(), "env": env}  # fmt: skip
    with open(folder / "standin_launch.jsonl", "a") as fh:
        fh.write(json.dumps(rec) + "\n")


class StandinError(RuntimeError):
    """An input problem, reported the way VASP reports it (stdout, exit 1)."""


# ---------------------------------------------------------------------------- the model
def _energy_forces(cart: np.ndarray, lattice: np.ndarray) -> tuple[float, np.ndarray]:
    """A smooth repulsive pair potential with the minimum-image convention:
    E = Σ_{i<j} A exp(-r/ρ), r < 6 Å. Not physics; only deterministic and differentiable."""
    a, rho, rc = 20.0, 0.6, 6.0
    inv = np.linalg.inv(lattice)
    n = len(cart)
    e = 0.0
    f = np.zeros_like(cart)
    for i in range(n):
        d = cart[i + 1:] - cart[i]
        frac = d @ inv
        frac -= np.round(frac)
        d = frac @ lattice
        r = np.linalg.norm(d, axis=1)
        m = (r < rc) & (r > 1e-6)
        if not m.any():
            continue
        pair = a * np.exp(-r[m] / rho)
        e += float(pair.sum())
        # dE/dr = -pair/rho; force on i along -d̂ · (-dE/dr)
        g = (pair / rho)[:, None] * d[m] / r[m][:, None]
        f[i] -= g.sum(axis=0)
        f[i + 1:][m] += g
    return e - 5.0 * n, f


# ---------------------------------------------------------------------------- the files
def _v(vals: Any, fmt: str = "{:16.8f}") -> str:
    return " ".join(fmt.format(float(x)) for x in np.atleast_1d(vals))


def _structure_xml(name: str | None, lattice: np.ndarray, frac: np.ndarray) -> str:
    rec = np.linalg.inv(lattice).T
    head = f' <structure name="{name}">' if name else " <structure>"
    rows = "\n".join(f"    <v>{_v(r)} </v>" for r in lattice)
    rrows = "\n".join(f"    <v>{_v(r)} </v>" for r in rec)
    pos = "\n".join(f"   <v>{_v(p)} </v>" for p in frac)
    vol = abs(np.linalg.det(lattice))
    return (f"{head}\n  <crystal>\n   <varray name=\"basis\" >\n{rows}\n   </varray>\n"
            f"   <i name=\"volume\">{vol:16.8f} </i>\n   <varray name=\"rec_basis\" >\n{rrows}\n"
            f"   </varray>\n  </crystal>\n  <varray name=\"positions\" >\n{pos}\n  </varray>\n"
            " </structure>\n")  # fmt: skip


def _incar_xml(incar: dict[str, Any]) -> str:
    out = []
    for k, val in incar.items():
        if isinstance(val, bool):
            out.append(f'  <i type="logical" name="{k}"> {"T" if val else "F"}  </i>')
        elif isinstance(val, list):
            typ = ' type="int"' if all(isinstance(x, int) for x in val) else ""
            out.append(f'  <v{typ} name="{k}">{" ".join(str(x) for x in val)}</v>')
        elif isinstance(val, int):
            out.append(f'  <i type="int" name="{k}">{val:6d}</i>')
        elif isinstance(val, float):
            out.append(f'  <i name="{k}">{val:16.8f}</i>')
        else:
            out.append(f'  <i type="string" name="{k}">{val}</i>')
    return " <incar>\n" + "\n".join(out) + "\n </incar>\n"


def _energy_xml(e: float, indent: str = "  ", kinetic: float | None = None) -> str:
    rows = [f'{indent} <i name="e_fr_energy">{e:16.8f} </i>',
            f'{indent} <i name="e_wo_entrp">{e:16.8f} </i>',
            f'{indent} <i name="e_0_energy">{e:16.8f} </i>']  # fmt: skip
    if kinetic is not None:
        rows += [f'{indent} <i name="kinetic">{kinetic:16.8f} </i>',
                 f'{indent} <i name="lattice kinetic">{0.0:16.8f} </i>',
                 f'{indent} <i name="nosepot">{0.0:16.8f} </i>',
                 f'{indent} <i name="nosekinetic">{0.0:16.8f} </i>',
                 f'{indent} <i name="total">{e + kinetic:16.8f} </i>']  # fmt: skip
    return f"{indent}<energy>\n" + "\n".join(rows) + f"\n{indent}</energy>\n"


def _eigen_xml(eigs: np.ndarray, occ: np.ndarray) -> str:
    """eigs, occ: (spin, kpoint, band)."""
    out = ["  <eigenvalues>", "   <array>", '    <dimension dim="1">band</dimension>',
           '    <dimension dim="2">kpoint</dimension>', '    <dimension dim="3">spin</dimension>',
           "    <field>eigene</field>", "    <field>occ</field>", "    <set>"]  # fmt: skip
    for s in range(eigs.shape[0]):
        out.append(f'     <set comment="spin {s + 1}">')
        for k in range(eigs.shape[1]):
            out.append(f'      <set comment="kpoint {k + 1}">')
            out += [f"       <r>{e:10.4f} {o:8.4f} </r>" for e, o in zip(eigs[s, k], occ[s, k],
                                                                          strict=True)]  # fmt: skip
            out.append("      </set>")
        out.append("     </set>")
    out += ["    </set>", "   </array>", "  </eigenvalues>"]
    return "\n".join(out) + "\n"


def _dos_xml(efermi: float, grid: np.ndarray, total: np.ndarray, pdos: np.ndarray | None) -> str:
    """total: (spin, grid); pdos: (ion, spin, grid, 9) or None."""
    out = ["  <dos>", f'   <i name="efermi">{efermi:16.8f} </i>', "   <total>", "    <array>",
           '     <dimension dim="1">gridpoints</dimension>',
           '     <dimension dim="2">spin</dimension>', "     <field>energy</field>",
           "     <field>total</field>", "     <field>integrated</field>", "     <set>"]  # fmt: skip
    de = grid[1] - grid[0]
    for s in range(total.shape[0]):
        out.append(f'      <set comment="spin {s + 1}">')
        integ = np.cumsum(total[s]) * de
        out += [f"       <r>{e:10.4f} {d:10.4f} {i:10.4f} </r>"
                for e, d, i in zip(grid, total[s], integ, strict=True)]  # fmt: skip
        out.append("      </set>")
    out += ["     </set>", "    </array>", "   </total>"]
    if pdos is not None:
        orbs = ["s", "py", "pz", "px", "dxy", "dyz", "dz2", "dxz", "x2-y2"]
        out += ["   <partial>", "    <array>", '     <dimension dim="1">gridpoints</dimension>',
                '     <dimension dim="2">spin</dimension>',
                '     <dimension dim="3">ion</dimension>',
                "     <field>energy</field>", *[f"     <field>{o}</field>" for o in orbs],
                "     <set>"]  # fmt: skip
        for ion in range(pdos.shape[0]):
            out.append(f'      <set comment="ion {ion + 1}">')
            for s in range(pdos.shape[1]):
                out.append(f'       <set comment="spin {s + 1}">')
                out += [f"        <r>{e:10.4f} " + " ".join(f"{x:8.4f}" for x in row) + " </r>"
                        for e, row in zip(grid, pdos[ion, s], strict=True)]  # fmt: skip
                out.append("       </set>")
            out.append("      </set>")
        out += ["     </set>", "    </array>", "   </partial>"]
    out.append("  </dos>")
    return "\n".join(out) + "\n"


def _electronic(nelect: float, ispin: int, nbands: int, nk: int, n_ions: int, lorbit: bool,
                species_d: np.ndarray) -> dict[str, Any]:
    """Fabricated eigenvalues with a 2 eV gap, E_F mid-gap for an even count, the DOS and
    (LORBIT) a PDOS that puts the conduction band on the ``species_d`` ions' d channels."""
    n_occ_total = nelect
    per_spin = n_occ_total / ispin if ispin == 2 else n_occ_total / 2
    n_full = int(np.floor(per_spin + 1e-9))
    frac_extra = per_spin - n_full
    vb = np.linspace(-8.0, 0.0, n_full) if n_full else np.array([])
    cb = np.linspace(2.0, 8.0, nbands - n_full)
    bands = np.concatenate([vb, cb])
    eigs = np.broadcast_to(bands, (ispin, nk, nbands)).copy()
    occ = np.zeros_like(eigs)
    occ[:, :, :n_full] = 1.0
    if frac_extra > 1e-9:  # the extra electron(s) in the lowest CB state
        occ[:, :, n_full] = frac_extra
    efermi = 2.0 if frac_extra > 1e-9 else 1.0
    grid = np.linspace(-10.0, 10.0, 401)
    width = 0.2
    weight = 1.0 if ispin == 2 else 2.0
    total = np.zeros((ispin, grid.size))
    for s in range(ispin):
        for e in bands:
            total[s] += weight * np.exp(-((grid - e) ** 2) / (2 * width**2)) / (
                width * np.sqrt(2 * np.pi))
    pdos = None
    if lorbit:
        pdos = np.zeros((n_ions, ispin, grid.size, 9))
        vb_mask = grid < 1.0
        d_ions = np.flatnonzero(species_d)
        p_ions = np.flatnonzero(~species_d)
        for s in range(ispin):
            if len(p_ions):
                pdos[p_ions, s, :, 1:4] = (total[s] * vb_mask)[None, :, None] / (3 * len(p_ions))
            if len(d_ions):
                pdos[d_ions, s, :, 4:9] = (total[s] * ~vb_mask)[None, :, None] / (5 * len(d_ions))
    return {"eigs": eigs, "occ": occ, "efermi": efermi, "grid": grid, "total": total,
            "pdos": pdos}  # fmt: skip


def run(folder: str | Path = ".") -> int:
    """Run in ``folder``; returns the exit status."""
    from pymatgen.io.vasp import Incar, Poscar, Potcar

    folder = Path(folder)
    _record(folder)
    if _rank() != 0:  # srun -n N: every rank records itself, rank 0 does the work
        return 0
    out = open(folder / "vasp.out", "a")
    try:
        print(f" running on {_ranks():4d} total cores (mttmat VASP stand-in)", file=out)
        fail = os.environ.get("MTTMAT_STANDIN_FAIL")
        marker = folder / ".standin_failed_once"
        if fail and not marker.exists():
            marker.write_text(fail)
            print(ERRORS[fail], file=out, flush=True)
            print(ERRORS[fail])
            return 1
        for f in ("INCAR", "POSCAR", "POTCAR"):
            if not (folder / f).is_file():
                raise StandinError(f"ERROR: file {f} not found (mttmat VASP stand-in)")
        incar = Incar.from_file(folder / "INCAR")
        if not (folder / "KPOINTS").is_file() and "KSPACING" not in incar:
            raise StandinError("ERROR: file KPOINTS not found and no KSPACING")
        poscar = Poscar.from_file(folder / "POSCAR")
        potcar = Potcar.from_file(folder / "POTCAR")
        species = poscar.site_symbols
        if [p.element for p in potcar] != species:
            raise StandinError(f"ERROR: POTCAR species {[p.element for p in potcar]} do not "
                               f"match POSCAR {species}")  # fmt: skip
        _compute_and_write(folder, incar, poscar, potcar, out)
        print(" writing wavefunctions (stand-in: none)", file=out)
        return 0
    except StandinError as err:
        print(str(err), file=out)
        print(str(err))
        return 1
    finally:
        out.close()


def _nbands(nelect: float, n_ions: int) -> int:
    return int(np.ceil(nelect / 2)) + max(8, n_ions // 2)


def _compute_and_write(folder: Path, incar: Any, poscar: Any, potcar: Any, out: Any) -> None:
    from pymatgen.io.vasp import Kpoints

    s = poscar.structure
    lattice = s.lattice.matrix.copy()
    frac = s.frac_coords.copy()
    n = len(s)
    ibrion = int(incar.get("IBRION", -1))
    nsw = int(incar.get("NSW", 0))
    ispin = int(incar.get("ISPIN", 1))
    zval = {p.element: float(p.zval) for p in potcar}
    counts = s.composition.get_el_amt_dict()
    nelect = float(incar.get("NELECT", sum(zval[e] * c for e, c in counts.items())))
    nbands = int(incar.get("NBANDS", _nbands(nelect, n)))
    lorbit = int(incar.get("LORBIT", 0)) >= 10
    kpts = Kpoints.from_file(folder / "KPOINTS") if (folder / "KPOINTS").is_file() else None
    mesh = [int(x) for x in kpts.kpts[0]] if kpts is not None else [1, 1, 1]
    nk = 1  # Γ only: the stand-in reports one k-point whatever the mesh

    steps = []
    if ibrion == 0 and nsw > 0:  # MD: damped dynamics, velocities from POSCAR if present
        dt = float(incar.get("POTIM", 2.0))
        vel = np.array(poscar.velocities) if poscar.velocities is not None else np.zeros((n, 3))
        mass = np.array([site.specie.atomic_mass for site in s], float)[:, None]
        cart = frac @ lattice
        for _ in range(nsw):
            e, f = _energy_forces(cart, lattice)
            kin = 0.5 * float((mass * vel**2).sum()) * 1.036427e-4  # amu Å²/fs² → eV
            steps.append((cart @ np.linalg.inv(lattice), e, f, kin))
            vel = 0.9 * vel + dt * f / mass * 9.648533e-3  # eV/Å/amu → Å/fs²
            cart = cart + dt * vel * 1e-2
        frac, final_vel = cart @ np.linalg.inv(lattice), vel
    elif ibrion in (1, 2, 3) and nsw > 0:  # relax: a few steepest-descent steps
        cart = frac @ lattice
        for _ in range(max(1, min(nsw - 1, 4))):  # fewer steps than NSW: "converged"
            e, f = _energy_forces(cart, lattice)
            steps.append((cart @ np.linalg.inv(lattice), e, f, None))
            cart = cart + 0.01 * np.clip(f, -5, 5)
        frac, final_vel = cart @ np.linalg.inv(lattice), None
    else:
        e, f = _energy_forces(frac @ lattice, lattice)
        steps.append((frac, e, f, None))
        final_vel = None

    d_species = {sp for sp in counts if sp in ("W", "Nb", "Mo", "Ti", "V", "Ta")}
    species_d = np.array([site.specie.symbol in d_species for site in s])
    el = _electronic(nelect, ispin, nbands, nk, n, lorbit, species_d)
    potcar_titles = [p.TITEL for p in potcar]
    _write_vasprun(folder, incar, mesh, s, steps, frac, potcar, potcar_titles, nelect, nbands,
                   ispin, el)  # fmt: skip
    _write_text_outputs(folder, incar, s, steps, frac, final_vel, el, ispin, nelect, out)


def _write_vasprun(folder, incar, mesh, s, steps, final_frac, potcar, titles, nelect, nbands,
                   ispin, el) -> None:
    species = []
    for site in s:
        if not species or species[-1] != site.specie.symbol:
            species.append(site.specie.symbol)
    counts = [sum(1 for site in s if site.specie.symbol == sp) for sp in species]
    lattice = s.lattice.matrix
    atoms = "\n".join(f"    <rc><c>{site.specie.symbol:2s}</c><c>{species.index(site.specie.symbol) + 1:4d}</c></rc>" for site in s)  # noqa: E501
    types = "\n".join(
        f"    <rc><c>{c:4d}</c><c>{sp:2s}</c><c>{s[0].specie.atomic_mass:10.4f}</c>"
        f"<c>{p.zval:10.4f}</c><c>  {t}</c></rc>"
        for sp, c, p, t in zip(species, counts, potcar, titles, strict=True)
    )
    nsw, ibrion = int(incar.get("NSW", 0)), int(incar.get("IBRION", -1))
    params = {
        "NELECT": float(nelect), "NBANDS": int(nbands), "ISPIN": int(ispin),
        "NELM": int(incar.get("NELM", 60)), "NSW": nsw, "IBRION": ibrion,
        "ISIF": int(incar.get("ISIF", 2)), "EDIFF": float(incar.get("EDIFF", 1e-5)),
        "EDIFFG": float(incar.get("EDIFFG", -0.02)), "ENCUT": float(incar.get("ENCUT", 520.0)),
        "ISMEAR": int(incar.get("ISMEAR", 0)), "SIGMA": float(incar.get("SIGMA", 0.05)),
        "LORBIT": int(incar.get("LORBIT", 0)), "NEDOS": 401, "GGA": "PE",
        "LDAU": bool(incar.get("LDAU", False)), "POTIM": float(incar.get("POTIM", 0.5)),
        "ICHARG": int(incar.get("ICHARG", 2)), "LHFCALC": False, "METAGGA": "--",
        "LEPSILON": False, "LOPTICS": False, "NKPTS": 1,
    }  # fmt: skip
    if "MAGMOM" in incar:
        params["MAGMOM"] = [float(x) for x in incar["MAGMOM"]]
    calcs = []
    for k, (frac, e, f, kin) in enumerate(steps):
        stress = np.eye(3) * (e / abs(np.linalg.det(lattice))) * 160.2
        scf = "  <scstep>\n" + _energy_xml(e, "   ") + "  </scstep>\n"
        last = k == len(steps) - 1
        calcs.append(
            " <calculation>\n" + scf + _structure_xml(None, lattice, frac).replace("\n ", "\n  ")
            + '  <varray name="forces" >\n' + "\n".join(f"   <v>{_v(r)} </v>" for r in f)
            + "\n  </varray>\n  <varray name=\"stress\" >\n"
            + "\n".join(f"   <v>{_v(r)} </v>" for r in stress) + "\n  </varray>\n"
            + _energy_xml(e, "  ", kin) + '  <time name="totalsc">    1.00    1.00</time>\n'
            + (_eigen_xml(el["eigs"], el["occ"])
               + _dos_xml(el["efermi"], el["grid"], el["total"], el["pdos"]) if last else "")
            + " </calculation>\n"
        )  # fmt: skip
    xml = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<modeling>\n <generator>\n'
        '  <i name="program" type="string">vasp </i>\n'
        '  <i name="version" type="string">6.4.2  </i>\n'
        '  <i name="subversion" type="string">mttmat stand-in </i>\n'
        '  <i name="platform" type="string">LinuxGNU </i>\n'
        f'  <i name="date" type="string">{time.strftime("%Y %m %d")} </i>\n'
        f'  <i name="time" type="string">{time.strftime("%H:%M:%S")} </i>\n </generator>\n'
        + _incar_xml(dict(incar))
        + ' <kpoints>\n  <generation param="Gamma">\n'
        f'   <v type="int" name="divisions">{" ".join(str(m) for m in mesh)} </v>\n'
        '   <v name="usershift">      0.00000000       0.00000000       0.00000000 </v>\n'
        '  </generation>\n  <varray name="kpointlist" >\n'
        '   <v>       0.00000000       0.00000000       0.00000000 </v>\n  </varray>\n'
        '  <varray name="weights" >\n   <v>       1.00000000 </v>\n  </varray>\n </kpoints>\n'
        + " <parameters>\n" + _incar_xml(params).replace(" <incar>\n", "").replace(
            " </incar>\n", "") + " </parameters>\n"
        + f" <atominfo>\n  <atoms>{len(s)}</atoms>\n  <types>{len(species)}</types>\n"
        '  <array name="atoms" >\n   <dimension dim="1">ion</dimension>\n'
        '   <field type="string">element</field>\n   <field type="int">atomtype</field>\n'
        f"   <set>\n{atoms}\n   </set>\n  </array>\n"
        '  <array name="atomtypes" >\n   <dimension dim="1">type</dimension>\n'
        '   <field type="int">atomspertype</field>\n   <field type="string">element</field>\n'
        "   <field>mass</field>\n   <field>valence</field>\n"
        '   <field type="string">pseudopotential</field>\n'
        f"   <set>\n{types}\n   </set>\n  </array>\n </atominfo>\n"
        + _structure_xml("initialpos", lattice, s.frac_coords)
        + "".join(calcs)
        + _structure_xml("finalpos", lattice, final_frac)
        + "</modeling>\n"
    )  # fmt: skip
    (folder / "vasprun.xml").write_text(xml)


def _write_text_outputs(folder, incar, s, steps, final_frac, final_vel, el, ispin, nelect,
                        out) -> None:
    from pymatgen.core import Structure
    from pymatgen.io.vasp import Poscar

    final = Structure(s.lattice, s.species, final_frac)
    Poscar(final, velocities=None if final_vel is None else final_vel.tolist()).write_file(
        folder / "CONTCAR")
    mag = 1.0 if ispin == 2 and (nelect % 2) > 0.5 else 0.0
    lines = ["       N       E                     dE             d eps       ncg     rms          rms(c)"]  # noqa: E501
    for k, (_, e, _, kin) in enumerate(steps, start=1):
        lines.append(f"DAV:   1    {e: .12E}   {e: .5E}   -0.100E+01   100   0.100E+01")
        if kin is None:
            lines.append(f"{k:4d} F= {e: .8E} E0= {e: .8E}  d E ={0: .6E}"
                         + (f"  mag=   {mag:.4f}" if ispin == 2 else ""))  # fmt: skip
        else:
            lines.append(f"{k:6d} T=   300. E= {e + kin: .8E} F= {e: .8E} E0= {e: .8E}  "
                         f"EK= {kin: .5E} SP=  0.00E+00 SK=  0.00E+00"
                         + (f"  mag=   {mag:.4f}" if ispin == 2 else ""))  # fmt: skip
        print(lines[-1], file=out)
    (folder / "OSZICAR").write_text("\n".join(lines) + "\n")
    e_last = steps[-1][1]
    f_last = steps[-1][2]
    outcar = [
        " vasp.6.4.2 (mttmat VASP stand-in: no DFT was computed)",
        f" running on {_ranks():4d} total cores",
        f"   k-points           NKPTS =      1   k-points in BZ     NKDIM =      1   number of bands    NBANDS= {int(incar.get('NBANDS', 0)) or _nbands(nelect, len(s)):6d}",  # noqa: E501
        f"   number of dos      NEDOS =    401   number of ions     NIONS = {len(s):6d}",
        "   total plane-waves  NPLWV =  13824",
        f"   ISPIN  = {ispin:6d}    spin polarized calculation?",
        f"   IBRION = {int(incar.get('IBRION', -1)):6d}    ionic relax: 0-MD 1-quasi-New 2-CG",
        f"   NELECT = {nelect:12.4f}    total number of electrons",
        f" E-fermi : {el['efermi']:10.4f}     XC(G=0):  -1.0000     alpha+bet : -1.0000",
        "",
        " POSITION                                       TOTAL-FORCE (eV/Angst)",
        " -----------------------------------------------------------------------------------",
        *(f" {p[0]:12.5f} {p[1]:12.5f} {p[2]:12.5f}    {g[0]:13.6f} {g[1]:13.6f} {g[2]:13.6f}"
          for p, g in zip(final.cart_coords, f_last, strict=True)),
        " -----------------------------------------------------------------------------------",
        "    total drift:                                0.000000      0.000000      0.000000",
        "",
        f"  free  energy   TOTEN  = {e_last:18.8f} eV",
        "",
        f"  energy  without entropy= {e_last:18.8f}  energy(sigma->0) = {e_last:18.8f}",
        "",
        " General timing and accounting informations for this job:",
        " ========================================================",
        "",
        "                  Total CPU time used (sec):        1.000",
        "                            User time (sec):        1.000",
        "                          System time (sec):        0.000",
        "                         Elapsed time (sec):        1.000",
        "",
        "                   Maximum memory used (kb):      100000.",
        "                   Average memory used (kb):          N/A",
        "",
        "                          Minor page faults:            0",
        "                          Major page faults:            0",
        "                 Voluntary context switches:            0",
    ]
    (folder / "OUTCAR").write_text("\n".join(outcar) + "\n")
    if incar.get("LVHAR") or incar.get("LCHARG", False):
        from pymatgen.io.vasp import Chgcar, Locpot

        grid = (12, 12, 12)
        poscar = Poscar(final)
        if incar.get("LVHAR"):
            Locpot(poscar, {"total": np.full(grid, -1.0)}).write_file(folder / "LOCPOT")
        if incar.get("LCHARG", False):
            rho = np.full(grid, nelect)  # VASP's CHGCAR holds ρ·V
            Chgcar(poscar, {"total": rho}).write_file(folder / "CHGCAR")


def main() -> None:
    sys.exit(run(Path.cwd()))


if __name__ == "__main__":
    main()

"""The output files of the VASP stand-in (:mod:`mttmat.hpc.vasp_standin`), in VASP 6's
layouts as pymatgen parses them: vasprun.xml, OSZICAR, OUTCAR, CONTCAR, LOCPOT, CHGCAR."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
from pymatgen.core import Element

__all__ = ["ranks", "write_text_outputs", "write_vasprun"]


def ranks() -> int:
    """MPI ranks of this launch (Slurm, PMI or Open MPI environment; 1 without)."""
    for key in ("SLURM_NTASKS", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 1


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


def write_vasprun(
    folder, incar, mesh, s, steps, final_frac, potcar, titles, nelect, nbands, ispin, el
) -> None:
    species = []
    for site in s:
        if not species or species[-1] != site.specie.symbol:
            species.append(site.specie.symbol)
    counts = [sum(1 for site in s if site.specie.symbol == sp) for sp in species]
    lattice = s.lattice.matrix
    type_of = {sp: k + 1 for k, sp in enumerate(species)}
    atoms = "\n".join(
        f"    <rc><c>{site.specie.symbol:2s}</c><c>{type_of[site.specie.symbol]:4d}</c></rc>"
        for site in s
    )
    types = "\n".join(
        f"    <rc><c>{c:4d}</c><c>{sp:2s}</c><c>{Element(sp).atomic_mass:10.4f}</c>"
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


def outcar_header(incar, n_ions, nbands, ispin, nelect, efermi) -> list[str]:
    """The OUTCAR lines pymatgen's ``Outcar`` needs before any ionic step (custodian's
    WalltimeHandler parses the OUTCAR while VASP runs)."""
    return [
        " vasp.6.4.2 (mttmat VASP stand-in: no DFT was computed)",
        f" running on {ranks():4d} total cores",
        f"   k-points           NKPTS =      1   k-points in BZ     NKDIM =      1   number of bands    NBANDS= {nbands:6d}",  # noqa: E501
        f"   number of dos      NEDOS =    401   number of ions     NIONS = {n_ions:6d}",
        "   total plane-waves  NPLWV =  13824",
        f"   ISPIN  = {ispin:6d}    spin polarized calculation?",
        f"   IBRION = {int(incar.get('IBRION', -1)):6d}    ionic relax: 0-MD 1-quasi-New 2-CG",
        f"   NELECT = {nelect:12.4f}    total number of electrons",
        f" E-fermi : {efermi:10.4f}     XC(G=0):  -1.0000     alpha+bet : -1.0000",
    ]


def write_text_outputs(
    folder, incar, s, steps, final_frac, final_vel, el, ispin, nelect, nbands, out,
    loop_times=(),
) -> None:  # fmt: skip
    from pymatgen.core import Structure
    from pymatgen.io.vasp import Poscar

    final = Structure(s.lattice, s.species, final_frac)
    Poscar(final, velocities=None if final_vel is None else final_vel.tolist()).write_file(
        folder / "CONTCAR"
    )
    mag = 1.0 if ispin == 2 and (nelect % 2) > 0.5 else 0.0
    header = "       N       E                     dE             d eps       ncg     rms"
    lines = [header + "          rms(c)"]
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
        *outcar_header(incar, len(s), nbands, ispin, nelect, el["efermi"]),
        *(f"      LOOP+:  cpu time {t:11.4f}: real time {t:11.4f}" for t in loop_times),
        "",
        " POSITION                                       TOTAL-FORCE (eV/Angst)",
        " -----------------------------------------------------------------------------------",
        *(
            f" {p[0]:12.5f} {p[1]:12.5f} {p[2]:12.5f}    {g[0]:13.6f} {g[1]:13.6f} {g[2]:13.6f}"
            for p, g in zip(final.cart_coords, f_last, strict=True)
        ),
        " -----------------------------------------------------------------------------------",
        "    total drift:                                0.000000      0.000000      0.000000",
        "",
        # the cell's moment on its first ion (a stand-in value, as VASP prints the table)
        *([" magnetization (x)", " ", "# of ion       s       p       d       tot",
           "------------------------------------------",
           *(f"{k + 1:5d}        0.000   0.000 {m:7.3f} {m:7.3f}"
             for k, m in enumerate([mag] + [0.0] * (len(s) - 1))),
           "--------------------------------------------------",
           f"tot          0.000   0.000 {mag:7.3f} {mag:7.3f}", ""] if ispin == 2 else []),
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

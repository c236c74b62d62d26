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
  smooth function of the geometry, so relaxations and MD move atoms deterministically; Li
  pairs weakened so a Li hop stays inside the chain's physical ranges);
  a static gives one step, a relax (IBRION 1/2/3) a few steepest-descent steps, an MD
  (IBRION 0) NSW steps of damped dynamics;
- it writes what the parsers read: ``vasprun.xml`` (incar, kpoints, parameters, atominfo,
  every ionic step with forces and stress, eigenvalues with a gap, total and (LORBIT)
  projected DOS), ``OUTCAR``, ``OSZICAR``, ``CONTCAR``, ``vasp.out``, and ``LOCPOT`` when
  LVHAR is set (a flat potential), ``CHGCAR`` when LCHARG is set;
- an NEB (``IMAGES`` in INCAR) runs in the image folders ``01``..``N`` (each a few
  relaxation steps, no springs), writes their files there as VASP does, and needs a rank
  count divisible by IMAGES (VASP's ``M_divide`` error otherwise);
- it writes OUTCAR as it goes (a header, then VASP's ``LOOP+`` timing line per ionic step),
  which custodian's WalltimeHandler parses during the run, and honours the ``STOPCAR``
  (``LSTOP``) that handler writes: an MD or relaxation ends after the current ionic step
  with its files written, as VASP does before a walltime;
- for walltime tests, every ionic step sleeps ``MTTMAT_STANDIN_STEP_S`` seconds while the
  file named by ``MTTMAT_STANDIN_SLOW_WHILE`` exists (only in the folders whose path holds
  the file's text, e.g. one job's uuid, when it has one);
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

from mttmat.hpc.standin_files import outcar_header, ranks, write_text_outputs, write_vasprun

__all__ = ["main", "run"]

#: VASP's own messages for the errors the stand-in can raise (custodian matches these)
ERRORS = {
    "zbrent": "ZBRENT: fatal error in bracketing\n please rerun with smaller EDIFF, or copy "
    "CONTCAR\n to POSCAR and continue",
    "brmix": "BRMIX: very serious problems\n the old and the new charge density differ",
}


def _rank() -> int:
    for key in ("SLURM_PROCID", "PMI_RANK", "OMPI_COMM_WORLD_RANK"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def _record(folder: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("SLURM_", "ATOMATE2_", "PMG_", "OMP_", "MTTMAT_"))}  # fmt: skip
    rec = {"argv": sys.argv, "cwd": str(folder), "ranks": ranks(), "rank": _rank(),
           "pid": os.getpid(), "time": time.time(), "env": env}  # fmt: skip
    with open(folder / "standin_launch.jsonl", "a") as fh:
        fh.write(json.dumps(rec) + "\n")


class StandinError(RuntimeError):
    """An input problem, reported the way VASP reports it (stdout, exit 1)."""


# ---------------------------------------------------------------------------- the model
def _energy_forces(
    cart: np.ndarray, lattice: np.ndarray, weak: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """A smooth repulsive pair potential with the minimum-image convention:
    E = Σ_{i<j} w_ij A exp(-r/ρ), r < 6 Å. Not physics; only deterministic and
    differentiable. Pairs with a ``weak`` atom (Li) count a tenth (w = 0.1), so a Li hop
    through an O window costs tenths of an eV, inside the ranges the chain's physical
    checks accept, as the host's own pairs set the cell's shape."""
    a, rho, rc = 20.0, 0.6, 6.0
    inv = np.linalg.inv(lattice)
    n = len(cart)
    w_atom = np.where(weak, 0.1, 1.0) if weak is not None else np.ones(n)
    e = 0.0
    f = np.zeros_like(cart)
    for i in range(n):
        d = cart[i + 1 :] - cart[i]
        frac = d @ inv
        frac -= np.round(frac)
        d = frac @ lattice
        r = np.linalg.norm(d, axis=1)
        m = (r < rc) & (r > 1e-6)
        if not m.any():
            continue
        w = np.minimum(w_atom[i], w_atom[i + 1 :][m])
        pair = w * a * np.exp(-r[m] / rho)
        e += float(pair.sum())
        # dE/dr = -pair/rho; force on i along -d̂ · (-dE/dr)
        g = (pair / rho)[:, None] * d[m] / r[m][:, None]
        f[i] -= g.sum(axis=0)
        f[i + 1 :][m] += g
    return e - 5.0 * n, f


def _electronic(
    nelect: float,
    ispin: int,
    nbands: int,
    nk: int,
    n_ions: int,
    lorbit: bool,
    species_d: np.ndarray,
) -> dict[str, Any]:
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
            total[s] += (
                weight * np.exp(-((grid - e) ** 2) / (2 * width**2)) / (width * np.sqrt(2 * np.pi))
            )
    pdos = None
    if lorbit:
        # every channel of every ion carries a little weight, as in any real PDOS: a channel
        # that is exactly zero makes emmet's band moments NaN, which JSON stores as null and
        # the TaskDoc then refuses to load (jobflow-remote moves outputs through JSON)
        pdos = np.broadcast_to(0.01 * total[None, :, :, None] / (9 * n_ions),
                               (n_ions, ispin, grid.size, 9)).copy()  # fmt: skip
        vb_mask = grid < 1.0
        d_ions = np.flatnonzero(species_d)
        p_ions = np.flatnonzero(~species_d)
        for s in range(ispin):
            if len(p_ions):
                pdos[p_ions, s, :, 1:4] += (total[s] * vb_mask)[None, :, None] / (3 * len(p_ions))
            if len(d_ions):
                pdos[d_ions, s, :, 4:9] += (total[s] * ~vb_mask)[None, :, None] / (5 * len(d_ions))
    return {"eigs": eigs, "occ": occ, "efermi": efermi, "grid": grid, "total": total,
            "pdos": pdos}  # fmt: skip


def run(folder: str | Path = ".") -> int:
    """Run in ``folder``; returns the exit status."""
    folder = Path(folder)
    _record(folder)
    if _rank() != 0:  # srun -n N: every rank records itself, rank 0 does the work
        return 0
    out = open(folder / "vasp.out", "a")
    try:
        print(f" running on {ranks():4d} total cores (mttmat VASP stand-in)", file=out)
        fail = os.environ.get("MTTMAT_STANDIN_FAIL")
        marker = folder / ".standin_failed_once"
        if fail and not marker.exists():
            marker.write_text(fail)
            print(ERRORS[fail], file=out, flush=True)
            print(ERRORS[fail])
            return 1
        incar, potcar = _read_common(folder)
        n_img = int(incar.get("IMAGES", 0))
        if n_img:  # NEB: VASP works in the image folders 01..N; 00 and N+1 are the ends
            if ranks() % n_img:
                raise StandinError(f"M_divide: can not subdivide {ranks()} nodes by {n_img}")
            for k in range(1, n_img + 1):
                image = folder / f"{k:02d}"
                if not (image / "POSCAR").is_file():
                    raise StandinError(f"ERROR: file {image.name}/POSCAR not found (IMAGES)")
                _compute_and_write(image, incar, _poscar(image, potcar), potcar, out,
                                   stop=folder / "STOPCAR")  # fmt: skip
        else:
            if not (folder / "POSCAR").is_file():
                raise StandinError("ERROR: file POSCAR not found (mttmat VASP stand-in)")
            _compute_and_write(folder, incar, _poscar(folder, potcar), potcar, out)
        print(" writing wavefunctions (stand-in: none)", file=out)
        return 0
    except StandinError as err:
        print(str(err), file=out)
        print(str(err))
        return 1
    finally:
        out.close()


def _read_common(folder: Path) -> tuple[Any, Any]:
    """INCAR and POTCAR, checked; KPOINTS or KSPACING."""
    from pymatgen.io.vasp import Incar, Potcar

    for f in ("INCAR", "POTCAR"):
        if not (folder / f).is_file():
            raise StandinError(f"ERROR: file {f} not found (mttmat VASP stand-in)")
    incar = Incar.from_file(folder / "INCAR")
    if not (folder / "KPOINTS").is_file() and "KSPACING" not in incar:
        raise StandinError("ERROR: file KPOINTS not found and no KSPACING")
    return incar, Potcar.from_file(folder / "POTCAR")


def _poscar(folder: Path, potcar: Any) -> Any:
    """POSCAR of ``folder``, its species checked against POTCAR's TITELs."""
    from pymatgen.io.vasp import Poscar

    poscar = Poscar.from_file(folder / "POSCAR")
    species = poscar.site_symbols
    if [p.element for p in potcar] != species:
        raise StandinError(f"ERROR: POTCAR species {[p.element for p in potcar]} do not "
                           f"match POSCAR {species} ({folder.name})")  # fmt: skip
    return poscar


class _Progress:
    """VASP writes OUTCAR as it goes: a header, then a ``LOOP+`` timing line per ionic step,
    which custodian's WalltimeHandler reads to decide when to write a STOPCAR."""

    def __init__(self, folder: Path, header: list[str]) -> None:
        self.path, self.t0, self.last, self.times = folder / "OUTCAR", time.time(), None, []
        self.path.write_text("\n".join(header) + "\n")
        self.last = self.t0

    def step(self) -> None:
        now = time.time()
        self.times.append(now - self.last)
        self.last = now
        with open(self.path, "a") as fh:
            t = self.times[-1]
            fh.write(f"      LOOP+:  cpu time {t:11.4f}: real time {t:11.4f}\n")


def _slow_step(folder: Path, stop: Path) -> bool:
    """Between ionic steps: sleep ``MTTMAT_STANDIN_STEP_S`` seconds while the file named by
    ``MTTMAT_STANDIN_SLOW_WHILE`` exists and, when it holds a text (a job uuid), the folder's
    path contains it (a test's walltime), then True if a STOPCAR asks
    to stop (custodian's WalltimeHandler writes ``LSTOP = .TRUE.``: VASP finishes the
    ionic step, writes its files and ends)."""
    flag = os.environ.get("MTTMAT_STANDIN_SLOW_WHILE")
    if flag and Path(flag).is_file():
        only = Path(flag).read_text().strip()  # a job's folder (uuid) or empty: every folder
        if not only or only in str(folder.resolve()):
            time.sleep(float(os.environ.get("MTTMAT_STANDIN_STEP_S", "1")))
    return stop.is_file() and "LSTOP" in stop.read_text().upper()


def _nbands(nelect: float, n_ions: int) -> int:
    return int(np.ceil(nelect / 2)) + max(8, n_ions // 2)


def _compute_and_write(
    folder: Path, incar: Any, poscar: Any, potcar: Any, out: Any, stop: Path | None = None
) -> None:
    from pymatgen.io.vasp import Kpoints

    stop = stop or folder / "STOPCAR"
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

    weak = np.array([site.specie.symbol == "Li" for site in s])
    progress = _Progress(folder, outcar_header(incar, n, nbands, ispin, nelect, 0.0))
    steps = []
    if ibrion == 0 and nsw > 0:  # MD: damped dynamics, velocities from POSCAR if present
        dt = float(incar.get("POTIM", 2.0))
        vel = np.array(poscar.velocities) if poscar.velocities is not None else np.zeros((n, 3))
        mass = np.array([site.specie.atomic_mass for site in s], float)[:, None]
        cart = frac @ lattice
        for _ in range(nsw):
            e, f = _energy_forces(cart, lattice, weak)
            kin = 0.5 * float((mass * vel**2).sum()) * 1.036427e-4  # amu Å²/fs² → eV
            steps.append((cart @ np.linalg.inv(lattice), e, f, kin))
            vel = 0.9 * vel + dt * f / mass * 9.648533e-3  # eV/Å/amu → Å/fs²
            cart = cart + dt * vel * 1e-2
            stopped = _slow_step(folder, stop)
            progress.step()
            if stopped:
                print(" stand-in: STOPCAR LSTOP, stopping after this ionic step", file=out)
                break
        frac, final_vel = cart @ np.linalg.inv(lattice), vel
    elif ibrion in (1, 2, 3) and nsw > 0:  # relax: a few steepest-descent steps
        cart = frac @ lattice
        reached = True
        for _ in range(max(1, min(nsw - 1, 4))):  # fewer steps than NSW: "converged"
            e, f = _energy_forces(cart, lattice, weak)
            steps.append((cart @ np.linalg.inv(lattice), e, f, None))
            cart = cart + 0.01 * np.clip(f, -5, 5)
            stopped = _slow_step(folder, stop)
            progress.step()
            if stopped:
                reached = False
                break
        frac, final_vel = cart @ np.linalg.inv(lattice), None
    else:
        e, f = _energy_forces(frac @ lattice, lattice, weak)
        steps.append((frac, e, f, None))
        final_vel = None

    d_species = {sp for sp in counts if sp in ("W", "Nb", "Mo", "Ti", "V", "Ta")}
    species_d = np.array([site.specie.symbol in d_species for site in s])
    el = _electronic(nelect, ispin, nbands, nk, n, lorbit, species_d)
    potcar_titles = [p.TITEL for p in potcar]
    write_vasprun(folder, incar, mesh, s, steps, frac, potcar, potcar_titles, nelect, nbands,
                   ispin, el)  # fmt: skip
    write_text_outputs(folder, incar, s, steps, frac, final_vel, el, ispin, nelect, nbands, out,
                       progress.times)  # fmt: skip
    tail = []
    if ibrion in (1, 2, 3) and nsw > 0:
        if "IMAGES" in incar:  # VTST's NEB force line (here: the largest atomic force)
            fmax = float(np.linalg.norm(steps[-1][2], axis=1).max())
            tail.append(f"FORCES: max atom, RMS     {fmax:.6f}    {fmax / 3:.6f}")
        if reached:
            tail.append(" reached required accuracy - stopping structural energy minimisation")
    if tail:
        with open(folder / "OUTCAR", "a") as fh:
            fh.write("\n".join(tail) + "\n")


def main() -> None:
    sys.exit(run(Path.cwd()))


if __name__ == "__main__":
    main()

"""A custodian validator for VASP runs that custodian's ``WalltimeHandler`` stopped.

``WalltimeHandler`` writes a STOPCAR (``LSTOP``) when a job nears its Slurm limit; VASP then
finishes the ionic step, writes its files and ends normally. For an AIMD chunk atomate2
notices (fewer MD steps than NSW: the TaskDoc is not successful and the job fails). For a
relaxation it does not: fewer ionic steps than NSW is exactly what pymatgen calls
converged, so a relaxation stopped half-way would end COMPLETED and pass an unrelaxed cell
on (an endpoint of the CI-NEB that is no minimum). :class:`StoppedRelaxValidator` makes
such a run fail, with the reason, so ``mttmat hpc rerun`` runs it again.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from custodian.custodian import Validator

__all__ = ["StoppedRelaxValidator"]

#: what VASP prints when a relaxation met EDIFFG
REACHED = "reached required accuracy"


def _read(path: Path) -> str:
    for p in (path, path.with_name(path.name + ".gz")):
        if p.is_file():
            return (gzip.open(p, "rt") if p.suffix == ".gz" else open(p)).read()
    return ""


class StoppedRelaxValidator(Validator):
    """Invalid when a STOPCAR stopped a relaxation (IBRION 1/2/3, NSW > 0) before VASP
    reported reaching the required accuracy (EDIFFG)."""

    def check(self, directory: str = "./") -> bool:
        folder = Path(directory)
        if not (folder / "STOPCAR").is_file():
            return False
        from pymatgen.io.vasp import Incar

        incar = Incar.from_file(folder / "INCAR") if (folder / "INCAR").is_file() else {}
        if int(incar.get("IBRION", -1)) not in (1, 2, 3) or int(incar.get("NSW", 0)) <= 0:
            return False  # an MD chunk: atomate2 fails it on its step count
        if REACHED in _read(folder / "OUTCAR"):
            return False  # converged before the STOPCAR took effect
        print("StoppedRelaxValidator: the relaxation was stopped by a STOPCAR (walltime) "
              "before reaching EDIFFG; rerun the job (mttmat hpc rerun)")  # fmt: skip
        return True

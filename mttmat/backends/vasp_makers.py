"""atomate2 VASP Makers that mttmat extends (imported only when a VASP Maker is made)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atomate2.vasp.jobs.base import BaseVaspMaker, vasp_job
from atomate2.vasp.jobs.core import StaticMaker
from pymatgen.core import Structure

__all__ = ["ChargedStaticMaker"]


@dataclass
class ChargedStaticMaker(StaticMaker):
    """atomate2's ``StaticMaker`` for a cell with net ``charge`` (e; None: VASP's default).

    NELECT = Σ ZVAL − charge of the structure the job receives, set when the job runs, so a
    cell that a previous job made (a melt-quenched host with Li) gets its own count.
    """

    charge: float | None = None

    @vasp_job
    def make(self, structure: Structure, prev_dir: str | Path | None = None) -> Any:
        """Run the static (NELECT first, for a charged cell)."""
        from mttmat.backends.vasp import vasp_nelect

        if self.charge is not None:
            nelect = vasp_nelect(self, structure, self.charge)
            gen = self.input_set_generator
            gen.user_incar_settings = {**gen.user_incar_settings, "NELECT": nelect}
        return BaseVaspMaker.make.original(self, structure, prev_dir=prev_dir)

"""atomate2 VASP Makers that mttmat extends (imported only when a VASP Maker is made)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atomate2.vasp.jobs.base import _DATA_OBJECTS, BaseVaspMaker, vasp_job
from atomate2.vasp.jobs.core import RelaxMaker, StaticMaker
from atomate2.vasp.jobs.neb import NebFromImagesMaker
from emmet.core.neb import NebIntermediateImagesDoc
from jobflow import job
from pymatgen.core import Structure

from mttmat.backends.vasp_inputs import cell_inputs

__all__ = ["ChargedNebMaker", "ChargedRelaxMaker", "ChargedStaticMaker"]


@dataclass
class ChargedStaticMaker(StaticMaker):
    """atomate2's ``StaticMaker`` for the chain's cells, set up for the cell it receives.

    ``charge`` (e; None: VASP's neutral default): the structure the job receives is given
    this charge and pymatgen writes NELECT = Σ ZVAL of its POTCARs − charge
    (``use_structure_charge``), counted when the job runs, so a cell that a previous job
    made (a melt-quenched host with Li) gets its own count. A spin-polarised cell whose sites carry
    ``magmom`` (the polaron start) starts from those moments, not the per-element MAGMOM.
    """

    charge: float | None = None

    @vasp_job
    def make(self, structure: Structure, prev_dir: str | Path | None = None) -> Any:
        """Run the static: NELECT of a charged cell and the cell's own site moments first
        (:func:`mttmat.backends.vasp.cell_inputs`)."""
        cell = cell_inputs(self, structure)
        return BaseVaspMaker.make.original(self, cell, prev_dir=prev_dir)


@dataclass
class ChargedRelaxMaker(RelaxMaker):
    """atomate2's ``RelaxMaker`` with the cell charge of :class:`ChargedStaticMaker` (the
    endpoints of a charged CI-NEB: the Li ion, q = +1)."""

    charge: float | None = None

    @vasp_job
    def make(self, structure: Structure, prev_dir: str | Path | None = None) -> Any:
        """Relax with NELECT of a charged cell counted from this cell's POTCARs."""
        cell = cell_inputs(self, structure)
        return BaseVaspMaker.make.original(self, cell, prev_dir=prev_dir)


def vasp_neb_job(method: Any) -> Any:
    """atomate2's NEB job decorator, with the document class as ``output_schema``.

    atomate2 0.1.5 passes ``schema=NebIntermediateImagesDoc`` to ``job``, which jobflow reads
    as an additional store named "schema": jobflow-remote then refuses the whole flow
    ("Additional stores ['schema'] are not configured"), and ``run_locally`` would put the
    NEB output in a store of that name. The large VASP objects go to the ``data`` store as
    for every other atomate2 VASP job, and so do the image calculations (every ionic step of
    every image: past MongoDB's 16 MB document limit for a full-size band)."""
    return job(method, data=[*_DATA_OBJECTS, "calculations"],
               output_schema=NebIntermediateImagesDoc)  # fmt: skip


@dataclass
class ChargedNebMaker(NebFromImagesMaker):
    """atomate2's ``NebFromImagesMaker`` (its NEB job type, custodian's ``VaspNEBJob`` and
    atomate2's ``VaspNebFilesValidator``) with the cell charge of :class:`ChargedStaticMaker`:
    NELECT is counted from the first image, whose POTCARs every image shares. Its job is
    declared with :func:`vasp_neb_job` (the run itself is atomate2's)."""

    charge: float | None = None

    @vasp_neb_job
    def make(self, images: list[Structure], prev_dir: str | Path | None = None) -> Any:
        """The NEB of ``images`` (endpoints included), charged as ``charge``."""
        images = list(images)
        images[0] = cell_inputs(self, images[0])
        return NebFromImagesMaker.make.original(self, images, prev_dir=prev_dir)

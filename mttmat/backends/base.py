"""The backend registry: one name (``chgnet`` | ``gpaw`` | ``vasp`` | ...) → Makers.

A backend turns a name into atomate2-style Makers for ``static``, ``relax`` and ``md`` on a
pymatgen ``Structure``. Backends that wrap an ASE calculator only implement
:meth:`AseCalculatorBackend.calculator`; the Makers (:class:`CalculatorRelaxMaker`,
:class:`CalculatorMDMaker`) are shared and find the calculator by the backend's name, so a
fourth ASE code is one small class and no Maker is copied.

Examples
--------
>>> from mttmat.backends import get_backend
>>> get_backend("chgnet").fidelity
'ml'
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from atomate2.ase.jobs import _ASE_DATA_OBJECTS, AseRelaxMaker
from atomate2.ase.md import AseMDMaker
from jobflow import Maker, job
from monty.json import jsanitize

from mttmat.backends.defaults import DEFAULTS
from mttmat.schemas.calc import CalcTaskDoc
from mttmat.schemas.dos import DosDoc
from mttmat.settings import get_settings

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator
    from pymatgen.core import Structure

__all__ = [
    "AseCalculatorBackend",
    "Backend",
    "BackendError",
    "CalculatorMDMaker",
    "CalculatorRelaxMaker",
    "available_backends",
    "get_backend",
    "register_backend",
]

Fidelity = Literal["ml", "dft"]


class BackendError(ValueError):
    """Unknown backend, or a backend that cannot run the request (missing code, cell too big)."""


_REGISTRY: dict[str, type[Backend]] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def available_backends() -> list[str]:
    """Names of the registered backends."""
    return sorted(_REGISTRY)


def get_backend(name: str | None = None, **options: Any) -> Backend:
    """The backend called ``name`` (default: ``settings.default_backend``).

    Raises
    ------
    BackendError
        If no backend has that name.
    """
    name = name or get_settings().default_backend
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise BackendError(
            f"unknown backend {name!r}; choose one of {available_backends()}"
        ) from None
    return cls(**options)


class Backend(ABC):
    """A way to compute energies and forces, as Makers for static, relax and MD."""

    name: ClassVar[str]
    fidelity: ClassVar[Fidelity]
    #: runs in this process through an ASE calculator (MD, NEB loops); False for codes that
    #: only run as atomate2 jobs on a cluster (VASP)
    in_process: ClassVar[bool] = True

    def __init__(self, **options: Any) -> None:
        self.options = options

    def as_dict(self) -> dict[str, Any]:
        """JSON form (monty): the class and its constructor options, so a Maker holding a
        backend serializes like atomate2's Makers with their injected sub-makers."""
        return {"@module": type(self).__module__, "@class": type(self).__name__,
                "options": jsanitize(self.options, strict=True)}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Backend:
        return cls(**d.get("options", {}))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.as_dict() == other.as_dict()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((type(self).__name__, json.dumps(self.as_dict()["options"], sort_keys=True)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"

    #: BLAS threads this code runs fastest with (None: the process's budget)
    blas_threads: ClassVar[int | None] = None

    def thread_limits(self) -> contextlib.AbstractContextManager[Any]:
        """Context in which this backend's calculations run: at most :attr:`blas_threads`
        BLAS threads (and never more than the process's budget)."""
        if self.blas_threads is None:
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_info, threadpool_limits

        budget = max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"),
                     default=1)  # fmt: skip
        return threadpool_limits(limits=min(budget, self.blas_threads), user_api="blas")

    @abstractmethod
    def static_maker(self, **kwargs: Any) -> Maker:
        """Single-point energy/forces."""

    @abstractmethod
    def relax_maker(self, relax_cell: bool = False, **kwargs: Any) -> Maker:
        """Relaxation to ``DEFAULTS.relax_fmax_ev_a``."""

    @abstractmethod
    def md_maker(
        self,
        temperature_k: float | tuple[float, float],
        n_steps: int,
        timestep_fs: float = 2.0,
        ensemble: str = "nvt",
        **kwargs: Any,
    ) -> Maker:
        """Molecular dynamics (constant or linearly ramped temperature)."""

    def check_structure(self, structure: Structure) -> None:  # noqa: B027 (optional hook)
        """Raise :class:`BackendError` if this backend cannot treat ``structure``."""

    def ase_calculator(self, **kwargs: Any) -> Calculator:
        """An ASE calculator for in-process MD/NEB loops (mttmat's resumable MD, NEB).

        Raises
        ------
        BackendError
            For backends that only run as external codes through atomate2 (VASP).
        """
        raise BackendError(
            f"backend {self.name!r} has no in-process ASE calculator; its MD and NEB run as "
            "atomate2 jobs (on HPC). Use chgnet or gpaw for in-process runs"
        )

    def model_label(self, calculator_kwargs: dict[str, Any] | None = None) -> str:
        """The model an ML number came from, for the documents and the report (the
        backend's name; an ML potential names its weights)."""
        return self.name

    def prepare_atoms(self, atoms: Any, **calculator_kwargs: Any) -> None:  # noqa: B027
        """Adjust atoms in place before a calculation (e.g. initial magnetic moments)."""

    def log_kwargs(self, log: str | None) -> dict[str, Any]:
        """Calculator options that send the code's own log to ``log`` (None: no log), e.g.
        when one job runs several calculators; empty for codes without one."""
        return {}

    def dos_jobs(
        self,
        label: str,
        structure: Any,
        calculator_kwargs: dict[str, Any],
        dos_kwargs: dict[str, Any] | None = None,
        relax: dict[str, Any] | None = None,
    ) -> list[Any]:
        """Jobs that give the DOS of ``structure``; the last one's output is what
        :func:`~mttmat.jobs.dos.dos_document` reads.

        Here: an optional relax (``relax``: ``{"fmax": ..., "steps": ...}``), then one SCF
        with ``calculator_kwargs`` updated by ``dos_kwargs`` (e.g. a denser ``kpts``).
        VASP overrides this with relax → static → non-SCF DOS.
        """
        jobs = []
        if relax is not None:
            r = self.relax_maker(
                name=f"{self.name} relax {label}", calculator_kwargs=calculator_kwargs,
                relax_kwargs={"fmax": relax["fmax"]}, steps=relax["steps"],
            ).make(structure)  # fmt: skip
            structure = r.output.structure
            jobs.append(r)
        scf = self.static_maker(
            name=f"{self.name} dos {label}",
            calculator_kwargs={**calculator_kwargs, **(dos_kwargs or {})},
        ).make(structure)
        return [*jobs, scf]

    def calc_document(self, output: Any) -> Any:
        """One finished calculation of this code in the shape the shared jobs read
        (:meth:`~mttmat.schemas.defects.LiFormationDoc.build`): here the
        :class:`~mttmat.schemas.calc.CalcTaskDoc` as it is. Codes whose jobs store another
        document override this (VASP: atomate2's ``TaskDoc``)."""
        return output

    def dos_document(self, output: Any, uuid: str | None = None, width_ev: float = 0.1) -> Any:
        """The :class:`~mttmat.schemas.dos.DosDoc` of one finished calculation: here from
        the electronic summary (eigenvalues, projections) of its task document."""
        from pymatgen.core import Structure

        get = output.get if isinstance(output, dict) else lambda k, d=None: getattr(output, k, d)
        electronic = get("electronic")
        if electronic is None:
            raise BackendError(
                f"the {self.name} task document holds no electronic summary: was it made by "
                f"a {self.name} single point of mttmat?"
            )
        structure = get("structure")
        if isinstance(structure, dict):
            structure = Structure.from_dict(structure)
        return DosDoc.from_electronic(electronic, structure, width=width_ev, uuid=uuid)


class AseCalculatorBackend(Backend):
    """A backend defined by an ASE calculator; Makers are shared, not copied."""

    @abstractmethod
    def calculator(self, structure: Structure | None = None, **kwargs: Any) -> Calculator:
        """A fresh ASE calculator. ``kwargs`` come from the Maker's ``calculator_kwargs``."""

    def electronic_summary(self, calc: Calculator, workdir: Path) -> dict[str, Any] | None:
        """Electronic results worth keeping after a calculation (Fermi level, moments...)."""
        return None

    def ase_calculator(self, **kwargs: Any) -> Calculator:
        return self.calculator(**kwargs)

    def static_maker(self, **kwargs: Any) -> Maker:
        kwargs.setdefault("name", f"{self.name} static")
        return CalculatorRelaxMaker(backend=self.name, steps=1, relax_cell=False, **kwargs)

    def relax_maker(self, relax_cell: bool = False, **kwargs: Any) -> Maker:
        kwargs.setdefault("name", f"{self.name} relax")
        kwargs.setdefault("relax_kwargs", {"fmax": DEFAULTS.relax_fmax_ev_a})
        return CalculatorRelaxMaker(backend=self.name, relax_cell=relax_cell, **kwargs)

    def md_maker(
        self,
        temperature_k: float | tuple[float, float],
        n_steps: int,
        timestep_fs: float = 2.0,
        ensemble: str = "nvt",
        **kwargs: Any,
    ) -> Maker:
        kwargs.setdefault("name", f"{self.name} md")
        temps = list(temperature_k) if isinstance(temperature_k, tuple | list) else temperature_k
        return CalculatorMDMaker(
            backend=self.name,
            temperature=temps,
            n_steps=n_steps,
            time_step=timestep_fs,
            ensemble=ensemble,
            **kwargs,
        )


def _ase_backend(name: str, structure: Structure | None = None) -> AseCalculatorBackend:
    backend = get_backend(name)
    if not isinstance(backend, AseCalculatorBackend):
        raise BackendError(f"backend {name!r} is not an ASE-calculator backend")
    if structure is not None:
        backend.check_structure(structure)
    return backend


#: site property (Å, one vector per site) of a symmetry-breaking start: the calculation first
#: converges with the atoms displaced by it, then at the real positions from that state
START_DISPLACEMENT = "start_displacement"


@dataclass
class CalculatorRelaxMaker(AseRelaxMaker):
    """Relax (``steps > 1``) or single-point (``steps = 1``) with a registered ASE backend.

    Parameters
    ----------
    backend
        Registered backend name whose :meth:`~AseCalculatorBackend.calculator` is used.
    calculator_kwargs
        Passed to that calculator factory (e.g. ``{"ecut_ev": 350}`` for GPAW).
    """

    name: str = "calculator relax"
    backend: str = "gpaw"
    relax_cell: bool = False

    def _get_calculator(self) -> Calculator:
        return _ase_backend(self.backend).calculator(**self.calculator_kwargs)

    def run_ase(self, mol_or_struct: Any, prev_dir: str | Path | None = None) -> Any:
        backend = _ase_backend(self.backend, mol_or_struct)
        atoms = mol_or_struct.to_ase_atoms() if hasattr(mol_or_struct, "to_ase_atoms") else None
        with backend.thread_limits():
            if atoms is not None:
                backend.prepare_atoms(atoms, **self.calculator_kwargs)
                disp = atoms.arrays.pop(START_DISPLACEMENT, None)
                if disp is not None and np.any(disp):
                    # symmetry-breaking start: one SCF with these atoms displaced, then the
                    # calculation itself at the real positions continues from that density
                    # (a localised solution found there survives only if it is stable there)
                    pre = atoms.copy()
                    pre.positions = pre.positions + disp
                    pre.calc = self.calculator
                    pre.get_potential_energy()
                mol_or_struct = atoms
            result = super().run_ase(mol_or_struct, prev_dir=prev_dir)
            self._electronic = backend.electronic_summary(self.calculator, Path.cwd())
        return result

    @job(data=_ASE_DATA_OBJECTS, output_schema=CalcTaskDoc)
    def make(self, mol_or_struct: Structure, prev_dir: str | Path | None = None) -> CalcTaskDoc:
        """Run the calculation; the atomate2 task document plus the electronic summary."""
        doc = AseRelaxMaker.make.original(self, mol_or_struct, prev_dir=prev_dir)
        backend = _ase_backend(self.backend)
        return CalcTaskDoc.from_ase_doc(
            doc,
            backend=self.backend,
            fidelity=backend.fidelity,
            electronic=getattr(self, "_electronic", None),
        )


@dataclass
class CalculatorMDMaker(AseMDMaker):
    """MD with a registered ASE backend (atomate2's :class:`AseMDMaker` drives it)."""

    name: str = "calculator md"
    backend: str = "gpaw"
    calculator_kwargs: dict = field(default_factory=dict)

    def _get_calculator(self) -> Calculator:
        return _ase_backend(self.backend).calculator(**self.calculator_kwargs)

    def run_ase(self, mol_or_struct: Any, prev_dir: str | Path | None = None) -> Any:
        _ase_backend(self.backend, mol_or_struct)
        return super().run_ase(mol_or_struct, prev_dir=prev_dir)

"""VASP backend: atomate2 VASP Makers with Dudarev DFT+U on W/Nb d and custodian handlers.

VASP is licensed and runs on HPC only; here the Makers are built and their inputs written
(:mod:`mttmat.backends.vasp_inputs`: INCAR, KPOINTS, POSCAR, and POTCAR from pymatgen's
``PMG_VASP_PSP_DIR`` or POTCAR.spec without it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jobflow import Maker
from pymatgen.core import Structure

from mttmat.backends.base import Backend, BackendError, register_backend
from mttmat.backends.defaults import DEFAULTS
from mttmat.backends.vasp_custodian import (
    DEFAULT_CUSTODIAN_VALIDATORS,
    custodian_handlers,
    custodian_validators,
    edited,
)
from mttmat.backends.vasp_docs import vasp_calc_doc, vasp_dos_doc
from mttmat.backends.vasp_inputs import (
    CALCULATOR_KEYS,
    aimd_chunks,
    calculator_inputs,
    cell_incar,
    cell_inputs,
    dft_u_incar,
    write_vasp_inputs,
)
from mttmat.backends.vasp_potcars import POTCARS

__all__ = [
    "CALCULATOR_KEYS",
    "DEFAULT_CUSTODIAN_VALIDATORS",
    "POTCARS",
    "VaspBackend",
    "aimd_chunks",
    "calculator_inputs",
    "cell_incar",
    "cell_inputs",
    "custodian_handlers",
    "dft_u_incar",
    "write_vasp_inputs",
]


#: precision of a CI-NEB and of its endpoint relaxations, set alike: the endpoints' energies
#: are the band's ends. ISYM = 0: the images break the cell's symmetry
NEB_PRECISION = {"PREC": "Accurate", "EDIFF": 1e-6, "ISYM": 0}


@register_backend
class VaspBackend(Backend):
    """atomate2 VASP Makers (relax, static, MD) carrying the project's DFT+U settings.

    Options
    -------
    add_handlers, remove_handlers, add_validators, remove_validators
        custodian class names added to or removed from **each atomate2 Maker's own
        defaults** (atomate2's ``run_vasp`` set for statics and relaxations; ``MDMaker``'s
        reduced set, without the handlers that restart an unconverged step; the NEB
        validator for NEBs): mttmat extends atomate2's choices, it does not replace them.
    max_errors
        custodian's maximum number of corrections per job (None: atomate2's setting).
    """

    name = "vasp"
    fidelity = "dft"
    in_process = False  # atomate2 jobs on a cluster

    def __init__(
        self,
        add_handlers: Sequence[str] = (),
        remove_handlers: Sequence[str] = (),
        add_validators: Sequence[str] = (),
        remove_validators: Sequence[str] = (),
        max_errors: int | None = None,
        aimd_chunk_steps: int | None = None,
        **options: Any,
    ) -> None:
        if options:
            raise BackendError(
                f"unknown VASP backend option(s) {sorted(options)}; known: add_handlers, "
                "remove_handlers, add_validators, remove_validators, max_errors, "
                "aimd_chunk_steps"
            )
        if aimd_chunk_steps is not None and aimd_chunk_steps < 1:
            raise BackendError(f"aimd_chunk_steps must be >= 1, got {aimd_chunk_steps}")
        self.aimd_chunk_steps = aimd_chunk_steps
        given = {"add_handlers": list(add_handlers), "remove_handlers": list(remove_handlers),
                 "add_validators": list(add_validators),
                 "remove_validators": list(remove_validators), "max_errors": max_errors,
                 "aimd_chunk_steps": aimd_chunk_steps}  # fmt: skip
        super().__init__(**{k: v for k, v in given.items() if v not in (None, [])})
        if max_errors is not None and max_errors < 1:
            raise BackendError(f"max_errors must be >= 1, got {max_errors}")
        self.add_handlers, self.remove_handlers = tuple(add_handlers), tuple(remove_handlers)
        self.add_validators = tuple(add_validators)
        self.remove_validators = tuple(remove_validators)
        self.max_errors = max_errors
        custodian_handlers([*self.add_handlers, *self.remove_handlers])  # names checked now
        custodian_validators([*self.add_validators, *self.remove_validators])

    def run_vasp_kwargs(self, maker_class: type | None = None) -> dict[str, Any]:
        """Keyword arguments for :func:`atomate2.vasp.run.run_vasp` of a ``maker_class`` job:
        that Maker's own defaults, with the configured handlers/validators added or removed.

        No ``vasp_cmd``: atomate2 then takes ``ATOMATE2_VASP_CMD`` and
        ``ATOMATE2_VASP_GAMMA_CMD`` from the environment of the running job, which the HPC
        run sets per job type (``srun vasp_std`` on the allocation).
        """
        from atomate2.vasp.run import DEFAULT_HANDLERS, JobType

        own: dict[str, Any] = {}
        if maker_class is not None:
            f = maker_class.__dataclass_fields__["run_vasp_kwargs"]
            own = dict(f.default_factory())  # type: ignore[misc]
        handlers = list(own.get("handlers", DEFAULT_HANDLERS))
        if own.get("validators"):
            validators = list(own["validators"])
        elif own.get("job_type") == JobType.NEB:
            from atomate2.vasp.run import VaspNebFilesValidator  # atomate2 defines it

            validators = [VaspNebFilesValidator()]
        else:
            validators = custodian_validators(DEFAULT_CUSTODIAN_VALIDATORS)
        handlers = edited(handlers, self.remove_handlers,
                           custodian_handlers(self.add_handlers))  # fmt: skip
        validators = edited(validators, self.remove_validators,
                             custodian_validators(self.add_validators))  # fmt: skip
        out = {**own, "handlers": handlers, "validators": validators}
        if self.max_errors is not None:
            out["max_errors"] = self.max_errors
        return out

    def _incar(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**dft_u_incar(), **(extra or {})}

    def static_maker(self, **kwargs: Any) -> Maker:
        """atomate2 ``StaticMaker`` with DFT+U; ``calculator_kwargs`` as
        :func:`calculator_inputs` (a ``charge`` sets NELECT from the job's own structure)."""
        from atomate2.vasp.sets.core import StaticSetGenerator

        incar, kpts, charge = calculator_inputs(kwargs.pop("calculator_kwargs", None))
        incar.pop("EDIFFG")
        incar.update({"LORBIT": 11, "LVHAR": True})  # PDOS and the potential alignment
        incar.update(kwargs.pop("user_incar_settings", None) or {})
        gen = StaticSetGenerator(
            user_potcar_settings=dict(POTCARS), user_incar_settings=incar,
            user_kpoints_settings=kpts,
        )  # fmt: skip
        from mttmat.backends.vasp_makers import ChargedStaticMaker

        return ChargedStaticMaker(input_set_generator=gen, charge=charge,
                                  run_vasp_kwargs=self.run_vasp_kwargs(ChargedStaticMaker),
                                  **kwargs)  # fmt: skip

    def relax_maker(self, relax_cell: bool = False, **kwargs: Any) -> Maker:
        """atomate2 ``RelaxMaker`` (conjugate gradient, fixed or free cell) with DFT+U;
        ``steps`` → NSW, ``relax_kwargs={"fmax": f}`` → EDIFFG = −f; a ``charge`` in
        ``calculator_kwargs`` sets NELECT from the job's own structure (the q = +1 endpoints
        of the Li-ion CI-NEB)."""
        from atomate2.vasp.sets.core import RelaxSetGenerator

        from mttmat.backends.vasp_makers import ChargedRelaxMaker

        incar, kpts, charge = calculator_inputs(kwargs.pop("calculator_kwargs", None))
        steps = kwargs.pop("steps", None)  # the other backends' step limit is VASP's NSW
        incar.update({"ISIF": 3 if relax_cell else 2, "IBRION": 2, "NSW": int(steps or 200)})
        fmax = (kwargs.pop("relax_kwargs", None) or {}).get("fmax")
        if fmax is not None:  # the ASE-style force limit of the other backends → EDIFFG
            incar["EDIFFG"] = -abs(float(fmax))
        incar.update(kwargs.pop("user_incar_settings", None) or {})
        gen = RelaxSetGenerator(
            user_potcar_settings=dict(POTCARS),
            user_incar_settings=incar,
            user_kpoints_settings=kpts,
        )
        return ChargedRelaxMaker(input_set_generator=gen, charge=charge,
                                 run_vasp_kwargs=self.run_vasp_kwargs(ChargedRelaxMaker),
                                 **kwargs)  # fmt: skip

    def calc_document(self, output: Any) -> Any:
        """atomate2's VASP ``TaskDoc`` in the shared shape (:func:`vasp_calc_doc`)."""
        return vasp_calc_doc(output)

    def dos_document(self, output: Any, uuid: str | None = None, width_ev: float = 0.1) -> Any:
        """The DOS of a finished VASP job from its folder's vasprun.xml (:func:`vasp_dos_doc`)."""
        return vasp_dos_doc(output, uuid=uuid)

    def dos_jobs(
        self,
        label: str,
        structure: Any,
        calculator_kwargs: dict[str, Any],
        dos_kwargs: dict[str, Any] | None = None,
        relax: dict[str, Any] | None = None,
    ) -> list[Any]:
        """Optional relax → static → non-SCF DOS (:meth:`dos_makers`), every step with the
        same ``calculator_kwargs``; ``dos_kwargs``: ``reciprocal_density`` of the non-SCF
        mesh (default 200 per Å⁻³) or an explicit ``kpts``."""
        if calculator_kwargs.get("charge"):
            raise BackendError(
                "the VASP DOS chain is for neutral cells (its non-SCF step reads a neutral "
                "CHGCAR): a charged cell's levels come from its static"
            )
        dos_kwargs = dict(dos_kwargs or {})
        m = self.dos_makers(
            dos_reciprocal_density=int(dos_kwargs.pop("reciprocal_density", 200)),
            calculator_kwargs=calculator_kwargs, dos_kpts=dos_kwargs.pop("kpts", None),
            relax_kwargs={"fmax": relax["fmax"]} if relax else None,
            steps=relax["steps"] if relax else None,
        )  # fmt: skip
        if dos_kwargs:
            raise BackendError(f"unknown VASP DOS option(s) {sorted(dos_kwargs)}; known: "
                               "reciprocal_density, kpts")  # fmt: skip
        jobs, prev = [], None
        if relax is not None:
            r = m["relax"].make(structure)
            r.name = f"vasp relax {label}"
            structure, prev = r.output.structure, r.output.dir_name
            jobs.append(r)
        static = m["static"].make(structure, prev_dir=prev)
        static.name = f"vasp static {label}"
        nscf = m["nscf"].make(static.output.structure, prev_dir=static.output.dir_name)
        nscf.name = f"vasp dos {label}"
        return [*jobs, static, nscf]

    def dos_makers(
        self,
        dos_reciprocal_density: int = 200,
        nedos: int = 3001,
        calculator_kwargs: dict[str, Any] | None = None,
        dos_kpts: Any = None,
        **kwargs: Any,
    ) -> dict[str, Maker]:
        """The relax → static → non-SCF DOS chain, each with DFT+U (atomate2 Makers).

        The non-SCF step reads the static CHGCAR (ICHARG = 11) on a denser uniform mesh
        (``dos_reciprocal_density`` k-points per Å⁻³, twice the static's default) with
        ``LORBIT = 11`` (lm-decomposed PDOS in the PAW spheres), tetrahedron integration
        (ISMEAR = -5) and ``nedos`` grid points; :meth:`mttmat.schemas.dos.DosDoc.from_vasprun`
        parses its vasprun.xml. Chain: ``static.make(relax.output.structure,
        prev_dir=relax.output.dir_name)`` and ``nscf.make(static.output.structure,
        prev_dir=static.output.dir_name, mode="uniform")``.
        """
        from atomate2.vasp.jobs.core import NonSCFMaker
        from atomate2.vasp.sets.core import NonSCFSetGenerator

        ckw = dict(calculator_kwargs or {})
        relax = self.relax_maker(name="vasp relax (dos chain)", calculator_kwargs=ckw, **kwargs)
        static = self.static_maker(
            name="vasp static (dos chain)", calculator_kwargs=ckw,
            user_incar_settings={"LCHARG": True, "LORBIT": 11},
        )  # fmt: skip
        incar, _, _ = calculator_inputs({k: v for k, v in ckw.items() if k != "charge"})
        incar.update({"LORBIT": 11, "NEDOS": nedos, "ISMEAR": -5, "LCHARG": False})
        incar.pop("EDIFFG")
        incar.pop("SIGMA", None)  # tetrahedra
        nscf_kpts: dict[str, Any] = {"reciprocal_density": dos_reciprocal_density}
        if dos_kpts is not None:
            from pymatgen.io.vasp import Kpoints

            nscf_kpts = {"user_kpoints_settings": Kpoints.gamma_automatic(tuple(dos_kpts))}
        gen = NonSCFSetGenerator(
            user_potcar_settings=dict(POTCARS), mode="uniform", user_incar_settings=incar,
            **nscf_kpts,
        )  # fmt: skip
        nscf = NonSCFMaker(
            name="vasp non-scf dos",
            input_set_generator=gen,
            run_vasp_kwargs=self.run_vasp_kwargs(NonSCFMaker),
        )
        return {"relax": relax, "static": static, "nscf": nscf}

    def charged_static_maker(self, structure: Structure, charge: int, **kwargs: Any) -> Maker:
        """Static of ``structure``'s composition with net ``charge`` (NELECT, LVHAR)."""
        ckw = {**(kwargs.pop("calculator_kwargs", None) or {}), "charge": float(charge)}
        return self.static_maker(calculator_kwargs=ckw, **kwargs)

    def neb_maker(self, n_images: int, climbing: bool = True, **kwargs: Any) -> Maker:
        """atomate2 ``NebFromImagesMaker`` (:class:`ChargedNebMaker`): VTST-style CI-NEB
        (IMAGES, LCLIMB, SPRING) with the chain's ``calculator_kwargs`` (U, ENCUT, mesh,
        smearing, spin; a ``charge`` → NELECT).

        Its ``make(images)`` takes the full band (endpoints included), e.g. ML-converged
        images from :func:`mttmat.jobs.migration.neb_hop` moved onto VASP-relaxed
        endpoints. ``fmax`` → EDIFFG = −fmax (default ``DEFAULTS.neb_fmax_ev_a``), ``steps``
        → NSW; atomate2's climbing-image optimiser (VTST: IBRION = 3, POTIM = 0, IOPT = 1,
        LCLIMB; VASP must be built with the VTST tools). :data:`NEB_PRECISION` (PREC, EDIFF,
        ISYM = 0), the same as the endpoint relaxations', whose energies are the band's ends
        (atomate2's NEB set would use PREC = Normal against the relax's Accurate: a
        different FFT grid, an offset in every barrier); LAECHG, LVTOT, LVHAR and LCHARG off
        (no per-image charge or potential files).
        """
        from atomate2.vasp.sets.core import NebSetGenerator

        from mttmat.backends.vasp_makers import ChargedNebMaker

        if n_images < 1:
            raise BackendError(f"a VASP NEB needs at least one image, got {n_images}")
        ckw = kwargs.pop("calculator_kwargs", None)
        fmax = float(kwargs.pop("fmax", None) or DEFAULTS.neb_fmax_ev_a)
        steps = int(kwargs.pop("steps", None) or 200)
        if ckw is not None:
            incar, kpts, charge = calculator_inputs(ckw)
        else:
            kpts = {"reciprocal_density": DEFAULTS.vasp_reciprocal_density}
            incar, charge = self._incar(), None
        incar.update({"EDIFFG": -fmax, "NSW": steps, "LAECHG": False, "LVTOT": False,
                      "LVHAR": False, "LCHARG": False, "LWAVE": False})  # fmt: skip
        incar.update(NEB_PRECISION)
        incar.update(kwargs.pop("user_incar_settings", None) or {})
        gen = NebSetGenerator(
            user_potcar_settings=dict(POTCARS),
            num_images=n_images,
            climbing_image=climbing,
            user_incar_settings=incar,
            user_kpoints_settings=kpts,
        )
        run_kwargs = self.run_vasp_kwargs(ChargedNebMaker)  # job_type NEB, NEB validator
        return ChargedNebMaker(input_set_generator=gen, charge=charge, run_vasp_kwargs=run_kwargs,
                               **kwargs)  # fmt: skip

    def md_maker(
        self,
        temperature_k: float | tuple[float, float],
        n_steps: int,
        timestep_fs: float = 2.0,
        ensemble: str = "nvt",
        thermostat: str | None = None,
        n_species: int | None = None,
        friction_per_ps: float = 10.0,
        taut_fs: float = 100.0,
        andersen_prob: float = 0.01,
        **kwargs: Any,
    ) -> Maker:
        """atomate2 ``MDMaker``: AIMD with the DFT+U INCAR, Γ point, TEBEG→TEEND.

        ``thermostat`` (NVT): ``langevin`` → ``MDALGO = 3`` with ``LANGEVIN_GAMMA`` (1/ps) for
        each of the ``n_species`` species; ``andersen`` → ``MDALGO = 1``, ``ANDERSEN_PROB``;
        ``bussi`` → ``MDALGO = 5`` (CSVR, VASP ≥ 6) with ``CSVR_PERIOD`` = τ in steps; None
        or ``nose-hoover`` → atomate2's Nosé-Hoover (``MDALGO = 2``). VASP has no Berendsen.
        """
        from atomate2.vasp.jobs.md import MDMaker
        from atomate2.vasp.sets.core import MDSetGenerator

        t0, t1 = (
            tuple(temperature_k)
            if isinstance(temperature_k, tuple | list)
            else (temperature_k, temperature_k)
        )
        ckw = kwargs.pop("calculator_kwargs", None)
        if ckw is not None:  # the chain's settings (U, spin, ENCUT); the mesh stays Γ
            drop = ("kpts", "kpts_gamma", "charge")
            incar, _, _ = calculator_inputs({k: v for k, v in ckw.items() if k not in drop})
            incar.update({"PREC": "Normal", "EDIFF": 1e-4})
        else:
            incar = self._incar({"PREC": "Normal", "EDIFF": 1e-4})
        incar.pop("EDIFFG")
        if ensemble == "nvt" and thermostat not in (None, "nose-hoover"):
            if thermostat == "langevin":
                if not n_species:
                    raise BackendError("VASP Langevin needs n_species (one LANGEVIN_GAMMA each)")
                incar.update(MDALGO=3, LANGEVIN_GAMMA=[friction_per_ps] * n_species)
            elif thermostat == "andersen":
                incar.update(MDALGO=1, ANDERSEN_PROB=andersen_prob)
            elif thermostat == "bussi":
                incar.update(MDALGO=5, CSVR_PERIOD=max(1, round(taut_fs / timestep_fs)))
            else:
                raise BackendError(
                    f"VASP has no {thermostat!r} thermostat; use langevin, andersen, bussi or "
                    "nose-hoover"
                )
        incar.update(kwargs.pop("user_incar_settings", None) or {})
        gen = MDSetGenerator(
            user_potcar_settings=dict(POTCARS),
            ensemble=ensemble,
            start_temp=t0,
            end_temp=t1,
            nsteps=n_steps,
            time_step=timestep_fs,
            user_incar_settings=incar,
            user_kpoints_settings={"grid_density": 1},  # Γ only for large AIMD cells
        )
        return MDMaker(
            input_set_generator=gen,
            run_vasp_kwargs=self.run_vasp_kwargs(MDMaker),
            **kwargs,
        )

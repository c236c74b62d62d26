"""VASP backend: atomate2 VASP Makers with Dudarev DFT+U on W/Nb d and custodian handlers.

VASP is licensed and runs on HPC only; here the Makers are built and their inputs written
(INCAR, KPOINTS, POSCAR, POTCAR.spec when no POTCAR directory is configured).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobflow import Maker
from pymatgen.core import Structure

from mttmat.backends.base import Backend, BackendError, register_backend
from mttmat.settings import get_settings

__all__ = [
    "DEFAULT_CUSTODIAN_HANDLERS",
    "DEFAULT_CUSTODIAN_VALIDATORS",
    "POTCARS",
    "VaspBackend",
    "custodian_handlers",
    "dft_u_incar",
    "vasp_nelect",
    "write_vasp_inputs",
]

# custodian error handlers by class name (custodian.vasp.handlers); atomate2's default set.
DEFAULT_CUSTODIAN_HANDLERS: tuple[str, ...] = (
    "VaspErrorHandler",
    "MeshSymmetryErrorHandler",
    "UnconvergedErrorHandler",
    "NonConvergingErrorHandler",
    "PotimErrorHandler",
    "PositiveEnergyErrorHandler",
    "FrozenJobErrorHandler",
    "StdErrHandler",
    "LargeSigmaHandler",
    "IncorrectSmearingHandler",
)
DEFAULT_CUSTODIAN_VALIDATORS: tuple[str, ...] = ("VasprunXMLValidator", "VaspFilesValidator")


def custodian_handlers(names: Sequence[str]) -> list[Any]:
    """Instantiate custodian VASP error handlers by class name."""
    from custodian.vasp import handlers

    out = []
    for n in names:
        cls = getattr(handlers, n, None)
        if cls is None:
            raise BackendError(
                f"unknown custodian handler {n!r}; see custodian.vasp.handlers "
                f"(e.g. {', '.join(DEFAULT_CUSTODIAN_HANDLERS[:3])})"
            )
        out.append(cls())
    return out


def custodian_validators(names: Sequence[str]) -> list[Any]:
    """Instantiate custodian VASP validators by class name."""
    from custodian.vasp import validators

    out = []
    for n in names:
        cls = getattr(validators, n, None)
        if cls is None:
            raise BackendError(f"unknown custodian validator {n!r}; see custodian.vasp.validators")
        out.append(cls())
    return out


# ZVAL of the PBE_54 POTCARs the input sets choose (used when no POTCAR directory is set;
# with one, the POTCAR files themselves are read).
#: POTCAR per element for every VASP job (one choice for the whole workflow: energies of
#: different jobs are compared, and NELECT counts these ZVALs). Materials Project's choice
#: for W and O; Nb_pv (MP) everywhere, also in the AIMD whose default set would take Nb_sv.
POTCARS: dict[str, str] = {"W": "W_sv", "Nb": "Nb_pv", "O": "O", "Li": "Li_sv"}

POTCAR_ZVAL: dict[str, float] = {
    "W_sv": 14.0, "W_pv": 12.0, "W": 6.0, "Nb_sv": 13.0, "Nb_pv": 11.0, "O": 6.0,
    "O_h": 6.0, "O_s": 6.0, "Li_sv": 3.0, "Li": 1.0,
}  # fmt: skip


def vasp_nelect(maker: Maker, structure: Structure, charge: int) -> float:
    """NELECT for ``structure`` with net ``charge`` (e) under ``maker``'s POTCAR choice."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        d = write_vasp_inputs(maker, structure, tmp)
        from pymatgen.io.vasp import Poscar

        species = Poscar.from_file(d / "POSCAR").site_symbols
        if (d / "POTCAR").exists():
            from pymatgen.io.vasp import Potcar

            zvals = [p.zval for p in Potcar.from_file(d / "POTCAR")]
        else:
            symbols = (d / "POTCAR.spec").read_text().split()
            try:
                zvals = [POTCAR_ZVAL[x] for x in symbols]
            except KeyError as err:
                raise BackendError(
                    f"no ZVAL known for POTCAR {err}; set settings.vasp_potcar_dir so that "
                    "NELECT is read from the POTCAR files"
                ) from None
    counts = structure.composition.get_el_amt_dict()
    return sum(z * counts[el] for el, z in zip(species, zvals, strict=True)) - charge


def dft_u_incar() -> dict[str, Any]:
    """INCAR settings for Dudarev DFT+U from :mod:`mttmat.settings`.

    LDAUU/LDAUL/LDAUJ are given per element under the most electronegative element ("O"),
    pymatgen's convention; pymatgen writes them as arrays in POSCAR species order. Elements
    without U get L = -1 (no +U channel) and U = 0.
    """
    s = get_settings()
    elements = sorted({*s.hubbard_u_ev, "O", "Li"})
    ldauu = {el: s.u_for(el) for el in elements}
    ldaul = {el: (s.hubbard_l.get(el, 2) if s.u_for(el) > 0 else -1) for el in elements}
    ldauj = dict.fromkeys(elements, 0.0)
    return {
        "LDAU": True,
        "LDAUTYPE": s.ldau_type,
        "LDAUU": {"O": ldauu},
        "LDAUL": {"O": ldaul},
        "LDAUJ": {"O": ldauj},
        "LDAUPRINT": 1,
        "LMAXMIX": 4,
        "ISPIN": 2 if s.spin_polarized else 1,
        "EDIFFG": -s.force_tolerance_ev_a,
        "ENCUT": s.vasp_encut_ev,
        "GGA": "PE",  # PBE, as in the paper (atomate2's base set is PBEsol)
        "MAGMOM": {el: (0.6 if s.u_for(el) > 0 else 0.0) for el in elements},
    }


@register_backend
class VaspBackend(Backend):
    """atomate2 VASP Makers (relax, static, MD) carrying the project's DFT+U settings.

    Options
    -------
    handlers, validators
        custodian class names (default: atomate2's set).
    max_errors
        custodian's maximum number of corrections per job.
    """

    name = "vasp"
    fidelity = "dft"

    def __init__(
        self,
        handlers: Sequence[str] = DEFAULT_CUSTODIAN_HANDLERS,
        validators: Sequence[str] = DEFAULT_CUSTODIAN_VALIDATORS,
        max_errors: int = 5,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if max_errors < 1:
            raise BackendError(f"max_errors must be >= 1, got {max_errors}")
        self.handlers = tuple(handlers)
        self.validators = tuple(validators)
        self.max_errors = max_errors
        custodian_handlers(self.handlers)  # validate names now, not on the cluster
        custodian_validators(self.validators)

    def run_vasp_kwargs(self, gamma_only: bool = False) -> dict[str, Any]:
        """Keyword arguments for :func:`atomate2.vasp.run.run_vasp` (custodian set-up)."""
        s = get_settings()
        return {
            "vasp_cmd": s.vasp_gamma_cmd if gamma_only else s.vasp_cmd,
            "vasp_gamma_cmd": s.vasp_gamma_cmd,
            "max_errors": self.max_errors,
            "handlers": custodian_handlers(self.handlers),
            "validators": custodian_validators(self.validators),
        }

    def _incar(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**dft_u_incar(), **(extra or {})}

    def static_maker(self, **kwargs: Any) -> Maker:
        from atomate2.vasp.jobs.core import StaticMaker
        from atomate2.vasp.sets.core import StaticSetGenerator

        incar = self._incar(kwargs.pop("user_incar_settings", None))
        incar.pop("EDIFFG")
        gen = StaticSetGenerator(
            user_potcar_settings=dict(POTCARS),
            user_incar_settings=incar,
            user_kpoints_settings={"reciprocal_density": get_settings().vasp_reciprocal_density},
        )
        return StaticMaker(
            input_set_generator=gen, run_vasp_kwargs=self.run_vasp_kwargs(), **kwargs
        )

    def relax_maker(self, relax_cell: bool = False, **kwargs: Any) -> Maker:
        from atomate2.vasp.jobs.core import RelaxMaker
        from atomate2.vasp.sets.core import RelaxSetGenerator

        incar = self._incar({"ISIF": 3 if relax_cell else 2, "IBRION": 2, "NSW": 200})
        fmax = (kwargs.pop("relax_kwargs", None) or {}).get("fmax")
        if fmax is not None:  # the ASE-style force limit of the other backends → EDIFFG
            incar["EDIFFG"] = -abs(float(fmax))
        incar.update(kwargs.pop("user_incar_settings", None) or {})
        gen = RelaxSetGenerator(
            user_potcar_settings=dict(POTCARS),
            user_incar_settings=incar,
            user_kpoints_settings={"reciprocal_density": get_settings().vasp_reciprocal_density},
        )
        return RelaxMaker(input_set_generator=gen, run_vasp_kwargs=self.run_vasp_kwargs(), **kwargs)

    def dos_makers(
        self, dos_reciprocal_density: int = 200, nedos: int = 3001, **kwargs: Any
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

        relax = self.relax_maker(name="vasp relax (dos chain)", **kwargs)
        static = self.static_maker(
            name="vasp static (dos chain)", user_incar_settings={"LCHARG": True, "LORBIT": 11}
        )
        incar = self._incar({"LORBIT": 11, "NEDOS": nedos, "ISMEAR": -5, "LCHARG": False})
        incar.pop("EDIFFG")
        gen = NonSCFSetGenerator(
            user_potcar_settings=dict(POTCARS),
            mode="uniform",
            reciprocal_density=dos_reciprocal_density,
            user_incar_settings=incar,
        )
        nscf = NonSCFMaker(
            name="vasp non-scf dos", input_set_generator=gen, run_vasp_kwargs=self.run_vasp_kwargs()
        )
        return {"relax": relax, "static": static, "nscf": nscf}

    def charged_static_maker(self, structure: Structure, charge: int, **kwargs: Any) -> Maker:
        """Static of ``structure`` with net ``charge``: ``NELECT`` = Σ ZVAL − q, ``LVHAR``.

        LVHAR writes the electrostatic potential (LOCPOT) for the Freysoldt correction.
        """
        base = self.static_maker(**kwargs)
        nelect = vasp_nelect(base, structure, charge)
        incar = {"NELECT": nelect, "LVHAR": True}
        return self.static_maker(user_incar_settings=incar, **kwargs)

    def neb_maker(self, n_images: int, climbing: bool = True, **kwargs: Any) -> Maker:
        """atomate2 ``NebFromImagesMaker``: VTST-style CI-NEB (IMAGES, LCLIMB, SPRING) + U.

        Its ``make(images)`` takes the full band (endpoints included), e.g. ML-converged
        images from :func:`mttmat.flows.li_migration.neb_hop`. Force limit:
        ``settings.neb_force_tolerance_ev_a`` as ``EDIFFG < 0``.
        """
        from atomate2.vasp.jobs.neb import NebFromImagesMaker
        from atomate2.vasp.sets.core import NebSetGenerator

        if n_images < 1:
            raise BackendError(f"a VASP NEB needs at least one image, got {n_images}")
        incar = self._incar({"EDIFFG": -get_settings().neb_force_tolerance_ev_a})
        incar.update(kwargs.pop("user_incar_settings", None) or {})
        gen = NebSetGenerator(
            user_potcar_settings=dict(POTCARS),
            num_images=n_images,
            climbing_image=climbing,
            user_incar_settings=incar,
            user_kpoints_settings={"reciprocal_density": get_settings().vasp_reciprocal_density},
        )
        run_kwargs = self.run_vasp_kwargs()
        from atomate2.vasp.run import JobType
        from custodian.vasp.jobs import VaspJob  # noqa: F401  (custodian is needed on HPC)

        run_kwargs["job_type"] = JobType.NEB
        return NebFromImagesMaker(input_set_generator=gen, run_vasp_kwargs=run_kwargs, **kwargs)

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
            run_vasp_kwargs=self.run_vasp_kwargs(gamma_only=True),
            **kwargs,
        )


def write_vasp_inputs(maker: Maker, structure: Structure, directory: str | Path) -> Path:
    """Write the inputs ``maker`` would run (POTCAR.spec unless a POTCAR dir is configured).

    Returns the directory. Used for inspection and tests; on HPC atomate2 writes them itself.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    from atomate2.vasp.files import write_vasp_input_set

    write_vasp_input_set(
        structure,
        maker.input_set_generator,
        directory,
        potcar_spec=get_settings().vasp_potcar_dir is None,
        clean_prev=False,
    )
    return directory

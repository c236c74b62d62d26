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

from mttmat.backends.base import Backend, BackendError, MeltQuenchMd, register_backend
from mttmat.backends.defaults import DEFAULTS, default_hubbard_l, default_hubbard_u
from mttmat.backends.vasp_custodian import (
    DEFAULT_CUSTODIAN_VALIDATORS,
    custodian_handlers,
    custodian_validators,
    edited,
)
from mttmat.backends.vasp_potcars import POTCARS, charged_copy, potcars_available, require_potcars

__all__ = [
    "DEFAULT_CUSTODIAN_VALIDATORS",
    "POTCARS",
    "VaspBackend",
    "custodian_handlers",
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
        super().__init__()
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
        from atomate2.vasp.jobs.core import RelaxMaker
        from atomate2.vasp.sets.core import RelaxSetGenerator

        incar, kpts, charge = calculator_inputs(kwargs.pop("calculator_kwargs", None))
        if charge is not None:
            raise BackendError("charged VASP relaxations are not part of the chain")
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
        return RelaxMaker(input_set_generator=gen, run_vasp_kwargs=self.run_vasp_kwargs(RelaxMaker),
                          **kwargs)  # fmt: skip

    def dft_band(
        self,
        band: Any,
        mode: str,
        calculator_kwargs: dict[str, Any],
        n_images: int,
        fmax: float,
        max_steps: int,
        path_uuid: str | None = None,
    ) -> Any:
        """``energies``: one static job per image of the ML band (endpoints included), then
        :func:`~mttmat.jobs.band_energies.band_from_statics`. A VASP CI-NEB seeded by the
        band needs VASP-relaxed endpoints and its collected output (not done yet: refused)."""
        from jobflow import Flow

        from mttmat.jobs.band_energies import band_from_statics

        if mode != "energies":
            raise BackendError(
                f"neb.dft {mode!r} is not available with VASP yet: its endpoints must be VASP "
                "minima and its output collected; use neb.dft: energies (DFT on the ML band)"
            )
        statics = []
        for k in range(n_images + 2):
            maker = self.static_maker(name=f"vasp band image {k}",
                                      calculator_kwargs=calculator_kwargs)  # fmt: skip
            statics.append(maker.make(band["images"][k]))
        doc = band_from_statics(band, [j.output for j in statics], self.name,
                                calculator_kwargs, path_uuid=path_uuid)  # fmt: skip
        doc.name = "vasp energies on the band"
        return Flow([*statics, doc], output=doc.output, name="vasp energies on the band")

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
            name="vasp non-scf dos", input_set_generator=gen,
            run_vasp_kwargs=self.run_vasp_kwargs(NonSCFMaker),
        )
        return {"relax": relax, "static": static, "nscf": nscf}

    def charged_static_maker(self, structure: Structure, charge: int, **kwargs: Any) -> Maker:
        """Static of ``structure``'s composition with net ``charge`` (NELECT, LVHAR)."""
        ckw = {**(kwargs.pop("calculator_kwargs", None) or {}), "charge": float(charge)}
        return self.static_maker(calculator_kwargs=ckw, **kwargs)

    def neb_maker(self, n_images: int, climbing: bool = True, **kwargs: Any) -> Maker:
        """atomate2 ``NebFromImagesMaker``: VTST-style CI-NEB (IMAGES, LCLIMB, SPRING) + U.

        Its ``make(images)`` takes the full band (endpoints included), e.g. ML-converged
        images from :func:`mttmat.flows.li_migration.neb_hop`. Force limit:
        ``DEFAULTS.neb_fmax_ev_a`` as ``EDIFFG < 0``.
        """
        from atomate2.vasp.jobs.neb import NebFromImagesMaker
        from atomate2.vasp.sets.core import NebSetGenerator

        if n_images < 1:
            raise BackendError(f"a VASP NEB needs at least one image, got {n_images}")
        incar = self._incar({"EDIFFG": -DEFAULTS.neb_fmax_ev_a})
        incar.update(kwargs.pop("user_incar_settings", None) or {})
        gen = NebSetGenerator(
            user_potcar_settings=dict(POTCARS),
            num_images=n_images,
            climbing_image=climbing,
            user_incar_settings=incar,
            user_kpoints_settings={"reciprocal_density": DEFAULTS.vasp_reciprocal_density},
        )
        run_kwargs = self.run_vasp_kwargs(NebFromImagesMaker)  # job_type NEB, NEB validator
        return NebFromImagesMaker(input_set_generator=gen, run_vasp_kwargs=run_kwargs, **kwargs)

    def melt_quench_md(
        self,
        structure: Structure,
        schedule: Any,
        tag: str = "",
        calculator_kwargs: dict[str, Any] | None = None,
    ) -> MeltQuenchMd:
        """atomate2 AIMD jobs for every schedule segment (TEBEG→TEEND ramps), each segment cut
        into chunks of at most ``aimd_chunk_steps`` steps (the ramp split with them), each
        chunk continuing from the previous job's folder (CONTCAR with velocities).

        VASP restarts per job: a chunk is the unit that a walltime or a node failure loses,
        and jobflow-remote's rerun of a failed chunk starts from the chunk before it, not
        from the start of the melt. No melt MSD is measured in the jobs (None)."""
        from mttmat.jobs.melt_quench import _scaled_to_density

        current: Any = _scaled_to_density(structure, schedule.density_g_cm3)
        prev_dir = None
        jobs: list[Any] = []
        uuids: dict[str, str] = {}
        for stage in ("init", "melt", "quench"):
            for n, seg in enumerate(schedule.segments(stage)):
                chunks = aimd_chunks(seg.t_start_k, seg.t_end_k, seg.n_steps,
                                     self.aimd_chunk_steps)  # fmt: skip
                for k, (t0, t1, steps) in enumerate(chunks):
                    maker = self.md_maker(
                        (t0, t1), steps,
                        timestep_fs=schedule.time_step_fs,
                        ensemble=schedule.ensemble,
                        thermostat=schedule.thermostat,
                        n_species=len(structure.composition.elements),
                        friction_per_ps=schedule.friction_per_ps,
                        taut_fs=schedule.taut_fs,
                        andersen_prob=schedule.andersen_prob,
                        **({"calculator_kwargs": calculator_kwargs} if calculator_kwargs else {}),
                    )  # fmt: skip
                    j = maker.make(current, prev_dir=prev_dir)
                    part = f" part {k + 1}/{len(chunks)}" if len(chunks) > 1 else ""
                    j.name = f"{stage} {n} AIMD{part}{tag}"
                    uuids[f"{stage}{n}" + (f".{k}" if len(chunks) > 1 else "")] = j.uuid
                    jobs.append(j)
                    current, prev_dir = j.output.structure, j.output.dir_name
        return MeltQuenchMd(jobs=jobs, structure=current, uuids=uuids)

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
    write (charged copy or the cell itself). Needs the POTCARs for a charged cell."""
    gen = maker.input_set_generator
    gen.user_incar_settings = cell_incar(maker, structure)
    charge = getattr(maker, "charge", None)
    if charge is None:
        return structure
    require_potcars(sorted({e.symbol for e in structure.composition.elements}),
                    f"NELECT of a cell with charge {charge:+g}")  # fmt: skip
    gen.use_structure_charge = True
    return charged_copy(structure, charge)


def write_vasp_inputs(maker: Maker, structure: Structure, directory: str | Path) -> Path:
    """Write the inputs ``maker`` would run, as the job writes them when it runs; POTCAR
    from ``PMG_VASP_PSP_DIR`` when pymatgen finds them, else POTCAR.spec.

    Returns the directory. Used for inspection and tests; on HPC atomate2 writes them itself.
    """
    import copy

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

"""The main job (``mttmat run``): config → one flow in the persistent store → results folder.

Per material, on a small cell (:class:`~mttmat.flows.material_chain.MaterialChainMaker`):
melt-quench with the ML potential (melt check enforced) → Li site screening (ML) → GPAW
PBE+U single points of the host, Li_i^0 as band and polaron solutions, Li_i^+ and two Li
(DOS/PDOS, band vs polaron and formation energies from the same calculations) → ML CI-NEB
of several hops between the lowest sites and their percolation barrier, with DFT energies
along the limiting band → the computed :class:`~mttmat.device.parameters.EcramParameters`
entries. All materials and the shared bcc Li reference are one jobflow flow. Then the
device stage (calibration to the paper's device on the reference material, transfer,
exports, BNN) and the report.

The config is validated completely (unknown keys, types, materials, files, writable output)
before any computation starts. Defaults live in :class:`MainJobConfig`;
``workflows/main_job.yaml`` is the same set written out. The flow is saved on its first run
(``flows/main-<key>.json``, the key hashes every setting that changes a number); a rerun after
a kill loads it, skips every job whose output is in the store and runs the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mttmat.errors import ConfigError
from mttmat.jobs.melt_quench import MeltQuenchSchedule
from mttmat.main_files import collect, write_material
from mttmat.structures.io import atomic_write_text
from mttmat.timings import StageTimer

__all__ = [
    "DftConfig",
    "MainJobConfig",
    "MaterialConfig",
    "build_main_flow",
    "load_config",
    "run_main_job",
]

MATERIAL_CATION = {"WOx": "W", "NbOx": "Nb"}


def _default_schedule() -> MeltQuenchSchedule:
    # 16-atom cells, CHGNet, ~0.05 s/step here: 0.05 ps at 300 K, 0.1 ps ramp, 0.5 ps melt at
    # 6000 K (W4O12 keeps its crystal at 5000 K with CHGNet: W 0.42 Å² in the hold, 7.4 Å²
    # at 6000 K; Nb4O10 melts at either), 5000 K/ps quench (1.14 ps), cell relax.
    return MeltQuenchSchedule(
        init_steps=25,
        heat_steps=50,
        melt_temperature_k=6000.0,
        melt_steps=250,
        quench_rate_k_per_ps=5000.0,
        relax_cell=True,
        relax_fmax_ev_a=0.05,
        relax_steps=500,
        checkpoint_interval=50,
    )


class MaterialConfig(BaseModel):
    """The start cell of one material."""

    model_config = ConfigDict(extra="forbid")

    start: Literal["random", "crystal", "file"] = Field(
        "random", description="random packing or parent crystal (both melt-quenched), or a "
        "file holding an amorphous host used as it is (no melt-quench)",
    )  # fmt: skip
    composition: str | None = Field(None, description="Cell composition (random packing).")
    density_g_cm3: float | None = Field(None, gt=0, description="Packing density.")
    crystal: str | None = Field(None, description="Parent crystal name (crystal start).")
    supercell: list[int] = Field([1, 1, 1], description="Supercell of the crystal.")
    seed: int = Field(0, description="Seed of the packing and of the melt-quench MD.")
    path: Path | None = Field(None, description="Structure file (file start).")

    @model_validator(mode="after")
    def _complete(self) -> MaterialConfig:
        if self.start == "random" and (self.composition is None or self.density_g_cm3 is None):
            raise ValueError("a random start needs composition and density_g_cm3")
        if self.start == "crystal" and self.crystal is None:
            raise ValueError("a crystal start needs crystal (e.g. gamma-WO3)")
        if self.start == "file":
            if self.path is None:
                raise ValueError("a file start needs path (e.g. structures/a-WOx-32.cif)")
            if not self.path.is_file():
                raise ValueError(f"structure file {self.path} does not exist")
        if len(self.supercell) != 3 or any(n < 1 for n in self.supercell):
            raise ValueError(f"supercell must be three integers >= 1, got {self.supercell}")
        return self


class LiSitesConfig(BaseModel):
    """ML screening of the Li sites (up to neb.network_sites distinct sites are kept)."""

    model_config = ConfigDict(extra="forbid")

    max_candidates: int = Field(6, ge=2, description="Largest voids screened.")
    fmax_ev_a: float = Field(0.05, gt=0, description="Force limit of each ML relax (eV/Å).")


class DftConfig(BaseModel):
    """DFT+U settings shared by every cell (the summaries refuse to mix settings)."""

    model_config = ConfigDict(extra="forbid")

    kpts: list[int] = Field([1, 1, 1], description="k-point mesh of the host/doped cells.")
    kpts_gamma: bool = Field(True, description="Γ-centred mesh (False: Monkhorst-Pack).")
    li_metal_kpts: list[int] = Field([8, 8, 8], description="k-point mesh of bcc Li.")
    ecut_ev: float = Field(300.0, gt=0, description="Plane-wave cutoff (eV).")
    smearing_ev: float = Field(0.05, gt=0, description="Fermi-Dirac width (eV).")
    polaron_distortion_a: float = Field(
        0.1, ge=0, le=0.3, description="Polaron start of Li_i^0: O shell of the cation next "
        "to Li pushed out this far (Å); the band solution is computed too.",
    )  # fmt: skip
    polaron_moment_mub: float = Field(
        1.0, gt=0, le=3, description="Polaron start: initial moment on that cation (μ_B)."
    )
    two_li_spin_polarized: bool = Field(
        False, description="Two-Li cell spin-polarised from one moment per Li (3-4x the SCF "
        "time); spin-paired by default: a lower bound on the two-Li voltage when Li "
        "electrons localise",
    )  # fmt: skip
    relax: bool = Field(False, description="DFT relax of host and Li_i^0 before the statics.")
    relax_fmax_ev_a: float = Field(0.1, gt=0)
    relax_steps: int = Field(40, gt=0)

    @field_validator("kpts", "li_metal_kpts")
    @classmethod
    def _mesh(cls, v: list[int]) -> list[int]:
        if len(v) != 3 or any(n < 1 for n in v):
            raise ValueError(f"k-point mesh must be three integers >= 1, got {v}")
        return v


class FormationConfig(BaseModel):
    """Charge correction input: ε per material (supplied, not computed)."""

    model_config = ConfigDict(extra="forbid")

    dielectric: dict[str, float] = Field(
        default_factory=lambda: {"WOx": 25.0, "NbOx": 25.0},
        description="Static dielectric constant per material (> 0).",
    )
    dielectric_source: str = Field(
        "assumed: order of the static ε of amorphous WO3 and Nb2O5 films (20-50)",
    )

    @field_validator("dielectric")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if x <= 0}
        if bad:
            raise ValueError(f"dielectric constants must be > 0, got {bad}")
        return v


class NebConfig(BaseModel):
    """Hops between the lowest sites (ML CI-NEB), percolation, DFT on the limiting hop."""

    model_config = ConfigDict(extra="forbid")

    network_sites: int = Field(4, ge=2, description="Lowest distinct Li sites in the network.")
    min_hops: int = Field(3, ge=1, description="Hops computed at least (shortest first).")
    max_hops: int = Field(4, ge=1, description="Hops computed at most.")
    max_hop_length_a: float = Field(5.0, gt=1, description="Longest hop considered (Å).")

    n_images: int = Field(3, ge=1, description="Interior images.")
    fmax_ev_a: float = Field(0.05, gt=0, description="CI-NEB force limit (eV/Å).")
    max_steps: int = Field(200, gt=0)
    dft: Literal["energies", "ci-neb", "none"] = Field(
        "energies", description="DFT single points on the ML band, a seeded DFT CI-NEB, or none"
    )
    charge: Literal[0, 1] = Field(
        1, description="Cell charge of the DFT band: 1 = the Li ion (closed shell), 0 = Li^0"
    )

    @model_validator(mode="after")
    def _hops(self) -> NebConfig:
        if self.min_hops > self.max_hops:
            raise ValueError(f"neb.min_hops ({self.min_hops}) > neb.max_hops ({self.max_hops})")
        return self


class DeviceConfig(BaseModel):
    """Device-model stage: calibration targets (the paper's device) and exports."""

    model_config = ConfigDict(extra="forbid")

    reference: str = Field("WOx", description="Material calibrated to the measured device.")
    g_max_s: float = Field(45e-6, gt=0)
    ratio_pulse: float = Field(56.0, gt=1)
    n_pulses: int = Field(180, gt=0)
    v_set: float = Field(10.0, gt=0)
    v_reset: float = Field(-7.0, lt=0)
    width_s: float = Field(2e-3, gt=0)
    export: Literal["neurosim", "aihwkit", "mtt", "traces", "all"] = "all"
    k_sweep: bool = Field(True, description="BNN accuracy vs K sweep (~1 min).")

    def targets(self) -> Any:
        """The calibration targets as :class:`mttmat.device.calibrate.DeviceTargets`."""
        from mttmat.device.calibrate import DeviceTargets

        return DeviceTargets(
            g_max_s=self.g_max_s,
            ratio_pulse=self.ratio_pulse,
            n_pulses=self.n_pulses,
            v_set=self.v_set,
            v_reset=self.v_reset,
            width_s=self.width_s,
        )


def _default_materials() -> dict[str, MaterialConfig]:
    # 16 and 14 atoms: the largest cells whose spin-polarised Li_i^0 SCF (~2.5 min) and
    # band energies fit the 15-minute budget on 2 cores.
    return {
        "WOx": MaterialConfig(start="random", composition="W4O12", density_g_cm3=6.5, seed=0),
        "NbOx": MaterialConfig(start="random", composition="Nb4O10", density_g_cm3=4.5, seed=0),
    }


class MainJobConfig(BaseModel):
    """Configuration of ``mttmat run``; every field has a default."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("mttmat-small", description="Run name: results/<name>/.")
    materials: dict[str, MaterialConfig] = Field(default_factory=_default_materials)
    ml_backend: str = Field("chgnet", description="Backend for MD, screening and the ML NEB.")
    dft_backend: str = Field("gpaw", description="Backend for electronic structure.")
    melt_quench: MeltQuenchSchedule = Field(default_factory=_default_schedule)
    li_sites: LiSitesConfig = Field(default_factory=LiSitesConfig)
    dft: DftConfig = Field(default_factory=DftConfig)
    formation: FormationConfig = Field(default_factory=FormationConfig)
    neb: NebConfig = Field(default_factory=NebConfig)
    device: DeviceConfig = Field(default_factory=DeviceConfig)
    store_dir: Path | None = Field(None, description="Job store (default <output>/store).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or "/" in v or v.startswith("."):
            raise ValueError(f"name must be a plain folder name, got {v!r}")
        return v

    @field_validator("ml_backend")
    @classmethod
    def _ml_backend(cls, v: str) -> str:
        if v != "chgnet":
            raise ValueError(f"ml_backend must be an in-process ML potential (chgnet), got {v!r}")
        return v

    @field_validator("dft_backend")
    @classmethod
    def _dft_backend(cls, v: str) -> str:
        if v != "gpaw":
            raise ValueError(
                f"the local main job runs its DFT with gpaw, got {v!r}; full-size VASP runs go "
                "through the HPC path (mttmat hpc, README)"
            )
        return v

    @model_validator(mode="after")
    def _materials(self) -> MainJobConfig:
        from pymatgen.core import Composition

        if not self.materials:
            raise ValueError("materials: at least one material is needed")
        for name, m in self.materials.items():
            if name not in MATERIAL_CATION:
                raise ValueError(
                    f"materials: unknown material {name!r}; known: {sorted(MATERIAL_CATION)}"
                )
            if m.composition is not None:
                try:
                    comp = Composition(m.composition)
                except Exception as err:
                    raise ValueError(f"materials.{name}: bad composition ({err})") from None
                if MATERIAL_CATION[name] not in {e.symbol for e in comp.elements}:
                    raise ValueError(
                        f"materials.{name}: composition {m.composition} has no "
                        f"{MATERIAL_CATION[name]}"
                    )
            if name not in self.formation.dielectric:
                raise ValueError(
                    f"formation.dielectric has no value for {name}; give one (> 0), e.g. "
                    f"{{{name}: 25}}"
                )
        if self.device.reference not in self.materials:
            raise ValueError(
                f"device.reference {self.device.reference!r} is not among the materials"
            )
        return self


def load_config(path: str | Path | None = None, **overrides: Any) -> MainJobConfig:
    """Defaults, updated from a YAML file and keyword overrides; clear errors on bad input."""
    from mttmat.config_files import read_yaml_mapping, validated

    data = read_yaml_mapping(path) if path is not None else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return validated(MainJobConfig, data, f" in {path}" if path else "")


def _check_writable(folder: Path, what: str = "output folder") -> None:
    """Refuse a folder that cannot be created or written, without creating anything."""
    folder = Path(folder).expanduser().absolute()
    probe = folder
    problem = None
    while not probe.exists():
        if probe.is_symlink():
            problem = f"{probe} is a broken link"
            break
        probe = probe.parent
    if problem:
        pass
    elif not probe.is_dir():
        problem = f"{probe} is a file"
    elif not os.access(probe, os.W_OK | os.X_OK):
        problem = f"no write permission in {probe}"
    if problem:
        raise ConfigError(
            f"{what} {folder} is not writable ({problem}); choose another with -o"
            + (" or store_dir" if what != "output folder" else "")
        )


def _start(material: str, m: MaterialConfig) -> tuple[Any, Any, dict[str, Any]]:
    """(start structure, parent crystal or None, description); checked for the material."""
    from mttmat.structures import make_supercell, parent_crystal, random_packing
    from mttmat.structures.io import read_structure

    try:
        if m.start == "random":
            s = random_packing(m.composition, m.density_g_cm3, seed=m.seed)
            meta = {"start": "random packing", "composition": m.composition,
                    "density_g_cm3": m.density_g_cm3, "seed": m.seed}  # fmt: skip
            parent = None
        elif m.start == "crystal":
            parent = make_supercell(parent_crystal(m.crystal), m.supercell)
            s = parent
            meta = {"start": "crystal", "crystal": m.crystal, "supercell": m.supercell}
        else:
            s = read_structure(m.path)
            parent = None
            meta = {"start": "file", "path": str(m.path)}
    except ConfigError:
        raise
    except Exception as err:
        raise ConfigError(f"materials.{material}: cannot make the start cell: {err}") from err
    cation = MATERIAL_CATION[material]
    if cation not in {e.symbol for e in s.composition.elements}:
        raise ConfigError(f"materials.{material}: the start cell {s.formula} has no {cation}")
    if "Li" in s.composition:
        raise ConfigError(
            f"materials.{material}: the start cell {s.formula} already holds Li; give the "
            "Li-free host"
        )
    from mttmat.backends import get_backend

    try:
        get_backend("gpaw").check_structure(s)
    except Exception as err:
        raise ConfigError(f"materials.{material}: {err}") from err
    return s, parent, {**meta, "formula": s.composition.formula, "n_atoms": len(s)}


def _key(cfg: MainJobConfig, flow: Any = None) -> str:
    """Hash of everything that changes a computed number (not the device stage), and of the
    flow's shape (every job's name and function), so a flow saved by an older chain is not
    resumed by a newer one."""
    from mttmat.settings import get_settings

    blob = cfg.model_dump(mode="json", exclude={"name", "device", "store_dir"})
    blob["u"] = get_settings().hubbard_u_ev
    if flow is not None:
        blob["jobs"] = [
            [job.name, getattr(job.function, "__qualname__", str(job.function))]
            for job, _ in flow.iterflow()
        ]
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def build_main_flow(cfg: MainJobConfig) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The whole run as one flow (bcc Li + one chain per material) and the start cells.

    Raises :class:`ConfigError` for a start cell that cannot be made or used.
    """
    from jobflow import Flow

    from mttmat.backends import get_backend
    from mttmat.flows.material_chain import MaterialChainMaker
    from mttmat.structures import bcc_li

    d = cfg.dft
    kw = {"kpts": d.kpts, "kpts_gamma": d.kpts_gamma, "ecut_ev": d.ecut_ev,
          "smearing_ev": d.smearing_ev}  # fmt: skip
    li_metal = get_backend(cfg.dft_backend).static_maker(
        name="bcc Li (μ_Li)",
        calculator_kwargs={"kpts": d.li_metal_kpts, "kpts_gamma": True, "ecut_ev": d.ecut_ev,
                           "smearing_ev": d.smearing_ev, "spin_polarized": False},
    ).make(bcc_li())  # fmt: skip
    li_metal.metadata["stage"] = "DFT+U single points"
    starts: dict[str, dict[str, Any]] = {}
    chains = []
    for material, m in cfg.materials.items():
        s, parent, meta = _start(material, m)
        schedule = None
        if m.start != "file":
            schedule = cfg.melt_quench.model_copy(update={"seed": m.seed})
        chain = MaterialChainMaker(
            material=material, ml_backend=cfg.ml_backend, dft_backend=cfg.dft_backend,
            melt_quench=schedule, max_candidates=cfg.li_sites.max_candidates,
            screening_fmax=cfg.li_sites.fmax_ev_a, dft_kwargs=kw,
            polaron_distortion_a=d.polaron_distortion_a,
            polaron_moment_mub=d.polaron_moment_mub, dft_relax=d.relax,
            two_li_spin_polarized=d.two_li_spin_polarized,
            relax_fmax=d.relax_fmax_ev_a, relax_steps=d.relax_steps,
            dielectric=cfg.formation.dielectric[material],
            dielectric_source=cfg.formation.dielectric_source, neb_images=cfg.neb.n_images,
            neb_fmax=cfg.neb.fmax_ev_a, neb_max_steps=cfg.neb.max_steps, neb_dft=cfg.neb.dft,
            neb_charge=cfg.neb.charge, network_sites=cfg.neb.network_sites,
            min_hops=cfg.neb.min_hops, max_hops=cfg.neb.max_hops,
            max_hop_length_a=cfg.neb.max_hop_length_a,
        ).make(s, li_metal, parent=parent)  # fmt: skip
        chains.append(chain)
        starts[material] = {"meta": meta, "parent": parent}
    flow = Flow(
        [li_metal, *chains],
        output={m: c.output for m, c in zip(cfg.materials, chains, strict=True)},
        name=cfg.name,
    )
    return flow, starts


def _timed(progress: Callable[[str], None]) -> Callable[[str], None]:
    t0 = time.perf_counter()

    def p(msg: str) -> None:
        progress(f"[{time.perf_counter() - t0:6.0f} s] {msg}")

    return p


def run_main_job(
    config_path: str | Path | None = None,
    output_root: str | Path = "results",
    name: str | None = None,
    progress: Callable[[str], None] = print,
    wait_s: float = 0.0,
) -> Path:
    """Run the main job and return its results folder.

    Everything is validated (config, start cells, writable folders) before any folder is
    created. The run then owns ``<output_root>/<name>`` through a file lock: a second run of
    the same name waits up to ``wait_s`` seconds, then is refused with the holder's PID and
    host (:class:`~mttmat.locks.LockBusyError`); the lock of a killed run is taken over.
    """
    cfg = load_config(config_path, name=name)
    out = Path(output_root) / cfg.name
    store_dir = Path(cfg.store_dir or Path(output_root) / "store")
    _check_writable(out)
    _check_writable(store_dir, "store folder")
    flow, starts = build_main_flow(cfg)  # every start cell made and checked: still no compute

    from mttmat.locks import RunLock
    from mttmat.store import get_store, run_resumable
    from mttmat.threads import RunSlot

    tp = _timed(progress)
    with RunLock(out / ".run.lock", wait_s=wait_s) as lock, RunSlot():
        t_start = time.perf_counter()  # after the lock: waiting for another run is not ours
        if lock.took_over:
            tp(lock.took_over)
        store = get_store(store_dir)
        atomic_write_text(out / "config.yaml", yaml.safe_dump(json.loads(cfg.model_dump_json())))
        key = _key(cfg, flow)
        tp(f"{len(flow.job_uuids)} jobs for {', '.join(cfg.materials)}; store {store_dir}")
        timer = StageTimer(out / "timings.json")
        flow = run_resumable(
            flow, store, out / "jobs", out / "flows" / f"main-{key}.json", tp, timer.add
        )
        store.connect()
        docs = {m: collect(store, flow.output[m]["uuids"]) for m in cfg.materials}
        for m, d in docs.items():
            write_material(out / m, d, starts[m]["meta"], flow.output[m]["uuids"])
        tp("device stage: calibrate, transfer, export, BNN")
        with timer.stage("device stage"):
            device = _device_stage(cfg, out, docs)
        from mttmat.analysis.main_job_plots import save_main_job_figures
        from mttmat.main_report import key_numbers, write_report

        tp("figures")
        with timer.stage("figures"):
            save_main_job_figures(out, device_figures=False)
        numbers = key_numbers(out, list(cfg.materials))
        atomic_write_text(out / "key_numbers.json", json.dumps(numbers, indent=2))
        timings = timer.write(time.perf_counter() - t_start)
        atomic_write_text(
            out / "report.md", write_report(cfg, numbers, device, out, docs, timings)
        )
        tp(f"report: {out / 'report.md'}")
    return out


def _device_stage(cfg: MainJobConfig, out: Path, docs: dict[str, Any]) -> dict[str, Any]:
    from mttmat.device.parameters import EcramParameters
    from mttmat.device.report import write_device_outputs

    params = {m: EcramParameters.model_validate(d["parameters"]) for m, d in docs.items()}
    d = cfg.device
    return write_device_outputs(
        params, d.reference, out / "device", d.targets(), export_format=d.export,
        sweep=d.k_sweep,
    )  # fmt: skip

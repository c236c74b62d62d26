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

from mttmat.chain.config import (
    ChainConfig,
    DftConfig,
    FormationConfig,
    LiSitesConfig,
    NebConfig,
    StartCell,
)
from mttmat.errors import ConfigError
from mttmat.main_files import collect, write_material
from mttmat.structures.io import atomic_write_text
from mttmat.timings import StageTimer

__all__ = [
    "DftConfig",
    "FormationConfig",
    "LiSitesConfig",
    "MainJobConfig",
    "MaterialConfig",
    "NebConfig",
    "build_main_flow",
    "load_config",
    "run_main_job",
]

MaterialConfig = StartCell  # the start cell of one material (the chain config's)


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


class MainJobConfig(ChainConfig):
    """Configuration of ``mttmat run``: the chain (:class:`~mttmat.chain.config.ChainConfig`,
    shared with the HPC run) plus backends, the device stage and the store; every field has
    a default."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("mttmat-small", description="Run name: results/<name>/.")
    ml_backend: str = Field("chgnet", description="Backend for MD, screening and the ML NEB.")
    dft_backend: str = Field("gpaw", description="Backend for electronic structure.")
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
    def _reference(self) -> MainJobConfig:
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


def _key(cfg: MainJobConfig, flow: Any = None) -> str:
    """Hash of the flow's inputs (the chain config: every setting that changes a computed
    number, the device stage aside), the package version, and the flow's shape (every job's
    name and function), so a flow saved by another chain or version is not resumed. The
    process settings are not part of it: the flow's jobs carry every calculation setting."""
    from importlib.metadata import version

    blob = cfg.model_dump(mode="json", exclude={"name", "device", "store_dir"})
    blob["mttmat"] = version("mttmat")
    if flow is not None:
        blob["jobs"] = [
            [job.name, getattr(job.function, "__qualname__", str(job.function))]
            for job, _ in flow.iterflow()
        ]
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def build_main_flow(cfg: MainJobConfig) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The whole run as one flow (one chain per material, sharing the bcc Li job) and the
    start cells (:func:`mttmat.chain.build.build_chain_flows`).

    Raises :class:`ConfigError` for a start cell that cannot be made or used.
    """
    from jobflow import Flow

    from mttmat.chain.build import build_chain_flows

    chains, starts = build_chain_flows(
        cfg, ml_backend=cfg.ml_backend, dft_backend=cfg.dft_backend, shared_li_metal=True
    )
    flow = Flow(
        list(chains.values()),
        output={m: c.output for m, c in chains.items()},
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
    workers: int | None = None,
) -> Path:
    """Run the main job and return its results folder.

    ``workers`` jobs run at once (default ``settings.workers``: one per core, at most 4;
    see :mod:`mttmat.pool`); the results do not depend on it.

    Everything is validated (config, start cells, writable folders) before any folder is
    created. The run then owns ``<output_root>/<name>`` through a file lock: a second run of
    the same name waits up to ``wait_s`` seconds, then is refused with the holder's PID and
    host (:class:`~mttmat.locks.LockBusyError`); the lock of a killed run is taken over.
    """
    cfg = load_config(config_path, name=name)
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    out = Path(output_root) / cfg.name
    store_dir = Path(cfg.store_dir or Path(output_root) / "store")
    _check_writable(out)
    _check_writable(store_dir, "store folder")
    flow, starts = build_main_flow(cfg)  # every start cell made and checked: still no compute

    from mttmat.locks import RunLock
    from mttmat.pool import default_workers
    from mttmat.store import get_store, run_resumable

    workers = default_workers() if workers is None else workers
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
            flow, store, out / "jobs", out / "flows" / f"main-{key}.json", tp, timer.add,
            workers=workers,
        )  # fmt: skip
        store.connect()
        chain_docs = {m: store.get_output(flow.output[m].uuid, load=True) for m in cfg.materials}
        docs = {m: collect(store, c["stages"]) for m, c in chain_docs.items()}
        for m, d in docs.items():
            write_material(out / m, d, starts[m]["meta"], chain_docs[m]["stages"])
        tp("device stage: calibrate, transfer, export, BNN")
        with timer.stage("device stage"):
            device = _device_stage(cfg, out, docs)
        from mttmat.main_report import key_numbers, write_report
        from mttmat.plots.main_job import save_main_job_figures

        tp("figures")
        with timer.stage("figures"):
            save_main_job_figures(out)
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

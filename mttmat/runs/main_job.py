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
before any computation starts. Defaults live in
:class:`mttmat.runs.config.MainJobConfig`. The flow is saved on its first run
(``flows/main-<key>.json``, the key hashes every setting that changes a number); a rerun after
a kill loads it, skips every job whose output is in the store and runs the rest.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml
from jobflow import Flow

from mttmat.chain.build import build_chain_flows
from mttmat.device.parameters import EcramParameters
from mttmat.device.report import write_device_outputs
from mttmat.errors import ConfigError
from mttmat.locks import RunLock
from mttmat.pool import default_workers
from mttmat.runs.config import MainJobConfig, load_config
from mttmat.runs.files import collect, write_material
from mttmat.runs.report import key_numbers, write_report
from mttmat.runs.timings import StageTimer
from mttmat.store import get_store, run_resumable
from mttmat.structures.io import atomic_write_text
from mttmat.threads import RunSlot

__all__ = ["build_main_flow", "run_main_job"]


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


def _function_path(f: Any) -> str:
    return f"{getattr(f, '__module__', '')}.{getattr(f, '__qualname__', str(f))}"


def _key(cfg: MainJobConfig, flow: Any = None) -> str:
    """Hash of the flow's inputs (the chain config: every setting that changes a computed
    number, the device stage aside), the package version, and the flow's shape (every job's
    name and function, with its module: a job moved to another module cannot be loaded from
    a saved flow) and keyword names (a job whose signature changed cannot run the saved
    call), so a flow saved by another chain or version is not resumed. The
    process settings are not part of it: the flow's jobs carry every calculation setting."""
    blob = cfg.model_dump(mode="json", exclude={"name", "device", "store_dir"})
    blob["mttmat"] = version("mttmat")
    if flow is not None:
        blob["jobs"] = [[job.name, _function_path(job.function), sorted(job.function_kwargs)]
                        for job, _ in flow.iterflow()]  # fmt: skip
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def build_main_flow(cfg: MainJobConfig) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The whole run as one flow (one chain per material, sharing the bcc Li job) and the
    start cells (:func:`mttmat.chain.build.build_chain_flows`).

    Raises :class:`ConfigError` for a start cell that cannot be made or used.
    """
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
    finetune: bool = False,
) -> Path:
    """Run the main job and return its results folder.

    ``finetune``: switch on the config's fine-tuning stage (``finetune.enabled``).

    ``workers`` jobs run at once (default ``settings.workers``: one per core, at most 4;
    see :mod:`mttmat.pool`); the results do not depend on it.

    Everything is validated (config, start cells, writable folders) before any folder is
    created. The run then owns ``<output_root>/<name>`` through a file lock: a second run of
    the same name waits up to ``wait_s`` seconds, then is refused with the holder's PID and
    host (:class:`~mttmat.locks.LockBusyError`); the lock of a killed run is taken over.
    """
    cfg = load_config(config_path, name=name)
    if finetune:
        cfg = cfg.model_copy(update={"finetune": cfg.finetune.model_copy(update={"enabled": True})})
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    out = Path(output_root) / cfg.name
    store_dir = Path(cfg.store_dir or Path(output_root) / "store")
    _check_writable(out)
    _check_writable(store_dir, "store folder")
    flow, starts = build_main_flow(cfg)  # every start cell made and checked: still no compute

    workers = default_workers() if workers is None else workers

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
        from mttmat.plots.main_job import save_main_job_figures  # matplotlib, lazily

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
    params = {m: EcramParameters.model_validate(d["parameters"]) for m, d in docs.items()}
    d = cfg.device
    return write_device_outputs(
        params, d.reference, out / "device", d.targets(), export_format=d.export,
        sweep=d.k_sweep,
    )  # fmt: skip

"""Run a flow's independent jobs at the same time, in worker processes, on one machine.

The local runner (:func:`mttmat.store.run_resumable`) runs one job at a time by default in
its own process. GPAW runs serially here (one BLAS thread; more do not help in PW mode) and
CHGNet MD gains little from a second thread on 16 atoms, so on a 2-core machine one job at
a time leaves about half of the machine idle. The two materials' chains, and within one
material the host, Li_i^0 (band and polaron), Li_i^+ and two-Li DFT cells, do not depend on
each other; jobflow-remote runs them at once on a cluster, and this pool does the same
locally:

- ``workers`` processes (``spawn``: torch and OpenMP do not survive a fork) each hold a run
  slot (:mod:`mttmat.threads`), so the thread budget of every process is
  ``cores // (workers + other runs)``; the parent lends its own slot while they compute.
- A job starts when all its parents have finished (the flow's own order breaks ties), in a
  folder ``root/job_<uuid>``, exactly as in the serial runner; its output goes to the same
  store (montydb sqlite or MongoDB: every worker connects to it itself).
- A failed job stops the scheduling of new jobs; the jobs already running finish (so their
  results are kept for the resume) and the first error is raised in the parent, with its
  type (a failed melt check stays a :class:`~mttmat.jobs.melt_quench.MeltNotMeltedError`).
- Workers die with the parent (``PR_SET_PDEATHSIG``): a killed run leaves no orphan that
  writes into a job folder while the resumed run starts the same job there.

Results do not depend on the number of workers: every job gets the same inputs and seeds.
Only the last digits may differ, as with any change of thread count.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import time
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

__all__ = ["can_share", "default_workers", "importable", "run_jobs_in_pool"]

_store = None  # the worker's connected JobStore
_slot = None  # the worker's run slot


def can_share(store: Any) -> bool:
    """True when worker processes can open ``store`` themselves (an embedded montydb
    folder or MongoDB), not when it lives in this process's memory (tests' MemoryStore)."""
    from maggma.stores import MongoStore, MontyStore
    from maggma.stores.gridfs import GridFSStore

    stores = [store.docs_store, *store.additional_stores.values()]
    return all(isinstance(s, MontyStore | MongoStore | GridFSStore) for s in stores) and not any(
        type(s).__name__.startswith("Memory") or type(s).__name__.startswith("Mongomock")
        for s in stores
    )


def importable(job: Any) -> bool:
    """True when a worker process can import the job's function (not one defined inside
    another function; jobflow-remote has the same rule)."""
    func = getattr(job, "function", None)
    return "<locals>" not in getattr(func, "__qualname__", "<locals>")


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):  # Linux only; elsewhere workers outlive a kill
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _init_worker(store_dict: dict[str, Any], slot_dir: str, filters: list[Any]) -> None:
    global _store, _slot
    _die_with_parent()
    warnings.filters[:] = filters  # the CLI's quiet filters
    from jobflow import JobStore

    from mttmat.threads import RunSlot

    _slot = RunSlot(slot_dir).__enter__()  # held for the worker's life; freed at its exit
    _store = JobStore.from_dict(store_dict)
    _store.connect()


def _run_job(job_json: str, job_dir: str) -> dict[str, Any]:
    import json

    from monty.json import MontyDecoder

    from mttmat.threads import rebalance

    job = json.loads(job_json, cls=MontyDecoder)
    rebalance()
    t0 = time.perf_counter()
    with contextlib.chdir(job_dir):
        response = job.run(store=_store)
    return {
        "seconds": time.perf_counter() - t0,
        "changes_flow": bool(response.replace or response.detour or response.addition),
    }


def run_jobs_in_pool(
    jobs: list[tuple[Any, list[str]]],
    done: set[str],
    store: Any,
    root: Path,
    workers: int,
    progress: Callable[[str], None],
    on_job: Callable[[dict[str, Any]], None] | None,
) -> None:
    """Run ``jobs`` (``(job, parent uuids)`` in the flow's order; those in ``done`` are
    skipped) on ``workers`` processes; see the module doc."""
    import json

    from monty.json import MontyEncoder

    from mttmat.store import job_record
    from mttmat.threads import lend_slot, slot_dir

    pending = [(j, set(p)) for j, p in jobs if j.uuid not in done]
    finished = set(done)
    running: dict[Future, tuple[Any, float]] = {}
    error: BaseException | None = None
    ctx = get_context("spawn")
    init = (store.as_dict(), str(slot_dir()), list(warnings.filters))
    with lend_slot(), ProcessPoolExecutor(workers, ctx, _init_worker, init) as pool:
        while pending or running:
            if error is None:
                for item in list(pending):
                    if len(running) >= workers:
                        break
                    job, parents = item
                    if not parents <= finished:
                        continue
                    pending.remove(item)
                    job_dir = root / f"job_{job.uuid}"
                    job_dir.mkdir(parents=True, exist_ok=True)
                    progress(f"  {job.name}: running")
                    fut = pool.submit(_run_job, json.dumps(job, cls=MontyEncoder), str(job_dir))
                    running[fut] = (job, time.perf_counter())
            if not running:
                if error is None and pending:  # pragma: no cover - iterflow gives a DAG
                    names = ", ".join(j.name for j, _ in pending)
                    raise RuntimeError(f"jobs whose parents never ran: {names}")
                break
            ready, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in ready:
                job, t0 = running.pop(fut)
                try:
                    out = fut.result()
                except Exception as err:  # re-raised once the pool is idle
                    progress(f"  {job.name}: failed ({type(err).__name__})")
                    error = error or err
                    continue
                if out["changes_flow"]:
                    error = error or RuntimeError(
                        f"job {job.name} changed the flow; use run_flow for such flows"
                    )
                finished.add(job.uuid)
                if on_job is not None:
                    on_job({**job_record(job), "seconds": out["seconds"], "ran": True})
                progress(f"  {job.name}: done in {time.perf_counter() - t0:.0f} s")
    if error is not None:
        raise error


def default_workers() -> int:
    """Workers of the local runner: ``settings.workers``, else one per core (at most 4;
    the chain rarely has more independent jobs at once)."""
    from mttmat.settings import get_settings
    from mttmat.threads import cpu_count

    n = get_settings().workers
    return int(n) if n else max(1, min(cpu_count(), 4))

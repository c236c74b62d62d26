"""Run a flow's independent jobs at the same time, in worker processes, on one machine.

The local runner (:func:`mttmat.store.run_resumable`) runs one job at a time by default in
its own process. GPAW runs serially here (one BLAS thread; more do not help in PW mode) and
CHGNet MD gains little from a second thread on 16 atoms, so on a 2-core machine one job at
a time leaves about half of the machine idle. The two materials' chains, and within one
material the host, Li_i^0 (band and polaron), Li_i^+ and two-Li DFT cells, do not depend on
each other; jobflow-remote runs them at once on a cluster, and this pool does the same
locally:

- ``workers`` processes (``spawn``: torch and OpenMP do not survive a fork) each hold a run
  slot (:mod:`mttmat.threads`) for their whole life, so every worker gets
  ``cores // (workers + other mttmat runs)`` threads, idle or not; the parent lends its own
  slot while they compute. (A slot per job would give a lone job more threads, but a job
  started alone would then keep them when a sibling starts: oversubscribed OpenMP pools
  are what made CHGNet MD 100× slower in issue 18.)
- A job starts when all its parents have finished (the flow's own order breaks ties), in a
  folder ``root/job_<uuid>``, exactly as in the serial runner; its output goes to the same
  store (montydb sqlite or MongoDB: every worker connects to it itself).
- A failed job stops the scheduling of new jobs; the jobs already running finish (so their
  results are kept for the resume) and the first error is raised in the parent, with its
  type (a failed melt check stays a :class:`~mttmat.jobs.melt_quench.MeltNotMeltedError`);
  an error that cannot cross processes arrives as :class:`JobFailed` with its type, message
  and traceback. A worker that dies (out of memory, a crash) names the jobs it broke.
- Ctrl-C or SIGTERM of the parent stops the workers at once (they ignore SIGINT and are
  terminated); the resume restarts the jobs they ran (MD continues from its checkpoint).
- Workers die with the parent (``PR_SET_PDEATHSIG``, Linux), and one that starts after its
  parent died exits at once: a killed run leaves no orphan that writes into a job folder
  while the resumed run starts the same job there.
- Each line a job prints is prefixed with the job's name (two jobs print at once).

Results do not depend on the number of workers: every job gets the same inputs and seeds.
Only the last digits may differ, as with any change of thread count.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import io
import json
import os
import pickle
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from mttmat.monty_store import LockedMontyStore
from mttmat.settings import get_settings
from mttmat.threads import RunSlot, cpu_count, lend_slot, rebalance, slot_dir

__all__ = [
    "JobFailed",
    "can_share",
    "default_workers",
    "importable",
    "job_record",
    "run_jobs_in_pool",
]

_store = None  # the worker's connected JobStore
_slot = None  # the worker's run slot
_parent = None  # the parent's pid


class JobFailed(RuntimeError):
    """A job failed in a worker with an error that cannot cross processes (its type, message
    and traceback are in the text)."""


def job_record(job: Any) -> dict[str, Any]:
    """What ``on_job`` is told about a job (uuid, name, its metadata's stage and material)."""
    return {"uuid": job.uuid, "name": job.name, "stage": job.metadata.get("stage"),
            "material": job.metadata.get("material")}  # fmt: skip


def can_share(store: Any) -> bool:
    """True when worker processes can open ``store`` themselves: MongoDB (and GridFS) or an
    embedded montydb folder; not a store that lives in this process's memory or a file
    store rewritten whole by each writer (an allow-list: every other store runs one job at a
    time)."""
    from maggma.stores import MongoStore, MongoURIStore, MontyStore
    from maggma.stores.gridfs import GridFSStore, GridFSURIStore


    def ok(s: Any) -> bool:
        if type(s) in (MontyStore, LockedMontyStore):
            return s.storage != "memory"
        return type(s) in (MongoStore, MongoURIStore, GridFSStore, GridFSURIStore)

    return all(ok(s) for s in (store.docs_store, *store.additional_stores.values()))


def importable(job: Any) -> bool:
    """True when a worker process can import the job's function by its module and name (not
    one defined inside another function or in ``__main__``: a notebook, ``python -c``);
    jobflow-remote has the same rule."""

    func = getattr(job, "function", None)
    mod, qual = getattr(func, "__module__", None), getattr(func, "__qualname__", "")
    if not mod or mod in ("__main__", "__mp_main__") or "<locals>" in qual:
        return False
    try:
        obj: Any = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return False
    return getattr(obj, "original", obj) is getattr(func, "original", func)


def _die_with_parent(parent: int) -> None:
    with contextlib.suppress(Exception):  # Linux only; elsewhere workers outlive a kill
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died while this worker was starting
        os._exit(1)


def _init_worker(
    parent: int, store_dict: dict[str, Any], slot_dir: str, filters: list[Any]
) -> None:
    global _store, _slot, _parent
    _parent = parent
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool on Ctrl-C
    warnings.filters[:] = filters  # the CLI's quiet filters
    warnings._filters_mutated()  # type: ignore[attr-defined]
    from jobflow import JobStore

    _slot = RunSlot(slot_dir).__enter__()  # held for the worker's life; freed at its exit
    _store = JobStore.from_dict(store_dict)
    _store.connect()


class _Prefixed(io.TextIOBase):
    """A text stream that prefixes every line with the job's name."""

    def __init__(self, stream: Any, prefix: str) -> None:
        self.stream, self.prefix, self.fresh = stream, prefix, True

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            out.append(self.prefix + piece if self.fresh else piece)
            self.fresh = piece.endswith("\n")
        self.stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _run_job(job_json: str, job_dir: str, name: str) -> dict[str, Any]:

    from monty.json import MontyDecoder

    if os.getppid() != _parent:
        os._exit(1)
    job = json.loads(job_json, cls=MontyDecoder)
    rebalance()
    t0 = time.perf_counter()
    try:
        with (contextlib.chdir(job_dir),
              contextlib.redirect_stdout(_Prefixed(sys.stdout, f"    [{name}] "))):  # fmt: skip
            response = job.run(store=_store)
    except Exception as err:
        try:
            pickle.loads(pickle.dumps(err))
        except Exception:
            raise JobFailed(
                f"{name} failed: {type(err).__module__}.{type(err).__name__}: {err}\n"
                + "".join(traceback.format_exception(err))
            ) from None
        raise
    return {
        "seconds": time.perf_counter() - t0,
        "changes_flow": bool(response.replace or response.detour or response.addition),
    }


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop every worker now (Ctrl-C, SIGTERM): no new job, running ones terminated."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.terminate()
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.join(timeout=10)


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

    from monty.json import MontyEncoder

    pending = [(j, set(p)) for j, p in jobs if j.uuid not in done]
    finished = set(done)
    running: dict[Future, tuple[Any, float]] = {}
    error: BaseException | None = None
    ctx = get_context("spawn")
    init = (os.getpid(), store.as_dict(), str(slot_dir()), list(warnings.filters))
    with lend_slot():
        pool = ProcessPoolExecutor(workers, ctx, _init_worker, init)
        try:
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
                        fut = pool.submit(_run_job, json.dumps(job, cls=MontyEncoder),
                                          str(job_dir), job.name)  # fmt: skip
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
                    except BrokenProcessPool as err:
                        names = ", ".join([job.name, *(j.name for j, _ in running.values())])
                        error = error or JobFailed(
                            f"a worker process died (out of memory, a crash or a kill) while "
                            f"running: {names}; run again to resume"
                        )
                        error.__cause__ = err
                        progress(f"  {job.name}: its worker died")
                        continue
                    except Exception as err:  # re-raised once the running jobs are done
                        progress(f"  {job.name}: FAILED: {type(err).__name__}: "
                                 f"{str(err).splitlines()[0] if str(err) else ''}")  # fmt: skip
                        error = error or err
                        if running:
                            progress(f"  waiting for {len(running)} running job(s) to finish "
                                     "(kept for the resume); Ctrl-C stops them")  # fmt: skip
                        continue
                    if out["changes_flow"]:
                        error = error or RuntimeError(
                            f"job {job.name} changed the flow; use run_flow for such flows"
                        )
                    finished.add(job.uuid)
                    if on_job is not None:
                        on_job({**job_record(job), "seconds": out["seconds"], "ran": True,
                                "workers": workers})  # fmt: skip
                    progress(f"  {job.name}: done in {time.perf_counter() - t0:.0f} s")
        except BaseException:  # Ctrl-C, SIGTERM (as SystemExit), a bug here: stop the workers
            _stop(pool)
            raise
        pool.shutdown(wait=True)
    if error is not None:
        raise error


def default_workers() -> int:
    """Workers of the local runner: ``settings.workers``, else one per core (at most 4;
    the chain rarely has more independent jobs at once)."""

    n = get_settings().workers
    return int(n) if n else max(1, min(cpu_count(), 4))

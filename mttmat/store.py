"""The job store: embedded montydb (sqlite) locally, MongoDB on HPC; run flows into it.

Small documents go to ``docs``; large arrays (trajectories, DOS) to the ``data`` store.

Examples
--------
>>> store = get_store("mttmat_runs")      # doctest: +SKIP
>>> run_flow(flow, store, "mttmat_runs")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobflow import Flow, Job, JobStore
from monty.json import MontyDecoder, MontyEncoder

from mttmat.locks import RunLock, exclusive_lock
from mttmat.monty_store import STORE_LOCK_FILE as _LOCK_FILE
from mttmat.monty_store import LockedMontyStore
from mttmat.pool import can_share, default_workers, importable, job_record, run_jobs_in_pool
from mttmat.settings import get_settings
from mttmat.structures.io import atomic_write_text, ensure_writable_dir
from mttmat.threads import rebalance

__all__ = ["StoreError", "get_store", "run_flow", "run_resumable"]


class StoreError(RuntimeError):
    """The store cannot be opened or written (permissions, missing URI)."""


#: written inside the store folder once its collections exist
_READY_FILE = ".mttmat-store-ready"


def get_store(
    store_dir: str | Path | None = None,
    mongo_uri: str | None = None,
    create: bool = True,
) -> JobStore:
    """A jobflow :class:`JobStore` for ``store_dir`` (montydb sqlite) or MongoDB.

    Parameters
    ----------
    store_dir
        Directory of the embedded store; default ``settings.store_dir``.
    mongo_uri
        When given (or set in settings), use MongoDB instead (HPC / jobflow-remote).
    create
        Create the embedded store if it does not exist (False: refuse a missing store, for
        commands that only read). Creation happens under a file lock: montydb creates its
        folders and sqlite tables on first use without one, and two runs starting together
        on a fresh store crashed (``no such table: documents``, ``FileExistsError``).
    """
    s = get_settings()
    mongo_uri = mongo_uri or s.mongo_uri
    if mongo_uri and mongo_uri.startswith("mongomock://"):
        # the in-process test queue of the local Slurm harness (mttmat.mock_mongo), in
        # the same layout as below; mongomock://<database>
        from mttmat.mock_mongo import SharedMongomockStore

        db = mongo_uri.removeprefix("mongomock://").strip("/") or s.mongo_database
        blobs = SharedMongomockStore(db, "outputs_blobs")
        return JobStore(SharedMongomockStore(db, "outputs"), additional_stores={"data": blobs})
    if mongo_uri:
        # the layout of the jobflow-remote project that `mttmat hpc project` writes: outputs
        # in `outputs`, blobs in GridFS `outputs_blobs`; the database named in the URI path
        # (mongodb://host/<db>?...) or the settings' mongo_database
        from maggma.stores import MongoURIStore
        from maggma.stores.gridfs import GridFSURIStore
        from pymongo.uri_parser import parse_uri

        db = parse_uri(mongo_uri).get("database") or s.mongo_database
        docs = MongoURIStore(mongo_uri, collection_name="outputs", database=db)
        data = GridFSURIStore(mongo_uri, collection_name="outputs_blobs", database=db)
        return JobStore(docs, additional_stores={"data": data})
    path = Path(store_dir or s.store_dir).expanduser().resolve()
    if not create:  # read only: write nothing, not even a probe (a colleague's store)
        if not ((path / _READY_FILE).is_file() or (path / "store").is_dir()):
            raise StoreError(
                f"no job store at {path}: give the folder of an existing store (--store DIR), "
                "e.g. results/store of a main job"
            )
        return _monty_job_store(path)
    try:
        ensure_writable_dir(path)
    except OSError as err:
        raise StoreError(
            f"cannot write the job store at {path}: {err.strerror}. Choose a writable folder "
            "(--store DIR or MTTMAT_STORE_DIR)"
        ) from err
    store = _monty_job_store(path)
    if not (path / _READY_FILE).is_file():
        with exclusive_lock(path / _LOCK_FILE, what="store lock"):
            if not (path / _READY_FILE).is_file():
                _create_collections(store)
                atomic_write_text(path / _READY_FILE, "montydb sqlite store of mttmat\n")
    return store


def _monty_job_store(path: Path) -> JobStore:
    db = str(path / "store")
    kw = {"database_path": db, "database_name": "mttmat", "storage": "sqlite"}
    docs = LockedMontyStore("outputs", **kw)
    data = LockedMontyStore("data", **kw)
    return JobStore(docs, additional_stores={"data": data})


_PROBE = {"_id": "mttmat-store-probe"}


def _create_collections(store: JobStore) -> None:
    """Make montydb write its config, database folder and both sqlite tables now (a write
    creates a collection's table; the probe document is removed again, and one left by a
    creator killed half-way is simply replaced)."""
    store.connect()
    try:
        for st in (store.docs_store, *store.additional_stores.values()):
            coll = st._collection
            coll.replace_one(_PROBE, _PROBE, upsert=True)
            coll.delete_one(_PROBE)
    finally:
        store.close()


def run_flow(
    flow: Flow | Job,
    store: JobStore,
    root_dir: str | Path,
    ensure_success: bool = True,
) -> dict[str, Any]:
    """Run ``flow`` locally with job folders under ``root_dir``; outputs go to ``store``.

    Raises
    ------
    RuntimeError
        When ``ensure_success`` and a job failed (its traceback is in the log).
    """
    from jobflow.managers.local import run_locally

    root = Path(root_dir)
    root.mkdir(parents=True, exist_ok=True)
    return run_locally(
        flow, store=store, create_folders=True, root_dir=root, ensure_success=ensure_success
    )


def run_resumable(
    flow: Flow,
    store: JobStore,
    root_dir: str | Path,
    flow_file: str | Path,
    progress: Callable[[str], None] = lambda _m: None,
    on_job: Callable[[dict[str, Any]], None] | None = None,
    wait_s: float = 0.0,
    workers: int | None = None,
) -> Flow:
    """Run ``flow`` job by job, skipping jobs whose output is already in ``store``.

    The flow is written to ``flow_file`` on the first call; later calls load it from there,
    so the job uuids are the same and a run killed half-way continues where it stopped
    (finished jobs are read back, not recomputed). Each job runs in
    ``root_dir/job_<uuid>``. Flows whose jobs return replace/detour/addition responses are
    not supported (mttmat's flows have a fixed shape).

    One process at a time runs a given flow file: a second one waits ``wait_s`` seconds for
    the lock ``.<flow file name>.lock`` beside it, then is refused with the holder's PID and
    host (:class:`~mttmat.locks.LockBusyError`), so no job runs twice in one job folder. The
    lock of a killed run is taken over.

    ``on_job``, when given, is called after each job with a record: uuid, name, the job's
    ``metadata`` stage and material, the wall time in seconds (None for a job read back from
    the store) and whether it ran now. Between jobs the thread budget is re-read
    (:func:`mttmat.threads.rebalance`).

    ``workers`` (default ``settings.workers``: one per core, at most 4) jobs whose parents
    have finished run at once, each in its own process (:mod:`mttmat.pool`); 1, a store
    that lives in memory, or a job function defined inside another function runs them one
    by one in this process.

    Returns the flow that ran (the loaded one on a resume).
    """
    flow_file = Path(flow_file)
    lock_file = flow_file.with_name(f".{flow_file.name}.lock")
    with RunLock(lock_file, wait_s=wait_s) as lock:
        if lock.took_over:
            progress(lock.took_over)
        if flow_file.is_file():
            try:
                flow = json.loads(flow_file.read_text(), cls=MontyDecoder)
            except (ImportError, AttributeError) as err:
                raise StoreError(
                    f"the saved flow {flow_file} was written by another mttmat version "
                    f"({err}); delete it to start the flow anew, or use another output folder"
                ) from err
        else:
            atomic_write_text(flow_file, json.dumps(flow, cls=MontyEncoder))
        _run_jobs(flow, store, Path(root_dir).resolve(), progress, on_job, workers)
    return flow


def _run_jobs(
    flow: Flow,
    store: JobStore,
    root: Path,
    progress: Callable[[str], None],
    on_job: Callable[[dict[str, Any]], None] | None,
    workers: int | None = None,
) -> None:

    store.connect()
    done = {
        d["uuid"] for d in store.query({"uuid": {"$in": list(flow.job_uuids)}}, properties=["uuid"])
    }
    jobs = list(flow.iterflow())
    for job, _parents in jobs:
        if job.uuid in done:
            progress(f"  {job.name}: finished earlier, read from the store")
            if on_job is not None:
                on_job({**job_record(job), "seconds": None, "ran": False})
    workers = default_workers() if workers is None else workers
    if workers > 1 and len(done) < len(jobs):
        shared = can_share(store)
        if shared and all(importable(j) for j, _ in jobs):
            progress(f"  {len(jobs) - len(done)} jobs to run, up to {workers} at once")
            run_jobs_in_pool(jobs, done, store, root, workers, progress, on_job)
            return
        why = ("the store lives in this process" if not shared
               else "a job's function cannot be imported by a worker")  # fmt: skip
        progress(f"  one job at a time: {why}")
    for job, _parents in jobs:
        if job.uuid in done:
            continue
        rebalance()
        job_dir = root / f"job_{job.uuid}"
        job_dir.mkdir(parents=True, exist_ok=True)
        progress(f"  {job.name}: running")
        t0 = time.perf_counter()
        with contextlib.chdir(job_dir):
            response = job.run(store=store)
        seconds = time.perf_counter() - t0
        if on_job is not None:
            on_job({**job_record(job), "seconds": seconds, "ran": True})
        progress(f"  {job.name}: done in {seconds:.0f} s")
        if response.replace or response.detour or response.addition:
            raise RuntimeError(f"job {job.name} changed the flow; use run_flow for such flows")

"""The job store: embedded montydb (sqlite) locally, MongoDB on HPC; run flows into it.

Small documents go to ``docs``; large arrays (trajectories, DOS) to the ``data`` store.

Examples
--------
>>> store = get_store("mttmat_runs")      # doctest: +SKIP
>>> run_flow(flow, store, "mttmat_runs")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobflow import Flow, Job, JobStore
from maggma.stores import MontyStore

from mttmat.settings import get_settings
from mttmat.structures.io import ensure_writable_dir

__all__ = ["StoreError", "get_store", "run_flow"]


class StoreError(RuntimeError):
    """The store cannot be opened or written (permissions, missing URI)."""


def get_store(store_dir: str | Path | None = None, mongo_uri: str | None = None) -> JobStore:
    """A jobflow :class:`JobStore` for ``store_dir`` (montydb sqlite) or MongoDB.

    Parameters
    ----------
    store_dir
        Directory of the embedded store; default ``settings.store_dir``. Created if missing.
    mongo_uri
        When given (or set in settings), use MongoDB instead (HPC / jobflow-remote).
    """
    s = get_settings()
    mongo_uri = mongo_uri or s.mongo_uri
    if mongo_uri:
        from maggma.stores import MongoURIStore

        docs = MongoURIStore(mongo_uri, collection_name="outputs", database=s.mongo_database)
        data = MongoURIStore(mongo_uri, collection_name="outputs_blobs", database=s.mongo_database)
        return JobStore(docs, additional_stores={"data": data})
    path = Path(store_dir or s.store_dir).expanduser().resolve()
    try:
        ensure_writable_dir(path)
    except OSError as err:
        raise StoreError(
            f"cannot write the job store at {path}: {err.strerror}. Choose a writable folder "
            "(--store DIR or MTTMAT_STORE_DIR)"
        ) from err
    db = str(path / "store")
    docs = MontyStore("outputs", database_path=db, database_name="mttmat", storage="sqlite")
    data = MontyStore("data", database_path=db, database_name="mttmat", storage="sqlite")
    return JobStore(docs, additional_stores={"data": data})


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

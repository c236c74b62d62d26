"""What every ``mttmat`` subcommand module shares: the user-error type and progress output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "UserError",
    "add_store_argument",
    "chain_documents",
    "progress",
    "store_path",
]


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def progress(msg: str) -> None:
    """One progress line on stdout, flushed (long runs are watched through pipes and logs)."""
    print(f"[mttmat] {msg}", flush=True)


def add_store_argument(parser: Any, help: str = "job store folder") -> None:
    """``--store DIR``; its default is the ``store_dir`` setting (``MTTMAT_STORE_DIR``)."""
    parser.add_argument("--store", default=None, metavar="DIR",
                        help=f"{help} (default: setting store_dir)")  # fmt: skip


def store_path(store: str | Path | None) -> Path:
    """The store folder of ``--store``, or of the ``store_dir`` setting when not given."""
    from mttmat.settings import get_settings

    return Path(store if store is not None else get_settings().store_dir).expanduser()


def chain_documents(store_dir: str, materials: list[str] | None) -> tuple[Any, dict[str, Any]]:
    """(the connected store, {material: its newest MaterialChainDoc}) of a job store: a
    folder (the local main job's) or a MongoDB URI (an HPC run's). ``materials`` restricts
    them; one that is missing is a :class:`UserError`."""
    from mttmat.schemas.chain import CHAIN_DOC_TYPE
    from mttmat.store import get_store

    if "://" in store_dir:  # MongoDB (an HPC run's store)
        store = get_store(mongo_uri=store_dir)
    elif not Path(store_dir).is_dir():
        raise UserError(f"store {store_dir} does not exist")
    else:
        store = get_store(store_dir, create=False)
    store.connect()
    found: dict[str, Any] = {}
    for d in store.query({"output.doc_type": CHAIN_DOC_TYPE}, sort={"completed_at": 1}):
        doc = d["output"]
        found[doc["material"]] = doc  # sorted by completion: the newest wins
    if materials:
        missing = sorted(set(materials) - set(found))
        if missing:
            raise UserError(f"no chain document of {missing} in {store_dir}; it holds "
                            f"{sorted(found) or 'none'}")  # fmt: skip
        found = {m: found[m] for m in materials}
    if not found:
        raise UserError(f"{store_dir} holds no finished material chain (mttmat run or the HPC "
                        "flow writes one per material)")  # fmt: skip
    return store, found

"""The embedded (montydb, sqlite) store of a local run, safe for concurrent processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from maggma.stores import MontyStore

from mttmat.locks import exclusive_lock

__all__ = ["STORE_LOCK_FILE", "LockedMontyStore"]

#: the file lock of a store folder (connects, writes, creating the collections)
STORE_LOCK_FILE = ".mttmat-store.lock"


class LockedMontyStore(MontyStore):
    """A maggma ``MontyStore`` whose ``connect`` holds the store's file lock.

    Every ``MontyStore.connect`` calls montydb's ``set_storage``, which rewrites the
    storage-ident and config files of the database folder (``open(..., "w")``). A process
    connecting at that moment reads an empty file and fails (``No module named
    'montydb.storage.'``). With the lock, connects of concurrent runs take turns; writes take
    it too (the worker processes of one run write at once); reads need none.
    """

    def connect(self, force_reset: bool = False) -> None:
        if self._coll is not None and not force_reset:
            return
        with exclusive_lock(self._lock_file, what="store lock"):
            super().connect(force_reset=force_reset)

    def update(self, docs: Any, key: Any = None) -> None:
        """Write under the store's file lock: the jobs of one run write from several worker
        processes (:mod:`mttmat.pool`), and sqlite's own lock gives up after 5 s ("database
        is locked") when another process writes a large document."""
        with exclusive_lock(self._lock_file, what="store lock"):
            super().update(docs, key=key)

    @property
    def _lock_file(self) -> Path:
        return Path(self.database_path).parent / STORE_LOCK_FILE

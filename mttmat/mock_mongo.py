"""An in-process MongoDB stand-in shared by every store of this process (tests only).

jobflow-remote keeps its queue in MongoDB and builds a new store object from the project file
each time it needs one (submission, the runner, the job controller); maggma's
``MemoryStore`` gives each a private mongomock client, so they would not see each other's
data. :class:`SharedMongomockStore` puts all of them on one mongomock client, which lets the
local harness run jobflow-remote's runner in the test process with real Slurm jobs. Workers
never touch it: jobflow-remote moves job inputs and outputs through files in the job
folders. Production uses MongoDB (``mongo_uri`` in the HPC config).
"""

from __future__ import annotations

from typing import Any

from maggma.stores import MongoStore

__all__ = ["SharedMongomockStore", "shared_client"]

_CLIENT: Any = None


def shared_client() -> Any:
    """The process-wide mongomock client."""
    global _CLIENT
    if _CLIENT is None:
        import mongomock_ng

        _CLIENT = mongomock_ng.MongoClient()
    return _CLIENT


class SharedMongomockStore(MongoStore):
    """A ``MongoStore`` on the process-wide mongomock client."""

    def __init__(self, database: str = "mttmat", collection_name: str = "jobs", **kwargs: Any):
        self.database = database
        self.collection_name = collection_name
        self.default_sort = None
        self._coll = None
        self.kwargs = kwargs
        super(MongoStore, self).__init__(**kwargs)

    def connect(self, force_reset: bool = False) -> None:
        if self._coll is None or force_reset:
            self._coll = shared_client()[self.database][self.collection_name]

    def close(self) -> None:  # the shared client stays open for the other stores
        pass

    @property
    def name(self) -> str:
        return f"mongomock://{self.database}/{self.collection_name}"

    def __hash__(self) -> int:
        return hash((self.name, self.last_updated_field))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SharedMongomockStore) and self.name == other.name

"""File locks: one creator of a store, one owner of a run folder, a count of live runs.

All locks are ``flock`` locks on small files. The kernel drops such a lock when its process
dies, even by ``kill -9``, so a lock file left behind by a killed run is *stale* by
construction: the next run acquires it, reads who held it before and says that it took it
over. The holder writes its PID, host and start time into the file, so a refused run can name
who holds the lock.

``flock`` works between processes of one machine and, on Linux NFS clients since 2.6.12,
across machines sharing an NFS folder (emulated with byte-range locks). It does not work on
file systems that ignore locks (some FUSE mounts); keep run folders on a local disk or NFS.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LockBusyError", "LockUnsupportedError", "RunLock", "exclusive_lock", "holder_info"]


class LockBusyError(RuntimeError):
    """Another live process holds the lock (the message names its PID and host)."""


class LockUnsupportedError(RuntimeError):
    """The file system of a lock file does not support ``flock``."""


#: exclusive locks this process holds now (path -> depth): re-entering one does not deadlock
_held: dict[str, int] = {}


def _me() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def holder_info(path: str | Path) -> dict[str, Any] | None:
    """What the (last) holder of the lock file ``path`` wrote about itself, or None."""
    try:
        text = Path(path).read_text()
        data = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "an unknown process"
    return f"PID {info.get('pid')} on host {info.get('host')} (since {info.get('started')})"


def _try_flock(fd: int, path: Path) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise LockUnsupportedError(
            f"cannot lock {path} ({err.strerror}): its file system does not support file "
            "locks; put the results and the store on a local disk or NFS"
        ) from err
    return True


def _write_info(fd: int, info: dict[str, Any]) -> None:
    """Replace the content of ``fd``: write first, then cut the rest (a reader never sees an
    empty file, only the old or the new holder)."""
    data = json.dumps(info).encode()
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def _open_lock_file(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise LockUnsupportedError(
            f"cannot create the lock file {path}: {err.strerror or err}; check that the "
            "folder is writable and not a broken link"
        ) from err


@contextlib.contextmanager
def exclusive_lock(
    path: str | Path, timeout_s: float = 120.0, what: str = "lock"
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block.

    Waits up to ``timeout_s`` for another holder; raises :class:`LockBusyError` naming it.
    Used for short critical sections (creating a store), so waiting is the right default.
    """
    path = Path(path).absolute()
    key = str(path)
    if key in _held:  # this process holds it already (e.g. connect inside creation)
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    fd = _open_lock_file(path)
    try:
        deadline = time.monotonic() + timeout_s
        while not _try_flock(fd, path):
            if time.monotonic() > deadline:
                raise LockBusyError(
                    f"{what} {path} is held by {_describe(holder_info(path))} for more than "
                    f"{timeout_s:.0f} s; if that process is gone, the lock frees itself"
                )
            time.sleep(0.02)
        _write_info(fd, _me())
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@dataclass
class RunLock:
    """Ownership of one run folder for as long as the process lives (or until :meth:`release`).

    Parameters
    ----------
    path
        The lock file (``<results>/<name>/.run.lock``).
    wait_s
        Seconds to wait for a live holder before giving up; 0 refuses at once.
    """

    path: Path
    wait_s: float = 0.0
    fd: int | None = None
    previous: dict[str, Any] | None = None

    def acquire(self) -> RunLock:
        """Take the lock; raise :class:`LockBusyError` naming the holder when it is live."""
        self.path = Path(self.path)
        fd = _open_lock_file(self.path)
        deadline = time.monotonic() + self.wait_s
        while not _try_flock(fd, self.path):
            if time.monotonic() >= deadline:
                os.close(fd)
                holder = holder_info(self.path)
                hint = (
                    "wait for it to finish, run with --wait, or give this run another name"
                )
                raise LockBusyError(
                    f"run folder {self.path.parent} is in use by {_describe(holder)}: {hint}"
                )
            time.sleep(0.5)
        # ours now; whatever the file says is a previous holder that ended (or was killed)
        self.previous = holder_info(self.path)
        if self.previous and self.previous.get("released"):
            self.previous = None  # cleanly released, not stale
        _write_info(fd, _me())
        os.fsync(fd)
        self.fd = fd
        return self

    @property
    def took_over(self) -> str | None:
        """A sentence when this lock was taken over from a holder that did not release it."""
        if not self.previous:
            return None
        return f"took over the run lock of {_describe(self.previous)}, which ended without " \
            "releasing it (killed?)"

    def release(self) -> None:
        if self.fd is None:
            return
        _write_info(self.fd, {**(holder_info(self.path) or {}), "released": True})
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

"""Thread counts per process, so that N runs on C cores do not oversubscribe them.

torch (CHGNet), OpenBLAS/MKL (numpy, GPAW) and OpenMP each start one thread per core by
default. Two runs on a 2-core machine then run 4+ busy threads on 2 cores, and OpenMP's
spin-waiting barriers make a CHGNet MD step 100× slower (measured: 6–8 s instead of
~0.05 s per step). mttmat therefore gives each process a thread budget:

- ``MTTMAT_THREADS=n`` (setting ``threads``): exactly ``n`` threads per process;
- unset (default, ``auto``): ``max(1, C // N)``, with C the cores this process may use
  (``sched_getaffinity``, so Slurm/cgroup CPU sets count) and N the live mttmat runs on this
  machine, counted from the run slots in ``settings.runtime_dir``. A run re-reads N at every
  job boundary and every MD checkpoint and shrinks or grows its pools.

An explicit ``OMP_NUM_THREADS`` in the environment is the user's choice and wins over
``auto``. The budget is applied to torch (``torch.set_num_threads``), to the BLAS and OpenMP
pools already loaded (threadpoolctl), and exported as ``OMP_NUM_THREADS`` /
``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` for libraries loaded later and for child
processes. GPAW runs serially in-process here, so its only threads are BLAS threads.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["RunSlot", "apply_threads", "budget", "cpu_count", "live_runs", "rebalance"]

_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_USER_OMP = os.environ.get("OMP_NUM_THREADS")  # as the user started the process
_current: int | None = None
_slot_dir: Path | None = None


def cpu_count() -> int:
    """Cores this process may run on (its CPU affinity set, e.g. a Slurm allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_runtime_dir() -> Path:
    """Per-user folder of run slots on this machine."""
    return Path(tempfile.gettempdir()) / f"mttmat-{os.getuid()}" / "runs"


def live_runs(slot_dir: str | Path) -> int:
    """Slots in ``slot_dir`` held by a live process; stale slots (killed runs) are removed."""
    n = 0
    folder = Path(slot_dir)
    if not folder.is_dir():
        return 0
    for f in folder.glob("slot-*.lock"):
        try:
            fd = os.open(f, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            n += 1  # held: a live run
        else:
            with contextlib.suppress(FileNotFoundError):
                f.unlink()  # nobody holds it: a run that was killed
        finally:
            os.close(fd)
    return n


def budget(threads: int | None = None, slot_dir: str | Path | None = None) -> int:
    """Threads this process should use (see the module doc)."""
    if threads:
        return int(threads)
    if _USER_OMP and _USER_OMP.isdigit() and int(_USER_OMP) > 0:
        return int(_USER_OMP)
    n = live_runs(slot_dir) if slot_dir is not None else 0
    return max(1, cpu_count() // max(1, n))


def apply_threads(n: int) -> int:
    """Set every thread pool of this process to ``n`` threads; returns ``n``."""
    global _current
    for key in _ENV:
        os.environ[key] = str(n)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a declared dependency
        pass
    else:
        threadpool_limits(limits=n)
    _current = n
    return n


def rebalance() -> int | None:
    """Re-read the number of live runs and resize the pools (cheap; called between jobs and
    at MD checkpoints). A no-op outside a :class:`RunSlot`."""
    if _slot_dir is None:
        return None
    from mttmat.settings import get_settings

    n = budget(get_settings().threads, _slot_dir)
    if n != _current:
        apply_threads(n)
    return n


class RunSlot:
    """Registers this process as a live run for the ``auto`` thread budget while held."""

    def __init__(self, slot_dir: str | Path | None = None) -> None:
        if slot_dir is None:
            from mttmat.settings import get_settings

            slot_dir = get_settings().runtime_dir or default_runtime_dir()
        self.dir = Path(slot_dir)
        self.path = self.dir / f"slot-{os.getpid()}-{uuid.uuid4().hex[:8]}.lock"
        self.fd: int | None = None

    def __enter__(self) -> RunSlot:
        global _slot_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        _slot_dir = self.dir
        rebalance()
        return self

    def __exit__(self, *exc: object) -> None:
        global _slot_dir
        _slot_dir = None
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            os.close(self.fd)
            self.fd = None


@contextlib.contextmanager
def run_slot(slot_dir: str | Path | None = None) -> Iterator[RunSlot]:
    """``with run_slot(): ...``: hold a run slot (see :class:`RunSlot`)."""
    with RunSlot(slot_dir) as s:
        yield s

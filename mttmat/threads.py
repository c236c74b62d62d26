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

from mttmat.settings import get_settings

__all__ = [
    "RunSlot", "apply_threads", "budget", "cpu_count", "lend_slot", "live_runs", "rebalance",
    "slot_dir",
]  # fmt: skip

_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: set next to OMP_NUM_THREADS when mttmat chose the value: a child process that inherits it
#: (a subprocess, an sbatch --export=ALL job) must not take it for the user's own choice
_AUTO_MARK = "_MTTMAT_AUTO_THREADS"


def _user_omp() -> str | None:
    omp = os.environ.get("OMP_NUM_THREADS")
    return None if omp is None or omp == os.environ.get(_AUTO_MARK) else omp


_USER_OMP = _user_omp()  # as the user started the process
_current: int | None = None
_slot_dir: Path | None = None
_limiter = None  # threadpoolctl limiter of the first apply_threads: restores the pools
_active: RunSlot | None = None  # the slot this process holds


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
    if _USER_OMP and _USER_OMP.isdigit() and int(_USER_OMP) > 0:  # the user's choice
        return int(_USER_OMP)
    n = live_runs(slot_dir) if slot_dir is not None else 0
    return max(1, cpu_count() // max(1, n))


def apply_threads(n: int) -> int:
    """Set every thread pool of this process to ``n`` threads; returns ``n``."""
    global _current, _limiter
    for key in _ENV:
        os.environ[key] = str(n)
    os.environ[_AUTO_MARK] = str(n)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    from threadpoolctl import threadpool_limits

    limiter = threadpool_limits(limits=n)
    if _limiter is None:
        _limiter = limiter
    _current = n
    return n


class _SavedPools:
    """Thread settings of the process before a run slot changed them (restored on exit)."""

    def __init__(self) -> None:
        self.env = {k: os.environ.get(k) for k in (*_ENV, _AUTO_MARK)}
        torch = sys.modules.get("torch")
        self.torch = torch.get_num_threads() if torch is not None else None

    def restore(self) -> None:
        global _current, _limiter
        for k, v in self.env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if _limiter is not None:
            _limiter.restore_original_limits()
        torch = sys.modules.get("torch")  # after the pools: torch's OpenMP pool is one of them
        if torch is not None and self.torch is not None:
            torch.set_num_threads(self.torch)
        _limiter, _current = None, None


def rebalance() -> int | None:
    """Re-read the number of live runs and resize the pools (cheap; called between jobs and
    at MD checkpoints). A no-op outside a :class:`RunSlot`."""
    if _slot_dir is None:
        return None

    n = budget(get_settings().threads, _slot_dir)
    if n != _current:
        apply_threads(n)
    return n


class RunSlot:
    """Registers this process as a live run for the ``auto`` thread budget while held, and
    restores the thread settings it found when it is left."""

    def __init__(self, slot_dir: str | Path | None = None) -> None:
        if slot_dir is None:
            slot_dir = get_settings().runtime_dir or default_runtime_dir()
        self.dir = Path(slot_dir)
        name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}.lock"
        self.path = self.dir / f"slot-{name}"
        self._pending = self.dir / f"pending-{name}"
        self.fd: int | None = None
        self._saved: _SavedPools | None = None

    def __enter__(self) -> RunSlot:
        global _slot_dir, _active
        self.dir.mkdir(parents=True, exist_ok=True)
        # lock under a name live_runs does not count, then rename: a counter never sees an
        # unlocked fresh slot (it would take it for a killed run's and delete it)
        self.fd = os.open(self._pending, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            os.replace(self._pending, self.path)
            self._saved = _SavedPools()
            _slot_dir = self.dir
            _active = self
            rebalance()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        global _slot_dir, _active
        _slot_dir = None
        if _active is self:
            _active = None
        if self._saved is not None:
            self._saved.restore()
            self._saved = None
        if self.fd is not None:
            for f in (self.path, self._pending):
                with contextlib.suppress(FileNotFoundError):
                    f.unlink()
            os.close(self.fd)
            self.fd = None


def slot_dir() -> Path:
    """The folder of run slots this process counts in (its own slot's, or the settings')."""
    if _active is not None:
        return _active.dir

    return Path(get_settings().runtime_dir or default_runtime_dir())


@contextlib.contextmanager
def lend_slot() -> Iterator[None]:
    """Give up this process's run slot while worker processes, each holding its own slot,
    do its computing (:mod:`mttmat.pool`); the slot is taken again afterwards. Without
    this, an idle parent would count as one more run and shrink every worker's threads."""
    slot = _active
    if slot is None:
        yield
        return
    slot.__exit__()
    try:
        yield
    finally:
        slot.__enter__()


@contextlib.contextmanager
def run_slot(slot_dir: str | Path | None = None) -> Iterator[RunSlot]:
    """``with run_slot(): ...``: hold a run slot (see :class:`RunSlot`)."""
    with RunSlot(slot_dir) as s:
        yield s

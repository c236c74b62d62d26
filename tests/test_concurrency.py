"""Runs that share a machine: one creator of a fresh store, one owner of a run name, stale
locks of killed runs taken over, and thread pools that share the cores."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mttmat.locks import LockBusyError, RunLock, exclusive_lock
from mttmat.threads import RunSlot, budget, live_runs

ROOT = Path(__file__).parents[1]


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        if time.time() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.01)


# ------------------------------------------------------------------ store creation
_STORE_WORKER = """
import sys, time
from pathlib import Path
from mttmat.store import get_store
root, me, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
deadline = time.time() + 300  # never outlive a failed test
for i in range(rounds):
    (root / f"ready-{i}-{me}").touch()
    while not (root / f"go-{i}").exists():
        if time.time() > deadline:
            sys.exit("no go signal")
        time.sleep(0.001)
    store = get_store(root / f"store-{i}")
    store.connect()
    store.docs_store.update([{"uuid": me, "index": 1, "round": i}], key="uuid")
    store.close()
print("ok")
"""


def test_two_processes_create_one_fresh_store_twenty_times(tmp_path):
    """Both processes open the same fresh store at the same moment, 20 times; every time
    both succeed and both documents are there (montydb alone failed 2 times in 3)."""
    rounds = 20
    procs = [_python(_STORE_WORKER, str(tmp_path), w, str(rounds)) for w in ("a", "b")]
    try:
        for i in range(rounds):
            for w, p in zip(("a", "b"), procs, strict=True):
                while not (tmp_path / f"ready-{i}-{w}").exists():
                    if p.poll() is not None:
                        pytest.fail(f"worker {w} died in round {i}:\n{p.stderr.read()[-3000:]}")
                    time.sleep(0.005)
            (tmp_path / f"go-{i}").touch()
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err[-2000:]
            assert out.strip() == "ok"
    finally:
        for p in procs:
            p.kill()
            p.wait()
    from mttmat.store import get_store

    for i in range(rounds):
        store = get_store(tmp_path / f"store-{i}", create=False)
        store.connect()
        assert sorted(d["uuid"] for d in store.docs_store.query({})) == ["a", "b"]
        store.close()


def test_reading_a_missing_store_refuses_and_creates_nothing(tmp_path):
    from mttmat.cli import main
    from mttmat.errors import StoreError
    from mttmat.store import get_store

    with pytest.raises(StoreError, match="no job store"):
        get_store(tmp_path / "nowhere", create=False)
    assert main(["show", "0123", "--store", str(tmp_path / "nowhere")]) == 2
    assert not (tmp_path / "nowhere").exists()


# ------------------------------------------------------------------ run ownership
_HOLDER = """
import sys, time
from pathlib import Path
from mttmat.locks import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("held", flush=True)
release = Path(sys.argv[2])
deadline = time.time() + 300
while not release.exists() and time.time() < deadline:
    time.sleep(0.01)
lock.release()
print("released", flush=True)
"""


def _readline(p: subprocess.Popen, timeout: float = 60.0) -> str:
    """The child's next stdout line, or a failure with its stderr (never hangs the suite)."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        p.kill()
        pytest.fail(f"child printed nothing in {timeout} s: {p.stderr.read()[-2000:]}")
    line = p.stdout.readline()
    if not line:
        pytest.fail(f"child ended: {p.stderr.read()[-2000:]}")
    return line.strip()


def _hold(path: Path, release: Path) -> subprocess.Popen:
    """A process holding the run lock ``path`` until the file ``release`` appears."""
    p = _python(_HOLDER, str(path), str(release))
    assert _readline(p) == "held"
    return p


def test_second_run_of_the_same_name_is_refused_naming_the_holder(tmp_path):
    """A live holder of results/<name> refuses a second run before any folder or job."""
    from mttmat.cli import main

    out = tmp_path / "results"
    holder = _hold(out / "tiny" / ".run.lock", tmp_path / "release")
    try:
        cfg = tmp_path / "c.yaml"
        cfg.write_text("name: tiny\ndevice: {k_sweep: false}\n")
        with pytest.raises(LockBusyError) as err:
            from mttmat.runs.main_job import run_main_job

            run_main_job(cfg, out, progress=lambda m: None)
        msg = str(err.value)
        assert f"PID {holder.pid}" in msg and socket.gethostname() in msg
        assert "--wait" in msg
        assert sorted(p.name for p in (out / "tiny").iterdir()) == [".run.lock"]  # no job ran
        assert not (out / "store").exists()
        # the same through the command line: one line, exit 2
        assert main(["run", "--config", str(cfg), "-o", str(out)]) == 2
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_run_gets_the_lock_when_the_holder_ends(tmp_path):
    path = tmp_path / "run" / ".run.lock"
    holder = _hold(path, tmp_path / "release")
    with pytest.raises(LockBusyError):
        RunLock(path, wait_s=0.2).acquire()  # still held after waiting a little
    (tmp_path / "release").touch()
    with RunLock(path, wait_s=60) as lock:  # waits until the holder lets go
        assert lock.took_over is None  # the holder released it cleanly
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert _readline(holder) == "released"
    holder.wait()


def test_one_process_at_a_time_runs_a_flow_file(tmp_path):
    """The stage commands and the main job run their flow through run_resumable, which
    refuses a second process on the same flow file before any job runs."""
    from jobflow import Flow, job

    from mttmat.store import get_store, run_resumable

    @job
    def add(a, b):
        return a + b

    flow_file = tmp_path / "flow.json"
    holder = _hold(tmp_path / ".flow.json.lock", tmp_path / "release")
    try:
        with pytest.raises(LockBusyError, match=f"PID {holder.pid}"):
            run_resumable(Flow([add(1, 2)]), get_store(tmp_path / "s"), tmp_path / "j", flow_file)
        assert not flow_file.exists() and not (tmp_path / "j").exists()
    finally:
        (tmp_path / "release").touch()
        holder.wait()
    flow = run_resumable(Flow([add(1, 2)]), get_store(tmp_path / "s"), tmp_path / "j", flow_file)
    store = get_store(tmp_path / "s")
    store.connect()
    assert store.get_output(flow.jobs[0].uuid) == 3


def test_a_store_whose_creator_was_killed_half_way_opens(tmp_path):
    from mttmat.store import _PROBE, _monty_job_store, get_store

    half = _monty_job_store(tmp_path)  # tables made, probe not yet removed, no ready marker
    half.connect()
    half.docs_store._collection.insert_one(dict(_PROBE))
    half.close()
    store = get_store(tmp_path)
    store.connect()
    assert store.docs_store.count() == 0


def test_stale_lock_of_a_killed_run_is_taken_over(tmp_path):
    path = tmp_path / "run" / ".run.lock"
    holder = _hold(path, tmp_path / "never")
    with pytest.raises(LockBusyError):
        RunLock(path).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert json.loads(path.read_text())["pid"] == holder.pid  # the file is still there
    with RunLock(path) as lock:
        assert f"PID {holder.pid}" in lock.took_over
    with RunLock(path) as lock:  # released cleanly this time: nothing to take over
        assert lock.took_over is None


def test_exclusive_lock_times_out_naming_the_holder(tmp_path):
    path = tmp_path / "x.lock"
    code = """
    import sys, time
    from mttmat.locks import exclusive_lock
    with exclusive_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
    """
    p = _python(code, str(path))
    try:
        assert _readline(p) == "held"
        with pytest.raises(LockBusyError, match=f"PID {p.pid}"), exclusive_lock(
            path, timeout_s=0.3
        ):
            pass
    finally:
        p.kill()
        p.wait()
    with exclusive_lock(path, timeout_s=1):  # the kernel dropped the dead holder's lock
        pass


# ------------------------------------------------------------------ threads
def test_thread_budget_shares_the_cores_between_live_runs(tmp_path, monkeypatch):
    import mttmat.threads as th

    monkeypatch.setattr(th, "_USER_OMP", None)
    monkeypatch.setattr(th, "cpu_count", lambda: 8)
    slots = tmp_path / "slots"
    code = """
    import sys, time
    from mttmat.threads import RunSlot
    with RunSlot(sys.argv[1]):
        print("in", flush=True)
        time.sleep(600)
    """
    others = [_python(code, str(slots)) for _ in range(3)]
    try:
        for p in others:
            assert _readline(p) == "in"
        assert live_runs(slots) == 3
        with RunSlot(slots):
            assert live_runs(slots) == 4
            assert budget(None, slots) == 2  # 8 cores, 4 runs
            assert budget(3, slots) == 3  # an explicit setting wins
        others[0].send_signal(signal.SIGKILL)
        others[0].wait()
        assert live_runs(slots) == 2  # the killed run's slot is stale and removed
        assert budget(None, slots) == 4
    finally:
        for p in others:
            p.kill()
            p.wait()
    assert live_runs(slots) == 0
    monkeypatch.setattr(th, "_USER_OMP", "3")
    assert budget(None, slots) == 3  # the user's OMP_NUM_THREADS wins over auto


def test_a_run_slot_sets_the_pools_and_restores_them(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_info

    import mttmat.threads as th

    monkeypatch.setattr(th, "_USER_OMP", None)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MTTMAT_THREADS", "1")
    before = torch.get_num_threads()
    blas_before = [p["num_threads"] for p in threadpool_info()]
    with RunSlot(tmp_path / "slots"):
        assert torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
        assert all(p["num_threads"] == 1 for p in threadpool_info())
        # a child process inherits the value but knows that mttmat chose it, not the user
        code = "import mttmat.threads as t; print(t._USER_OMP)"
        assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout.strip() == "None"  # fmt: skip
    assert torch.get_num_threads() == before
    assert "OMP_NUM_THREADS" not in os.environ
    assert [p["num_threads"] for p in threadpool_info()] == blas_before

"""The local runner's worker pool (mttmat.pool): independent jobs at once, parents first,
errors with their own type, and results in the same store as the serial runner."""

from __future__ import annotations

import os
import time

import pytest
from jobflow import Flow, job

from mttmat.store import get_store, run_resumable


class Boom(ValueError):
    """A job's own error type (must reach the caller as itself)."""


@job
def timed(seconds: float, *after: object) -> dict:
    t0 = time.time()
    time.sleep(seconds)
    return {"pid": os.getpid(), "start": t0, "end": time.time()}


@job
def fails(msg: str) -> None:
    raise Boom(msg)


class TwoArgError(Exception):
    """Cannot be unpickled (its __init__ takes two arguments), like custodian's errors."""

    def __init__(self, msg: str, code: int) -> None:
        super().__init__(f"{msg} (code {code})")


@job
def fails_unpicklably() -> None:
    raise TwoArgError("custodian gave up", 7)


@job
def record_pid_and_sleep(path: str, seconds: float) -> int:
    from pathlib import Path

    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


def _run(flow, tmp_path, workers):
    store = get_store(tmp_path / "store")
    records = []
    run_resumable(flow, store, tmp_path / "jobs", tmp_path / "flow.json",
                  on_job=records.append, workers=workers)  # fmt: skip
    store.connect()
    return store, records


def test_independent_jobs_run_at_once_and_a_child_waits_for_its_parents(tmp_path):
    a, b = timed(2.0), timed(2.0)
    c = timed(0.0, a.output, b.output)
    store, records = _run(Flow([a, b, c]), tmp_path, workers=2)
    out = {j.uuid: store.get_output(j.uuid) for j in (a, b, c)}
    oa, ob, oc = out[a.uuid], out[b.uuid], out[c.uuid]
    assert len({oa["pid"], ob["pid"]}) == 2 and os.getpid() not in (oa["pid"], ob["pid"])
    assert oa["start"] < ob["end"] and ob["start"] < oa["end"]  # the two overlapped
    assert oc["start"] >= max(oa["end"], ob["end"])  # the child after both parents
    assert {r["uuid"] for r in records if r["ran"]} == {a.uuid, b.uuid, c.uuid}
    assert all(r["seconds"] >= 0 for r in records)


def test_one_worker_runs_in_this_process(tmp_path):
    a = timed(0.0)
    store, _ = _run(Flow([a]), tmp_path, workers=1)
    assert store.get_output(a.uuid)["pid"] == os.getpid()


def test_a_failed_job_stops_new_jobs_keeps_finished_ones_and_raises_its_own_error(tmp_path):
    ok = timed(1.0)
    bad = fails("the melt did not melt")
    after = timed(0.0, bad.output)
    flow = Flow([ok, bad, after])
    with pytest.raises(Boom, match="did not melt"):
        _run(flow, tmp_path, workers=2)
    store = get_store(tmp_path / "store")
    store.connect()
    assert store.get_output(ok.uuid)["end"] > 0  # the sibling finished and is kept
    assert store.query_one({"uuid": after.uuid}) is None  # the child never started
    # the resume reads the finished job back and runs only what is left
    records = []
    with pytest.raises(Boom):
        run_resumable(flow, store, tmp_path / "jobs", tmp_path / "flow.json",
                      on_job=records.append, workers=2)  # fmt: skip
    assert [r["ran"] for r in records if r["uuid"] == ok.uuid] == [False]


def test_an_error_that_cannot_cross_processes_arrives_with_its_type_and_message(tmp_path):
    ok, bad = timed(1.0), fails_unpicklably()
    from mttmat.pool import JobFailed

    with pytest.raises(JobFailed, match=r"TwoArgError: custodian gave up \(code 7\)"):
        _run(Flow([ok, bad]), tmp_path, workers=2)
    store = get_store(tmp_path / "store")
    store.connect()
    assert store.get_output(ok.uuid)["end"] > 0  # the sibling was not killed with the pool


def test_only_shareable_stores_and_importable_jobs_go_to_workers(tmp_path):
    from jobflow import JobStore
    from maggma.stores import JSONStore, MemoryStore, MontyStore

    from mttmat.pool import can_share, importable

    assert can_share(get_store(tmp_path / "s"))
    assert not can_share(JobStore(MemoryStore()))
    (tmp_path / "d.json").write_text("[]")
    assert not can_share(JobStore(JSONStore(str(tmp_path / "d.json"), read_only=False)))
    assert not can_share(JobStore(MontyStore("c", database_path=str(tmp_path), storage="memory")))
    assert importable(timed(0.0))

    def local(x):
        return x

    assert not importable(job(local)(1))
    local.__module__, local.__qualname__ = "__main__", "local"
    assert not importable(job(local)(1))


def test_a_killed_run_leaves_no_worker_behind(tmp_path):
    """SIGKILL of the run while a worker computes: the worker dies with it."""
    import signal
    import subprocess
    import sys
    import textwrap

    pid_file = tmp_path / "worker.pid"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path[:0] = {sys.path!r}
        from jobflow import Flow
        from mttmat.store import get_store, run_resumable
        from test_pool import record_pid_and_sleep, timed
        if __name__ == "__main__":
            flow = Flow([record_pid_and_sleep({str(pid_file)!r}, 60.0), timed(60.0)])
            run_resumable(flow, get_store({str(tmp_path / "s")!r}), {str(tmp_path / "j")!r},
                          {str(tmp_path / "flow.json")!r}, workers=2)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    deadline = time.time() + 120
    while not pid_file.exists() and time.time() < deadline:
        time.sleep(0.1)
    worker = int(pid_file.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail(f"worker {worker} outlived the killed run")

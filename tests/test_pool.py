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

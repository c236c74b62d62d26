"""Wall time of a run: every job by stage and material, and the steps after the flow."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mttmat.structures.io import atomic_write_text

__all__ = ["StageTimer"]


class StageTimer:
    """Wall time of every job (by stage and material) and of the steps after the flow.

    Jobs read back from the store on a resume keep the seconds an earlier invocation
    measured (from the previous ``timings.json``); ``total_s`` is this invocation's wall time,
    ``compute_s`` the sum over every job and step, whichever invocation ran it. With
    ``workers`` > 1 jobs ran at once, so the job times add up to more than the wall time.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.jobs: list[dict[str, Any]] = []
        self.steps: dict[str, float] = {}
        self.earlier: dict[str, float] = {}
        if path.is_file():
            try:
                prev = json.loads(path.read_text())
                self.earlier = {
                    j["uuid"]: j["seconds"] for j in prev.get("jobs", []) if j.get("seconds")
                }
            except (ValueError, KeyError, TypeError):
                self.earlier = {}

    def add(self, record: dict[str, Any]) -> None:
        """One finished (or read back) job; the file is rewritten at once, so a run killed
        later keeps the times of the jobs it finished."""
        self.jobs.append(record)
        self.write(None)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.steps[name] = time.perf_counter() - t0

    def write(self, total_s: float | None) -> dict[str, Any]:
        """Write the file; ``total_s`` None while the run is still going."""
        jobs = []
        for j in self.jobs:
            sec = j["seconds"] if j["ran"] else self.earlier.get(j["uuid"])
            jobs.append({**j, "seconds": sec})
        stages: dict[str, dict[str, float]] = {}
        for j in jobs:
            key = j["stage"] or "other"
            row = stages.setdefault(key, {})
            mat = j["material"] or "shared"
            row[mat] = row.get(mat, 0.0) + (j["seconds"] or 0.0)
        for name, sec in self.steps.items():
            stages[name] = {"all": sec}
        doc = {
            "total_s": total_s,
            "finished": total_s is not None,
            # jobs at once in this invocation (1: one by one; see mttmat.pool)
            "workers": max((j.get("workers", 1) for j in jobs if j["ran"]), default=1),
            "compute_s": sum(sum(r.values()) for r in stages.values()),
            "jobs_run_now": sum(j["ran"] for j in jobs),
            "jobs_read_back": sum(not j["ran"] for j in jobs),
            "stages_s": stages,
            "jobs": jobs,
        }
        atomic_write_text(self.path, json.dumps(doc, indent=2))
        return doc

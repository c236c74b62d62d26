"""jobflow-remote glue: the project file from the HPC config, submission, state, rerun.

``write_project`` turns :class:`~mttmat.hpc.config.HpcConfig` into a jobflow-remote project
(``~/.jfremote/<project>.yaml``): the queue store and the job store on the configured MongoDB
(outputs in ``outputs``, large data in GridFS ``outputs_blobs``), the workers, the runner
options. After that the usual ``jf`` commands work too (``jf runner start``,
``jf job list``, ``jf flow list``, ``jf job rerun``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mttmat.errors import ConfigError
from mttmat.hpc.config import HpcConfig

__all__ = [
    "initialise",
    "job_controller",
    "project_dict",
    "rerun",
    "status",
    "submit",
    "write_project",
]


def _store(cfg: HpcConfig, collection: str, gridfs: bool = False) -> Any:
    if cfg.is_mongomock:
        from mttmat.mock_mongo import SharedMongomockStore

        return SharedMongomockStore(cfg.database, collection)
    from maggma.stores import MongoURIStore
    from maggma.stores.gridfs import GridFSURIStore

    cls = GridFSURIStore if gridfs else MongoURIStore
    return cls(uri=cfg.mongo_uri, database=cfg.database, collection_name=collection)


def project_dict(cfg: HpcConfig) -> dict[str, Any]:
    """The jobflow-remote project (``Project`` fields) for ``cfg``."""
    workers = {}
    for name, w in cfg.workers.items():
        d: dict[str, Any] = {
            "type": w.type,
            "scheduler_type": w.scheduler,
            "work_dir": w.work_dir,
            "timeout_execute": w.timeout_execute,
        }
        if w.pre_run:
            d["pre_run"] = w.pre_run
        if w.type == "remote":
            d["host"] = w.host
            if w.user:
                d["user"] = w.user
        workers[name] = d
    from jobflow import JobStore

    jobstore = JobStore(
        _store(cfg, "outputs"), additional_stores={"data": _store(cfg, "outputs_blobs", True)}
    ).as_dict()
    return {
        "name": cfg.project,
        "workers": workers,
        "queue": {"store": _store(cfg, "jobs").as_dict()},
        "jobstore": jobstore,
        "runner": dict(cfg.runner),
    }


def write_project(cfg: HpcConfig, folder: str | Path | None = None) -> Path:
    """Write ``<folder>/<project>.yaml`` (default: jobflow-remote's projects folder)."""
    import yaml
    from jobflow_remote import SETTINGS
    from jobflow_remote.config.base import Project

    folder = Path(folder or SETTINGS.projects_folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    data = project_dict(cfg)
    try:
        Project(**data)  # jobflow-remote's own validation, before anything is written
    except Exception as err:
        raise ConfigError(f"jobflow-remote refuses the project: {err}") from err
    path = folder / f"{cfg.project}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _project(cfg: HpcConfig) -> Any:
    from jobflow_remote.config import ConfigManager

    try:
        return ConfigManager().get_project(cfg.project)
    except Exception as err:
        raise ConfigError(
            f"jobflow-remote project {cfg.project!r} not found or invalid ({err}); write it "
            "with `mttmat hpc project --config ...`"
        ) from err


def job_controller(cfg: HpcConfig) -> Any:
    """jobflow-remote's ``JobController`` of the project."""
    from jobflow_remote.jobs.jobcontroller import JobController

    return JobController.from_project(_project(cfg))


def initialise(cfg: HpcConfig) -> bool:
    """Initialise a fresh queue database (what ``jf admin reset`` does on an empty one).

    Returns True if it did. A database that holds jobs but no id counter is not touched:
    that is for the user to inspect (``jf admin reset`` deletes the queue).
    """
    jc = job_controller(cfg)
    if jc.auxiliary.find_one({"next_id": {"$exists": True}}) is not None:
        return False
    if jc.jobs.count_documents({}) or jc.flows.count_documents({}):
        raise ConfigError(
            f"the queue database {cfg.database!r} holds jobs but no jobflow-remote id counter; "
            "inspect it, then run `jf admin reset` if it may be emptied"
        )
    jc.reset()
    return True


def submit(cfg: HpcConfig, flows: dict[str, Any], again: bool = False) -> dict[str, str]:
    """Submit each flow (run configuration already set on its jobs); returns flow uuids.

    A flow whose name is already in the queue is refused (a second ``mttmat hpc submit``
    would run the whole workflow twice) unless ``again``.
    """
    from jobflow_remote import submit_flow

    project = _project(cfg)
    initialise(cfg)
    used = {c.worker for c in cfg.resources.values()}
    missing = sorted(used - set(project.workers))
    if missing:
        raise ConfigError(
            f"the jobflow-remote project {cfg.project!r} has no worker {missing}: rewrite it "
            "with `mttmat hpc project --config ...`"
        )
    if not again and flows:
        jc = job_controller(cfg)
        queued = {n: jc.count_flows(name=f.name) for n, f in flows.items()}
        dup = sorted(n for n, k in queued.items() if k)
        if dup:
            raise ConfigError(
                f"flows of {dup} are already in the queue of project {cfg.project!r} "
                "(`mttmat hpc status` shows them): submitting again would run them twice; "
                "rerun failed jobs with `mttmat hpc rerun`, or pass --again to submit anyway"
            )
    out = {}
    for name, flow in flows.items():
        submit_flow(flow, project=cfg.project)
        out[name] = flow.uuid
    return out


def status(cfg: HpcConfig, flow_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per job: material flow, name, type, state, worker, Slurm id, error."""
    jc = job_controller(cfg)
    rows = []
    for info in jc.get_jobs_info(flow_ids=flow_ids or None, sort=[("db_id", 1)]):
        err = info.error or (info.remote.error if info.remote else None)
        rows.append({
            "db_id": info.db_id, "uuid": info.uuid, "name": info.name,
            "type": (info.metadata or {}).get("mttmat_job_type"),
            "state": info.state.value, "worker": info.worker,
            "process_id": info.remote.process_id if info.remote else None,
            "error": (err.strip().splitlines()[-1] if err else None),
        })  # fmt: skip
    return rows


def rerun(cfg: HpcConfig, db_ids: list[str], force: bool = False) -> list[str]:
    """Rerun failed jobs (after the cause was fixed); their children then continue.

    A COMPLETED job is refused unless ``force`` (a mistyped id would wipe its results and
    rerun everything after it); an unknown id is refused with the ids' source.
    """
    jc = job_controller(cfg)
    for db_id in db_ids:
        info = jc.get_job_info(db_id=db_id)
        if info is None:
            raise ConfigError(f"no job {db_id} in project {cfg.project!r}: see `mttmat hpc status`")
        if info.state.value == "COMPLETED" and not force:
            raise ConfigError(
                f"job {db_id} ({info.name}) is COMPLETED: rerunning it deletes its results and "
                "reruns every job after it; pass --force if that is what you want"
            )
    done = []
    for db_id in db_ids:
        done += jc.rerun_job(db_id=db_id, force=True)
    return done

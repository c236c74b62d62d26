"""Configuration of the HPC path (``workflows/hpc.yaml``), validated before any submission.

What a group edits once per cluster: where MongoDB is (the jobflow-remote queue and the job
store), the workers (Slurm login host, work folder, environment) with the partitions they can
use, the resources of each job type (nodes, cores, walltime, partition, modules, VASP
command), the custodian set of the VASP jobs, and the full-size workflow (cells and stage
options). Every resource request is checked against its worker's partition limits, so a job
that Slurm would reject (or that VASP's NEB could not split over its images) is refused here,
with the fix, before anything reaches the queue.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mttmat.backends.vasp import custodian_handlers, custodian_validators
from mttmat.chain.config import HpcChainConfig
from mttmat.config_files import read_yaml_mapping, validated

__all__ = [
    "JOB_TYPES",
    "VASP_JOB_TYPES",
    "CustodianSpec",
    "HpcConfig",
    "PartitionSpec",
    "ResourceSpec",
    "WorkerSpec",
    "load_hpc_config",
    "walltime_seconds",
]

#: job types of the full-size flow (see :func:`mttmat.hpc.flow.job_type`)
JOB_TYPES = ("aimd", "relax", "static", "defect", "ml", "light")
#: the VASP CI-NEB's own job type, needed with ``workflow.neb.dft: ci-neb``
NEB_JOB_TYPE = "neb"
#: the job types that run VASP (MPI ranks, one OpenMP thread each); ml and light run Python
VASP_JOB_TYPES = ("aimd", "relax", "static", "defect", NEB_JOB_TYPE)

#: the mongo_uri that selects the in-process test store (tests and the local harness only)
MONGOMOCK = "mongomock://"


def walltime_seconds(text: str) -> int:
    """Slurm time "[D-]HH:MM:SS" (or "MM:SS", or minutes) → seconds."""
    m = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+)(?::(\d+))?", text.strip())
    if not m:
        raise ValueError(f"walltime {text!r} is not [D-]HH:MM:SS")
    d, h, mi, s = m.groups()
    if s is None:  # "MM" or "HH:MM"? Slurm reads "A:B" as minutes:seconds
        if h is None:
            return int(mi) * 60
        return int(h) * 60 + int(mi)
    return ((int(d or 0) * 24 + int(h or 0)) * 60 + int(mi)) * 60 + int(s)


class PartitionSpec(BaseModel):
    """What one Slurm partition offers (from ``sinfo``/the cluster documentation)."""

    model_config = ConfigDict(extra="forbid")

    cores_per_node: int = Field(gt=0)
    max_nodes: int = Field(gt=0, description="largest allocation allowed in the partition")
    max_walltime: str = Field(description="[D-]HH:MM:SS")

    @field_validator("max_walltime")
    @classmethod
    def _time(cls, v: str) -> str:
        walltime_seconds(v)
        return v


class WorkerSpec(BaseModel):
    """A jobflow-remote worker: where jobs run and how they reach the queue."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["remote", "local"] = Field(
        "remote", description="remote: SSH to a login node; local: this machine's scheduler"
    )
    scheduler: Literal["slurm", "pbs", "sge", "shell"] = "slurm"
    host: str | None = Field(None, description="login node (remote workers)")
    user: str | None = None
    work_dir: str = Field(description="folder on the cluster where the job folders go")
    pre_run: str | None = Field(
        None, description="shell lines before each job, e.g. activating the mttmat environment"
    )
    timeout_execute: int = Field(60, gt=0)
    partitions: dict[str, PartitionSpec] = Field(
        description="the partitions this worker may use, with their limits"
    )

    @model_validator(mode="after")
    def _remote_needs_host(self) -> WorkerSpec:
        if self.type == "remote" and not self.host:
            raise ValueError("a remote worker needs host (the login node) and usually user")
        if not self.partitions:
            raise ValueError("a worker needs at least one partition with its limits")
        return self


class ResourceSpec(BaseModel):
    """Resources of one job type."""

    model_config = ConfigDict(extra="forbid")

    worker: str
    partition: str
    nodes: int = Field(1, gt=0)
    cores_per_node: int = Field(gt=0, description="MPI ranks per node")
    walltime: str = Field(description="[D-]HH:MM:SS")
    account: str | None = None
    qos: str | None = None
    modules: list[str] = Field(default_factory=list, description="`module load` before the job")
    vasp_cmd: str | None = Field(
        None, description="VASP command of the job type (ATOMATE2_VASP_CMD), e.g. 'srun vasp_std'"
    )
    vasp_gamma_cmd: str | None = Field(
        None, description="Γ-only VASP command (ATOMATE2_VASP_GAMMA_CMD), e.g. 'srun vasp_gam'; "
        "default: vasp_cmd (custodian switches a 1×1×1 mesh to it)",
    )
    export: dict[str, str] = Field(default_factory=dict, description="extra environment")

    @field_validator("walltime")
    @classmethod
    def _time(cls, v: str) -> str:
        walltime_seconds(v)
        return v

    @property
    def ranks(self) -> int:
        return self.nodes * self.cores_per_node


class CustodianSpec(BaseModel):
    """Custodian around the VASP runs: changes to each atomate2 Maker's own defaults.

    atomate2 chooses handlers and validators per job type (its ``run_vasp`` set for statics
    and relaxations; ``MDMaker`` leaves out the handlers that would restart an unconverged
    AIMD step; NEB runs are validated with ``VaspNebFilesValidator``). This section adds or
    removes class names on top of those choices, for every VASP job.
    """

    model_config = ConfigDict(extra="forbid")

    add_handlers: list[str] = Field(default_factory=list, description="custodian.vasp.handlers")
    remove_handlers: list[str] = Field(default_factory=list)
    add_validators: list[str] = Field(default_factory=list, description="custodian validators")
    remove_validators: list[str] = Field(default_factory=list)
    max_errors: int | None = Field(
        None, gt=0, description="corrections before custodian gives up (default: atomate2's)"
    )

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and ({"handlers", "validators"} & set(data)):
            raise ValueError(
                "custodian.handlers/validators replaced atomate2's per-job defaults and are gone: "
                "list only the changes, as add_handlers/remove_handlers and "
                "add_validators/remove_validators"
            )
        return data

    @model_validator(mode="after")
    def _known(self) -> CustodianSpec:
        try:
            custodian_handlers([*self.add_handlers, *self.remove_handlers])
            custodian_validators([*self.add_validators, *self.remove_validators])
        except Exception as err:
            raise ValueError(str(err)) from None
        return self

    def backend_options(self) -> dict[str, Any]:
        """Options of :class:`~mttmat.backends.vasp.VaspBackend`."""
        return self.model_dump()


class HpcConfig(BaseModel):
    """Everything the submission needs; see ``workflows/hpc.yaml``."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field("mttmat", description="jobflow-remote project name")
    mongo_uri: str = Field(
        description="MongoDB URI of the jobflow-remote queue and the job store, "
        "e.g. mongodb://user:password@host:27017/mttmat?authSource=admin"
    )
    database: str = Field("mttmat", description="database for the queue and the outputs")
    workers: dict[str, WorkerSpec]
    resources: dict[str, ResourceSpec] = Field(description=f"per job type: {JOB_TYPES}")
    custodian: CustodianSpec = Field(default_factory=CustodianSpec)
    aimd_chunk_steps: int = Field(
        500, gt=0,
        description="AIMD steps per VASP job: every melt-quench segment is cut into chunks of "
        "at most this many steps, each continuing from the previous one (a chunk must finish "
        "within the aimd walltime; a failed chunk is rerun alone)",
    )  # fmt: skip
    workflow: HpcChainConfig = Field(
        default_factory=HpcChainConfig,
        description="the material chain (the local main job's chain fields, full-size defaults)",
    )
    runner: dict[str, Any] = Field(
        default_factory=dict, description="jobflow-remote RunnerOptions (delays, retries)"
    )

    @model_validator(mode="before")
    @classmethod
    def _mongo_first(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("mongo_uri"):
            raise ValueError(
                "mongo_uri is missing: jobflow-remote keeps its queue and the job outputs in "
                "MongoDB; give mongo_uri: mongodb://user:password@host:27017/mttmat (ask your "
                "group's database admin, or run MongoDB/Atlas yourself)"
            )
        return data

    @field_validator("mongo_uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        if v != MONGOMOCK and not v.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError(f"mongo_uri must start with mongodb:// or mongodb+srv://, got {v!r}")
        return v

    @model_validator(mode="after")
    def _resources(self) -> HpcConfig:
        ci_neb = self.workflow.neb.dft == "ci-neb"
        needed = [*JOB_TYPES, *([NEB_JOB_TYPE] if ci_neb else [])]
        missing = [t for t in needed if t not in self.resources]
        unknown = [t for t in self.resources if t not in (*JOB_TYPES, NEB_JOB_TYPE)]
        if missing or unknown:
            why = " (workflow.neb.dft: ci-neb runs a VASP NEB job)" if ci_neb else ""
            raise ValueError(
                f"resources: every job type needs an entry ({needed}); "
                + (f"missing {missing}{why}" if missing else f"unknown {unknown}")
            )
        for jt, r in self.resources.items():
            if r.worker not in self.workers:
                raise ValueError(
                    f"resources.{jt}: unknown worker {r.worker!r}; the workers are "
                    f"{sorted(self.workers)}"
                )
            parts = self.workers[r.worker].partitions
            if r.partition not in parts:
                raise ValueError(
                    f"resources.{jt}: worker {r.worker!r} has no partition {r.partition!r}; "
                    f"it has {sorted(parts)}"
                )
            p = parts[r.partition]
            if r.cores_per_node > p.cores_per_node:
                raise ValueError(
                    f"resources.{jt}: {r.cores_per_node} cores per node requested, partition "
                    f"{r.partition!r} nodes have {p.cores_per_node}; lower cores_per_node"
                )
            if r.nodes > p.max_nodes:
                raise ValueError(
                    f"resources.{jt}: {r.nodes} nodes requested, partition {r.partition!r} "
                    f"allows {p.max_nodes}; lower nodes or choose another partition"
                )
            if walltime_seconds(r.walltime) > walltime_seconds(p.max_walltime):
                raise ValueError(
                    f"resources.{jt}: walltime {r.walltime} exceeds the {p.max_walltime} limit "
                    f"of partition {r.partition!r}; shorten it or choose another partition"
                )
        if ci_neb and NEB_JOB_TYPE in self.resources:
            n_img, ranks = self.workflow.neb.n_images, self.resources[NEB_JOB_TYPE].ranks
            if ranks % n_img:
                raise ValueError(
                    f"resources.neb: {ranks} MPI ranks cannot be split over "
                    f"{n_img} NEB images (VASP's M_divide error); make nodes × "
                    f"cores_per_node a multiple of workflow.neb.n_images"
                )
        return self

    @property
    def is_mongomock(self) -> bool:
        return self.mongo_uri == MONGOMOCK


def load_hpc_config(path: str | Path, **overrides: Any) -> HpcConfig:
    """Read and validate an HPC config file; ConfigError names the key and the fix."""

    data = read_yaml_mapping(path, "HPC config")
    data.update(overrides)
    return validated(HpcConfig, data, f" in HPC config {path}")

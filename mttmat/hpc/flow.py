"""The full-size HPC run: the material chain with VASP, plus resources per job type.

Per material, :func:`build_material_flow` builds the same chain as the local main job
(:func:`mttmat.chain.build.build_chain_flows`, one
:class:`~mttmat.flows.material_chain.MaterialChainMaker` per material)
with ``dft_backend="vasp"`` and the config's custodian set: VASP PBE+U AIMD melt-quench →
CHGNet Li sites → VASP statics of host, Li_i^0 (band and polaron), Li_i^+, two Li and bcc Li
→ DOS, band vs polaron, formation → CHGNet hop network → VASP energies on the limiting band →
:class:`~mttmat.device.parameters.EcramParameters` in the chain's
:class:`~mttmat.schemas.chain.MaterialChainDoc`. The only HPC addition: every job gets the
worker, Slurm resources and execution environment of its job type (:func:`job_type`,
:func:`apply_run_config`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jobflow import Flow, Job, job
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.chain.build import build_chain_flows
from mttmat.errors import ConfigError
from mttmat.hpc.config import VASP_JOB_TYPES, HpcConfig, walltime_seconds
from mttmat.hpc.walltime import StoppedRelaxValidator
from mttmat.structures.io import read_structure

__all__ = [
    "apply_run_config",
    "build_hpc_flows",
    "build_material_flow",
    "job_type",
    "run_config_map",
    "shell_word",
    "structure_from_file",
]


@job
def structure_from_file(path: str) -> Structure:
    """Read a structure file on the cluster (CIF, POSCAR, extxyz ...), checked.

    Fails with the path and the fix when the file is not there, so a flow submitted before
    its start cell was copied fails visibly and continues after ``jf job rerun``.
    """

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"start cell {p} not found on the worker: copy it there, then rerun this job "
            "(`mttmat hpc rerun` / `jf job rerun`)"
        )
    return read_structure(p)


#: jobs that run the ML potential in process (the ``ml`` resources)
ML_JOBS = ("screen_li_sites", "neb_hop", "md_stage", "ml_hop_network", "multi_li_cell",
           "rescreen_li_sites", "select_labels", "finetune_on_chain",
           "finetune_effect")  # fmt: skip


def job_type(j: Job) -> str:
    """The resource class of a job: aimd, relax, static, dos, defect, neb, ml or light."""
    maker = getattr(j, "maker", None)
    cls = type(maker).__name__ if maker is not None else ""
    module = type(maker).__module__ if maker is not None else ""
    fname = getattr(j.function, "__name__", "")
    from atomate2.vasp.jobs.base import BaseVaspMaker

    if isinstance(maker, BaseVaspMaker):
        if cls == "MDMaker":
            return "aimd"
        if "Neb" in cls:
            return "neb"
        if cls == "NonSCFMaker":
            return "dos"
        if "Relax" in cls:
            return "relax"
        incar = getattr(maker.input_set_generator, "user_incar_settings", {}) or {}
        charged = bool(getattr(maker, "charge", None)) or "NELECT" in incar
        return "defect" if charged else "static"
    if fname in ML_JOBS or module.startswith(
        "atomate2.forcefields"
    ):
        return "ml"
    if cls == "CalculatorRelaxMaker":  # an in-process relax: ML or DFT by its backend
        return "static" if get_backend(maker.backend).fidelity == "dft" else "ml"
    return "light"


def shell_word(value: str) -> str:
    """``value`` as one word of a bash ``export`` line: double-quoted when it holds spaces or
    shell characters (``$VARS`` still expand, as in an unquoted value), as it is otherwise."""
    if value[:1] in "'\"" and len(value) > 1 and value[-1] == value[0]:
        return value  # quoted in the config already
    if value.startswith("~/"):  # a home path: ~ does not expand inside quotes
        value = "$HOME" + value[1:]
    if value and re.fullmatch(r"[A-Za-z0-9_@%+=:,./$-]+", value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
    return f'"{escaped}"'


#: a shell line of a worker's pre_run that sets OMP_NUM_THREADS
_SETS_OMP = re.compile(r"(^|[\s;])(export\s+)?OMP_NUM_THREADS=", re.MULTILINE)


def run_config_map(cfg: HpcConfig) -> dict[str, dict[str, Any]]:
    """Per job type: the jobflow-remote worker, qtoolkit resources and execution config."""
    out = {}
    for jt, r in cfg.resources.items():
        resources = {
            "nodes": r.nodes,
            "processes_per_node": r.cores_per_node,
            "time_limit": walltime_seconds(r.walltime),
            "queue_name": r.partition,
            "job_name": f"mttmat-{jt}",
        }
        if r.account:
            resources["account"] = r.account
        if r.qos:
            resources["qos"] = r.qos
        export = dict(r.export)
        if r.vasp_cmd:  # atomate2's run_vasp reads both from the job's environment
            export["ATOMATE2_VASP_CMD"] = r.vasp_cmd
            export["ATOMATE2_VASP_GAMMA_CMD"] = r.vasp_gamma_cmd or r.vasp_cmd
        # threads per process: VASP is one thread per MPI rank; a Python job (CHGNet, GPAW,
        # the summaries) is one process on the allocation's cores. Without this, torch takes
        # every core it sees: where Slurm does not bind CPUs, two 1-core ML jobs on one node
        # ran 16x slower (measured here: 6.3 s against 0.39 s per CHGNet call, 32 atoms)
        # jobflow-remote writes the worker's pre_run before these exports. It is shared by
        # every job type on the worker: a value set there is kept for the Python jobs only;
        # VASP keeps one thread per rank unless its own job type's export says otherwise
        if jt in VASP_JOB_TYPES:
            export.setdefault("OMP_NUM_THREADS", 1)
        elif not _SETS_OMP.search(cfg.workers[r.worker].pre_run or ""):
            export.setdefault("OMP_NUM_THREADS", r.cores_per_node)
        # jobflow-remote writes `export KEY=VALUE` into the submit script as it is: unquoted,
        # `srun vasp_std` would set KEY=srun (and export a variable vasp_std)
        export = {k: shell_word(str(v)) for k, v in export.items()}
        out[jt] = {
            "worker": r.worker,
            "resources": resources,
            "exec_config": {"modules": r.modules or None, "export": export or None},
        }
    return out


#: job types whose VASP runs custodian's WalltimeHandler can stop between ionic steps (a
#: single point cannot be stopped; the handler reads ./OUTCAR, which a NEB writes only in its
#: image folders, so a NEB runs to Slurm's limit: size its walltime for the whole band)
WALLTIME_JOB_TYPES = frozenset({"aimd", "relax"})


def apply_run_config(flow: Flow | Job, rmap: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Set worker/resources/exec_config of every job from its type; returns counts per type."""
    from jobflow_remote import set_run_config
    from jobflow_remote.config.base import ExecutionConfig
    from qtoolkit import QResources

    counts: dict[str, int] = {}
    jobs = [flow] if isinstance(flow, Job) else [j for j, _ in flow.iterflow()]
    for j in jobs:
        jt = job_type(j)
        if jt not in rmap:
            raise ConfigError(
                f"job {j.name!r} is of type {jt!r}, which has no entry in resources: add "
                f"resources.{jt} (worker, partition, nodes, walltime ...)"
            )
        c = rmap[jt]
        set_run_config(
            j, worker=c["worker"], resources=QResources(**c["resources"]),
            exec_config=ExecutionConfig(**c["exec_config"]), dynamic=False,
        )  # fmt: skip
        j.metadata = {**(j.metadata or {}), "mttmat_job_type": jt}
        maker = getattr(j, "maker", None)
        if jt in WALLTIME_JOB_TYPES and hasattr(maker, "run_vasp_kwargs"):
            # custodian's WalltimeHandler stops VASP between ionic steps (STOPCAR: CONTCAR
            # and vasprun written) before Slurm kills it; the job then ends FAILED (an AIMD
            # chunk: fewer steps than asked; a relaxation: StoppedRelaxValidator) with
            # readable files, and a rerun starts it again from its input. The margin covers
            # copying and parsing the previous job's folder, which happen before custodian's
            # clock starts.
            limit = c["resources"]["time_limit"]
            wall = int(limit - max(0.03 * limit, min(600.0, 0.1 * limit)))
            validators = list(maker.run_vasp_kwargs.get("validators") or [])
            if jt == "relax":  # a stopped relaxation looks converged to pymatgen: fail it
                if not any(isinstance(v, StoppedRelaxValidator) for v in validators):
                    validators.append(StoppedRelaxValidator())
            maker.run_vasp_kwargs = {**maker.run_vasp_kwargs, "wall_time": wall,
                                     "validators": validators}  # fmt: skip
        counts[jt] = counts.get(jt, 0) + 1
    return counts


def build_material_flow(cfg: HpcConfig, material: str) -> Flow:
    """The full-size chain of ``material`` with VASP, run configuration set on every job."""

    flows, _ = build_chain_flows(
        cfg.workflow, [material], ml_backend="chgnet", dft_backend="vasp", md_backend="vasp",
        backend_options={**cfg.custodian.backend_options(),
                         "aimd_chunk_steps": cfg.aimd_chunk_steps},
        shared_li_metal=False,
    )  # fmt: skip
    flow = flows[material]
    flow.name = f"mttmat {material} full-size"
    apply_run_config(flow, run_config_map(cfg))
    return flow


def build_hpc_flows(cfg: HpcConfig, materials: list[str] | None = None) -> dict[str, Flow]:
    """One flow per material (all of ``cfg.workflow.materials`` by default)."""
    names = materials or list(cfg.workflow.materials)
    unknown = [m for m in names if m not in cfg.workflow.materials]
    if unknown:
        raise ConfigError(
            f"materials {unknown} are not in workflow.materials {sorted(cfg.workflow.materials)}"
        )
    return {m: build_material_flow(cfg, m) for m in names}

"""The full-size VASP workflow of one material, with resources per job type.

Per material (:func:`build_material_flow`):

1. VASP PBE+U AIMD melt-quench (:class:`~mttmat.flows.melt_quench.MeltQuenchMaker`, one
   atomate2 ``MDMaker`` job per schedule segment, then an ISIF = 3 relax), unless the start
   cell is already amorphous;
2. :func:`li_stages`, a job that runs once the host exists and replaces itself by:
   the Li site screening (CHGNet) and DOS (VASP relax → static → non-SCF ``LORBIT = 11``) of
   the host and ``n_sites`` doped cells (:class:`~mttmat.flows.li_dos.LiSitesDosMaker`); the
   formation energies (statics of host, bcc Li and Li_i^q with ``NELECT`` and ``LVHAR``,
   :class:`~mttmat.flows.li_formation.LiFormationMaker`); the hop from the lowest site to
   its nearest distinct site as a CHGNet CI-NEB whose band seeds a VASP CI-NEB (atomate2
   ``NebFromImagesMaker``, ``IMAGES``/``LCLIMB``).

Every job gets the worker, Slurm resources and execution environment of its job type
(:func:`job_type`, :func:`apply_run_config`); the jobs made by :func:`li_stages` at run time
get theirs there. The custodian set of the config goes into every VASP Maker.
"""

from __future__ import annotations

from typing import Any

from jobflow import Flow, Job, Response, job
from pymatgen.core import Structure

from mttmat.hpc.config import HpcConfig, HpcMaterial, walltime_seconds

__all__ = [
    "apply_run_config",
    "build_hpc_flows",
    "build_material_flow",
    "job_type",
    "li_stages",
    "run_config_map",
    "start_structure",
    "structure_from_file",
]


def start_structure(m: HpcMaterial) -> tuple[Structure, Structure | None]:
    """(start cell, parent crystal for the order check, or None)."""
    from mttmat.structures import make_supercell, parent_crystal, random_packing
    from mttmat.structures.io import read_structure

    if m.start == "crystal":
        s = make_supercell(parent_crystal(m.crystal), m.supercell)
        return s, s
    if m.start == "random":
        return random_packing(m.composition, m.density_g_cm3, seed=m.seed), None
    return read_structure(m.path), None


@job
def structure_from_file(path: str) -> Structure:
    """Read a structure file on the cluster (CIF, POSCAR, extxyz ...), checked.

    Fails with the path and the fix when the file is not there, so a flow submitted before
    its start cell was copied fails visibly and continues after ``jf job rerun``.
    """
    from pathlib import Path

    from mttmat.structures.io import read_structure

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"start cell {p} not found on the worker: copy it there, then rerun this job "
            "(`mttmat hpc rerun` / `jf job rerun`)"
        )
    return read_structure(p)


def job_type(j: Job) -> str:
    """The resource class of a job: aimd, relax, static, dos, defect, neb, ml or light."""
    maker = getattr(j, "maker", None)
    cls = type(maker).__name__ if maker is not None else ""
    module = type(maker).__module__ if maker is not None else ""
    fname = getattr(j.function, "__name__", "")
    if module.startswith("atomate2.vasp"):
        if cls == "MDMaker":
            return "aimd"
        if "Neb" in cls:
            return "neb"
        if cls == "NonSCFMaker":
            return "dos"
        if "Relax" in cls:
            return "relax"
        incar = getattr(maker.input_set_generator, "user_incar_settings", {}) or {}
        return "defect" if "NELECT" in incar or "Li_i" in j.name else "static"
    if fname in ("screen_li_sites", "neb_hop", "md_stage") or module.startswith(
        "atomate2.forcefields"
    ):
        return "ml"
    if cls == "CalculatorRelaxMaker":
        return "ml" if getattr(maker, "backend", "") != "gpaw" else "static"
    return "light"


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
        if r.vasp_cmd:
            export["ATOMATE2_VASP_CMD"] = r.vasp_cmd
        out[jt] = {
            "worker": r.worker,
            "resources": resources,
            "exec_config": {"modules": r.modules or None, "export": export or None},
        }
    return out


def apply_run_config(flow: Flow | Job, rmap: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Set worker/resources/exec_config of every job from its type; returns counts per type."""
    from jobflow_remote import set_run_config
    from jobflow_remote.config.base import ExecutionConfig
    from qtoolkit import QResources

    counts: dict[str, int] = {}
    jobs = [flow] if isinstance(flow, Job) else [j for j, _ in flow.iterflow()]
    for j in jobs:
        jt = job_type(j)
        c = rmap[jt]
        set_run_config(
            j, worker=c["worker"], resources=QResources(**c["resources"]),
            exec_config=ExecutionConfig(**c["exec_config"]), dynamic=False,
        )  # fmt: skip
        j.metadata = {**(j.metadata or {}), "mttmat_job_type": jt}
        counts[jt] = counts.get(jt, 0) + 1
    return counts


@job
def li_stages(
    host: Structure,
    material: str,
    options: dict[str, Any],
    rmap: dict[str, dict[str, Any]],
    backend_options: dict[str, Any],
) -> Response:
    """Replace itself by the Li site/DOS, formation and migration stages of ``host``."""
    from mttmat.backends import get_backend
    from mttmat.flows.li_dos import LiSitesDosMaker
    from mttmat.flows.li_formation import LiFormationMaker
    from mttmat.flows.li_migration import neb_hop
    from mttmat.jobs.band_energies import hop_between_sites

    n_sites = max(2, int(options["n_sites"]))
    dos = LiSitesDosMaker(
        name=f"{material} Li sites + DOS", dft_backend="vasp", n_sites=n_sites,
        max_candidates=options["max_candidates"], backend_options=backend_options,
    ).make(host)  # fmt: skip
    form = LiFormationMaker(
        name=f"{material} Li formation", dft_backend="vasp", n_sites=n_sites,
        max_candidates=options["max_candidates"], dielectric=options["dielectric"],
        dielectric_source=options["dielectric_source"], backend_options=backend_options,
    ).make(host)  # fmt: skip
    screening = dos.jobs[0]
    hop = hop_between_sites(screening.output, "chgnet")
    hop.name = f"{material} Li hop endpoints"
    ml = neb_hop(hop.output["initial"], hop.output["final"], hop.output["hop"], "chgnet",
                 options["neb_images"])  # fmt: skip
    ml.name = f"{material} chgnet CI-NEB"
    vasp_neb = get_backend("vasp", **backend_options).neb_maker(options["neb_images"]).make(
        ml.output.images
    )
    vasp_neb.name = f"{material} vasp CI-NEB"
    flow = Flow([dos, form, hop, ml, vasp_neb], name=f"{material} Li stages")
    apply_run_config(flow, rmap)
    return Response(replace=flow)


def build_material_flow(cfg: HpcConfig, material: str) -> Flow:
    """The full-size flow of ``material``, run configuration set on every job."""
    import yaml

    from mttmat.flows.melt_quench import MeltQuenchMaker
    from mttmat.jobs.melt_quench import MeltQuenchSchedule

    w = cfg.workflow
    m = w.materials[material]
    opts = cfg.custodian.backend_options()
    rmap = run_config_map(cfg)
    jobs: list[Any] = []
    start, parent = start_structure(m)
    host: Any = start
    if m.melt_quench:
        from pathlib import Path

        default = Path(__file__).parents[2] / "workflows" / "melt_quench_hpc.yaml"
        text = (w.schedule or default).read_text()
        sched = MeltQuenchSchedule.model_validate(yaml.safe_load(text)["schedule"])
        mq = MeltQuenchMaker(name=f"{material} melt-quench", backend="vasp", schedule=sched,
                             backend_options=opts).make(start, parent=parent)  # fmt: skip
        jobs.append(mq)
        host = mq.output["cells"][0].structure
    stages = li_stages(
        host, material,
        {"n_sites": w.n_sites, "max_candidates": w.max_candidates,
         "dielectric": w.dielectric[material], "dielectric_source": w.dielectric_source,
         "neb_images": w.neb_images},
        rmap, opts,
    )  # fmt: skip
    stages.name = f"{material} Li stages"
    jobs.append(stages)
    flow = Flow(jobs, name=f"mttmat {material} full-size")
    apply_run_config(flow, rmap)
    return flow


def build_hpc_flows(cfg: HpcConfig, materials: list[str] | None = None) -> dict[str, Flow]:
    """One flow per material (all of ``cfg.workflow.materials`` by default)."""
    names = materials or list(cfg.workflow.materials)
    unknown = [m for m in names if m not in cfg.workflow.materials]
    if unknown:
        from mttmat.errors import ConfigError

        raise ConfigError(
            f"materials {unknown} are not in workflow.materials {sorted(cfg.workflow.materials)}"
        )
    return {m: build_material_flow(cfg, m) for m in names}

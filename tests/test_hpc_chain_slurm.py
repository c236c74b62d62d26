"""The HPC material chain, reduced, through jobflow-remote and real Slurm, with the VASP
stand-in (``mttmat/hpc/vasp_standin.py``) as VASP: from AIMD chunks to EcramParameters.

What this proves without VASP: every job of the production flow is submitted by
jobflow-remote to ``sbatch`` with the resources of its job type; custodian launches VASP with
the ``srun`` command of that job type; POTCARs come from ``PMG_VASP_PSP_DIR``; custodian
fixes an induced VASP error; an AIMD chunk stopped at its walltime fails visibly and its
rerun continues from the previous chunk; the VASP CI-NEB runs with atomate2's NEB job and
validators; the chain ends in the same MaterialChainDoc / EcramParameters as the local run,
naming the uuids of the VASP jobs, and ``mttmat ecram --from-store`` reads it. Numbers are
the stand-in's (a pair potential and fabricated eigenvalues), not physics.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("jobflow_remote")
pytest.importorskip("custodian")

from jobflow_remote import SETTINGS as JFR_SETTINGS

from mttmat.hpc.config import JOB_TYPES, HpcConfig

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VASP_TYPES = ("aimd", "relax", "static", "defect", "neb")
#: Slurm's limit of an AIMD chunk here. custodian checks its WalltimeHandler every 300 s
#: (polling 10 s × monitor_freq 30), so the slow chunk (40 s per step) gets its STOPCAR at
#: ~300 s and ends after that step, before Slurm's kill at 420 s
AIMD_WALLTIME_S = 420


def _read(path: Path) -> str:
    """A job folder file, gzipped by atomate2 or not."""
    for p in (path, path.with_name(path.name + ".gz")):
        if p.is_file():
            return (gzip.open(p, "rt") if p.suffix == ".gz" else open(p)).read()
    raise FileNotFoundError(path)


def _not_done(rows: dict) -> dict:
    """State and error of every job that did not complete (for the assertion message)."""
    return {n: (r["state"], str(r.get("error"))[-600:]) for n, r in rows.items()
            if r["state"] not in ("COMPLETED", "WAITING")}  # fmt: skip


def _config(tmp_path: Path, psp: Path, bin_dir: Path, slow_flag: Path) -> HpcConfig:
    cpus = os.cpu_count() or 1
    part = {"debug": {"cores_per_node": cpus, "max_nodes": 1, "max_walltime": "01:00:00"}}
    pre_run = "\n".join([
        f"export PATH={bin_dir}:{Path(sys.executable).parent}:$PATH",
        f"export PMG_VASP_PSP_DIR={psp}",
        f"export MTTMAT_STANDIN_SLOW_WHILE={slow_flag}",  # the test's walltime switch
        "export MTTMAT_STANDIN_STEP_S=40",
    ])  # fmt: skip
    ranks = {"aimd": min(2, cpus), "relax": 1, "static": 1, "defect": 1, "neb": 1}
    resources = {}
    for jt in (*JOB_TYPES, "neb"):
        r = {"worker": "local", "partition": "debug", "cores_per_node": ranks.get(jt, 1),
             "walltime": "00:10:00"}  # fmt: skip
        if jt in VASP_TYPES:
            r["vasp_cmd"] = "srun vasp_std"
        if jt == "aimd":
            r["walltime"] = f"00:0{AIMD_WALLTIME_S // 60}:00"
        if jt == "static":  # every neutral static fails once with BRMIX; custodian fixes it
            r["export"] = {"MTTMAT_STANDIN_FAIL": "brmix"}
        resources[jt] = r
    return HpcConfig(
        project="mttmat-chain-harness",
        mongo_uri="mongomock://",
        workers={"local": {"type": "local", "scheduler": "slurm",
                           "work_dir": str(tmp_path / "work"), "pre_run": pre_run,
                           "partitions": part}},
        resources=resources,
        aimd_chunk_steps=10,
        workflow={
            "materials": {"WOx": {"start": "crystal", "crystal": "cubic-WO3",
                                  "supercell": [2, 2, 2]}},
            "melt_quench": {"init_steps": 5, "heat_steps": 5, "melt_temperature_k": 6000,
                            "melt_steps": 20, "quench_rate_k_per_ps": 500000,
                            "relax_steps": 20},
            "li_sites": {"max_candidates": 8},
            "dft": {"ecut_ev": 250, "li_metal_kpts": [2, 2, 2], "kpts": [1, 1, 1]},
            "formation": {"dielectric": {"WOx": 25.0}},
            "neb": {"n_images": 1, "max_steps": 60, "network_sites": 2, "min_hops": 1,
                    "max_hops": 2, "dft": "ci-neb"},
        },
        runner={"delay_checkout": 1, "delay_check_run_status": 1, "delay_advance_status": 1,
                "max_step_attempts": 2, "delta_retry": [2]},  # a runner error shows at once
    )


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.chgnet
def test_reduced_hpc_chain_through_real_slurm_ends_in_ecram_parameters(
    tmp_path, monkeypatch, capsys
):
    from atomate2.vasp.jobs.base import BaseVaspMaker
    from jobflow_remote.jobs.runner import Runner

    from mttmat.cli import main
    from mttmat.device.parameters import EcramParameters
    from mttmat.hpc import remote
    from mttmat.hpc.flow import build_hpc_flows
    from mttmat.hpc.local_slurm import LocalSlurm, slurm_available
    from tests.fake_potcars import write_fake_potcars

    why = slurm_available()
    if why:
        pytest.skip(why)
    monkeypatch.setattr(JFR_SETTINGS, "projects_folder", str(tmp_path / "projects"))
    monkeypatch.setattr(JFR_SETTINGS, "project", "mttmat-chain-harness")
    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)  # the worker's, from its pre_run
    psp = write_fake_potcars(tmp_path / "potcars")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "vasp_std").write_text(
        f"#!/bin/sh\nexec {sys.executable} -m mttmat.hpc.vasp_standin \"$@\"\n"
    )
    (bin_dir / "vasp_std").chmod(0o755)
    slow_flag = tmp_path / "slow_chunk"
    cfg = _config(tmp_path, psp, bin_dir, slow_flag)
    cfg_file = tmp_path / "hpc.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))

    # the check a user runs first: POTCARs of the worker's environment, the EcramParameters job
    capsys.readouterr()
    assert main(["hpc", "check", "--config", str(cfg_file)]) == 0
    check = capsys.readouterr().out
    assert str(psp) in check and "EcramParameters" in check

    flow = build_hpc_flows(cfg)["WOx"]
    jobs = {j.uuid: j for j, _ in flow.iterflow()}
    vasp_uuids = {u for u, j in jobs.items() if isinstance(getattr(j, "maker", None),
                                                            BaseVaspMaker)}  # fmt: skip
    chunks = [j for j in jobs.values() if "AIMD" in j.name]
    slow = next(j for j in chunks if "part 2/" in j.name)  # the second chunk of a segment
    before = chunks[chunks.index(slow) - 1]
    slow_flag.write_text(slow.uuid)  # the stand-in runs slow steps in that job's folder only
    remote.write_project(cfg)

    import logging

    log = logging.FileHandler(tmp_path / "runner.log")  # the runner's own account, kept
    log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.getLogger("jobflow_remote").addHandler(log)
    logging.getLogger("jobflow_remote").setLevel(logging.INFO)
    with LocalSlurm(tmp_path / "slurm") as slurm:
        monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
        remote.submit(cfg, {"WOx": flow})
        t0 = time.time()
        Runner(cfg.project).run_all_jobs(max_seconds=1200)
        first_pass = time.time() - t0
        rows = {r["name"]: r for r in remote.status(cfg)}

        # 1. the chunk ran past its walltime: custodian's WalltimeHandler stopped VASP with a
        #    STOPCAR, the chunk has fewer steps than asked and the job FAILED, visibly
        assert rows[slow.name]["state"] == "FAILED", _not_done(rows)
        assert rows[before.name]["state"] == "COMPLETED"
        slow_dir = next((tmp_path / "work").rglob(f"{slow.uuid}*"))
        assert "Walltime" in _read(slow_dir / "custodian.json")
        steps_done = _read(slow_dir / "OSZICAR").count(" T= ")
        assert 0 < steps_done < slow.maker.input_set_generator.nsteps
        capsys.readouterr()
        assert main(["hpc", "status", "--config", str(cfg_file)]) == 1
        before_dir = next((tmp_path / "work").rglob(f"{before.uuid}*"))
        before_launches = _read(before_dir / "standin_launch.jsonl")

        # 2. rerun the failed chunk (no --force: it is not COMPLETED); the rest follows
        slow_flag.unlink()
        assert main(["hpc", "rerun", "--config", str(cfg_file), rows[slow.name]["db_id"]]) == 0
        t0 = time.time()
        Runner(cfg.project).run_all_jobs(max_seconds=1800)
        second_pass = time.time() - t0
        rows = {r["name"]: r for r in remote.status(cfg)}
        assert {r["state"] for r in rows.values()} == {"COMPLETED"}, _not_done(rows)
        assert main(["hpc", "status", "--config", str(cfg_file)]) == 0
        store = remote.job_controller(cfg).jobstore
        chain = store.get_output(flow.output.uuid)

    # the rerun continued from the chunk before it, which was not run again
    assert _read(before_dir / "standin_launch.jsonl") == before_launches
    slow_dir = next((tmp_path / "work").rglob(f"{slow.uuid}*"))
    from pymatgen.io.vasp import Poscar

    start = Poscar.from_str(_read(slow_dir / "POSCAR"))
    end_before = Poscar.from_str(_read(before_dir / "CONTCAR"))
    assert start.structure.cart_coords == pytest.approx(end_before.structure.cart_coords,
                                                        abs=1e-6)  # fmt: skip
    assert start.velocities is not None  # the MD continues with the previous velocities

    # 3. every VASP job: started by srun with its job type's ranks, POTCARs from the fake tree
    for u in vasp_uuids:
        folder = next((tmp_path / "work").rglob(f"{u}*"))
        jt = jobs[u].metadata["mttmat_job_type"]
        launches = [json.loads(x) for x in _read(folder / "standin_launch.jsonl").splitlines()]
        last = [x for x in launches if x["env"].get("SLURM_STEP_ID") is not None]
        assert last, f"{jobs[u].name}: not launched by srun"
        assert {x["ranks"] for x in last} == {cfg.resources[jt].ranks}, jobs[u].name
        assert all(x["env"]["PMG_VASP_PSP_DIR"] == str(psp) for x in launches)
        assert "fake for tests" in _read(folder / "POTCAR")

    # 4. the induced BRMIX of every neutral static was corrected by custodian
    statics = [u for u in vasp_uuids if jobs[u].metadata["mttmat_job_type"] == "static"]
    assert statics
    for u in statics:
        folder = next((tmp_path / "work").rglob(f"{u}*"))
        assert '"brmix"' in _read(folder / "custodian.json"), jobs[u].name

    # 5. the CI-NEB: atomate2's NEB job with its NEB validator, image folders written
    neb = next(j for j in jobs.values() if j.metadata["mttmat_job_type"] == "neb")
    assert [type(v).__name__ for v in neb.maker.run_vasp_kwargs["validators"]] == [
        "VaspNebFilesValidator"]  # fmt: skip
    neb_dir = next((tmp_path / "work").rglob(f"{neb.uuid}*"))
    assert "VaspNEBJob" in _read(neb_dir / "custodian.json")
    assert _read(neb_dir / "01" / "OUTCAR")

    # 6. the chain's document: EcramParameters naming the VASP jobs' uuids
    params = EcramParameters.model_validate(chain["parameters"])
    named = set(UUID.findall(params.model_dump_json()))
    assert named <= set(jobs), "every uuid the parameters name is a job of this flow"
    stages = chain["stages"]
    assert stages["DFT band"] in named  # the VASP CI-NEB document fed the barrier
    for role in ("host", "Li_i q=+1", "bcc Li"):
        assert stages[role] in vasp_uuids, role
    assert {stages["host"], stages["bcc Li"]} <= named  # VASP statics behind the numbers
    band = store.get_output(stages["DFT band"])
    assert band["backend"] == "vasp" and band["seed"] == "ml"
    for name, u in stages.items():
        assert u in jobs, name

    # 7. `mttmat ecram --from-store` on this HPC store (the in-process test MongoDB, in the
    #    layout jobflow-remote writes) reads the chain's own parameters
    from mttmat.cli.results import _params_from_store

    uri = f"mongomock://{cfg.database}"
    assert _params_from_store(uri, ["WOx"])["WOx"] == params
    #    The stand-in's energies are fabricated, so its barrier need not be a device's: the
    #    device stage calibrates, or stops with the barrier's number (never a bare range error)
    out = tmp_path / "ecram"
    capsys.readouterr()
    rc = main(["ecram", "--from-store", uri, "--chain-material", "WOx", "-o", str(out)])
    said = capsys.readouterr()
    barrier = params.channel_barrier_ev.value
    print(f"through Slurm: first pass {first_pass:.0f} s, second {second_pass:.0f} s, "
          f"{len(jobs)} jobs; stand-in chain: E_a = {barrier:.3f} eV, ecram exit {rc}")
    if rc == 0:
        written = EcramParameters.from_json(next(out.rglob("ecram_parameters_WOx.json")))
        assert written.channel_barrier_ev.value == barrier
    else:
        assert "does not switch" in said.err and f"E_a = {barrier:.3f} eV" in said.err, said

"""HPC path: config checks, the full-size flow's VASP inputs and custodian set, and a real
local Slurm driven by jobflow-remote (job fails, is reported, is fixed, the flow continues)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mttmat.errors import ConfigError

jfr = pytest.importorskip("jobflow_remote")

from mttmat.hpc.config import JOB_TYPES, HpcConfig, load_hpc_config  # noqa: E402

ROOT = Path(__file__).parents[1]
SHIPPED = ROOT / "workflows" / "hpc.yaml"


def _shipped() -> dict:
    return yaml.safe_load(SHIPPED.read_text())


def test_shipped_hpc_config_builds_both_flows_with_resources():
    from mttmat.hpc.flow import build_hpc_flows

    cfg = load_hpc_config(SHIPPED)
    flows = build_hpc_flows(cfg)
    assert set(flows) == {"WOx", "NbOx"}
    for flow in flows.values():
        jobs = [j for j, _ in flow.iterflow()]
        types = [j.metadata["mttmat_job_type"] for j in jobs]
        assert types.count("aimd") >= 4 and types.count("relax") == 1
        aimd = next(j for j in jobs if j.metadata["mttmat_job_type"] == "aimd")
        mc = aimd.config.manager_config
        assert mc["worker"] == "cluster"
        assert mc["resources"].nodes == 2 and mc["resources"].processes_per_node == 128
        assert mc["resources"].time_limit == 12 * 3600  # a 500-step chunk, not the whole melt
        assert mc["resources"].queue_name == "standard"
        assert mc["exec_config"].modules == ["vasp/6.4.2"]
        # what the job's shell gets from the submit script jobflow-remote writes
        from jobflow_remote.remote.queue import QueueManager

        lines = QueueManager.get_export(None, mc["exec_config"].export)
        env = subprocess.run(["bash", "-c", f"{lines}\nenv"], capture_output=True, text=True,
                             check=True).stdout.splitlines()  # fmt: skip
        assert "ATOMATE2_VASP_CMD=srun vasp_gam" in env
        assert "ATOMATE2_VASP_GAMMA_CMD=srun vasp_gam" in env


def test_hpc_check_names_the_ecram_job_and_resolves_the_workers_potcars(
    tmp_path, capsys, fake_potcars
):
    """`hpc check` lists per material the job that makes EcramParameters, and resolves one
    POTCAR per element with the PMG_VASP_PSP_DIR the worker's pre_run exports; without
    POTCARs it exits 1 and names the fix."""
    pytest.importorskip("jobflow_remote")
    from mttmat.cli import main

    data = _shipped()
    pre = "source ~/venvs/mttmat/bin/activate\nexport PMG_VASP_PSP_DIR={}\n"
    data["workers"]["cluster"]["pre_run"] = pre.format(fake_potcars)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(data))
    assert main(["hpc", "check", "--config", str(good)]) == 0
    out = capsys.readouterr().out
    for m in ("WOx", "NbOx"):
        assert f"{m}: " in out
    assert out.count("EcramParameters: job") == 2
    assert f"PMG_VASP_PSP_DIR={fake_potcars} (the worker's environment)" in out
    assert "W  W_sv: ZVAL 14" in out and "Nb Nb_pv: ZVAL 11" in out and "Li Li_sv: ZVAL 3" in out
    assert "hash unknown to pymatgen" in out  # the fake tree is not a released POTCAR set
    data["workers"]["cluster"]["pre_run"] = pre.format(tmp_path / "nowhere")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["hpc", "check", "--config", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "W_sv: NOT FOUND" in out and "pmg config -p" in out


def _with(**changes) -> dict:
    data = _shipped()
    for path, value in changes.items():
        d = data
        keys = path.split("__")
        for k in keys[:-1]:
            d = d[k]
        if value is None:
            d.pop(keys[-1])
        else:
            d[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mongo_uri": None}, "mongo_uri is missing"),
        ({"mongo_uri": "localhost:27017"}, "mongodb://"),
        ({"resources__ml__worker": "laptop"}, "unknown worker 'laptop'"),
        ({"resources__relax__partition": "gpu"}, "no partition 'gpu'"),
        ({"resources__aimd__nodes": 64}, "64 nodes requested"),
        ({"resources__static__cores_per_node": 256}, "256 cores per node"),
        ({"resources__ml__walltime": "12:00:00"}, "exceeds the 04:00:00 limit"),
        ({"workflow__neb": {"dft": "ci-neb"}}, "missing \\['neb'\\].*VASP NEB job"),
        ({"workflow__neb": {"dft": "ci-neb", "n_images": 5},
          "resources__neb": {"worker": "cluster", "partition": "standard", "nodes": 1,
                             "cores_per_node": 128, "walltime": "24:00:00"}},
         "128 MPI ranks cannot be split over 5 NEB images"),
        ({"resources__defect": None}, "missing \\['defect'\\]"),
        ({"custodian__add_handlers": ["VaspErrorHandler", "NoSuchHandler"]}, "NoSuchHandler"),
        ({"custodian": {"handlers": ["VaspErrorHandler"]}}, "add_handlers/remove_handlers"),
        ({"workflow__materials": {"TiOx": {"start": "random", "composition": "Ti4O8",
                                           "density_g_cm3": 4.0}}}, "unknown material"),
        ({"resources__aimd__walltime": "two days"}, "HH:MM:SS"),
    ],
)  # fmt: skip
def test_bad_hpc_config_is_refused_before_submission(tmp_path, monkeypatch, capsys, changes,
                                                     message):  # fmt: skip
    from mttmat.cli import main

    def never(*args, **kwargs):
        raise AssertionError("submit_flow must not be reached")

    monkeypatch.setattr(jfr, "submit_flow", never)
    cfg = tmp_path / "hpc.yaml"
    cfg.write_text(yaml.safe_dump(_with(**changes)))
    with pytest.raises(ConfigError, match=message):
        load_hpc_config(cfg)
    assert main(["hpc", "submit", "--config", str(cfg)]) == 2
    assert "error" in capsys.readouterr().err


def test_submit_refuses_a_project_without_the_worker(tmp_path, monkeypatch):
    """The jobflow-remote project on disk must know every worker the resources use."""
    from mttmat.hpc import remote

    monkeypatch.setattr(jfr.SETTINGS, "projects_folder", str(tmp_path / "projects"))
    cfg = HpcConfig(**_with(mongo_uri="mongomock://", project="mttmat-w"))
    remote.write_project(cfg)
    other = HpcConfig(**{**_with(mongo_uri="mongomock://", project="mttmat-w"),
                         "workers": {"cluster2": _shipped()["workers"]["cluster"]},
                         "resources": {jt: {**r, "worker": "cluster2"}
                                       for jt, r in _shipped()["resources"].items()}})  # fmt: skip
    with pytest.raises(ConfigError, match="no worker \\['cluster2'\\]"):
        remote.submit(other, {})
    with pytest.raises(ConfigError, match="not found"):
        remote.submit(HpcConfig(**_with(mongo_uri="mongomock://", project="nope")), {})


@pytest.mark.parametrize("material", ["WOx", "NbOx"])
def test_vasp_inputs_of_every_full_size_job(tmp_path, material, fake_potcars):
    """AIMD, relax, static and charged static inputs carry the chain's DFT+U, NELECT, mesh;
    the POTCARs are pymatgen's, found through PMG_VASP_PSP_DIR (a fake tree here)."""
    from pymatgen.io.vasp import Incar, Kpoints, Poscar, Potcar

    from mttmat.hpc.inspect import write_job_inputs
    from mttmat.structures.io import read_structure
    from tests.fake_potcars import ZVAL

    cfg = load_hpc_config(SHIPPED)
    host_file = {"WOx": "a-WOx-128.cif", "NbOx": "a-NbOx-168.cif"}[material]
    host = read_structure(ROOT / "structures" / host_file)
    written = write_job_inputs(cfg, material, tmp_path, host=host)
    assert set(written) == {"aimd", "relax", "static", "defect"}
    u = {"W": 6.2, "Nb": 4.0, "O": 0.0, "Li": 0.0}
    for jt, d in written.items():
        incar = Incar.from_file(d / "INCAR")
        species = Poscar.from_file(d / "POSCAR").site_symbols
        assert incar["LDAU"] is True and incar["LDAUTYPE"] == 2, jt
        assert incar["LDAUU"] == [u[s] for s in species], jt
        assert incar["LDAUL"] == [2 if u[s] else -1 for s in species], jt
        assert incar["GGA"].upper() == "PE", jt
        assert [p.symbol for p in Potcar.from_file(d / "POTCAR")] == [
            {"W": "W_sv", "Nb": "Nb_pv", "O": "O", "Li": "Li_sv"}[s] for s in species
        ]
        assert not (d / "POTCAR.spec").exists()
    aimd = Incar.from_file(written["aimd"] / "INCAR")
    assert aimd["IBRION"] == 0 and aimd["TEBEG"] == 300
    n_types = len(Poscar.from_file(written["aimd"] / "POSCAR").site_symbols)
    assert aimd["MDALGO"] == 3 and aimd["LANGEVIN_GAMMA"] == [10.0] * n_types  # the schedule's
    assert tuple(Kpoints.from_file(written["aimd"] / "KPOINTS").kpts[0]) == (1, 1, 1)
    assert Incar.from_file(written["relax"] / "INCAR")["ISIF"] == 3
    for jt in ("static", "defect"):  # the chain's settings, fixed in the flow
        incar = Incar.from_file(written[jt] / "INCAR")
        assert incar["ENCUT"] == cfg.workflow.dft.ecut_ev == 520
        assert incar["ISMEAR"] == -1 and incar["SIGMA"] == cfg.workflow.dft.smearing_ev
        assert incar["ISPIN"] == 1  # host and Li_i^+ are closed shell
        assert incar["LORBIT"] == 11 and incar["LVHAR"] is True  # PDOS, potential alignment
        assert tuple(Kpoints.from_file(written[jt] / "KPOINTS").kpts[0]) == (1, 1, 1)
    defect = Incar.from_file(written["defect"] / "INCAR")
    cell = Poscar.from_file(written["defect"] / "POSCAR").structure
    potcars = {p.element: p.symbol for p in Potcar.from_file(written["defect"] / "POTCAR")}
    zval = sum(ZVAL[potcars[s.specie.symbol]] for s in cell)  # W_sv 14, Nb_pv 11, Li_sv 3
    assert defect["NELECT"] == pytest.approx(zval - 1)  # Li_i^+: one electron fewer


def test_custodian_config_reaches_every_vasp_job():
    """The config's custodian changes apply on top of each atomate2 Maker's own defaults:
    the AIMD keeps MDMaker's set (no handler restarts an unconverged step), statics and
    relaxations atomate2's run_vasp set; every job has the resources of its type."""
    from atomate2.vasp.jobs.md import MDMaker
    from atomate2.vasp.run import DEFAULT_HANDLERS

    from mttmat.hpc.flow import build_material_flow

    data = _with(custodian={
        "add_handlers": ["AliasingErrorHandler"], "remove_handlers": ["LargeSigmaHandler"],
        "remove_validators": ["VaspFilesValidator"], "max_errors": 3,
    })  # fmt: skip
    cfg = HpcConfig(**data)
    jobs = [j for j, _ in build_material_flow(cfg, "WOx").iterflow()]
    vasp = [j for j in jobs if "vasp" in type(j.maker).__module__]
    types = {j.metadata["mttmat_job_type"] for j in vasp}
    assert types == {"aimd", "relax", "static", "defect"}

    def names(objs):
        return [type(h).__name__ for h in objs]

    md_own = names(MDMaker().run_vasp_kwargs["handlers"])
    assert "UnconvergedErrorHandler" not in md_own  # atomate2's choice for AIMD, kept
    for j in vasp:
        kw = j.maker.run_vasp_kwargs
        own = md_own if j.metadata["mttmat_job_type"] == "aimd" else names(DEFAULT_HANDLERS)
        want = [n for n in own if n != "LargeSigmaHandler"] + ["AliasingErrorHandler"]
        assert names(kw["handlers"]) == want, j.name
        extra = ["StoppedRelaxValidator"] if j.metadata["mttmat_job_type"] == "relax" else []
        assert names(kw["validators"]) == ["VasprunXMLValidator", *extra], j.name
        assert kw["max_errors"] == 3 and "vasp_cmd" not in kw
    for job in jobs:
        jt = job.metadata["mttmat_job_type"]
        assert job.config.manager_config["resources"].nodes == cfg.resources[jt].nodes


def test_aimd_is_chunked_into_restartable_jobs_with_custodians_walltime():
    """The 8 700-step melt-quench is cut into jobs of at most aimd_chunk_steps, the ramps cut
    with them (continuous temperatures), each continuing from the previous job's folder;
    every VASP job gets a custodian wall_time inside its Slurm limit."""
    import itertools

    from jobflow import OutputReference

    from mttmat.backends.vasp import aimd_chunks
    from mttmat.hpc.config import walltime_seconds
    from mttmat.hpc.flow import build_material_flow

    assert aimd_chunks(300, 3500, 1200, 500) == [(300, 1633.333333, 500),
                                                  (1633.333333, 2966.666667, 500),
                                                  (2966.666667, 3500, 200)]  # fmt: skip
    cfg = HpcConfig(**_with(aimd_chunk_steps=400))
    sched = cfg.workflow.melt_quench
    flow = build_material_flow(cfg, "WOx")
    aimd = [j for j, _ in flow.iterflow() if j.metadata["mttmat_job_type"] == "aimd"]
    steps = [j.maker.input_set_generator.nsteps for j in aimd]
    assert max(steps) <= 400 and sum(steps) == sched.n_steps()  # nothing lost or added
    temps = [(j.maker.input_set_generator.start_temp, j.maker.input_set_generator.end_temp)
             for j in aimd]  # fmt: skip
    for (_, t_end), (t_begin, _) in itertools.pairwise(temps):
        assert t_begin == pytest.approx(t_end) or t_begin == pytest.approx(sched.melt_temperature_k)
    assert temps[-1][1] == pytest.approx(sched.quench_end_k)
    for prev, nxt in itertools.pairwise(aimd):  # each from the previous one's folder
        ref = nxt.function_kwargs["prev_dir"]
        assert isinstance(ref, OutputReference) and ref.uuid == prev.uuid
    assert any("part 2/" in j.name for j in aimd)
    for j, _ in flow.iterflow():
        if hasattr(getattr(j, "maker", None), "run_vasp_kwargs"):
            jt = j.metadata["mttmat_job_type"]
            if jt not in ("aimd", "relax"):  # a single point cannot stop between ionic steps
                assert "wall_time" not in j.maker.run_vasp_kwargs, j.name
                continue
            limit = walltime_seconds(cfg.resources[jt].walltime)
            assert 0.9 * limit < j.maker.run_vasp_kwargs["wall_time"] < limit, j.name


def test_walltime_parsing():
    from mttmat.hpc.config import walltime_seconds

    assert walltime_seconds("2-00:00:00") == 172800
    assert walltime_seconds("04:00:00") == 14400
    assert walltime_seconds("30") == 1800
    with pytest.raises(ValueError, match="HH:MM:SS"):
        walltime_seconds("soon")


# ------------------------------------------------------------------ real local Slurm
def _harness_config(tmp_path: Path) -> HpcConfig:
    part = {"debug": {"cores_per_node": os.cpu_count() or 1, "max_nodes": 1,
                      "max_walltime": "01:00:00"}}  # fmt: skip
    return HpcConfig(
        project="mttmat-harness",
        mongo_uri="mongomock://",
        workers={"local": {"type": "local", "scheduler": "slurm",
                           "work_dir": str(tmp_path / "work"),
                           "pre_run": f"export PATH={Path(sys.executable).parent}:$PATH",
                           "partitions": part}},
        resources={jt: {"worker": "local", "partition": "debug", "cores_per_node": 1,
                        "walltime": "00:10:00"} for jt in JOB_TYPES},
        workflow={"neb": {"n_images": 1}},
        runner={"delay_checkout": 1, "delay_check_run_status": 1, "delay_advance_status": 1},
    )  # fmt: skip


@pytest.mark.integration
@pytest.mark.slurm
@pytest.mark.chgnet
def test_flow_through_real_slurm_fails_is_fixed_and_completes(tmp_path, monkeypatch, capsys):
    """A 3-job ML flow through jobflow-remote and real sbatch: the first job fails (its start
    cell is missing), is reported FAILED with the reason, the file is copied, the job is
    rerun and the flow completes with its outputs in the store."""
    from jobflow import Flow

    from mttmat.backends import get_backend
    from mttmat.cli import main
    from mttmat.hpc import remote
    from mttmat.hpc.flow import apply_run_config, run_config_map, structure_from_file
    from mttmat.hpc.local_slurm import LocalSlurm, slurm_available
    from mttmat.jobs.sites import screen_li_sites
    from mttmat.structures import cubic_wo3, make_supercell

    why = slurm_available()
    if why:
        pytest.skip(why)
    from jobflow_remote.jobs.runner import Runner

    monkeypatch.setattr(jfr.SETTINGS, "projects_folder", str(tmp_path / "projects"))
    monkeypatch.setattr(jfr.SETTINGS, "project", "mttmat-harness")
    cfg = _harness_config(tmp_path)
    cfg_file = tmp_path / "hpc.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    remote.write_project(cfg)

    start = tmp_path / "cluster" / "start.cif"  # not there yet: the first job must fail
    read = structure_from_file(str(start))
    read.name = "start cell"
    static = get_backend("chgnet").static_maker().make(read.output)
    static.name = "chgnet static"
    screen = screen_li_sites(read.output, n_sites=1, n_lowest=1, max_candidates=2)
    screen.name = "Li site screening"
    flow = Flow([read, static, screen], name="harness")
    assert apply_run_config(flow, run_config_map(cfg)) == {"light": 1, "ml": 2}

    with LocalSlurm(tmp_path / "slurm") as slurm:
        monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
        pids = dict(slurm._procs)
        remote.submit(cfg, {"harness": flow})
        Runner(cfg.project).run_all_jobs(max_seconds=300)
        rows = {r["name"]: r for r in remote.status(cfg)}
        assert rows["start cell"]["state"] == "FAILED"
        assert "not found on the worker" in rows["start cell"]["error"]
        assert rows["start cell"]["process_id"]  # it went through sbatch
        assert rows["chgnet static"]["state"] == "WAITING"
        capsys.readouterr()
        assert main(["hpc", "status", "--config", str(cfg_file)]) == 1  # failed: exit 1
        assert "not found on the worker" in capsys.readouterr().out

        start.parent.mkdir(parents=True)
        make_supercell(cubic_wo3(), [2, 1, 1]).to(filename=str(start))
        assert main(["hpc", "rerun", "--config", str(cfg_file), rows["start cell"]["db_id"]]) == 0
        t0 = time.time()
        Runner(cfg.project).run_all_jobs(max_seconds=600)
        rows = {r["name"]: r for r in remote.status(cfg)}
        assert {r["state"] for r in rows.values()} == {"COMPLETED"}, rows
        assert main(["hpc", "status", "--config", str(cfg_file)]) == 0
        print(f"second pass through Slurm: {time.time() - t0:.0f} s")

        store = remote.job_controller(cfg).jobstore
        doc = store.get_output(screen.uuid)
        assert doc["backend"] == "chgnet" and doc["n_unique_sites"] >= 1
        assert store.get_output(static.uuid)["output"]["energy"] < 0
        script = next((tmp_path / "work").rglob("submit.sh")).read_text()
        assert "#SBATCH --partition=debug" in script and "--time=0-0:10:0" in script
    for pid in pids.values():  # the harness stopped the daemons it started
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_submit_twice_and_rerun_of_a_completed_job_are_refused(tmp_path, monkeypatch):
    """A second submission of the same flows, and a rerun of a COMPLETED job (which would
    delete its results), are refused with the flag that allows them."""
    from types import SimpleNamespace

    from jobflow import Flow

    from mttmat.hpc import remote
    from mttmat.hpc.flow import structure_from_file

    monkeypatch.setattr(jfr.SETTINGS, "projects_folder", str(tmp_path / "projects"))
    cfg = HpcConfig(**_with(mongo_uri="mongomock://", project="mttmat-twice"))
    remote.write_project(cfg)
    job = structure_from_file(str(tmp_path / "start.cif"))
    flow = Flow([job], name="mttmat WOx full-size")
    remote.submit(cfg, {"WOx": flow})
    with pytest.raises(ConfigError, match="already in the queue"):
        remote.submit(cfg, {"WOx": Flow([structure_from_file("x")], name=flow.name)})
    again = Flow([structure_from_file("x")], name=flow.name)
    assert remote.submit(cfg, {"WOx": again}, again=True) == {"WOx": again.uuid}

    class Done:
        def get_job_info(self, db_id):
            return SimpleNamespace(state=SimpleNamespace(value="COMPLETED"), name="WOx: host")

        def rerun_job(self, db_id, force):
            return [db_id]

    monkeypatch.setattr(remote, "job_controller", lambda cfg: Done())
    with pytest.raises(ConfigError, match=r"COMPLETED.*--force"):
        remote.rerun(cfg, ["7"])
    assert remote.rerun(cfg, ["7"], force=True) == ["7"]


@pytest.mark.integration
def test_wheel_installed_in_a_fresh_venv_checks_the_shipped_config(tmp_path, fake_potcars):
    """`pip install mttmat-*.whl` outside the source tree: the package data (the HPC
    melt-quench schedule) is in the wheel, and `mttmat hpc check` on the shipped config
    builds both flows and resolves the POTCARs (fake tree, PMG_VASP_PSP_DIR)."""
    import subprocess
    import sysconfig
    import venv

    pytest.importorskip("jobflow_remote")
    import shutil

    src = tmp_path / "src"  # a copy of the tracked files: the build writes nothing here
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()  # fmt: skip
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / f).is_file():
            shutil.copy2(ROOT / f, src / f)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(dist)], check=True)  # fmt: skip
    wheel = next(dist.glob("mttmat-*.whl"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(py), "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    # the dependencies from this environment (a path, not a site dir: its editable mttmat
    # finder is not loaded, so `import mttmat` can only find the wheel's copy)
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True)  # fmt: skip
    where = subprocess.run([str(py), "-c", "import mttmat; print(mttmat.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert where.startswith(site), where  # the installed wheel, not the source tree
    data = _shipped()
    data["workers"]["cluster"]["pre_run"] = f"export PMG_VASP_PSP_DIR={fake_potcars}\n"
    cfg = tmp_path / "hpc.yaml"
    cfg.write_text(yaml.safe_dump(data))
    res = subprocess.run([str(env_dir / "bin" / "mttmat"), "hpc", "check", "--config", str(cfg)],
                         capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("EcramParameters: job") == 2
    assert "W  W_sv: ZVAL 14" in res.stdout


def test_a_relaxation_stopped_at_its_walltime_is_invalid(tmp_path):
    """custodian's WalltimeHandler stops VASP with a STOPCAR; a relaxation stopped before
    EDIFFG looks converged to pymatgen (fewer steps than NSW), so the HPC run adds a
    validator that fails it. AIMD chunks (atomate2 counts their steps) and relaxations that
    converged before the stop pass."""
    from pymatgen.io.vasp import Incar

    from mttmat.hpc.walltime import REACHED, StoppedRelaxValidator

    v = StoppedRelaxValidator()
    Incar({"IBRION": 2, "NSW": 100}).write_file(tmp_path / "INCAR")
    (tmp_path / "OUTCAR").write_text(" ... ionic steps ...\n")
    assert not v.check(str(tmp_path))  # no STOPCAR: VASP's own verdict stands
    (tmp_path / "STOPCAR").write_text("LSTOP = .TRUE.\n")
    assert v.check(str(tmp_path))  # stopped half-way: invalid
    (tmp_path / "OUTCAR").write_text(f" ...\n {REACHED} - stopping structural minimisation\n")
    assert not v.check(str(tmp_path))  # it had converged
    Incar({"IBRION": 0, "NSW": 500}).write_file(tmp_path / "INCAR")
    (tmp_path / "OUTCAR").write_text(" ... MD ...\n")
    assert not v.check(str(tmp_path))  # an MD chunk: not this validator's call
    # the HPC flow puts it on every relax job, with the wall time, and on no other
    cfg = HpcConfig(**_with(workflow={"dft": {"relax": True}}))
    from mttmat.hpc.flow import build_material_flow

    n_relax = 0
    for j, _ in build_material_flow(cfg, "WOx").iterflow():
        kw = getattr(getattr(j, "maker", None), "run_vasp_kwargs", None)
        if kw is None:
            continue
        names = [type(x).__name__ for x in kw["validators"]]
        is_relax = j.metadata["mttmat_job_type"] == "relax"
        assert ("StoppedRelaxValidator" in names) == is_relax, j.name
        assert names.count("StoppedRelaxValidator") <= 1
        n_relax += is_relax
    assert n_relax >= 4  # the melt-quench's relax, host, Li_i^0 band and polaron

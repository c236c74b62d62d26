"""Melt-quench: schedule validation, resumable MD, amorphous metrics, the four-stage flow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from mttmat.analysis.amorphous import (
    analyze_amorphous,
    bond_angles,
    coordination,
    first_minimum,
    long_range_order,
    rdf,
    summarize_replicas,
)
from mttmat.backends import BackendError
from mttmat.flows.melt_quench import MeltQuenchMaker
from mttmat.jobs.md import MdError, Segment, run_md, target_temperatures
from mttmat.jobs.melt_quench import MeltQuenchSchedule
from mttmat.structures import make_supercell, random_packing
from mttmat.structures.crystals import cubic_wo3, gamma_wo3

# ----------------------------------------------------------------------------- schedule


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"melt_temperature_k": 0}, "melt_temperature_k"),
        ({"init_temperature_k": -300}, "init_temperature_k"),
        ({"quench_rate_k_per_ps": 0}, "quench_rate_k_per_ps"),
        ({"quench_rate_k_per_ps": -5}, "quench_rate_k_per_ps"),
        ({"time_step_fs": 0}, "time_step_fs"),
        ({"quench_end_temperature_k": 4000, "melt_temperature_k": 3000}, "below"),
        ({"quench_ladder": [[2000, 10], [3600, 10]]}, "melt"),
        ({"quench_ladder": [[1000, 10], [2000, 10]]}, "decrease"),
        ({"thermostat": "nose-hoover-typo"}, "thermostat"),
        ({"ensemble": "npt", "thermostat": "langevin"}, "thermostat"),
        ({"melt_steps": 0}, "melt_steps"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_bad_schedules_are_refused_with_the_field_named(fields, needle):
    with pytest.raises(ValidationError, match=needle):
        MeltQuenchSchedule(**fields)


def test_quench_steps_follow_rate_and_ladder():
    s = MeltQuenchSchedule(melt_temperature_k=3000, quench_rate_k_per_ps=1000, time_step_fs=2)
    (seg,) = s.segments("quench")
    assert seg == Segment(3000, 300, 1350)  # 2700 K at 1 K/fs·2 fs → 1350 steps
    lad = MeltQuenchSchedule(quench_ladder=[[2000, 30], [1000, 20], [300, 10]])
    assert [x.n_steps for x in lad.segments("quench")] == [30, 20, 10]
    assert lad.quench_end_k == 300
    with pytest.raises(ValidationError, match="not both"):
        MeltQuenchSchedule(quench_ladder=[[300, 10]], quench_rate_k_per_ps=100)


def test_target_temperatures_ramp_and_hold():
    t = target_temperatures([Segment(300, 300, 5), Segment(300, 1300, 10), Segment(1300, 1300, 3)])
    assert len(t) == 18
    assert np.all(t[:5] == 300) and t[14] == pytest.approx(1300) and np.all(t[15:] == 1300)
    assert np.all(np.diff(t[5:15]) > 0)


def test_gpaw_refuses_a_large_cell_before_any_md():
    big = make_supercell(gamma_wo3(), [2, 2, 1])  # 128 atoms > settings.gpaw_max_atoms
    with pytest.raises(BackendError, match="GPAW local limit"):
        MeltQuenchMaker(backend="gpaw").make(big)


def test_flow_has_four_stages_per_replica_and_a_summary():
    flow = MeltQuenchMaker(replicas=2).make(cubic_wo3())
    names = [j.name for j in flow.jobs]
    for k in (0, 1):
        for stage in ("initialization", "melting-diffusion", "quenching", "relax"):
            assert f"{stage} r{k}" in names
    assert names[-1] == "melt-quench summary"
    # a random-packing start has no parent crystal: no order ratio against it
    packed = MeltQuenchMaker().make(random_packing("W4O12", 6.5, seed=1), parent=None)
    (ana,) = [j for j in packed.jobs if j.name == "amorphous analysis"]
    assert ana.function_args[1] is None


def test_vasp_backend_builds_aimd_jobs_with_dft_u():
    from mttmat.flows.vasp import VaspMeltQuenchMaker

    sched = MeltQuenchSchedule(init_steps=10, heat_steps=10, melt_steps=20)
    # the common Maker drives in-process MD only, and says which Maker runs AIMD
    with pytest.raises(BackendError, match="VaspMeltQuenchMaker"):
        MeltQuenchMaker(backend="vasp", schedule=sched).make(cubic_wo3())
    flow = VaspMeltQuenchMaker(schedule=sched).make(cubic_wo3())
    md_jobs = [j for j in flow.jobs if "AIMD" in j.name]
    # init hold, heat ramp, melt hold, quench ramp
    assert len(md_jobs) == 4
    maker = md_jobs[1].maker
    gen = maker.input_set_generator
    assert (gen.start_temp, gen.end_temp, gen.nsteps) == (300, 3500, 10)
    incar = gen.get_input_set(cubic_wo3(), potcar_spec=True).incar
    assert (incar["TEBEG"], incar["TEEND"], incar["NSW"]) == (300, 3500, 10)
    assert incar["LDAU"] is True and incar["LDAUU"][:1] == [6.2] and incar["IBRION"] == 0
    assert (
        flow.jobs[-4].name == "relax"
        and flow.jobs[-4].maker.input_set_generator.user_incar_settings["ISIF"] == 3
    )


# ----------------------------------------------------------------------------- analysis


def test_crystal_metrics_are_textbook():
    s = make_supercell(gamma_wo3(), [2, 2, 1])
    d = analyze_amorphous(s, parent=s)
    wo = d["coordination"]["W-O"]
    assert wo["mean"] == 6.0 and wo["std"] == 0.0  # every W octahedral
    assert d["coordination"]["O-W"]["mean"] == 2.0  # corner-sharing
    assert 2.1 < wo["cutoff_a"] < 3.3  # in the gap between the first and second shells
    assert d["long_range_order"]["ratio"] == pytest.approx(1.0)
    # O-W-O: 12 cis (~90°) and 3 trans (~180°) per octahedron
    ang = bond_angles(s, "W", "O", wo["cutoff_a"])
    assert len(ang) == 32 * 15
    assert np.sum(ang > 150) == 32 * 3
    assert d["density_g_cm3"] == pytest.approx(7.22, abs=0.02)


def test_partials_sum_to_total_and_ideal_gas_goes_to_one():
    s = random_packing("Nb24O60", 4.5, seed=3)
    g = rdf(s, r_max=8.0, dr=0.1)
    counts = {"Nb": 24, "O": 60}
    n = 84
    total = np.zeros_like(g.r)
    for key, gab in g.partials.items():
        a, b = key.split("-")
        w = counts[a] * counts[b] / n**2 * (2 if a != b else 1)
        total += w * gab
    np.testing.assert_allclose(total, g.total, atol=1e-10)
    far = g.r > 5.0
    assert abs(g.total[far].mean() - 1.0) < 0.1


def test_first_minimum_and_coordination_on_cubic_wo3():
    s = make_supercell(cubic_wo3(), 2)
    g = rdf(s, r_max=5.0)
    rc = first_minimum(g.r, g.partials["W-O"])
    assert 1.9 < rc < 3.6
    assert np.all(coordination(s, "W", "O", rc) == 6)


def test_long_range_order_needs_a_big_enough_cell():
    with pytest.raises(ValueError, match="too small"):
        long_range_order(cubic_wo3(), cubic_wo3(), r_min=4.0)  # cell width 3.78 Å


def test_replica_summary_mean_and_std():
    docs = [
        {"density_g_cm3": 6.0, "coordination": {"W-O": {"mean": 5.0}}, "angles": {}},
        {"density_g_cm3": 7.0, "coordination": {"W-O": {"mean": 6.0}}, "angles": {}},
    ]
    out = summarize_replicas(docs)
    assert out["density_g_cm3"] == {"mean": 6.5, "std": 0.5, "n": 2}
    assert out["cn W-O"]["mean"] == 5.5


# ----------------------------------------------------------------------------- resumable MD


class _Stop(Exception):
    pass


def test_resumed_md_continues_the_same_trajectory(tmp_path):
    """Kill (exception) after a checkpoint, rerun: identical to an uninterrupted run."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    atoms0 = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    segs = [Segment(300, 300, 20), Segment(300, 900, 40)]
    kw = {"time_step_fs": 2.0, "seed": 7, "checkpoint_interval": 20, "log_interval": 5}

    ref = run_md(atoms0.copy(), EMT(), segs, checkpoint=tmp_path / "ref.npz", **kw)

    def stop_at_40(msg: str) -> None:
        if "step 40/" in msg:
            raise _Stop

    ck = tmp_path / "run.npz"
    with pytest.raises(_Stop):
        run_md(atoms0.copy(), EMT(), segs, checkpoint=ck, progress=stop_at_40, **kw)
    resumed = run_md(atoms0.copy(), EMT(), segs, checkpoint=ck, **kw)
    assert resumed.resumed_from_step == 40
    np.testing.assert_allclose(resumed.atoms.positions, ref.atoms.positions, atol=1e-10)
    assert resumed.log["step"] == ref.log["step"]
    np.testing.assert_allclose(resumed.log["t_k"], ref.log["t_k"], rtol=1e-9)
    # a checkpoint from another schedule is refused, not silently reused
    with pytest.raises(MdError, match="different schedule"):
        run_md(atoms0.copy(), EMT(), [Segment(500, 500, 60)], checkpoint=ck, **kw)


def test_md_refuses_unknown_thermostat_before_running(tmp_path):
    from ase.build import bulk
    from ase.calculators.emt import EMT

    with pytest.raises(MdError, match="thermostat"):
        run_md(bulk("Cu", cubic=True), EMT(), [Segment(300, 300, 5)], thermostat="nosehoover",
               checkpoint=tmp_path / "x.npz")  # fmt: skip
    assert not (tmp_path / "x.npz").exists()


# ----------------------------------------------------------------------------- the flow (CHGNet)


@pytest.mark.integration
@pytest.mark.chgnet
def test_short_melt_quench_through_four_stages(tmp_path):
    from mttmat.store import get_store, run_resumable

    start = gamma_wo3()  # W8O24, 32 atoms (the γ-WO3 cell)
    sched = MeltQuenchSchedule(
        init_steps=20, heat_steps=20, melt_temperature_k=5000, melt_steps=400,
        quench_rate_k_per_ps=20000, friction_per_ps=50, relax_cell=False,
        checkpoint_interval=40, log_interval=5,
    )  # fmt: skip
    flow = MeltQuenchMaker(schedule=sched).make(start)
    store = get_store(tmp_path / "store")
    run_resumable(flow, store, tmp_path / "jobs", tmp_path / "flow.json")
    store.connect()
    out = {j.name: store.get_output(j.uuid, load=True) for j in flow.jobs}
    init, melt, quench = out["initialization"], out["melting-diffusion"], out["quenching"]
    # temperature follows the schedule (32 atoms: ±18 % instantaneous fluctuations)
    assert init["mean_temperature_k"] == pytest.approx(300, rel=0.35)
    assert melt["mean_temperature_k"] == pytest.approx(5000, rel=0.2)
    q = np.asarray(quench["log"]["t_k"])
    assert q[-3:].mean() < 0.5 * q[:3].mean()
    assert melt["msd_a2"]["O"] > 1.0  # the liquid diffuses
    assert out["amorphous analysis"]["melted"] is True
    # composition conserved through every stage
    for d in (init, melt, quench):
        assert d["formula"] == "WO3" and d["n_atoms"] == 32
    cell = out["amorphous analysis"]
    assert cell["formula"] == "W8O24"
    assert cell["max_force_ev_a"] < 0.02
    # no long-range order left; cation coordination sane for a WO3 glass
    assert cell["long_range_order"]["ratio"] < 0.6
    assert 4.0 <= cell["coordination"]["W-O"]["mean"] <= 7.0
    assert cell["min_distances_a"]["W-O"] > 1.6


@pytest.mark.integration
@pytest.mark.chgnet
def test_killed_melt_resumes_from_its_checkpoint(tmp_path):
    """SIGKILL the CLI during the melt; the rerun reads init from the store and resumes."""
    cmd = [
        sys.executable, "-m", "mttmat.cli", "melt-quench", "--crystal", "cubic-WO3",
        "--supercell", "2", "1", "1", "--store", str(tmp_path / "store"), "--no-figures",
        "--set", "init_steps=10", "heat_steps=10", "melt_steps=400", "quench_rate_k_per_ps=60000",
        "checkpoint_interval=20", "relax_cell=false", "melt_check_msd_a2=0",  # resume, not melt
        "-o", str(tmp_path / "a-WOx"),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    root = tmp_path / "store" / "melt_quench"
    deadline = time.time() + 240
    ckpt = None
    while time.time() < deadline and proc.poll() is None:
        found = list(root.glob("job_*/md_melt.ckpt.npz"))
        if found:
            with np.load(found[0]) as d:
                if int(d["step"]) >= 40:
                    ckpt = found[0]
                    break
        time.sleep(0.5)
    assert ckpt is not None, "the melt never wrote a checkpoint"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    text = rerun.stdout
    assert "initialization: finished earlier" in text
    step = int(text.split("resuming from checkpoint at step ")[1].split("/")[0])
    assert step >= 40
    meta = json.loads(Path(tmp_path / "a-WOx.json").read_text())
    assert meta["metrics"]["formula"] == "W2O6"


# ----------------------------------------------------------------------------- melt check


def _fake_md(msd_per_call, calls):
    """A run_md stand-in: records each call's segments, returns the next cation MSD."""
    from mttmat.jobs.md import MdRun

    def fake(atoms, calc, segments, **kw):
        k = len(calls)
        calls.append({"segments": [tuple(s) for s in segments], "checkpoint": kw["checkpoint"]})
        n = sum(s.n_steps for s in segments)
        log = {c: [float(n)] for c in ("step", "time_ps", "t_target_k", "t_k", "e_pot_ev",
                                       "e_kin_ev", "volume_a3")}  # fmt: skip
        log["t_k"] = [segments[-1].t_end_k]
        msd = {"W": msd_per_call[k], "O": 10.0}
        return MdRun(atoms, log, n, 0, 1.0, msd)

    return fake


def _melt(monkeypatch, tmp_path, msds, **sched):
    import mttmat.jobs.melt_quench as mq

    calls: list = []
    monkeypatch.setattr(mq, "run_md", _fake_md(msds, calls))
    tmp_path.mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path)
    sd = MeltQuenchSchedule(init_steps=5, heat_steps=10, melt_steps=20,
                            melt_temperature_k=5000, **sched).model_dump(mode="json")
    doc = mq.md_stage.original(cubic_wo3(), "melt", sd, "chgnet",
                               velocities=np.zeros((4, 3)).tolist())  # fmt: skip
    return doc, calls


@pytest.mark.chgnet
def test_melt_that_does_not_melt_is_retried_hotter(monkeypatch, tmp_path):
    doc, calls = _melt(monkeypatch, tmp_path, [0.3, 0.6, 2.5])
    temps = [a.temperature_k for a in doc.melt_attempts]
    assert temps == [5000, 6000, 7000]
    assert [a.melted for a in doc.melt_attempts] == [False, False, True]
    # each retry ramps from the last hold's temperature, then holds melt_steps, own checkpoint
    assert calls[1]["segments"] == [(5000, 6000, 10), (6000, 6000, 20)]
    assert calls[2]["checkpoint"].name == "md_melt_retry2.ckpt.npz"
    assert doc.msd_a2["W"] == 2.5  # the verdict is the last hold's, measured on its own
    assert doc.target_temperature_k == 7000 and doc.n_steps == 30 + 30 + 30
    assert doc.log["step"] == [30.0, 60.0, 90.0]  # the logs continue, not restart


@pytest.mark.chgnet
def test_melt_that_never_melts_stops_with_every_number(monkeypatch, tmp_path):
    from mttmat.jobs.melt_quench import MeltNotMeltedError

    with pytest.raises(MeltNotMeltedError) as err:
        _melt(monkeypatch, tmp_path, [0.3, 0.4, 0.5], melt_max_temperature_k=5500)
    msg = str(err.value)
    # capped at the configured maximum: the second retry holds longer at the same T
    for text in ("5000 K: W 0.30 Å²", "5500 K: W 0.40 Å²", "5500 K: W 0.50 Å²", "≥ 1 Å²",
                 "melt_max_temperature_k"):
        assert text in msg, msg


@pytest.mark.chgnet
def test_melt_check_off_or_passed_runs_one_hold(monkeypatch, tmp_path):
    doc, calls = _melt(monkeypatch, tmp_path, [1.5])
    assert len(calls) == 1 and [a.melted for a in doc.melt_attempts] == [True]
    doc, calls = _melt(monkeypatch, tmp_path / "off", [0.1], melt_check_msd_a2=0)
    assert len(calls) == 1 and doc.melt_attempts == []


def test_melt_bounds_are_validated():
    with pytest.raises(ValidationError, match="melt_max_temperature_k"):
        MeltQuenchSchedule(melt_temperature_k=5000, melt_max_temperature_k=4000)


def test_cli_stops_with_exit_3_on_a_failed_physical_check(monkeypatch, capsys):
    import mttmat.cli as cli
    from mttmat.cli import stages
    from mttmat.jobs.melt_quench import MeltNotMeltedError

    def boom(args):
        raise MeltNotMeltedError("W4O12 did not melt: 5000 K: W 0.30 Å²")

    monkeypatch.setattr(stages, "_cmd_melt_quench", boom)
    rc = cli.main(["melt-quench", "--crystal", "cubic-WO3", "-o", "x"])
    assert rc == 3
    assert "physical check failed: W4O12 did not melt" in capsys.readouterr().err


# ----------------------------------------------------------------------------- shipped cells

SHIPPED = Path(__file__).resolve().parents[1] / "structures"


@pytest.mark.parametrize(
    ("name", "formula", "metal"),
    [("a-WOx-32", "W8O24", "W"), ("a-NbOx-28", "Nb8O20", "Nb"),
     ("a-WOx-128", "W32O96", "W"), ("a-NbOx-168", "Nb48O120", "Nb")],
)  # fmt: skip
def test_shipped_cells_match_their_sidecars(name, formula, metal):
    """The CIF recomputes to the metrics its provenance sidecar states; it is a melted glass."""
    from mttmat.structures import check_min_distances, read_structure

    s = read_structure(SHIPPED / f"{name}.cif")
    meta = json.loads((SHIPPED / f"{name}.json").read_text())
    check_min_distances(s)
    assert s.composition.formula.replace(" ", "") == formula == meta["metrics"]["formula"]
    assert meta["backend"] == "chgnet" and meta["metrics"]["melted"] is True
    assert meta["metrics"]["max_force_ev_a"] < 0.02
    key = f"{metal}-O"
    cut = meta["metrics"]["coordination"][key]["cutoff_a"]
    d = analyze_amorphous(s, cutoffs={key: cut})
    assert d["density_g_cm3"] == pytest.approx(meta["metrics"]["density_g_cm3"], rel=1e-3)
    assert d["coordination"][key]["mean"] == pytest.approx(
        meta["metrics"]["coordination"][key]["mean"], abs=1e-6
    )
    assert 4.5 < d["coordination"][key]["mean"] < 6.5
    for stage in ("init", "melt", "quench", "relax"):
        assert stage in meta["stage_uuids"]
    assert {"schedule", "seed", "software"} <= set(meta)

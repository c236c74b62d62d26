"""The main job run end to end on tiny cells (integration, and the slow kill/resume test):
its report, key numbers, physics checks, figures, resume, and ``ecram --from-store``."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mttmat.device import EcramParameters
from mttmat.runs.main_job import run_main_job
from mttmat.runs.report import KEY_NUMBERS, dig, fmt_value

ROOT = Path(__file__).parents[1]

TINY = {
    "name": "tiny",
    "materials": {
        "WOx": {"start": "random", "composition": "W2O6", "density_g_cm3": 6.0, "seed": 1},
        "NbOx": {"start": "random", "composition": "Nb2O5", "density_g_cm3": 4.2, "seed": 1},
    },
    "melt_quench": {
        "init_steps": 5, "heat_steps": 5, "melt_temperature_k": 6000, "melt_steps": 150,
        "quench_rate_k_per_ps": 50000, "relax_steps": 200, "checkpoint_interval": 10,
    },
    "li_sites": {"max_candidates": 8},  # enough distinct sites for the two-Li cell
    "dft": {"ecut_ev": 250, "li_metal_kpts": [4, 4, 4]},
    "neb": {"n_images": 1, "max_steps": 60, "min_hops": 3, "max_hops": 3},
    "device": {"k_sweep": False},
}  # fmt: skip


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "analysis" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("main_job")
    cfg_path = root / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY))
    messages: list[str] = []
    out = run_main_job(cfg_path, root / "results", progress=messages.append)
    return cfg_path, out, messages


@pytest.mark.integration
@pytest.mark.gpaw
@pytest.mark.chgnet
def test_tiny_main_job_report_matches_files(tiny_run):
    """Every number in the report is the number in its JSON file, with its uuid source."""
    _cfg, out, messages = tiny_run
    assert out.name == "tiny"
    assert any("report" in m for m in messages)
    report = (out / "report.md").read_text()
    numbers = json.loads((out / "key_numbers.json").read_text())
    assert len(numbers) >= 20
    for row in numbers:
        spec = next(k for k in KEY_NUMBERS if k[6] == row["format"] and k[5] == row["path"])
        line = next(ln for ln in report.splitlines() if f"| {row['quantity']} |" in ln)
        for m, v in row["values"].items():
            doc = json.loads((out / spec[4].format(m=m)).read_text())
            assert dig(doc, spec[5], m) == v  # key_numbers.json == the stage file
            assert f" {fmt_value(v, row['format'])} " in line  # report == key_numbers.json
    from mttmat.analysis.hops import network_barrier

    for m in ("WOx", "NbOx"):
        uuids = json.loads((out / m / "start.json").read_text())["uuids"]
        for role in ("screening", "host", "Li_i q=+0 band", "Li_i q=+0 polaron", "Li_i q=+1",
                     "bcc Li", "electron", "hop network", "parameters"):  # fmt: skip
            assert uuids[role] in report
        params = EcramParameters.from_json(out / "device" / f"ecram_parameters_{m}.json")
        electron = json.loads((out / m / "li_electron.json").read_text())
        ground = electron["ground_state"]
        assert params.site_energy_mean_ev.source.kind == "dft"
        assert uuids[f"Li_i q=+0 {ground}"] in params.site_energy_mean_ev.source.uuids
        formation = json.loads((out / m / "li_formation.json").read_text())
        assert params.site_energy_mean_ev.value == pytest.approx(
            formation["sites"][0]["intercalation_energy_ev"]
        )
        # the channel barrier is the network's percolation barrier, a DFT saddle only where
        # the DFT band has one; without a winding path the literature value, marked as such
        neb = json.loads((out / m / "neb.json").read_text())
        value, fidelity, _note, _k = network_barrier(neb["network"], neb["band"])
        bar = params.channel_barrier_ev
        if value is None:
            assert bar.source.kind == "literature" and "no winding path" in bar.source.note
        else:
            assert bar.value == pytest.approx(value) and bar.source.fidelity == fidelity
            assert fidelity == "ml" or neb["band"]["has_saddle"]
            if not neb["band"]["has_saddle"]:
                assert "no saddle" in bar.source.note and "**no saddle" in report
    # the run records its own wall time per stage and material, and reports it
    timings = json.loads((out / "timings.json").read_text())
    stages = timings["stages_s"]
    for stage in ("melt-quench", "Li site screening", "DFT+U single points",
                  "ML hop network (CI-NEB)", "DFT energies on the band"):  # fmt: skip
        assert stages[stage]["WOx"] > 0 and stages[stage]["NbOx"] > 0
    assert stages["DFT+U single points"]["shared"] > 0  # bcc Li
    assert timings["jobs_run_now"] == len(timings["jobs"]) > 20
    # jobs ran in parallel (mttmat.pool): never more than `workers` at once
    assert timings["total_s"] >= max(j["seconds"] for j in timings["jobs"])
    assert sum(j["seconds"] for j in timings["jobs"]) <= timings["workers"] * timings["total_s"]
    assert "## Wall time" in report
    # the first screen states every physical check with its number
    checks = report[report.index("## Checks"): report.index("## Key numbers")]
    for m in ("WOx", "NbOx"):
        melt = json.loads((out / m / "melt_quench.json").read_text())["cell"]
        row = next(ln for ln in checks.splitlines() if ln.startswith(f"| {m} |"))
        assert ("NOT MELTED" in row) != melt["melted"]
        assert f"{melt['melt_msd_a2'][{'WOx': 'W', 'NbOx': 'Nb'}[m]]:.2f} Å²" in row
    for f in ("WOx/figures/dos.png", "NbOx/figures/neb_profile.png", "WOx/figures/rdf.png",
              "NbOx/figures/li_electron.png",
              "figures/formation_energy.png", "device/figures/ltp_ltd.png"):  # fmt: skip
        assert (out / f).is_file() and f in report


@pytest.mark.integration
@pytest.mark.gpaw
@pytest.mark.chgnet
def test_tiny_main_job_physics(tiny_run):
    """Charges conserved, Li binds and donates its electron, the barrier is finite on a
    continuous path, and the band starts at the Li_i^+ cell it shares with the formation."""
    _cfg, out, _ = tiny_run
    for m in ("WOx", "NbOx"):
        dos = json.loads((out / m / "dos.json").read_text())
        formation = json.loads((out / m / "li_formation.json").read_text())
        electron = json.loads((out / m / "li_electron.json").read_text())
        # electron count: host + 1 for Li^0 (both solutions), host + 1 − 1 for Li^+
        n_host = dos["host"]["n_electrons"]
        for lab in ("band", "polaron"):
            assert dos[lab]["n_electrons"] == pytest.approx(n_host + 1)
        states = {s["q"]: s for s in formation["sites"][0]["states"]}
        assert states[1]["n_electrons"] == pytest.approx(n_host)
        assert states[0]["n_electrons"] == pytest.approx(n_host + 1)
        # band: spin-paired; polaron: one unpaired electron (an odd count, fully polarised)
        assert dos["band"]["total_magnetic_moment_mub"] is None
        assert dos["polaron"]["total_magnetic_moment_mub"] == pytest.approx(1.0, abs=0.05)
        # the ground state is the lower solution, and the formation energy uses it
        e = {s_["label"]: s_["total_energy_ev"] for s_ in electron["solutions"]}
        assert electron["delta_e_polaron_minus_band_ev"] == pytest.approx(
            e["polaron"] - e["band"])
        assert electron["ground_state"] == min(e, key=e.get)
        assert states[0]["energy_ev"] == pytest.approx(min(e.values()))
        assert formation["sites"][0]["intercalation_energy_ev"] < 0  # Li binds vs bcc Li
        # Li^+ is the lower state with E_F at the VBM: Li is a donor
        assert states[1]["formation_energy_vbm_ev"] < states[0]["formation_energy_vbm_ev"]
        neb = json.loads((out / m / "neb.json").read_text())
        net, band = neb["network"], neb["band"]
        assert len(net["hops"]) == 3  # min_hops = max_hops = 3 in TINY
        site_e = [x["energy_ev"] for x in net["sites"]]
        assert min(site_e) == 0.0
        for h in net["hops"]:  # a saddle sits at or above both of its ends
            assert h["saddle_ev"] >= max(site_e[h["i"]], site_e[h["j"]]) - 1e-9
        if net["percolation_barrier_ev"] is not None:
            p = net["percolation"][net["direction"]]
            assert net["percolation_barrier_ev"] == pytest.approx(p["saddle_ev"] - p["min_site_ev"])
            assert net["percolation_barrier_ev"] >= 0
        assert band["charge"] == 1
        e = np.asarray(band["energies_ev"])
        assert band["barrier_forward_ev"] == pytest.approx(e.max())
        assert band["reaction_energy_ev"] == pytest.approx(e[-1])
        assert 0 <= band["barrier_forward_ev"] < 3
        # a continuous path: no atom jumps between neighbouring images as far as the whole hop
        assert band["max_image_step_a"] < band["hop_length_a"]
        lim = net["hops"][net["limiting_hop"]]
        if lim["i"] == 0:  # the lowest site's cell is also the Li_i^+ formation cell
            assert band["total_energies_ev"][0] == pytest.approx(states[1]["energy_ev"], abs=2e-3)
        params = json.loads((out / "device" / f"ecram_parameters_{m}.json").read_text())
        carriers = params["electrons_per_li"]
        if "trapped" in carriers["source"]["note"]:
            assert carriers["value"] == 0.0
        else:
            assert carriers["value"] == pytest.approx(1.0, abs=0.1)
    device = json.loads((out / "device" / "device_summary.json").read_text())
    assert device["materials"]["WOx"]["g_top_s"] == pytest.approx(45e-6, rel=0.02)


@pytest.mark.integration
@pytest.mark.gpaw
@pytest.mark.chgnet
def test_tiny_main_job_figures_and_rerun(tiny_run):
    """The analysis script redraws every figure from the files; a rerun, with every job of
    the chain renamed (in the saved flow and in the store), runs no job and writes the same
    report and key numbers: documents travel by uuid and role, never by display name."""
    from monty.json import MontyDecoder, MontyEncoder

    from mttmat.store import get_store

    cfg_path, out, _ = tiny_run
    report = (out / "report.md").read_text().split("## Wall time")[0]
    numbers = (out / "key_numbers.json").read_text()
    for f in ("WOx/figures/neb_profile.png", "figures/formation_energy.png",
              "device/figures/voc.png"):  # fmt: skip
        (out / f).unlink()
    assert _script("plot_main_job").main([str(out)]) == 0
    for f in ("WOx/figures/neb_profile.png", "figures/formation_energy.png",
              "device/figures/voc.png", "NbOx/figures/schedule.png"):  # fmt: skip
        assert (out / f).is_file()
    (flow_file,) = (out / "flows").glob("main-*.json")
    flow = json.loads(flow_file.read_text(), cls=MontyDecoder)
    for k, (j, _) in enumerate(flow.iterflow()):
        j.name = f"renamed job {k}"
    flow_file.write_text(json.dumps(flow, cls=MontyEncoder))
    store = get_store(out.parent / "store")
    store.connect()
    coll = store.docs_store._collection
    for d in list(coll.find({}, {"uuid": 1})):
        coll.update_many({"uuid": d["uuid"]}, {"$set": {"name": f"renamed {d['uuid'][:8]}"}})
    store.close()
    messages: list[str] = []
    run_main_job(cfg_path, out.parent, progress=messages.append)
    assert not any(": running" in m for m in messages)
    assert sum("renamed job" in m and "finished earlier" in m for m in messages) > 20
    assert (out / "report.md").read_text().split("## Wall time")[0] == report
    assert (out / "key_numbers.json").read_text() == numbers
    timings = json.loads((out / "timings.json").read_text())
    assert timings["jobs_run_now"] == 0
    assert all(j["seconds"] > 0 for j in timings["jobs"])  # kept from the first invocation


def _finished(store_dir: Path) -> dict[str, str]:
    from mttmat.store import get_store

    store = get_store(store_dir)
    store.connect()
    docs = store.query({}, properties=["uuid", "completed_at"])
    return {d["uuid"]: d["completed_at"] for d in docs}


@pytest.mark.slow
@pytest.mark.gpaw
@pytest.mark.chgnet
def test_main_job_killed_at_three_stages_resumes(tmp_path, monkeypatch):
    """SIGKILL in the melt-quench MD, a crash half-way through the DFT band energies, and a
    crash in the device stage; every rerun keeps what finished and completes (~6 min)."""
    import signal
    import subprocess
    import sys
    import time

    import mttmat.jobs.band_energies as chain
    from mttmat.device import report

    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY))
    results = tmp_path / "results"
    store_dir = results / "store"

    # 1. a real SIGKILL during the melt-quench MD (a checkpoint has been written)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mttmat.cli", "run", "--config", str(cfg_path), "-o", str(results)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    jobs = results / "tiny" / "jobs"
    deadline = time.time() + 300
    while time.time() < deadline and not list(jobs.glob("job_*/md_melt.ckpt.npz")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(jobs.glob("job_*/md_melt.ckpt.npz"))
    assert not (results / "tiny" / "report.md").exists()

    # 2. a crash after the first DFT image of a band (the job's progress file is written)
    real_write = chain.atomic_write_text

    def crash_after_one_image(path, text):
        real_write(path, text)
        if Path(path).name == chain.BAND_PROGRESS_FILE and len(json.loads(text)["energies"]) >= 2:
            raise RuntimeError("simulated crash in the band energies")

    before = _finished(store_dir)
    monkeypatch.setattr(chain, "atomic_write_text", crash_after_one_image)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_main_job(cfg_path, results, workers=1)  # the patch lives in this process
    after = _finished(store_dir)
    assert all(after[u] == t for u, t in before.items())  # nothing finished was redone
    assert len(after) > len(before)
    monkeypatch.setattr(chain, "atomic_write_text", real_write)

    # 3. a crash in the device stage, after every job of the flow
    def crash_device(*args, **kwargs):
        raise RuntimeError("simulated crash in the device stage")

    monkeypatch.setattr(report, "compare_materials", crash_device)
    before = after
    with pytest.raises(RuntimeError, match="device stage"):
        run_main_job(cfg_path, results)
    after = _finished(store_dir)
    assert all(after[u] == t for u, t in before.items())
    monkeypatch.undo()
    bands = [json.loads(p.read_text()) for p in jobs.glob("job_*/band_energies.json")]
    assert bands  # the crashed band resumed from its progress file

    # final rerun: no job runs, only the device stage and the report
    msgs: list[str] = []
    out = run_main_job(cfg_path, results, progress=msgs.append)
    assert not any(": running" in m for m in msgs)
    assert _finished(store_dir) == after
    assert (out / "report.md").is_file()
    resumed = [
        json.loads((out / m / "neb.json").read_text())["band"]["n_scf"]
        for m in ("WOx", "NbOx")
    ]
    assert min(resumed) < 3  # the crashed band computed only its missing images on resume


@pytest.mark.integration
@pytest.mark.gpaw
@pytest.mark.chgnet
def test_ecram_from_the_store_of_a_finished_chain(tiny_run, tmp_path):
    """`mttmat ecram --from-store` reads the chains' documents (no uuid needed) and builds
    the same device parameters as the main job."""
    from mttmat.cli import main
    from mttmat.device.parameters import EcramParameters

    _cfg, out, _ = tiny_run
    assert main(["ecram", "--from-store", str(out.parent / "store"), "--chain-material",
                 "WOx", "NbOx", "-o", str(tmp_path / "ecram")]) == 0  # fmt: skip
    for m in ("WOx", "NbOx"):
        mine = EcramParameters.from_json(tmp_path / "ecram" / f"ecram_parameters_{m}.json")
        run = EcramParameters.from_json(out / "device" / f"ecram_parameters_{m}.json")
        assert mine.channel_barrier_ev == run.channel_barrier_ev
        assert mine.site_energy_mean_ev.value == run.site_energy_mean_ev.value
    assert main(["ecram", "--from-store", str(out.parent / "store"), "--chain-material",
                 "TiOx", "-o", str(tmp_path / "x")]) == 2  # fmt: skip


@pytest.mark.integration
@pytest.mark.gpaw
@pytest.mark.chgnet
def test_finetune_on_the_dft_frames_of_a_finished_chain(tiny_run, tmp_path):
    """`mttmat finetune STORE`: the chain's neutral DFT single points of one setting are the
    frames (charged cells, ML jobs and bcc Li on its own k-mesh are not), and fine-tuning
    on them lowers CHGNet's force error on them."""
    import json

    from mttmat.cli import main
    from mttmat.schemas.finetune import FineTuneDoc
    from mttmat.schemas.frames import FrameSet

    _cfg, out, _ = tiny_run
    assert main(["finetune", str(out.parent / "store"), "--material", "WOx", "--epochs", "6",
                 "--lr", "1e-3", "-o", str(tmp_path / "ft")]) == 0  # fmt: skip
    folder = tmp_path / "ft" / "WOx"
    frames = FrameSet.read_extxyz(folder / "frames.extxyz")
    roles = {f.role for f in frames.frames}
    assert {"host", "Li_i q=+0 band", "two Li"} <= roles
    doc = FineTuneDoc.model_validate(json.loads((folder / "finetune.json").read_text()))
    assert "Li_i q=+1" in doc.skipped and "bcc Li" in doc.skipped
    # the polaron is the band solution's geometry with other labels: another spin treatment
    assert "spin_polarized" in doc.skipped["Li_i q=+0 polaron"]
    assert "kpts" in doc.skipped["bcc Li"] or "hubbard_u_ev" in doc.skipped["bcc Li"]
    assert frames.settings.ecut_ev == 250 and frames.settings.code == "gpaw"
    assert len(doc.training_uuids) + len(doc.heldout_uuids) == len(frames)
    assert doc.train_after.force_mae_ev_a < doc.train_before.force_mae_ev_a
    assert doc.heldout_after is not None and (folder / "parity.png").is_file()
    # a second call finds the finished model and does not train again
    model = folder / "train" / "finetuned.pth.tar"
    stamp = model.stat().st_mtime_ns
    assert main(["finetune", str(out.parent / "store"), "--material", "WOx", "--epochs", "6",
                 "--lr", "1e-3", "-o", str(tmp_path / "ft")]) == 0  # fmt: skip
    assert model.stat().st_mtime_ns == stamp
    # another training in the same folder is refused, not resumed from these checkpoints
    assert main(["finetune", str(out.parent / "store"), "--material", "WOx", "--epochs", "7",
                 "--lr", "1e-3", "-o", str(tmp_path / "ft")]) == 2  # fmt: skip


@pytest.mark.integration
@pytest.mark.gpaw
@pytest.mark.chgnet
def test_tiny_chain_with_dft_relax_and_a_dft_ci_neb(tmp_path):
    """The chain's other options run end to end: DFT relax of host and both Li_i^0
    solutions before the statics, and a GPAW CI-NEB of the limiting hop seeded by its ML
    band; the barrier is labelled with what it came from."""
    cfg = {**TINY, "name": "options", "materials": {"WOx": TINY["materials"]["WOx"]},
           "dft": {**TINY["dft"], "relax": True, "relax_steps": 8},
           "neb": {**TINY["neb"], "dft": "ci-neb", "max_steps": 30},
           "device": {"k_sweep": False, "reference": "WOx"}}  # fmt: skip
    path = tmp_path / "options.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = run_main_job(path, tmp_path / "results", progress=lambda m: None)
    electron = json.loads((out / "WOx" / "li_electron.json").read_text())
    assert "DFT-relaxed" in electron["solutions"][0]["treatment"]
    assert "each at its own relaxed geometry" in electron["verdict"] or not electron[
        "polaron_localized"
    ]
    neb = json.loads((out / "WOx" / "neb.json").read_text())
    band = neb["band"]
    assert band is not None and band["backend"] == "gpaw"
    assert band["fidelity"].startswith("dft")  # a DFT CI-NEB seeded by the ML band
    params = json.loads((out / "device" / "ecram_parameters_WOx.json").read_text())
    note = params["channel_barrier_ev"]["source"]["note"]
    assert "CI-NEB seeded by the ml band" in note or "no winding path" in note

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mttmat.device import EcramParameters
from mttmat.errors import ConfigError
from mttmat.workflow import MainJobConfig, load_config, run_main_job

SHIPPED = Path(__file__).parents[1] / "workflows" / "main_job.yaml"

TINY = {
    "name": "tiny",
    "materials": {
        "WOx": {"host": "crystal", "crystal": "cubic-WO3", "li_sites": [[0, 0, 0]]},
        "NbOx": {
            "host": "random",
            "composition": "Nb2O5",
            "density_g_cm3": 4.5,
            "seed": 1,
            "kpts_gamma": False,
        },
    },
    "dft": {"kpts": [2, 2, 2], "kpts_gamma": True, "li_metal_kpts": [2, 2, 2], "ecut_ev": 250},
    "device": {"k_sweep": False},
}


def test_shipped_config_equals_defaults():
    assert load_config(SHIPPED) == MainJobConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nmae: x\n", "nmae"),  # unknown key
        ("dft: {kpts: [2, 2]}\n", "k-point mesh"),  # wrong shape
        ("dft: {ecut_ev: fast}\n", "ecut_ev"),  # wrong type
        (
            "materials: {TiOx: {host: random, composition: Ti4O8, density_g_cm3: 4}}\n",
            "unknown material",
        ),
        ("materials: {WOx: {host: random, composition: Nb4O10, density_g_cm3: 4}}\n", "no W"),
        ("materials: {WOx: {host: random, composition: W4O12}}\n", "density"),
        ("dft_backend: castep\n", "unknown backend"),
        (
            "device: {reference: NbOx}\nmaterials: {WOx: {host: crystal, crystal: cubic-WO3}}\n",
            "reference",
        ),
        ("- a\n- b\n", "mapping"),
    ],
)
def test_bad_config_fails_before_computing(tmp_path, text, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        run_main_job(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="not writable"):
        run_main_job(None, blocker)


def test_yaml_round_trip():
    cfg = MainJobConfig()
    assert MainJobConfig(**yaml.safe_load(yaml.safe_dump(cfg.model_dump(mode="json")))) == cfg


@pytest.mark.gpaw
@pytest.mark.chgnet
def test_tiny_main_job_end_to_end(tmp_path):
    """Whole chain on tiny cells (~2 min): report and JSON files agree with each other."""
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY))
    messages: list[str] = []
    out = run_main_job(cfg_path, tmp_path / "results", progress=messages.append)
    assert out == tmp_path / "results" / "tiny"
    report = (out / "report.md").read_text()
    device = json.loads((out / "device" / "device_summary.json").read_text())
    for material in ("WOx", "NbOx"):
        li = json.loads((out / f"li_doping_{material}.json").read_text())
        assert li["electrons_added"] == 1 and li["fidelity"] == "dft"
        assert li["fermi_shift_ev"] > 0  # Li raises E_F in both oxides
        params = EcramParameters.from_json(out / "device" / f"ecram_parameters_{material}.json")
        # DFT numbers reach the device model with their provenance
        assert params.site_energy_mean_ev.value == pytest.approx(li["insertion_energy_per_li_ev"])
        assert set(params.site_energy_mean_ev.source.uuids) <= set(li["uuids"].values())
        # the numbers in the report are the numbers in the JSON
        assert f"{li['insertion_energy_per_li_ev']:+.3f}" in report
        assert f"{device['materials'][material]['on_off_ratio']:.1f}" in report
        for uuid in li["uuids"].values():
            assert uuid in report
        exports = out / "device" / "exports" / material
        if params.electrons_per_li.value > 0:
            for f in (
                "neurosim.json",
                "aihwkit_device.json",
                "mtt_transfer.json",
                "pulse_trace.csv",
            ):
                assert (exports / f).is_file()
        else:  # the DFT trapped the Li electron: no modulation to export, and it is said
            assert not exports.exists()
            assert material in device["exports_skipped"]
            assert device["exports_skipped"][material] in report
    assert device["materials"]["WOx"]["g_top_s"] == pytest.approx(45e-6, rel=0.02)
    assert (out / "device" / "figures" / "ltp_ltd.png").is_file()
    assert any("results" in m or "device" in m for m in messages)

    # figures are redrawn from the files alone by the analysis script
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "plot_device", Path(__file__).parents[1] / "analysis" / "plot_device.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (out / "device" / "figures" / "voc.png").unlink()
    assert mod.main([str(out / "device")]) == 0
    assert (out / "device" / "figures" / "voc.png").is_file()

    # rerun: finished DFT is not recomputed
    messages.clear()
    run_main_job(cfg_path, tmp_path / "results", progress=messages.append)
    assert sum("not recomputed" in m for m in messages) == 2


def test_plot_functions_take_ax_and_return_figure():
    import matplotlib.pyplot as plt
    import numpy as np

    from mttmat.analysis import device_plots as dp

    fig, ax = plt.subplots()
    out = dp.plot_ltp_ltd({"a": np.linspace(1e-6, 4e-5, 11)}, 5, ax=ax)
    assert out is fig and ax.get_xlabel() == "pulse number"
    assert dp.plot_transfer_functions(np.linspace(-1, 1, 5), {"k": np.zeros(5)}) is not fig
    plt.close("all")


@pytest.mark.slow
@pytest.mark.gpaw
@pytest.mark.chgnet
def test_main_job_killed_at_three_stages_resumes(tmp_path, monkeypatch):
    """Crash inside the DFT of the doped cell, inside the ML relax of the second material and
    in the device stage; each rerun continues without redoing finished jobs (~3 min)."""
    import signal
    import subprocess
    import sys
    import time

    from mttmat.backends.gpaw import GpawBackend
    from mttmat.device import report

    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY))
    results = tmp_path / "results"

    # 1. a real SIGKILL while the first material's jobs run
    proc = subprocess.Popen(
        [sys.executable, "-m", "mttmat.cli", "run", "--config", str(cfg_path), "-o", str(results)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    jobs = results / "tiny" / "jobs"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(jobs.glob("job_*/gpaw.gpw"))) < 2:
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(list(jobs.glob("job_*/gpaw.gpw"))) >= 2  # killed after two DFT jobs finished

    # 2. a crash in the DFT static of a doped cell
    real = GpawBackend.electronic_summary

    def crash_on_li(self, calc, workdir):
        if "Li" in calc.atoms.get_chemical_symbols() and len(calc.atoms) > 2:
            raise RuntimeError("simulated crash in the doped-cell DFT")
        return real(self, calc, workdir)

    msgs: list[str] = []
    monkeypatch.setattr(GpawBackend, "electronic_summary", crash_on_li)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_main_job(cfg_path, results, progress=msgs.append)
    assert any("finished earlier" in m for m in msgs)  # the SIGKILLed run's jobs were kept
    monkeypatch.setattr(GpawBackend, "electronic_summary", real)

    # 3. a crash in the device stage, after both materials' DFT
    def crash_device(*args, **kwargs):
        raise RuntimeError("simulated crash in the device stage")

    monkeypatch.setattr(report, "compare_materials", crash_device)
    msgs.clear()
    with pytest.raises(RuntimeError, match="device stage"):
        run_main_job(cfg_path, results, progress=msgs.append)
    skipped_before = sum("finished earlier" in m for m in msgs)
    assert skipped_before >= 3
    monkeypatch.undo()

    # final rerun: no DFT at all, only the device stage
    msgs.clear()
    out = run_main_job(cfg_path, results, progress=msgs.append)
    assert sum("not recomputed" in m for m in msgs) == 2
    assert not any(": running" in m for m in msgs)
    assert (out / "report.md").is_file()

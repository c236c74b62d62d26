"""The main job's configuration and its pure parts: config validation before any compute,
the DFT → device rules, the hop geometry and the plot functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from mttmat.errors import ConfigError
from mttmat.runs.config import MainJobConfig, load_config
from mttmat.runs.main_job import run_main_job

ROOT = Path(__file__).parents[1]
SHIPPED = ROOT / "workflows" / "main_job.yaml"


def test_shipped_config_equals_defaults():
    assert load_config(SHIPPED) == MainJobConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nmae: x\n", "nmae"),  # unknown key
        ("dft: {kpts: [2, 2]}\n", "k-point mesh"),  # wrong shape
        ("dft: {ecut_ev: fast}\n", "ecut_ev"),  # wrong type
        ("neb: {n_images: many}\n", "n_images"),  # wrong type
        ("neb: {dft: always}\n", "neb.dft"),
        ("melt_quench: {melt_temperature_k: 200}\n", "melt"),
        (
            "materials: {TiOx: {start: random, composition: Ti4O8, density_g_cm3: 4}}\n",
            "unknown material",
        ),
        ("materials: {WOx: {start: random, composition: Nb4O10, density_g_cm3: 4}}\n", "no W"),
        ("materials: {WOx: {start: random, composition: W4O12}}\n", "density"),
        ("materials: {WOx: {start: file, path: /nonexistent.cif}}\n", "does not exist"),
        ("dft_backend: vasp\n", "HPC"),
        ("ml_backend: gpaw\n", "ml_backend"),
        ("formation: {dielectric: {WOx: 25}}\n", "dielectric has no value for NbOx"),
        ("formation: {dielectric: {WOx: -1, NbOx: 25}}\n", "> 0"),
        (
            "device: {reference: NbOx}\n"
            "materials: {WOx: {start: random, composition: W4O12, density_g_cm3: 6}}\n",
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


def test_bad_start_cell_fails_before_computing(tmp_path):
    """A start file that is garbled, has overlapping atoms, has no W, holds Li, or is too
    big for local DFT is refused before any job runs, and leaves no folder behind."""
    from pymatgen.core import Lattice, Structure

    li = Structure(Lattice.cubic(4.0), ["W", "O", "Li"], [[0, 0, 0], [0.5, 0, 0], [0.5] * 3])
    li.to(filename=str(tmp_path / "li.cif"))
    close = Structure(Lattice.cubic(4.0), ["W", "O"], [[0, 0, 0], [0.05, 0, 0]])
    close.to(filename=str(tmp_path / "close.cif"))
    no_w = Structure(Lattice.cubic(4.0), ["Ti", "O"], [[0, 0, 0], [0.5, 0, 0]])
    no_w.to(filename=str(tmp_path / "no_w.cif"))
    text = (ROOT / "structures" / "a-WOx-32.cif").read_text()
    (tmp_path / "garbled.cif").write_text(text[:600])  # cut inside a loop_
    big = ROOT / "structures" / "a-WOx-128.cif"
    cases = (
        (tmp_path / "garbled.cif", "loop_"),
        (tmp_path / "close.cif", "Å"),
        (tmp_path / "no_w.cif", "has no W"),
        (tmp_path / "li.cif", "already holds Li"),
        (big, "GPAW local limit"),
    )
    for path, message in cases:
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml.safe_dump({"materials": {"WOx": {"start": "file", "path": str(path)}},
                                       "device": {"reference": "WOx"}}))  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            run_main_job(cfg, tmp_path / "out")
        assert not (tmp_path / "out").exists(), path.name


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="not writable"):
        run_main_job(None, blocker)


def test_yaml_round_trip():
    cfg = MainJobConfig()
    assert MainJobConfig(**yaml.safe_load(yaml.safe_dump(cfg.model_dump(mode="json")))) == cfg


def test_electrons_per_li_rules():
    from mttmat.flows.material_chain import electrons_per_li

    cell = {"n_li": 1, "electrons_above_host_cbm": 0.98, "highest_occupied_above_host_cbm_ev": 0.3,
            "max_local_moment_mub": 0.0, "extra_electron_participation": 8.0}  # fmt: skip
    assert electrons_per_li(cell, {})[0] == pytest.approx(0.98)
    polaron = {**cell, "electrons_above_host_cbm": 0.0, "highest_occupied_above_host_cbm_ev": -1.5,
               "max_local_moment_mub": 0.8, "extra_electron_participation": 1.3}  # fmt: skip
    dos = {"species": ["W", "O", "Li"], "magnetic_moments_mub": [0.8, 0.05, 0.01],
           "total_magnetic_moment_mub": 1.0}  # fmt: skip
    value, note = electrons_per_li(polaron, dos)
    assert value == pytest.approx(1.0) and "polaron" in note
    on_li = {**dos, "magnetic_moments_mub": [0.0, 0.0, 0.7]}
    assert electrons_per_li(polaron, on_li)[0] == 0.0
    assert electrons_per_li(polaron, {"species": [], "total_magnetic_moment_mub": None})[0] == 0


def test_a_band_without_saddle_is_never_a_barrier():
    """A monotonic band is a reaction energy: the DFT value is used only with an interior
    maximum, else the ML band's saddle (labelled ml), else no computed barrier."""
    from mttmat.analysis.hops import hop_barrier, saddle_verdict

    band = {"energies_ev": [0.0, 0.3, 0.1], "ml_energies_ev": [0.0, 0.2, 0.05],
            "barrier_forward_ev": 0.3, "barrier_backward_ev": 0.2, "fidelity": "dft on ml"}
    assert hop_barrier(band) == (0.3, "dft on ml", "")
    assert saddle_verdict(band).startswith("saddle at image 1")
    downhill = {**band, "energies_ev": [0.0, -0.4, -0.74], "barrier_forward_ev": 0.0,
                "barrier_backward_ev": 0.74}
    value, fidelity, note = hop_barrier(downhill)
    assert (value, fidelity) == (pytest.approx(0.2), "ml")  # not the 0.74 eV reaction energy
    assert "no saddle" in note and "-0.740 eV" in note
    flat = {**downhill, "ml_energies_ev": [0.0, -0.1, -0.3]}
    assert hop_barrier(flat) is None
    assert saddle_verdict(flat) == "no saddle: the band is monotonic, ΔE = -0.740 eV"
    bump = {**flat, "energies_ev": [0.0, 0.01, -0.74]}  # a 10 meV bump is not a saddle
    assert hop_barrier(bump) is None and saddle_verdict(bump).startswith("no saddle")


def test_hop_between_sites_takes_the_nearest_image():
    from pymatgen.core import Lattice, Structure

    from mttmat.flows.material_chain import hop_between_sites

    lat = Lattice.cubic(6.0)
    a = Structure(lat, ["W", "Li"], [[0, 0, 0], [0.45, 0.5, 0.5]])
    cands = [
        {"index": 0, "frac_coords_relaxed": [0.45, 0.5, 0.5], "duplicate_of": None},
        {"index": 1, "frac_coords_relaxed": [0.05, 0.5, 0.5], "duplicate_of": None},  # 2.4 Å
        {"index": 2, "frac_coords_relaxed": [0.45, 0.8, 0.5], "duplicate_of": None},  # 1.8 Å
        {"index": 3, "frac_coords_relaxed": [0.45, 0.6, 0.5], "duplicate_of": 0},  # same site
    ]
    doc = {"selected_structures": [a], "selected": [0], "candidates": cands,
           "host_formula": "W", "n_unique_sites": 3}  # fmt: skip
    out = hop_between_sites.original(doc)
    assert out["final_candidate"] == 2  # the nearest distinct site, not the next in energy
    assert out["hop"]["length_a"] == pytest.approx(1.8)
    assert np.allclose(out["hop"]["vector_frac"], [0, 0.3, 0])
    assert np.allclose(out["final"].frac_coords[-1], [0.45, 0.8, 0.5])
    assert np.allclose(out["initial"].frac_coords[-1], [0.45, 0.5, 0.5])
    alone = {**doc, "candidates": cands[:1] + cands[3:], "n_unique_sites": 1}
    with pytest.raises(ValueError, match="max_candidates"):
        hop_between_sites.original(alone)


def test_plot_functions_take_ax_and_return_figure():
    import matplotlib.pyplot as plt

    from mttmat.plots import device as dp

    fig, ax = plt.subplots()
    out = dp.plot_ltp_ltd({"a": np.linspace(1e-6, 4e-5, 11)}, 5, ax=ax)
    assert out is fig and ax.get_xlabel() == "pulse number"
    assert dp.plot_transfer_functions(np.linspace(-1, 1, 5), {"k": np.zeros(5)}) is not fig
    plt.close("all")

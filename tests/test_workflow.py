from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mttmat.errors import ConfigError
from mttmat.workflow import MainJobConfig, load_config, run_main_job

SHIPPED = Path(__file__).parents[1] / "workflows" / "main_job.yaml"


def test_shipped_config_equals_defaults():
    assert load_config(SHIPPED) == MainJobConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nmae: x\n", "nmae"),  # unknown key
        ("dft: {kpts: [2, 2]}\n", "k-point mesh"),  # wrong shape
        ("dft: {ecut_ev: fast}\n", "ecut_ev"),  # wrong type
        ("materials: [TiO2]\n", "materials"),  # unknown material
        ("dft_backend: castep\n", "unknown backend"),
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

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mttmat.settings import MttmatSettings, get_settings


def test_defaults_match_the_paper():
    s = get_settings()
    assert s.hubbard_u_ev == {"W": 6.2, "Nb": 4.0}
    assert s.hubbard_l == {"W": 2, "Nb": 2}
    assert s.ldau_type == 2
    assert s.force_tolerance_ev_a == 0.02
    assert s.u_for("O") == 0.0


def test_env_and_yaml(monkeypatch, tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("force_tolerance_ev_a: 0.01\ngpaw_ecut_ev: 400\n")
    monkeypatch.setenv("MTTMAT_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("MTTMAT_GPAW_ECUT_EV", "350")  # env beats the file
    s = MttmatSettings()
    assert s.force_tolerance_ev_a == 0.01
    assert s.gpaw_ecut_ev == 350
    monkeypatch.setenv("MTTMAT_HUBBARD_U_EV", '{"W": 5.0}')
    assert MttmatSettings().u_for("W") == 5.0


def test_bad_settings(monkeypatch, tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("force_tolerence: 0.01\n")
    monkeypatch.setenv("MTTMAT_CONFIG_FILE", str(cfg))
    with pytest.raises(ValueError, match="unknown setting"):
        MttmatSettings()
    cfg.write_text("")
    with pytest.raises(ValidationError):
        MttmatSettings(force_tolerance_ev_a=-1)
    with pytest.raises(ValidationError, match="Hubbard U"):
        MttmatSettings(hubbard_u_ev={"W": -2})

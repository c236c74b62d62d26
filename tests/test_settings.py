from __future__ import annotations

import pytest
from pydantic import ValidationError

from mttmat.settings import MttmatSettings, get_settings


def test_physics_defaults_are_code_and_match_the_paper():
    from mttmat.backends.defaults import DEFAULTS, default_hubbard_l, default_hubbard_u

    assert default_hubbard_u() == {"W": 6.2, "Nb": 4.0}
    assert default_hubbard_l() == {"W": 2, "Nb": 2}
    assert DEFAULTS.ldau_type == 2 and DEFAULTS.relax_fmax_ev_a == 0.02


def test_env_and_yaml(monkeypatch, tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("store_dir: /from/file\ngpaw_max_atoms: 30\n")
    monkeypatch.setenv("MTTMAT_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("MTTMAT_GPAW_MAX_ATOMS", "35")  # env beats the file
    s = MttmatSettings()
    assert str(s.store_dir) == "/from/file"
    assert s.gpaw_max_atoms == 35


def test_retired_physics_settings_are_ignored_with_a_warning_naming_their_new_place(
    monkeypatch, tmp_path
):
    """U, cutoffs, tolerances are flow inputs: a settings file or variable that still sets
    them changes nothing and says where the value goes now."""
    cfg = tmp_path / "s.yaml"
    cfg.write_text("hubbard_u_ev: {W: 0.0}\nstore_dir: /x\n")
    monkeypatch.setenv("MTTMAT_CONFIG_FILE", str(cfg))
    with pytest.warns(UserWarning, match=r"hubbard_u_ev.*ignored.*dft.hubbard_u_ev"):
        s = MttmatSettings()
    assert str(s.store_dir) == "/x" and not hasattr(s, "hubbard_u_ev")
    monkeypatch.delenv("MTTMAT_CONFIG_FILE")
    monkeypatch.setenv("MTTMAT_GPAW_ECUT_EV", "500")
    get_settings.cache_clear()
    try:
        with pytest.warns(UserWarning, match=r"MTTMAT_GPAW_ECUT_EV ignored.*dft.ecut_ev"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_bad_settings(monkeypatch, tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("stor_dir: x\n")
    monkeypatch.setenv("MTTMAT_CONFIG_FILE", str(cfg))
    with pytest.raises(ValueError, match="unknown setting"):
        MttmatSettings()
    cfg.write_text("")
    with pytest.raises(ValidationError):
        MttmatSettings(gpaw_max_atoms=-1)


def test_the_cli_shows_a_retired_setting(tmp_path):
    """The CLI hides library warnings, but not a retired setting the user still sets."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "MTTMAT_HUBBARD_U_EV": '{"W": 3.0}',
           "MTTMAT_CONFIG_FILE": str(tmp_path / "none.yaml")}  # fmt: skip
    res = subprocess.run([sys.executable, "-m", "mttmat", "settings"], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0
    assert "MTTMAT_HUBBARD_U_EV ignored" in res.stderr and "dft.hubbard_u_ev" in res.stderr

"""Shared fixtures; tests needing GPAW or CHGNet skip when those codes are missing."""

from __future__ import annotations

import importlib.util

import pytest

HAS_GPAW = importlib.util.find_spec("gpaw") is not None
HAS_CHGNET = importlib.util.find_spec("chgnet") is not None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "gpaw" in item.keywords and not HAS_GPAW:
            item.add_marker(pytest.mark.skip(reason="GPAW not installed (make test installs it)"))
        if "chgnet" in item.keywords and not HAS_CHGNET:
            item.add_marker(pytest.mark.skip(reason="CHGNet not installed"))


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path):
    """Each test sees default settings (no user YAML, no MTTMAT_* from the shell)."""
    import os

    from mttmat.settings import get_settings

    for key in list(os.environ):
        if key.startswith("MTTMAT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MTTMAT_CONFIG_FILE", str(tmp_path / "no-such-settings.yaml"))
    # no POTCARs unless a test makes them (a developer's real PMG_VASP_PSP_DIR changes nothing)
    from pymatgen.core import SETTINGS

    monkeypatch.delitem(SETTINGS, "PMG_VASP_PSP_DIR", raising=False)
    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def fake_potcars(monkeypatch, tmp_path):
    """A fake POTCAR tree as pymatgen's PMG_VASP_PSP_DIR (tests/fake_potcars.py)."""
    from pymatgen.core import SETTINGS

    from tests.fake_potcars import write_fake_potcars

    root = write_fake_potcars(tmp_path / "potcars")
    monkeypatch.setitem(SETTINGS, "PMG_VASP_PSP_DIR", str(root))
    monkeypatch.setenv("PMG_VASP_PSP_DIR", str(root))
    return root

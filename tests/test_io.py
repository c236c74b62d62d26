from __future__ import annotations

import json

import numpy as np
import pytest

from mttmat.structures import StructureError, gamma_wo3, read_structure, write_structure


@pytest.mark.parametrize("name", ["wo3.cif", "POSCAR", "wo3.extxyz"])
def test_round_trip(tmp_path, name):
    s = gamma_wo3()
    path = write_structure(s, tmp_path / name, metadata={"seed": 1})
    back = read_structure(path)
    assert back.composition == s.composition
    assert np.allclose(back.lattice.abc, s.lattice.abc, atol=1e-4)
    assert back.matches(s)
    assert json.loads(path.with_suffix(".json").read_text())["seed"] == 1
    assert not list(tmp_path.glob(".*.tmp"))  # no temporaries left


def test_missing_and_garbled(tmp_path):
    with pytest.raises(StructureError, match="does not exist"):
        read_structure(tmp_path / "nope.cif")
    bad = tmp_path / "bad.cif"
    bad.write_text("data_x\n_cell_length_a banana\nloop_\n")
    with pytest.raises(StructureError, match="could not read"):
        read_structure(bad)
    empty = tmp_path / "POSCAR"
    empty.write_text("")
    with pytest.raises(StructureError, match="empty"):
        read_structure(empty)
    weird = tmp_path / "x.weird"
    weird.write_text("1")
    with pytest.raises(StructureError, match="format"):
        read_structure(weird)


def test_overlapping_atoms_rejected(tmp_path):
    poscar = tmp_path / "POSCAR"
    poscar.write_text("overlap\n1.0\n4 0 0\n0 4 0\n0 0 4\nW O\n1 1\nCartesian\n0 0 0\n0.2 0 0\n")
    with pytest.raises(StructureError, match="apart"):
        read_structure(poscar)

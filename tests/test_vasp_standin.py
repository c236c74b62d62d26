"""The VASP stand-in (mttmat/hpc/vasp_standin.py) under atomate2 and custodian, locally.

What only real VASP can prove is not proved here: numbers. What is proved: atomate2's VASP
jobs of the chain write complete inputs (POTCARs from PMG_VASP_PSP_DIR, pymatgen's NELECT
for a charged cell), custodian runs the command from ATOMATE2_VASP_CMD, a VASP error is
recognised and corrected by custodian's handler, and the outputs parse into atomate2's
TaskDoc and into mttmat's DOS document.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("custodian")


@pytest.fixture
def standin(tmp_path, monkeypatch, fake_potcars):
    """``vasp_std`` on PATH runs the stand-in; atomate2 reads the command from the env."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "vasp_std"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} -m mttmat.hpc.vasp_standin \"$@\"\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("ATOMATE2_VASP_CMD", "vasp_std")
    monkeypatch.setenv("ATOMATE2_VASP_GAMMA_CMD", "vasp_std")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(flow, root):
    from jobflow import run_locally

    out = run_locally(flow, create_folders=True, root_dir=root, ensure_success=True)
    return {u: r[1].output for u, r in out.items()}


def _cell():
    from mttmat.structures import cubic_wo3, make_supercell
    from mttmat.structures.sites import insert_li

    return insert_li(make_supercell(cubic_wo3(), [2, 1, 1]), [[0.0, 0.0, 0.0]])


@pytest.mark.integration
def test_atomate2_jobs_of_the_chain_run_the_standin_through_custodian(standin, monkeypatch):
    from jobflow import Flow

    from mttmat.backends import get_backend
    from mttmat.schemas.dos import DosDoc
    from tests.fake_potcars import ZVAL

    vasp = get_backend("vasp")
    cell = _cell()
    # 1. a VASP error (BRMIX) on the first run: custodian's VaspErrorHandler fixes the INCAR
    monkeypatch.setenv("MTTMAT_STANDIN_FAIL", "brmix")
    static = vasp.static_maker(calculator_kwargs={"spin_polarized": True}).make(cell)
    doc = _run(Flow([static]), standin / "a")[static.uuid]
    assert doc.state.value == "successful"
    fixes = [c for c in doc.custodian[0].corrections]
    assert [c["errors"] for c in fixes] == [["brmix"]]
    assert doc.input.incar["IMIX"] == 1  # the handler's action reached the rerun
    folder = Path(doc.dir_name.split(":")[-1])
    launches = [json.loads(x) for x in (folder / "standin_launch.jsonl").read_text().splitlines()]
    assert len(launches) == 2 and launches[0]["argv"][0].endswith("vasp_standin.py")
    dos = DosDoc.from_vasprun(next(folder.glob("vasprun.xml*")))
    assert dos.pdos_method and any(k.startswith("W:d") for k in dos.pdos)
    monkeypatch.delenv("MTTMAT_STANDIN_FAIL")

    # 2. Li_i^+: NELECT = Σ ZVAL − 1 from the POTCARs, an AIMD chunk and a relax
    charged = vasp.static_maker(calculator_kwargs={"charge": 1.0}).make(cell)
    md = vasp.md_maker((300.0, 600.0), 5).make(cell)
    relax = vasp.relax_maker(steps=4).make(cell)
    docs = _run(Flow([charged, md, relax]), standin / "b")
    zval = sum(ZVAL[{"W": "W_sv", "O": "O", "Li": "Li_sv"}[s.specie.symbol]] for s in cell)
    assert docs[charged.uuid].input.incar["NELECT"] == zval - 1
    assert docs[md.uuid].state.value == "successful"
    from pymatgen.io.vasp import Vasprun

    md_dir = Path(docs[md.uuid].dir_name.split(":")[-1])
    assert len(Vasprun(next(md_dir.glob("vasprun.xml*"))).ionic_steps) == 5  # one per MD step
    assert docs[md.uuid].input.incar["TEBEG"] == 300 and docs[md.uuid].input.incar["TEEND"] == 600
    assert docs[relax.uuid].state.value == "successful"

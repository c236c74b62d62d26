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

import numpy as np
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
    # jobflow-remote moves every output through JSON: the documents must survive the trip
    from monty.json import MontyDecoder, jsanitize

    for d in (doc, *docs.values()):
        back = MontyDecoder().process_decoded(json.loads(json.dumps(jsanitize(d, strict=True))))
        assert back.output.energy == pytest.approx(d.output.energy)
    # the formation summary reads the stored task document (no job folder): NELECT, the
    # LOCPOT planar averages (LVHAR), U and k-mesh, the same from the object and its JSON
    from pymatgen.io.vasp import Locpot

    from mttmat.backends.vasp_docs import vasp_calc_doc

    task = docs[charged.uuid]
    calc = vasp_calc_doc(task)
    assert calc == vasp_calc_doc(json.loads(json.dumps(jsanitize(task, strict=True))))
    el = calc["electronic"]
    assert el["n_electrons"] == zval - 1
    assert el["hubbard_u_ev"]["W"] > 0 and "O" not in el["hubbard_u_ev"]  # U on W d only
    loc = Locpot.from_file(str(next(Path(task.dir_name.split(":")[-1]).glob("LOCPOT*"))))
    for axis, avg in enumerate(el["planar_avg_potential_ev"]):
        assert avg == pytest.approx(loc.get_average_along_axis(axis).tolist())
    assert calc["output"]["energy"] == pytest.approx(task.output.energy)
    assert el["kpts"] == list(task.input.kpoints.kpts[0])
    # the fine-tuning frames: the neutral static is one (forces, stress in ASE's units and
    # sign, moments of the spin-polarised run), the charged cell is refused
    from ase import units

    from mttmat.schemas.frames import DftFrame

    frame = DftFrame.from_calc(vasp_calc_doc(doc), job_uuid=static.uuid, role="host")
    assert np.allclose(frame.forces_ev_a, doc.output.forces)
    assert np.allclose(frame.stress_ev_a3, -0.1 * units.GPa * np.asarray(doc.output.stress))
    outcar_moments = [m["tot"] for m in doc.calcs_reversed[0].output.outcar["magnetization"]]
    assert frame.spin_polarized and frame.magmoms_mub == pytest.approx(outcar_moments)
    assert len(outcar_moments) == len(cell)
    assert frame.settings.code == "vasp" and frame.settings.hubbard_u_ev["W"] > 0
    with pytest.raises(ValueError, match="charged"):
        DftFrame.from_calc(calc, job_uuid=charged.uuid)


def _ml_band(n_images: int = 1) -> dict:
    """A stand-in ML band: Li moved in a straight line between two sites of the cell."""
    import numpy as np

    from mttmat.schemas.migration import HopSpec

    a = _cell()
    li = len(a) - 1
    start = a.frac_coords[li]
    vec = np.array([0.25, 0.0, 0.0])  # 0.94 Å along a: inside the open WO3 cage
    images = []
    for k in range(n_images + 2):
        s = a.copy()
        s.replace(li, "Li", coords=(start + vec * k / (n_images + 1)) % 1.0)
        images.append(s)
    hop = HopSpec(i=0, j=1, image=(0, 0, 0), length_a=float(np.linalg.norm(
        a.lattice.get_cartesian_coords(vec))), vector_frac=tuple(vec))  # fmt: skip
    return {"images": images, "hop": hop.model_dump(), "fidelity": "ml"}


@pytest.mark.integration
def test_vasp_ci_neb_relaxes_the_endpoints_runs_atomate2s_neb_and_feeds_a_neb_doc(standin):
    """neb.dft: ci-neb with VASP: both endpoints relaxed in VASP with the band's charge, the
    ML band moved onto them, atomate2's NEB job (custodian's VaspNEBJob, atomate2's
    VaspNebFilesValidator) on the image folders, collected by atomate2's collect_neb_output
    into the same NebHopDoc as a local CI-NEB."""
    import gzip

    from jobflow import Flow

    from mttmat.flows.vasp import VaspMaterialChainMaker
    from mttmat.schemas.migration import NebHopDoc
    from tests.fake_potcars import ZVAL

    band = _ml_band(1)
    ckw = {"charge": 1.0, "spin_polarized": False, "kpts": [1, 1, 1], "smearing_ev": 0.05,
           "ecut_ev": 400.0}  # as the chain gives every DFT job
    chain = VaspMaterialChainMaker(neb_dft="ci-neb", neb_images=1, neb_fmax=0.05,
                                   neb_max_steps=20)  # fmt: skip
    flow = chain.dft_band(band, ckw)
    out = _run(Flow([flow]), standin / "neb")
    by_name = {j.name: out[j.uuid] for j, _ in flow.iterflow()}
    doc = NebHopDoc.model_validate(out[flow.output.uuid].model_dump())
    assert doc.backend == "vasp" and doc.fidelity == "dft" and doc.seed == "ml"
    assert len(doc.images) == 3 and doc.energies_ev[0] == 0.0
    assert doc.converged and 0 < doc.n_steps < 20  # every image stopped before NSW

    ends = [by_name["vasp relax initial endpoint"], by_name["vasp relax final endpoint"]]
    zval = sum(ZVAL[{"W": "W_sv", "O": "O", "Li": "Li_sv"}[s.specie.symbol]] for s in _cell())
    for t in ends:  # the endpoints: VASP relaxations of the Li ion (q = +1)
        assert t.input.incar["NELECT"] == zval - 1 and t.input.incar["IBRION"] == 2
    # the NEB's end images are the relaxed endpoints, its energies theirs
    assert doc.images[0].cart_coords == pytest.approx(ends[0].output.structure.cart_coords)
    assert doc.images[-1].cart_coords == pytest.approx(ends[1].output.structure.cart_coords)
    e0 = ends[0].output.energy
    assert doc.energies_ev[-1] == pytest.approx(ends[1].output.energy - e0, abs=1e-6)

    neb = by_name["vasp CI-NEB"]
    folder = Path(neb.dir_name.split(":")[-1])
    from pymatgen.io.vasp import Incar

    incar = Incar.from_file(next(folder.glob("INCAR*")))
    assert incar["IMAGES"] == 1 and incar["LCLIMB"] and incar["ISYM"] == 0
    for t in ends:  # the band's ends come from the relaxations: the same Hamiltonian and grid
        for key in ("PREC", "EDIFF", "ENCUT", "ISPIN", "LDAUU", "ISMEAR", "SIGMA", "NELECT"):
            assert t.input.incar[key] == incar[key], key
    assert doc.max_force_ev_a > 0  # VTST's NEB force line of the image's OUTCAR
    assert incar["NELECT"] == zval - 1 and not incar.get("LVTOT") and not incar.get("LAECHG")
    assert all((folder / "01" / f).exists() or (folder / "01" / f"{f}.gz").exists()
               for f in ("CONTCAR", "OSZICAR", "OUTCAR"))  # fmt: skip
    cust = next(folder.glob("custodian.json*"))
    opener = gzip.open if cust.suffix == ".gz" else open
    with opener(cust, "rt") as fh:
        assert '"VaspNEBJob"' in fh.read()  # custodian ran atomate2's NEB job type
    neb_job = next(j for j, _ in flow.iterflow() if j.name == "vasp CI-NEB")
    validators = [type(v).__name__ for v in neb_job.maker.run_vasp_kwargs["validators"]]
    assert validators == ["VaspNebFilesValidator"]  # atomate2's, not the top-folder ones

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.vasp import Incar

from mttmat.backends import BackendError, available_backends, get_backend
from mttmat.backends.gpaw import gpaw_setups
from mttmat.backends.vasp import custodian_handlers, write_vasp_inputs
from mttmat.structures import cubic_wo3, make_supercell


def test_registry():
    assert {"chgnet", "gpaw", "vasp"} <= set(available_backends())
    assert get_backend("chgnet").fidelity == "ml"
    assert get_backend("gpaw").fidelity == "dft"
    with pytest.raises(BackendError, match="unknown backend 'siesta'"):
        get_backend("siesta")


def test_gpaw_setups_string():
    assert gpaw_setups({"W": 6.2, "Nb": 4.0, "O": 0.0}, {"W": 2, "Nb": 2}) == {
        "W": ":d,6.2",
        "Nb": ":d,4",
    }


def test_gpaw_refuses_large_cells():
    with pytest.raises(BackendError, match="gpaw_max_atoms"):
        get_backend("gpaw").check_structure(make_supercell(cubic_wo3(), (3, 3, 3)))


def _mixed_structure():
    # deliberately unsorted species so that POSCAR order != alphabetical order
    return Structure(
        Lattice.cubic(8.0),
        ["Li", "Nb", "O", "W", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], [0.5, 0, 0], [0, 0.5, 0.25]],
    )


@pytest.mark.parametrize("kind", ["static", "relax", "md"])
def test_vasp_inputs_carry_dft_u_in_poscar_order(tmp_path, kind):
    b = get_backend("vasp")
    maker = {
        "static": b.static_maker,
        "relax": b.relax_maker,
        "md": lambda: b.md_maker((3000, 300), 50),
    }[kind]()
    d = write_vasp_inputs(maker, _mixed_structure(), tmp_path)
    incar = Incar.from_file(d / "INCAR")
    species = (d / "POSCAR").read_text().splitlines()[5].split()
    assert species == ["Li", "Nb", "O", "W", "O"]
    u = {"Li": 0.0, "Nb": 4.0, "O": 0.0, "W": 6.2}
    l_ = {"Li": -1, "Nb": 2, "O": -1, "W": 2}
    assert incar["LDAU"] is True and incar["LDAUTYPE"] == 2
    assert incar["LDAUU"] == [u[x] for x in species]
    assert incar["LDAUL"] == [l_[x] for x in species]
    assert incar["LMAXMIX"] == 4 and incar["ISPIN"] == 2
    assert incar["GGA"].upper() == "PE"
    if kind == "relax":
        assert incar["EDIFFG"] == pytest.approx(-0.02)
    if kind == "md":
        assert incar["TEBEG"] == 3000 and incar["TEEND"] == 300 and incar["NSW"] == 50
    spec = (d / "POTCAR.spec").read_text().split()
    assert [p.split("_")[0] for p in spec] == species
    assert not (d / "POTCAR").exists()


def test_custodian_setup():
    b = get_backend("vasp", max_errors=3)
    kw = b.run_vasp_kwargs()
    names = [type(h).__name__ for h in kw["handlers"]]
    assert "VaspErrorHandler" in names and "UnconvergedErrorHandler" in names
    assert kw["max_errors"] == 3
    with pytest.raises(BackendError, match="unknown custodian handler"):
        custodian_handlers(["NoSuchHandler"])
    with pytest.raises(BackendError, match="unknown custodian handler"):
        get_backend("vasp", add_handlers=["Nope"])
    with pytest.raises(BackendError, match="unknown VASP backend option"):
        get_backend("vasp", handlers=["VaspErrorHandler"])  # the old, replacing option


# ------------------------------------------------------------------ GPAW (real DFT, ~30 s)
def _gpaw_energy_fermi(structure, **kw):
    calc = get_backend("gpaw").calculator(kpts=(2, 2, 2), spin_polarized=False, txt=None, **kw)
    atoms = structure.to_ase_atoms()
    atoms.calc = calc
    return atoms.get_potential_energy(), calc.get_fermi_level(), calc


@pytest.mark.gpaw
def test_gpaw_plus_u_changes_energy_and_li_raises_fermi_level():
    host = cubic_wo3()
    e_u, ef_host, calc = _gpaw_energy_fermi(host)
    e_0, _, _ = _gpaw_energy_fermi(host, hubbard_u_ev={"W": 0.0})
    # +U on localized W 5d raises the total energy (Dudarev penalty) by eV, not meV
    assert e_u - e_0 > 1.0
    doped = host.copy()
    doped.append("Li", [0, 0, 0])  # cube centre of ReO3-type WO3
    _, ef_doped, calc_d = _gpaw_energy_fermi(doped)
    assert calc_d.get_number_of_electrons() == calc.get_number_of_electrons() + 1
    # Li donates its electron to the empty W 5d band: E_F moves up into it
    assert ef_doped > ef_host + 0.5


@pytest.mark.gpaw
def test_gpaw_static_maker_document(tmp_path):
    from mttmat.store import get_store, run_flow

    job = (
        get_backend("gpaw")
        .static_maker(calculator_kwargs={"kpts": [2, 2, 2], "spin_polarized": False})
        .make(cubic_wo3())
    )
    store = get_store(tmp_path / "store")
    run_flow(job, store, tmp_path / "jobs")
    store.connect()
    out = store.get_output(job.uuid)
    el = out["electronic"]
    assert out["backend"] == "gpaw" and out["fidelity"] == "dft"
    assert el["hubbard_u_ev"] == {"W": 6.2}
    assert el["n_electrons"] > 0 and el["band_gap_ev"] > 0.2  # WO3 is an insulator
    assert el["vbm_ev"] < el["fermi_level_ev"] < el["cbm_ev"]
    job_dir = next((tmp_path / "jobs").iterdir())
    assert (job_dir / "gpaw.gpw").is_file() and (job_dir / "gpaw.txt").is_file()


# ------------------------------------------------------------------ CHGNet
@pytest.mark.chgnet
def test_chgnet_relax_lowers_energy_and_forces(tmp_path):
    from mttmat.store import get_store, run_flow

    s = cubic_wo3()
    s.perturb(0.15, min_distance=0.05)
    s.append("Li", [0.05, 0.02, 0.0])
    backend = get_backend("chgnet")
    static = backend.static_maker().make(s)
    relax = backend.relax_maker(steps=300).make(s)
    store = get_store(tmp_path / "store")
    run_flow([static, relax], store, tmp_path / "jobs")
    store.connect()
    e0 = store.get_output(static.uuid)["output"]
    e1 = store.get_output(relax.uuid)["output"]
    f0 = np.abs(np.array(e0["forces"])).max()
    f1 = np.abs(np.array(e1["forces"])).max()
    assert e1["energy"] < e0["energy"]
    assert f1 < f0 and f1 < 0.05


def test_vasp_charge_rules(tmp_path):
    """A charge 0 is neutral (inputs without POTCARs); a charge with an explicit NELECT, and
    a charged cell in the neutral DOS chain, are refused."""
    from mttmat.backends import get_backend
    from mttmat.backends.base import BackendError
    from mttmat.structures import cubic_wo3

    vasp = get_backend("vasp")
    cell = cubic_wo3()
    neutral = vasp.static_maker(calculator_kwargs={"charge": 0.0})
    d = write_vasp_inputs(neutral, cell, tmp_path / "n")
    assert (d / "POTCAR.spec").exists() and "NELECT" not in (d / "INCAR").read_text()
    maker = vasp.static_maker(calculator_kwargs={"charge": 1.0},
                              user_incar_settings={"NELECT": 40})  # fmt: skip
    with pytest.raises(BackendError, match="explicit NELECT"):
        write_vasp_inputs(maker, cell, tmp_path / "c")
    with pytest.raises(BackendError, match="neutral cells"):
        vasp.dos_jobs("x", cell, {"charge": 1.0})

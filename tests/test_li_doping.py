from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from mttmat.flows.li_doping import LiDopingMaker, insert_li
from mttmat.schemas.li_doping import LiDopingSummary
from mttmat.structures import StructureError, bcc_li, cubic_wo3


def _doc(structure, energy, ef, n_el, u=None, cbm=None, gap=None, mag=None):
    return {
        "structure": structure,
        "output": {"energy": energy},
        "backend": "gpaw",
        "fidelity": "dft",
        "electronic": {
            "fermi_level_ev": ef,
            "n_electrons": n_el,
            "hubbard_u_ev": u if u is not None else {"W": 6.2},
            "cbm_ev": cbm,
            "band_gap_ev": gap,
            "total_magnetic_moment_mub": mag,
        },
    }


def _cells(n_li=1):
    host = cubic_wo3()
    doped = host.copy()
    for i in range(n_li):
        doped.append("Li", [0.0, 0.0, 0.1 * i])
    return host, doped


def test_summary_equations():
    host, doped = _cells()
    s = LiDopingSummary.from_docs(
        _doc(host, -40.0, 4.0, 32, cbm=4.5, gap=1.0),
        _doc(doped, -44.5, 5.2, 33),
        _doc(bcc_li(), -3.8, 0.0, 2),
        n_li=1,
    )
    # ΔE = E(doped) − E(host) − E_Li = −44.5 + 40 + 1.9 = −2.6 eV; V = 2.6 V
    assert s.insertion_energy_per_li_ev == pytest.approx(-2.6)
    assert s.voltage_vs_li_v == pytest.approx(2.6)
    assert s.fermi_shift_ev == pytest.approx(1.2)
    assert s.fermi_above_host_cbm_ev == pytest.approx(0.7)
    assert s.electrons_added == 1


def test_summary_rejects_inconsistent_cells():
    host, doped = _cells(n_li=2)
    with pytest.raises(ValueError, match="declared n_li = 1"):
        LiDopingSummary.from_docs(
            _doc(host, -40, 4, 32), _doc(doped, -44, 5, 34), _doc(bcc_li(), -3.8, 0, 2), n_li=1
        )
    host, doped = _cells()
    with pytest.raises(ValueError, match="refusing to mix"):
        LiDopingSummary.from_docs(
            _doc(host, -40, 4, 32),
            _doc(doped, -44, 5, 33, u={"W": 4.0}),
            _doc(bcc_li(), -3.8, 0, 2),
            n_li=1,
        )


def test_insert_li_checks_sites():
    with pytest.raises(StructureError, match="not a void"):
        insert_li(cubic_wo3(), [[0.5, 0.5, 0.45]])  # on top of W
    li2o = Structure(Lattice.cubic(4.6), ["Li", "O"], [[0.25, 0.25, 0.25], [0, 0, 0]])
    with pytest.raises(StructureError, match="W or Nb"):
        insert_li(li2o, [[0.5, 0.5, 0.5]])
    assert insert_li(cubic_wo3(), [[0, 0, 0]]).composition["Li"] == 1


@pytest.mark.gpaw
@pytest.mark.chgnet
def test_li_doping_flow_physics(tmp_path):
    """CHGNet relax → GPAW PBE+U on LiWO3 vs WO3 vs bcc Li (~1 min)."""
    from mttmat.store import get_store, run_flow

    kw = {"kpts": [2, 2, 2], "spin_polarized": False}
    flow = LiDopingMaker(
        dft_kwargs=kw, li_metal_kwargs={"kpts": [3, 3, 3], "spin_polarized": False}
    ).make(cubic_wo3())
    store = get_store(tmp_path / "store")
    run_flow(flow, store, tmp_path / "jobs")
    store.connect()
    s = store.get_output(flow.jobs[-1].uuid)
    assert s["electrons_added"] == 1  # Li gives one valence electron
    assert s["fermi_shift_ev"] > 0.5  # n-type: E_F rises into the W 5d band
    assert s["fermi_above_host_cbm_ev"] > 0
    assert 0.5 < s["voltage_vs_li_v"] < 6.0  # Li binds; finite, physical voltage
    assert s["hubbard_u_ev"] == {"W": 6.2}
    assert set(s["uuids"]) == {
        "ml_relax_host",
        "ml_relax_doped",
        "dft_host",
        "dft_doped",
        "dft_li_metal",
    }
    for role in ("dft_host", "dft_doped"):
        assert store.get_output(s["uuids"][role])["fidelity"] == "dft"

    # the ECRAM CLI builds, calibrates and exports straight from this store
    from mttmat.cli import main
    from mttmat.device import EcramParameters

    out = tmp_path / "ecram"
    uuid = flow.jobs[-1].uuid
    rc = main(
        [
            "ecram",
            "--from-store",
            str(tmp_path / "store"),
            "--summary",
            f"WOx={uuid}",
            "-o",
            str(out),
            "--no-figures",
        ]
    )
    assert rc == 0
    p = EcramParameters.from_json(out / "ecram_parameters_WOx.json")
    assert p.site_energy_mean_ev.value == pytest.approx(s["insertion_energy_per_li_ev"])
    assert s["uuids"]["dft_doped"] in p.site_energy_mean_ev.source.uuids
    assert p.w_density_cm3.source.kind == "structure"
    assert (
        main(
            [
                "ecram",
                "--from-store",
                str(tmp_path / "store"),
                "--summary",
                "WOx=nope",
                "-o",
                str(out),
            ]
        )
        == 2
    )

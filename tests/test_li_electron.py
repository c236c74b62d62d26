"""Band vs polaron: the symmetry-broken start and the comparison of the two solutions."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Structure

from mttmat.jobs.li_electron import compare_li_solutions, polaron_start
from mttmat.structures import make_supercell
from mttmat.structures.crystals import cubic_wo3


def _cell() -> Structure:
    """Cubic WO3 2×2×2 (every O bridges two different W) with Li off an A-site centre."""
    s = make_supercell(cubic_wo3(), [2, 2, 2])
    s.append("Li", [0.22, 0.25, 0.27])
    return s


def test_polaron_start_breaks_symmetry_on_the_cation_next_to_li():
    s = _cell()
    out = polaron_start.original(s, "W", distortion_a=0.1, moment_mub=1.0)
    mag = out.site_properties["magmom"]
    disp = np.asarray(out.site_properties["start_displacement"])
    w = [i for i, x in enumerate(s) if x.specie.symbol == "W"]
    near = min(w, key=lambda i: s.get_distance(i, len(s) - 1))
    assert mag[near] == 1.0 and sum(mag) == 1.0  # one moment, on the W next to Li
    assert np.allclose(out.cart_coords, s.cart_coords)  # the geometry itself is unchanged
    shell = 0
    for j, site in enumerate(s):
        moved = s.copy()
        moved.translate_sites([j], disp[j], frac_coords=False)
        before, after = s.get_distance(near, j), moved.get_distance(near, j)
        if site.specie.symbol == "O" and before <= 2.4:
            shell += 1
            assert after == pytest.approx(before + 0.1, abs=1e-6)  # first shell pushed out
        else:
            assert not np.any(disp[j])  # nothing else is displaced
    assert shell == 6  # the octahedron
    atoms = out.to_ase_atoms()  # both reach the DFT job through the ASE atoms
    assert atoms.get_initial_magnetic_moments()[near] == 1.0
    assert np.allclose(atoms.arrays["start_displacement"], disp)


def test_polaron_start_needs_li_last():
    s = _cell()
    s.remove_sites([len(s) - 1])
    with pytest.raises(ValueError, match="no Li in"):
        polaron_start.original(s)


def _static(e):
    return {"output": {"energy": e}}


def _cells(band_cb, pol_cb):
    base = {"n_li": 1, "electrons_in_gap": 0.0, "extra_electron_participation": 6.0,
            "polaron_like": False}  # fmt: skip
    return {"cells": [
        {**base, "label": "band", "fermi_above_host_cbm_ev": band_cb,
         "highest_occupied_above_host_cbm_ev": band_cb, "electrons_above_host_cbm":
         1.0 if band_cb > 0 else 0.0, "max_local_moment_mub": None},
        {**base, "label": "polaron", "fermi_above_host_cbm_ev": pol_cb,
         "highest_occupied_above_host_cbm_ev": pol_cb, "electrons_above_host_cbm": 0.0,
         "electrons_in_gap": 1.0, "max_local_moment_mub": 0.8, "polaron_like": True},
    ]}  # fmt: skip


TREAT = {"band": "spin-paired", "polaron": "spin-polarised, 1 μB on W"}


def test_lower_solution_is_the_ground_state_and_the_verdict_says_so():
    el = compare_li_solutions.original(_static(-100.0), _static(-100.25), _cells(0.2, -1.5),
                                       TREAT, {"band": "u1", "polaron": "u2"})  # fmt: skip
    assert el.ground_state == "polaron" and el.delta_e_polaron_minus_band_ev == pytest.approx(-0.25)
    assert el.ground_state_doc == _static(-100.25) and not el.n_type and el.polaron_localized
    assert "does not hold" in el.verdict and "1.50 eV below" in el.verdict
    assert "the band solution would be n-type" in el.verdict
    el = compare_li_solutions.original(_static(-100.3), _static(-100.25), _cells(0.2, -1.5),
                                       TREAT, {})  # fmt: skip
    assert el.ground_state == "band" and el.n_type and "holds for the band" in el.verdict
    assert el.solution("band").electrons_above_host_cbm_per_li == pytest.approx(1.0)
    # a spin-polarised start that stayed delocalised is lower by spin polarisation only:
    # never called a polaron
    flat = _cells(0.2, 0.1)
    flat["cells"][1].update(max_local_moment_mub=0.1, polaron_like=False,
                            electrons_above_host_cbm=1.0)  # fmt: skip
    el = compare_li_solutions.original(_static(-100.0), _static(-100.05), flat, TREAT, {})
    assert el.ground_state == "polaron" and not el.polaron_localized and el.n_type
    assert "spin-polarised (delocalised) ground state" in el.verdict
    assert "is spin polarisation" in el.verdict


@pytest.mark.integration
@pytest.mark.gpaw
def test_symmetry_breaking_start_ends_at_the_real_geometry(monkeypatch, tmp_path):
    """A start_displacement is a start, not a geometry: the single point ends at the given
    positions, with the energy a plain SCF there gives (a closed-shell cell has one state)."""
    from jobflow import Flow, run_locally

    monkeypatch.chdir(tmp_path)  # run_locally writes its job folders here
    from mttmat.backends import get_backend

    s = make_supercell(cubic_wo3(), [2, 1, 1])  # 8 atoms, rattled: no symmetry (a glass)
    rng = np.random.default_rng(0)
    s = Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, 0.05, (len(s), 3)),
                  coords_are_cartesian=True)  # fmt: skip
    kick = np.zeros((len(s), 3))
    kick[2] = [0.1, 0.05, 0.0]  # O atoms pushed off their sites
    kick[5] = [-0.1, 0.0, 0.05]
    kicked = s.copy(site_properties={"start_displacement": kick.tolist()})
    maker = get_backend("gpaw").static_maker(
        calculator_kwargs={"kpts": [1, 1, 1], "ecut_ev": 250, "spin_polarized": False}
    )
    e = {}
    for name, st in (("plain", s), ("kicked", kicked)):
        j = maker.make(st)
        out = run_locally(Flow([j]), create_folders=True, ensure_success=True)[j.uuid][1].output
        moved = [out.structure[k].distance(s[k]) for k in range(len(s))]  # periodic
        assert max(moved) < 1e-6
        e[name] = out.output.energy
    assert e["kicked"] == pytest.approx(e["plain"], abs=1e-3)

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from mttmat.structures import (
    StructureError,
    bcc_li,
    check_min_distances,
    cubic_wo3,
    density_g_cm3,
    gamma_wo3,
    make_supercell,
    parent_crystal,
    random_packing,
    remove_oxygen,
    require_elements,
)
from mttmat.structures.validate import min_distance_for


def _mo_bonds(s, cation="W", cutoff=2.5):
    d = s.distance_matrix
    m = [i for i, x in enumerate(s) if x.specie.symbol == cation]
    o = [i for i, x in enumerate(s) if x.specie.symbol == "O"]
    dd = d[np.ix_(m, o)]
    return dd[dd < cutoff], (dd < cutoff).sum(axis=1)


def test_gamma_wo3_symmetry_density_bonds():
    s = gamma_wo3()
    assert s.composition.reduced_formula == "WO3" and len(s) == 32
    assert SpacegroupAnalyzer(s, symprec=1e-3).get_space_group_number() == 14
    assert density_g_cm3(s) == pytest.approx(7.2, abs=0.05)
    bonds, coordination = _mo_bonds(s)
    assert bonds.min() == pytest.approx(1.79, abs=0.01)
    assert bonds.max() == pytest.approx(2.08, abs=0.01)
    assert set(coordination) == {6}  # every W octahedral


def test_cubic_wo3_and_bcc_li():
    c = cubic_wo3()
    assert SpacegroupAnalyzer(c).get_space_group_number() == 221
    assert c.get_distance(0, 1) == pytest.approx(3.78 / 2)
    li = bcc_li()
    assert SpacegroupAnalyzer(li).get_space_group_number() == 229
    assert li.distance_matrix[0, 1] == pytest.approx(3.49 * np.sqrt(3) / 2)
    with pytest.raises(ValueError, match="unknown parent crystal"):
        parent_crystal("alpha-WO3")


def test_supercell_counts():
    assert len(make_supercell(gamma_wo3(), (2, 2, 1))) == 128
    assert len(make_supercell(cubic_wo3(), 2)) == 32
    with pytest.raises(ValueError):
        make_supercell(cubic_wo3(), (0, 1, 1))


@pytest.mark.parametrize(("comp", "rho"), [("Nb48O120", 4.5), ("W32O96", 6.5)])
def test_random_packing_respects_distances_and_composition(comp, rho):
    s = random_packing(comp, rho, seed=3)
    assert s.composition.formula.replace(" ", "") == comp
    assert density_g_cm3(s) == pytest.approx(rho, rel=1e-9)
    check_min_distances(s, scale=0.9)  # the packing limits: 0.9 x the default table
    # and explicitly: every pair at or above its limit
    d = s.distance_matrix + np.eye(len(s)) * 99
    sym = [x.specie.symbol for x in s]
    lim = np.array([[0.9 * min_distance_for(a, b) for b in sym] for a in sym])
    assert np.all(d >= lim - 1e-9)
    # the seed is the whole random state
    assert np.allclose(random_packing(comp, rho, seed=3).cart_coords, s.cart_coords)


def test_random_packing_bad_density():
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="density must be > 0"):
            random_packing("Nb2O5", bad)
    with pytest.raises(StructureError, match="lower the density"):
        random_packing("W8O24", 40.0, max_restarts=2, max_attempts_per_atom=400)


def test_oxygen_substoichiometry():
    host = make_supercell(gamma_wo3(), (2, 2, 1))
    r = remove_oxygen(host, 2.875, seed=7)
    n_w = r.structure.composition["W"]
    assert r.structure.composition["O"] / n_w == pytest.approx(2.875)
    assert r.x_achieved == pytest.approx(2.875)
    assert len(r.removed_indices) == 4 and r.seed == 7
    assert all(host[i].specie.symbol == "O" for i in r.removed_indices)
    assert remove_oxygen(host, 2.875, seed=7).removed_indices == r.removed_indices
    assert remove_oxygen(host, 2.875, seed=8).removed_indices != r.removed_indices
    with pytest.raises(ValueError, match="must be in"):
        remove_oxygen(host, 3.5)
    with pytest.raises(StructureError, match="no W or Nb"):
        remove_oxygen(bcc_li(), 1.0)


def test_min_distance_and_required_elements():
    s = cubic_wo3()
    s.append("Li", s[0].coords + np.array([0.3, 0, 0]), coords_are_cartesian=True)
    with pytest.raises(StructureError, match="physical minimum"):
        check_min_distances(s)
    with pytest.raises(StructureError, match=r"W or Nb|one of"):
        require_elements(bcc_li(), ("W", "Nb"), "test")

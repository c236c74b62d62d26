"""Hop networks: percolation on absolute saddle energies, hop choice, the DFT check."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pymatgen.core import Lattice

from mttmat.analysis.hops import DFT_SADDLE_ML_SITES, network_barrier
from mttmat.analysis.network import SaddleHop, saddle_percolation
from mttmat.jobs.hop_network import choose_hops


def _brute_force(e_site, hops, direction):
    """Smallest S* − min E over the winding cluster, by trying every threshold (test oracle).

    For each candidate threshold S (a hop's saddle), the hops with saddle ≤ S form a graph;
    a cluster winds along ``direction`` when two paths reach one site with lattice offsets
    differing along it (found by a BFS that records offsets)."""
    for s_star in sorted({h.saddle_ev for h in hops}):
        edges = [h for h in hops if h.saddle_ev <= s_star]
        seen: dict[int, np.ndarray] = {}
        for start in range(len(e_site)):
            if start in seen:
                continue
            seen[start] = np.zeros(3, int)
            comp, stack, wind = [start], [start], False
            while stack:
                a = stack.pop()
                for h in edges:
                    im = np.array(h.image)
                    for u, v, img in ((h.i, h.j, im), (h.j, h.i, -im)):
                        if u != a:
                            continue
                        off = seen[a] + img
                        if v not in seen:
                            seen[v] = off
                            comp.append(v)
                            stack.append(v)
                        elif (off - seen[v])[direction] != 0:
                            wind = True
            if wind:
                return s_star - min(e_site[k] for k in comp)
    return None


def test_trap_limits_the_percolation_barrier():
    """A deep site on the only path: Li must climb from it to the highest saddle on the way,
    which the largest single-hop barrier (max of forward, backward) underestimates."""
    e = [-0.5, 0.0, 0.0]  # A (deep), B, C
    hops = [SaddleHop(0, 1, (0, 0, 0), 0.1), SaddleHop(1, 2, (0, 0, 0), 0.5),
            SaddleHop(2, 0, (1, 0, 0), 0.1)]  # fmt: skip
    p = saddle_percolation(e, hops)
    assert p["x"]["barrier_ev"] == pytest.approx(1.0)  # S* 0.5 − E_min −0.5
    assert p["x"]["hop"] == 1 and p["y"] is None and p["all"] is None
    assert p["any"] == p["x"]
    single_hop_max = max(min(h.saddle_ev - e[h.i], h.saddle_ev - e[h.j]) for h in hops)
    assert single_hop_max < p["x"]["barrier_ev"]


def test_saddle_percolation_matches_brute_force_on_random_networks():
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(1, 5))
        e = rng.normal(0, 0.2, n)
        hops = []
        for i, j in itertools.combinations_with_replacement(range(n), 2):
            for img in itertools.product((-1, 0, 1), repeat=3):
                if (i == j and img <= (0, 0, 0)) or rng.random() > 0.15:
                    continue
                hops.append(SaddleHop(i, j, img, max(e[i], e[j]) + rng.uniform(0, 0.6)))
        p = saddle_percolation(e, hops)
        for d, name in enumerate("xyz"):
            want = _brute_force(e, hops, d)
            got = p[name]["barrier_ev"] if p[name] else None
            assert (want is None) == (got is None)
            if want is not None:
                assert got == pytest.approx(want)


def test_a_saddle_below_an_end_is_refused():
    with pytest.raises(ValueError, match="below an end site"):
        saddle_percolation([0.0, 0.3], [SaddleHop(0, 1, (0, 0, 0), 0.2)])


def test_choose_hops_shortest_first_until_it_winds_in_3d():
    lat = Lattice.cubic(4.0)
    hops, why = choose_hops(lat, [[0, 0, 0], [0.5, 0, 0]], min_hops=3, max_hops=10)
    lengths = [h.length_a for h in hops]
    assert lengths == sorted(lengths) and lengths[0] == pytest.approx(2.0)
    assert "winds in x, y and z" in why
    # x from the two 2 Å hops; y and z need the 4 Å own-image hops of a site
    assert {h.image for h in hops if h.i == h.j} >= {(0, 1, 0), (0, 0, 1)}
    few, why = choose_hops(lat, [[0, 0, 0], [0.5, 0, 0]], min_hops=1, max_hops=2)
    assert len(few) == 2 and "wind along x" in why


def _net(direction="any"):
    sites = [{"energy_ev": 0.0}, {"energy_ev": 0.1}]
    hops = [
        {"i": 0, "j": 1, "image": [0, 0, 0], "saddle_ev": 0.3, "barrier_forward_ev": 0.3,
         "has_saddle": True, "verdict": "saddle at image 1 of 2: E_a = 0.300 eV"},
        {"i": 1, "j": 0, "image": [1, 0, 0], "saddle_ev": 0.5, "barrier_forward_ev": 0.4,
         "has_saddle": True, "verdict": "saddle at image 1 of 2: E_a = 0.500 eV"},
    ]  # fmt: skip
    perc = saddle_percolation([0.0, 0.1], [SaddleHop(h["i"], h["j"], tuple(h["image"]),
                                                     h["saddle_ev"]) for h in hops])  # fmt: skip
    return {"sites": sites, "hops": hops, "limiting_hop": perc["any"]["hop"],
            "direction": direction, "percolation_barrier_ev": perc["any"]["barrier_ev"],
            "fidelity": "ml", "selection": "test"}  # fmt: skip


def test_network_barrier_uses_a_dft_saddle_and_never_a_downhill_band():
    net = _net()
    assert net["limiting_hop"] == 1 and net["percolation_barrier_ev"] == pytest.approx(0.5)
    value, fid, note, k = network_barrier(net, None)
    assert (value, fid, k) == (pytest.approx(0.5), "ml", 1)
    # DFT on the limiting band: a saddle 0.6 eV above its initial site (site 1, E = 0.1)
    dft = {"energies_ev": [0.0, 0.6, -0.1], "fidelity": "dft energies on the ml path"}
    value, fid, note, k = network_barrier(net, dft)
    assert value == pytest.approx(0.7) and fid == DFT_SADDLE_ML_SITES and k == 1
    assert "upper bound" in note and "differs" not in note
    # a monotonic DFT band is a reaction energy: the ML saddle stays, and the note says so
    downhill = {"energies_ev": [0.0, -0.4, -0.74], "fidelity": "dft energies on the ml path"}
    value, fid, note, _ = network_barrier(net, downhill)
    assert value == pytest.approx(0.5) and fid == "ml"
    assert "no saddle: the band is monotonic, ΔE = -0.740 eV" in note
    # a DFT saddle lower than another hop's ML saddle hands the limit to that hop
    low = {"energies_ev": [0.0, 0.15, 0.0], "fidelity": "dft energies on the ml path"}
    value, fid, note, k = network_barrier(net, low)
    assert k == 0 and value == pytest.approx(0.3) and fid == "ml" and "(ML) then limits" in note
    assert "differs from the ML site energies' -0.100 eV" in note  # DFT ΔE 0 vs ML −0.1
    # an unconverged ML band is named in the note, never silently used
    net["hops"][0]["converged"] = False
    assert "hop(s) [0] did not reach its force limit" in network_barrier(net, None)[2]
    net2 = {**net, "direction": None, "percolation_barrier_ev": None}
    assert network_barrier(net2, dft)[0] is None

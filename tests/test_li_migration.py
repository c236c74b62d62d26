"""Li migration: hop enumeration, percolation on constructed graphs, resumable CI-NEB, GPAW hop."""

from __future__ import annotations

import numpy as np
import pytest

from mttmat.analysis.network import Hop, diffusion_coefficient, percolation_barrier
from mttmat.flows.li_migration import LiMigrationMaker, enumerate_hops
from mttmat.jobs.migration import li_network, neb_hop
from mttmat.jobs.neb import NebError, hop_summary, interpolate_images, run_neb
from mttmat.structures import make_supercell
from mttmat.structures.crystals import cubic_wo3
from mttmat.structures.sites import insert_li

SITES = [[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]]  # cube centres of cubic WO3 2×1×1 (W at ½½½)


# ----------------------------------------------------------------------------- hops


def test_hops_include_periodic_images_once():
    host = make_supercell(cubic_wo3(), [2, 1, 1])
    hops = enumerate_hops(host, SITES, 3.9)
    keys = [(h.i, h.j, h.image) for h in hops]
    assert len(keys) == len(set(keys)) == 6
    assert (0, 1, (0, 0, 0)) in keys and (0, 1, (-1, 0, 0)) in keys  # two windows to site 1
    assert (0, 0, (0, 1, 0)) in keys and (0, 0, (0, -1, 0)) not in keys  # self-image once
    assert all(h.length_a == pytest.approx(3.78) for h in hops)
    with pytest.raises(ValueError, match="> 0"):
        enumerate_hops(host, SITES, 0.0)


def test_migration_flow_refuses_bad_requests():
    host = make_supercell(cubic_wo3(), [2, 1, 1])
    with pytest.raises(ValueError, match="closer than"):
        LiMigrationMaker(hop_cutoff_a=2.0).make(host, SITES)
    with pytest.raises(ValueError, match="not within"):
        LiMigrationMaker(hop_cutoff_a=3.9).make(host, SITES, hops=[(0, 1, (1, 1, 1))])
    with pytest.raises(ValueError, match="HPC"):
        LiMigrationMaker(dft_backend="vasp", hop_cutoff_a=3.9).make(host, SITES)


# ----------------------------------------------------------------------------- percolation


def test_percolation_chain():
    # 1D chain A-B-A-B... with alternating barriers 0.2 and 0.6: the chain needs 0.6
    hops = [Hop(0, 1, (0, 0, 0), 0.2, 2.0), Hop(1, 0, (1, 0, 0), 0.6, 2.0)]
    p = percolation_barrier(2, hops)
    assert p["x"] == 0.6 and p["y"] is None and p["all"] is None and p["any"] == 0.6


def test_percolation_3d_lattice_is_the_bottleneck_per_direction():
    rng = np.random.default_rng(0)
    n = 3  # 3×3×3 sites in one cell, bonds along x, y, z with random barriers
    idx = {(i, j, k): i * 9 + j * 3 + k for i in range(n) for j in range(n) for k in range(n)}
    hops = []
    for (i, j, k), a in idx.items():
        for d in range(3):
            nb = [i, j, k]
            nb[d] += 1
            image = [0, 0, 0]
            if nb[d] == n:
                nb[d] = 0
                image[d] = 1
            hops.append(Hop(a, idx[tuple(nb)], tuple(image), float(rng.uniform(0.1, 0.9)), 1.0))
    p = percolation_barrier(27, hops)
    # independent brute force (BFS with image offsets) at every candidate threshold
    for d, key in enumerate("xyz"):
        first = next(e for e in sorted({h.barrier_ev for h in hops}) if _wraps_bfs(27, hops, e, d))
        assert p[key] == first
    assert p["all"] == max(p["x"], p["y"], p["z"])
    # raising every x-bond to 2 eV: x percolation costs 2 eV; y, z can only get harder
    hops_x = [Hop(h.i, h.j, h.image, 2.0, 1.0) if _is_x(h, idx) else h for h in hops]
    px = percolation_barrier(27, hops_x)
    assert px["x"] == 2.0 and px["y"] >= p["y"] and px["z"] >= p["z"]


def _wraps_bfs(n: int, hops: list[Hop], e_max: float, d: int) -> bool:
    adj: dict[int, list[tuple[int, np.ndarray]]] = {k: [] for k in range(n)}
    for h in hops:
        if h.barrier_ev <= e_max:
            adj[h.i].append((h.j, np.array(h.image)))
            adj[h.j].append((h.i, -np.array(h.image)))
    seen: dict[int, np.ndarray] = {}
    for start in range(n):
        if start in seen:
            continue
        seen[start] = np.zeros(3, int)
        stack = [start]
        while stack:
            u = stack.pop()
            for v, im in adj[u]:
                off = seen[u] + im
                if v not in seen:
                    seen[v] = off
                    stack.append(v)
                elif (seen[v] - off)[d] != 0:
                    return True
    return False


def _is_x(h: Hop, idx: dict) -> bool:
    inv = {v: k for k, v in idx.items()}
    a, b = np.array(inv[h.i]), np.array(inv[h.j]) + 3 * np.array(h.image)
    return abs(b - a)[0] == 1


def test_percolation_disconnected_never_percolates():
    hops = [Hop(0, 1, (0, 0, 0), 0.1, 2.0), Hop(2, 3, (0, 0, 0), 0.1, 2.0)]
    assert percolation_barrier(4, hops) == {
        "x": None, "y": None, "z": None, "any": None, "all": None
    }  # fmt: skip
    with pytest.raises(ValueError, match="outside"):
        percolation_barrier(2, [Hop(0, 5, (0, 0, 0), 0.1, 1.0)])


def test_diffusion_coefficient_formula():
    d = diffusion_coefficient(0.5, 3.0, 300.0, 1e13, 3)
    expected = (3e-8) ** 2 * 1e13 * np.exp(-0.5 / (8.617333262e-5 * 300)) / 6
    assert d == pytest.approx(expected, rel=1e-12)
    assert diffusion_coefficient(0.3, 3.0) > d  # lower barrier, faster
    with pytest.raises(ValueError):
        diffusion_coefficient(-0.1, 3.0)


def test_network_job_uses_the_higher_barrier_of_each_hop():
    hop = {"i": 0, "j": 0, "image": (1, 0, 0), "length_a": 3.8, "vector_frac": (1, 0, 0)}
    doc = {"hop": hop, "barrier_forward_ev": 0.4, "barrier_backward_ev": 0.5,
           "hop_length_a": 3.8, "fidelity": "dft"}  # fmt: skip
    out = li_network.original([doc], [[0, 0, 0]], {})
    assert out.percolation_barrier_ev["x"] == 0.5
    assert out.diffusion_coefficient_cm2_s == pytest.approx(
        diffusion_coefficient(0.5, 3.8, 300, 1e13, 1)
    )


# ----------------------------------------------------------------------------- NEB (EMT, fast)


class _Stop(Exception):
    pass


def _vacancy_hop():
    """Cu vacancy hop: a neighbour moves into the vacancy (a textbook EMT barrier ~0.7 eV)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.optimize import BFGS

    base = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    vac = base.positions[0].copy()
    del base[0]
    mover = int(np.argmin(np.linalg.norm(base.positions - vac, axis=1)))
    ini, fin = base.copy(), base.copy()
    fin.positions[mover] = vac
    for a in (ini, fin):
        a.calc = EMT()
        BFGS(a, logfile=None).run(fmax=0.01)
    return ini, fin, mover, EMT


def test_neb_climbing_image_at_maximum_and_barriers_consistent(tmp_path):
    ini, fin, mover, emt = _vacancy_hop()
    images = interpolate_images(ini, fin, 3)
    run = run_neb(images, emt, fmax=0.05, checkpoint=tmp_path / "neb.npz")
    assert run.converged and run.forces_max_ev_a < 0.05
    s = hop_summary(run, mover)
    e = np.asarray(s["energies_ev"])
    assert s["climbing_index"] == int(np.argmax(e)) and s["saddle_is_interior"]
    assert s["barrier_forward_ev"] - s["barrier_backward_ev"] == pytest.approx(e[-1] - e[0])
    assert 0.3 < s["barrier_forward_ev"] < 1.2  # finite, physical
    # path continuous: no image jumps by more than the hop length between neighbours
    steps = [
        np.linalg.norm(b.positions - a.positions)
        for a, b in zip(run.images, run.images[1:], strict=False)
    ]
    assert max(steps) < s["hop_length_a"]
    assert run.force_calls > 0


def test_killed_neb_resumes_from_its_last_images(tmp_path):
    ini, fin, _mover, emt = _vacancy_hop()
    images = interpolate_images(ini, fin, 3)
    ck = tmp_path / "neb.npz"

    def stop(msg: str) -> None:
        if "step 10" in msg:
            raise _Stop

    with pytest.raises(_Stop):
        run_neb(images, emt, fmax=0.05, checkpoint=ck, progress=stop)
    resumed = run_neb(images, emt, fmax=0.05, checkpoint=ck)
    assert resumed.resumed_from_step == 10
    fresh = run_neb(images, emt, fmax=0.05, checkpoint=tmp_path / "fresh.npz")
    assert resumed.converged
    assert max(resumed.energies_ev) == pytest.approx(max(fresh.energies_ev), abs=0.01)
    with pytest.raises(NebError, match="different band"):
        run_neb(interpolate_images(ini, fin, 5), emt, checkpoint=ck)


def test_neb_refuses_mismatched_endpoints():
    from ase.build import bulk

    a = bulk("Cu", cubic=True)
    with pytest.raises(NebError, match="same atoms"):
        interpolate_images(a, a.repeat(2), 3)


# ----------------------------------------------------------------------------- GPAW hop


@pytest.mark.integration
@pytest.mark.gpaw
def test_gpaw_li_hop_between_cube_centres_of_cubic_wo3(tmp_path, monkeypatch):
    """DFT+U (PBE, U_W 6.2 eV) Li hop through the O4 window; host frozen (rigid-host barrier)."""
    monkeypatch.chdir(tmp_path)
    host = make_supercell(cubic_wo3(), [2, 1, 1])
    (hop,) = [
        h for h in enumerate_hops(host, SITES, 3.9) if (h.i, h.j, h.image) == (0, 1, (0, 0, 0))
    ]
    a, b = insert_li(host, [SITES[0]]), insert_li(host, [SITES[1]])
    kw = {"kpts": [1, 2, 2], "spin_polarized": False}
    d = neb_hop.original(a, b, hop, "gpaw", 3, 0.05, fix_host=True, calculator_kwargs=kw)
    e = np.asarray(d.energies_ev)
    assert d.converged
    assert 0.05 < d.barrier_forward_ev < 3.0  # finite
    assert d.climbing_index == int(np.argmax(e)) == 2  # symmetric hop: saddle in the window
    assert d.barrier_forward_ev - d.barrier_backward_ev == pytest.approx(e[-1] - e[0], abs=1e-9)
    assert abs(e[-1] - e[0]) < 0.02  # equivalent sites
    assert d.hop_length_a == pytest.approx(3.78, abs=0.01)
    li_x = [im.cart_coords[-1][0] for im in d.images]
    assert np.all(np.diff(li_x) > 0)  # continuous, monotonic path through the window


# ----------------------------------------------------------------------------- VASP inputs


def test_vasp_neb_inputs_carry_images_climbing_and_dft_u():
    from mttmat.backends import get_backend

    host = make_supercell(cubic_wo3(), [2, 1, 1])
    maker = get_backend("vasp").neb_maker(n_images=5)
    incar = maker.input_set_generator.get_input_set(
        insert_li(host, [SITES[0]]), potcar_spec=True
    ).incar
    assert incar["IMAGES"] == 5 and incar["LCLIMB"] is True and incar["SPRING"] == -5
    assert incar["IBRION"] == 3 and incar["IOPT"] == 1
    assert incar["EDIFFG"] == pytest.approx(-0.05)
    assert incar["LDAU"] is True and incar["LDAUU"][:1] == [6.2]  # W first in POSCAR order
    assert incar["GGA"].upper() == "PE"
    assert maker.run_vasp_kwargs["job_type"].value == "neb"
    # atomate2's NEB validator, not the vasprun.xml/CONTCAR one an NEB never satisfies
    assert [type(v).__name__ for v in maker.run_vasp_kwargs["validators"]] == [
        "VaspNebFilesValidator"
    ]
    with pytest.raises(ValueError, match="at least one image"):
        get_backend("vasp").neb_maker(n_images=0)


def test_cli_li_migration_refuses_bad_input_before_computing(tmp_path, capsys):
    from mttmat.cli import main
    from mttmat.structures import bcc_li, write_structure

    host = write_structure(make_supercell(cubic_wo3(), [2, 1, 1]), tmp_path / "wo3.cif")
    args = ["-o", str(tmp_path / "out"), "--store", str(tmp_path / "s"), "--sites-file"]
    sites = tmp_path / "sites.json"
    sites.write_text("[[0, 0, 0], [0.5, 0, 0]]")
    assert main(["li-migration", str(host), "--cutoff", "1.0", *args, str(sites)]) == 2
    assert "closer than" in capsys.readouterr().err
    li = write_structure(bcc_li(), tmp_path / "li.cif")
    assert main(["li-migration", str(li), *args, str(sites)]) == 2
    assert "W" in capsys.readouterr().err
    assert not (tmp_path / "out" / "jobs").exists()


@pytest.mark.chgnet
def test_ml_migration_flow_end_to_end(tmp_path):
    """Endpoints relaxed with CHGNet, ML CI-NEB of one hop, network, figures."""
    from mttmat.plots.neb import save_neb_figures
    from mttmat.store import get_store, run_resumable

    host = make_supercell(cubic_wo3(), [2, 1, 1])
    maker = LiMigrationMaker(hop_cutoff_a=3.9, fmax_ev_a=0.1, max_neb_steps=150)
    flow = maker.make(host, SITES, hops=[(0, 1, (0, 0, 0))])
    store = get_store(tmp_path / "store")
    run_resumable(flow, store, tmp_path / "jobs", tmp_path / "flow.json")
    store.connect()
    out = {j.name: store.get_output(j.uuid, load=True) for j in flow.jobs}
    hop = out["hop 0->1 chgnet NEB"]
    e = np.asarray(hop["energies_ev"])
    assert hop["converged"] and hop["fidelity"] == "ml" and hop["seed"] == "idpp"
    assert 0.05 < hop["barrier_forward_ev"] < 2.0
    assert hop["climbing_index"] == int(np.argmax(e))
    assert hop["barrier_forward_ev"] - hop["barrier_backward_ev"] == pytest.approx(e[-1] - e[0])
    net = out["Li network"]
    # one hop inside the cell, no image hop selected: the network does not percolate
    assert net["percolation_barrier_ev"]["any"] is None
    assert len(net["hops"]) == 1 and net["hops"][0]["barrier_ev"] >= hop["barrier_forward_ev"]
    figs = save_neb_figures([hop], net, host.lattice.matrix, tmp_path / "figs")
    assert all(p.stat().st_size > 0 for p in figs)

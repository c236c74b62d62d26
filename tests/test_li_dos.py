"""Li interstitial sites (Voronoi + ML screening) and DFT+U DOS/PDOS of doped cells."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from mttmat.analysis.dos import (
    broadened_dos,
    count_electrons,
    dos_similarity,
    fermi_occupations,
)
from mttmat.schemas.dos import DosDoc
from mttmat.schemas.dos_summary import LiDosSummary
from mttmat.schemas.li_sites import LiSiteCandidate
from mttmat.structures import StructureError, cubic_wo3, make_supercell, read_structure
from mttmat.structures.sites import check_site_free, find_interstitial_sites

ROOT = Path(__file__).resolve().parents[1]
A_WOX_32 = ROOT / "structures" / "a-WOx-32.cif"


# ----------------------------------------------------------------------------- site finder
def test_site_finder_finds_the_cube_centre_of_cubic_wo3():
    """ReO3-type WO3 (W at ½½½): the A site at the cube corner, 12 O at a/√2, 8 W at a√3/2."""
    host = cubic_wo3()
    a = host.lattice.a
    site = find_interstitial_sites(host)[0]
    assert host.lattice.get_all_distances([site.frac_coords], [[0, 0, 0]])[0, 0] < 1e-6
    assert site.radius_a == pytest.approx(a / np.sqrt(2), abs=1e-6)
    assert site.nearest_cation_a == pytest.approx(a * np.sqrt(3) / 2, abs=1e-6)
    assert site.n_anion_neighbours == 12
    # a 2×2×2 supercell has 8 such cube centres, all found, none twice
    big = find_interstitial_sites(make_supercell(host, [2, 2, 2]))
    centres = [s for s in big if s.radius_a == pytest.approx(a / np.sqrt(2), abs=1e-4)]
    assert len(centres) == 8
    assert {tuple(np.round(np.asarray(s.frac_coords) * 2) % 2) for s in centres} == {
        (i, j, k) for i in (0, 1) for j in (0, 1) for k in (0, 1)
    }


@pytest.mark.parametrize(("dmin_cat", "dmin_an"), [(2.2, 1.75), (2.6, 2.0)])
def test_site_finder_never_returns_a_site_closer_than_its_minimum_distances(dmin_cat, dmin_an):
    host = read_structure(A_WOX_32)
    sites = find_interstitial_sites(host, dmin_cat, dmin_an, cluster_tol_a=0.5)
    assert len(sites) > 5
    frac = np.array([s.frac_coords for s in sites])
    is_o = np.array([s.specie.symbol == "O" for s in host])
    d = host.lattice.get_all_distances(frac, host.frac_coords)
    assert d[:, ~is_o].min() >= dmin_cat - 1e-9
    assert d[:, is_o].min() >= dmin_an - 1e-9
    # deduplicated under periodic boundaries
    dd = host.lattice.get_all_distances(frac, frac)
    np.fill_diagonal(dd, np.inf)
    assert dd.min() >= 0.5
    assert [s.radius_a for s in sites] == sorted((s.radius_a for s in sites), reverse=True)


def test_site_finder_refuses_a_host_without_a_large_enough_void():
    dense = Structure(Lattice.cubic(2.4), ["W", "O", "O", "O"],
                      [[0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])  # fmt: skip
    with pytest.raises(StructureError, match=r"no void .* large enough"):
        find_interstitial_sites(dense)


def test_a_site_already_holding_li_is_refused():
    host = cubic_wo3()
    host.append("Li", [0.0, 0.0, 0.0])
    with pytest.raises(StructureError, match="already contains Li"):
        check_site_free(host, [0.02, 0.0, 0.0])
    check_site_free(cubic_wo3(), [0.0, 0.0, 0.0])  # Li-free host: fine
    from mttmat.structures.sites import insert_li

    with pytest.raises(StructureError, match="already contains Li"):
        insert_li(host, [[0.0, 0.0, 0.0]])


def test_li_dos_maker_refuses_a_host_that_already_has_li():
    from mttmat.flows.li_dos import LiSitesDosMaker

    host = cubic_wo3()
    host.append("Li", [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="already contains Li"):
        LiSitesDosMaker().make(host)


# ----------------------------------------------------------------------------- selection
def _cand(i, e, frac, cn):
    return LiSiteCandidate(index=i, frac_coords_initial=frac, void_radius_a=2.0,
                           nearest_cation_a=2.5, nearest_anion_a=2.0, frac_coords_relaxed=frac,
                           energy_ev=e, li_o_coordination=cn)  # fmt: skip


def test_selection_merges_duplicates_takes_lowest_then_distinct_environments():
    from mttmat.jobs.sites import select_sites

    s = Structure(Lattice.cubic(10.0), ["W"], [[0.5, 0.5, 0.5]])
    cands = [
        _cand(0, -1.00, [0.10, 0.1, 0.1], 4),
        _cand(1, -1.20, [0.12, 0.1, 0.1], 4),  # 0.2 Å from 0: same site, lower → keeps 1
        _cand(2, -1.10, [0.90, 0.9, 0.9], 4),  # 2nd lowest
        _cand(3, -0.50, [0.30, 0.8, 0.1], 3),  # a different Li–O coordination
        _cand(4, -0.90, [0.70, 0.2, 0.3], 4),
        _cand(5, -0.80, [0.99, 0.11, 0.1], 4),  # within 0.5 Å of 0/1 across the boundary? no
    ]
    structs = dict.fromkeys(range(6), s)
    chosen = select_sites(cands, structs, n_sites=3, n_lowest=2, dedup_tol_a=0.5)
    assert chosen == [1, 2, 3]
    assert cands[0].duplicate_of == 1 and cands[1].duplicate_of is None
    assert cands[3].selection_reason.startswith("distinct")
    assert cands[1].relative_energy_ev == 0.0
    with pytest.raises(StructureError, match="holds only 5 distinct"):
        select_sites(cands, structs, n_sites=6, n_lowest=2, dedup_tol_a=0.5)


# ----------------------------------------------------------------------------- DOS maths
def test_broadened_dos_integrates_to_the_electron_count_and_projects_exactly():
    rng = np.random.default_rng(1)
    eigs = np.sort(rng.uniform(-10, 5, (2, 3, 12)), axis=-1)
    kw = [0.5, 0.25, 0.25]
    en = np.arange(-15, 10, 0.005)
    dos = broadened_dos(eigs, kw, en, 0.1)
    # 2 spin channels × 12 bands × 1 electron each
    assert np.trapezoid(dos.sum(0), en) == pytest.approx(24.0, abs=1e-6)
    w = rng.dirichlet(np.ones(3), size=(2, 3, 12))
    part = broadened_dos(eigs, kw, en, 0.1, w)
    np.testing.assert_allclose(part.sum(-1), dos, atol=1e-10)
    assert count_electrons(eigs, kw, 100.0, 0.05) == pytest.approx(24.0)
    same = dos_similarity([dos.sum(0), dos.sum(0), dos.sum(0)[::-1]], en, (-5, 2))
    assert same[0, 1] == pytest.approx(1.0) and same[0, 2] < 0.99


def test_vasprun_from_vasp_parses_into_the_same_document():
    """A real vasprun.xml (VASP 6.3.2, NaCl; shipped with ASE's test data), LORBIT = 0."""
    import ase

    path = Path(ase.__file__).parent / "test" / "testdata" / "vasp" / "vasprun_dfpt.xml"
    doc = DosDoc.from_vasprun(path)
    assert doc.code == "vasp" and doc.formula == "NaCl" and doc.n_electrons == 8.0
    en, tot = doc.arrays()
    occ = en <= doc.fermi_level_ev
    assert np.trapezoid(tot[occ], en[occ]) == pytest.approx(8.0, abs=0.01)
    assert doc.electrons_between() == pytest.approx(8.0, abs=1e-6)
    assert doc.band_gap_ev > 4.0  # NaCl: a wide-gap insulator
    assert doc.pdos == {} and "LORBIT = 11" in doc.pdos_method


def test_vasp_dos_chain_inputs_carry_dft_u_and_lorbit(tmp_path):
    from pymatgen.io.vasp import Incar, Kpoints

    from mttmat.backends import get_backend
    from mttmat.backends.vasp import write_vasp_inputs
    from mttmat.structures.sites import insert_li

    cell = insert_li(make_supercell(cubic_wo3(), [2, 1, 1]), [[0.0, 0.0, 0.0]])
    makers = get_backend("vasp").dos_makers()
    incars, meshes = {}, {}
    for step, maker in makers.items():
        d = write_vasp_inputs(maker, cell, tmp_path / step)
        incars[step] = Incar.from_file(d / "INCAR")
        meshes[step] = np.prod(Kpoints.from_file(d / "KPOINTS").kpts[0])
        assert (d / "POTCAR.spec").exists()
    for inc in incars.values():
        assert inc["LDAU"] and inc["LDAUU"][0] == 6.2 and inc["LDAUL"][0] == 2  # W first
    assert incars["static"]["LCHARG"] and incars["nscf"]["ICHARG"] == 11
    assert incars["nscf"]["LORBIT"] == 11 and incars["nscf"]["NEDOS"] >= 2000
    assert meshes["nscf"] > meshes["static"]  # the DOS runs on a denser mesh
    from mttmat.flows.li_dos import LiSitesDosMaker

    host = make_supercell(cubic_wo3(), [2, 1, 1])
    flow = LiSitesDosMaker(dft_backend="vasp", n_sites=2).make(host)
    names = [j.name for j in flow.jobs]
    assert names.count("vasp dos host") == 1 and "vasp dos site 2" in names


# ----------------------------------------------------------------------------- GPAW
def _gpaw_dos(structure, spin=False, kpts=(3, 3, 3)):
    from mttmat.backends import get_backend

    be = get_backend("gpaw")
    atoms = structure.to_ase_atoms()
    kw = {"kpts": list(kpts), "spin_polarized": spin, "txt": None}
    be.prepare_atoms(atoms, **kw)
    atoms.calc = be.calculator(**kw)
    atoms.get_potential_energy()
    return DosDoc.from_electronic(be.electronic_summary(atoms.calc, Path.cwd()), structure)


@pytest.mark.gpaw
def test_gpaw_doping_moves_ef_into_the_cb_and_pdos_adds_up(tmp_path, monkeypatch):
    """Cubic WO3 + Li at the cube centre (LiWO3), PBE+U: E_F in the host CB, from W 5d."""
    from mttmat.structures.sites import insert_li

    monkeypatch.chdir(tmp_path)
    host = _gpaw_dos(cubic_wo3())
    doped = _gpaw_dos(insert_li(cubic_wo3(), [[0.0, 0.0, 0.0]]))
    assert host.band_gap_ev > 0.5 and doped.band_gap_ev < 0.2  # insulator → metal
    for d in (host, doped):
        en, tot = d.arrays()
        psum = sum(d.channel(c) for c in d.pdos)
        # channels are per-state shares: they rebuild the total up to the stored rounding
        assert np.abs(psum - tot).max() < 1e-3 * tot.max()
        assert abs(d.pdos_spill) < 1e-4
        # the occupations hold exactly the cell's valence electrons ...
        assert d.electrons_between() == pytest.approx(d.n_electrons, abs=1e-4)
        # ... and the broadened DOS, filled by the same Fermi function, integrates to the
        # electrons in its window (the grid starts 25 eV below E_F, above W 5s/5p); in the
        # metal the 0.1 eV Gaussian moves some weight of the states at E_F across it
        fill = fermi_occupations(en, d.fermi_level_ev, d.smearing_ev)
        assert np.trapezoid(tot * fill, en) == pytest.approx(
            d.electrons_between(en[0] + 0.5), abs=0.01 if d.band_gap_ev > 0.3 else 0.2
        )
    assert doped.n_electrons - host.n_electrons == 1.0
    s = LiDosSummary.build(host, [doped], n_li=1, labels=["cube centre"])
    c = s.cells[0]
    assert c.fermi_above_host_cbm_ev > 0.1  # E_F moved into the conduction band
    assert c.highest_occupied_above_host_cbm_ev > 0.0
    assert 0.8 < c.electrons_donated_per_li < 1.1  # shallow donor: ~1 e into the CB
    assert c.polaron_like is None  # one W in the cell: localisation cannot be judged
    w_d = doped.channel("W:d")
    ef = doped.fermi_level_ev
    en, tot = doped.arrays()
    assert np.interp(ef, en, w_d) > 0.5 * np.interp(ef, en, tot)  # the CB is W 5d
    assert np.interp(ef, en, doped.channel("Li:s")) < 0.05 * np.interp(ef, en, tot)
    with pytest.raises(ValueError, match="declared n_li = 2"):
        LiDosSummary.build(host, [doped], n_li=2, labels=["x"])


def _model_dos(bands: list[float], n_electrons: float, species: list[str]) -> DosDoc:
    """A spin-paired Γ-only DOS document of the given levels, filled with n_electrons: E_F
    mid-gap for an even count, on the half-filled level for an odd one."""
    eigs = np.asarray(bands, float)[None, None, :]
    k = int(n_electrons // 2)
    fermi = bands[k] if n_electrons % 2 else (bands[k - 1] + bands[k]) / 2
    return DosDoc.from_arrays(
        code="model", species=species, formula="".join(species), eigs=eigs,
        kweights=np.array([1.0]), fermi=fermi, n_electrons=n_electrons, smearing=0.01,
        channel_weights=None, channels=[], atom_weights=None, pdos_method="none",
    )  # fmt: skip


def test_summary_fills_the_li_semicore_pair_of_vasps_li_sv_below_the_host_bands():
    """VASP's Li_sv brings 3 electrons (1s² deep, 2s¹ donated): the host-like VBM of the doped
    cell is found by filling the host's electrons plus the 1s pair, so the donated electron
    is counted the same as with GPAW's 1-electron Li; a 2-electron Li is refused."""
    host = _model_dos([-3, -2.5, -2, -1, 2, 2.5, 3], 8, ["W", "O", "O", "O"])
    spec = ["W", "O", "O", "O", "Li"]
    gpaw_like = _model_dos([-3, -2.5, -2, -1, 2, 2.5, 3], 9, spec)
    li_sv = _model_dos([-45, -3, -2.5, -2, -1, 2, 2.5, 3], 11, spec)
    a = LiDosSummary.build(host, [gpaw_like], n_li=1, labels=["x"])
    b = LiDosSummary.build(host, [li_sv], n_li=1, labels=["x"])
    assert (a.li_setup_electrons, b.li_setup_electrons) == (1.0, 3.0)
    for s in (a, b):
        c = s.cells[0]
        assert c.host_vbm_aligned_ev == pytest.approx(-1.0)  # not the band below it
        assert c.electrons_donated_per_li == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match="a Li setup brings 1 or 3 electrons"):
        LiDosSummary.build(host, [_model_dos([-3, -2.5, -2, -1, 2, 2.5, 3], 10, spec)], n_li=1,
                           labels=["x"])  # fmt: skip
    with pytest.raises(ValueError, match="different Li setups"):
        LiDosSummary.build(host, [gpaw_like, li_sv], n_li=1, labels=["x", "y"])


@pytest.mark.gpaw
def test_summary_refuses_cells_with_different_u(tmp_path, monkeypatch):
    from mttmat.structures.sites import insert_li

    monkeypatch.chdir(tmp_path)
    host = _gpaw_dos(cubic_wo3(), kpts=(1, 1, 1))
    doped = _gpaw_dos(insert_li(cubic_wo3(), [[0.0, 0.0, 0.0]]), kpts=(1, 1, 1))
    doped.hubbard_u_ev = {"W": 4.0}
    with pytest.raises(ValueError, match="refusing to mix"):
        LiDosSummary.build(host, [doped], n_li=1, labels=["x"])


@pytest.mark.integration
@pytest.mark.gpaw
@pytest.mark.chgnet
def test_li_dos_cli_screens_sites_and_writes_dos_documents_and_figures(tmp_path):
    """CHGNet screening of cubic WO3 2×1×1, GPAW DOS of the host and 2 Li sites.

    The two cube centres are equivalent by translation; without the symmetry-breaking kick
    Li stays at the centre (zero force by symmetry), so the two doped cells are the same
    crystal and their DOS must agree (similarity ≈ 1): the comparison measures something.
    (With the kick, CHGNet moves Li 0.66 Å off-centre in different directions and the
    similarity drops to 0.87: the 2×1×1 cell is not cubic.)
    """
    from mttmat.cli import main

    host = tmp_path / "host.cif"
    make_supercell(cubic_wo3(), [2, 1, 1]).to(filename=str(host))
    out = tmp_path / "out"
    calc = '{"kpts": [1, 2, 2], "symmetry": "off"}'
    args = ["li-dos", str(host), "--no-dft-relax", "--spin-paired", "--n-sites", "2",
            "--n-lowest", "1", "--max-candidates", "4", "--calc-kwargs", calc, "--rattle", "0",
            "--store", str(tmp_path / "store"), "-o", str(out)]  # fmt: skip
    assert main(args) == 0
    screening = json.loads((out / "li_sites.json").read_text())
    summary = json.loads((out / "li_dos_summary.json").read_text())
    assert screening["n_unique_sites"] == 2 and len(screening["selected"]) == 2
    assert all(c["energy_ev"] is not None for c in screening["candidates"])
    assert screening["energy_spread_ev"] < 0.05  # equivalent sites, equal ML energies
    assert summary["min_site_similarity"] > 0.99
    a, b = summary["cells"]
    assert a["fermi_level_ev"] == pytest.approx(b["fermi_level_ev"], abs=0.01)
    for c in (a, b):  # the Li electron is in the CB or in a gap state, never lost
        assert c["electrons_above_host_cbm"] + c["electrons_in_gap"] == pytest.approx(1.0, abs=0.02)
    assert set(summary["uuids"]) >= {"screening", "dos host", "dos site 1", "dos site 2"}
    for f in ("dos.png", "pdos.png", "dos_sites.png", "li_sites.png"):
        assert (out / "figures" / f).stat().st_size > 10_000
    assert (out / "site_1.cif").exists() and (out / "site_2.cif").exists()
    # rerun: everything comes from the store, nothing is recomputed
    mtime = (out / "li_dos_summary.json").stat().st_mtime_ns
    os.utime(out / "li_dos_summary.json", ns=(mtime, mtime))
    assert main(args) == 0
    assert json.loads((out / "li_dos_summary.json").read_text()) == summary


def test_li_dos_cli_refuses_bad_input_before_computing(tmp_path, capsys):
    from mttmat.cli import main

    host = tmp_path / "host.cif"
    cubic_wo3().to(filename=str(host))
    assert main(["li-dos", str(host), "--n-sites", "5", "--max-candidates", "2",
                 "-o", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "max_candidates >= n_sites" in capsys.readouterr().err
    assert main(["li-dos", str(host), "--calc-kwargs", "{kpts", "-o", str(tmp_path / "o")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    doped = cubic_wo3()
    doped.append("Li", [0, 0, 0])
    doped.to(filename=str(tmp_path / "doped.cif"))
    assert main(["li-dos", str(tmp_path / "doped.cif"), "-o", str(tmp_path / "o")]) == 2
    assert "already contains Li" in capsys.readouterr().err


@pytest.mark.chgnet
def test_killed_screening_resumes_without_redoing_finished_candidates(tmp_path, monkeypatch):
    import mttmat.jobs.sites as ls

    monkeypatch.chdir(tmp_path)
    host = make_supercell(cubic_wo3(), [2, 1, 1])
    real = ls._relax_candidate
    calls = []

    def dies_on_second(*args, **kwargs):
        calls.append(args[1].frac_coords)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(ls, "_relax_candidate", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        ls.screen_li_sites.original(host, n_sites=2, n_lowest=1, fmax=0.1)
    saved = json.loads((tmp_path / ls.PROGRESS_FILE).read_text())
    assert list(saved["results"]) == ["0"]
    calls.clear()
    monkeypatch.setattr(ls, "_relax_candidate", lambda *a, **k: calls.append(1) or real(*a, **k))
    doc = ls.screen_li_sites.original(host, n_sites=2, n_lowest=1, fmax=0.1)
    assert len(calls) == 1  # only the candidate that was not finished
    assert (
        len(doc.candidates) == 2
        and doc.candidates[0].energy_ev == saved["results"]["0"]["energy_ev"]
    )

"""One material chain for every backend: settings fixed at build time, and the local and the
HPC flows built from one config with the same stages in the same order."""

from __future__ import annotations

import json

import pytest
from monty.json import MontyDecoder, MontyEncoder

from mttmat.chain.build import build_chain_flows
from mttmat.chain.config import ChainConfig, HpcChainConfig
from mttmat.settings import get_settings

SMALL = {"WOx": {"start": "random", "composition": "W4O12", "density_g_cm3": 6.5}}


def _jobs(flow):
    return [j for j, _ in flow.iterflow()]


def _by_role(flow, role: str):
    """The job whose uuid the chain document lists under ``role``."""
    doc = next(j for j in _jobs(flow) if j.function.__name__ == "chain_document")
    stages = doc.function_args[2]
    return next(j for j in _jobs(flow) if j.uuid == stages[role]), stages


def test_dft_settings_are_fixed_when_the_flow_is_built(monkeypatch):
    """U, cutoff, mesh and smearing are inputs of every DFT job: a different U in the
    environment of the process that runs an already-built job changes nothing, and the
    resume key does not depend on the process settings."""
    pytest.importorskip("gpaw")
    from mttmat.runs.config import MainJobConfig
    from mttmat.runs.main_job import _key, build_main_flow

    cfg = MainJobConfig(materials=SMALL, dft={"hubbard_u_ev": {"W": 5.0}, "ecut_ev": 280})
    flow, _ = build_main_flow(cfg)
    key = _key(cfg, flow)
    saved = json.dumps(flow, cls=MontyEncoder)  # as run_resumable keeps it
    monkeypatch.setenv("MTTMAT_HUBBARD_U_EV", '{"W": 0.0, "O": 3.0}')
    monkeypatch.setenv("MTTMAT_GPAW_ECUT_EV", "500")
    get_settings.cache_clear()
    try:
        with pytest.warns(UserWarning, match="MTTMAT_GPAW_ECUT_EV, MTTMAT_HUBBARD_U_EV ignored"):
            get_settings()
        loaded = json.loads(saved, cls=MontyDecoder)
        host, _ = _by_role(loaded, "host")
        dft_jobs = [j for j in _jobs(loaded) if getattr(j.maker, "backend", "") == "gpaw"]
        assert len(dft_jobs) >= 6  # bcc Li, host, band, polaron, Li_i^+, two Li
        for j in dft_jobs:
            calc = j.maker._get_calculator()  # what the job builds when it runs
            meta = calc.mttmat_meta
            want = {} if j.name.startswith("bcc Li") else {"W": 5.0}
            assert meta["hubbard_u_ev"] == want, j.name
            assert meta["ecut_ev"] == 280.0 and meta["smearing_ev"] == 0.05, j.name
        assert host.maker._get_calculator().parameters.setups == {"W": ":d,5"}  # GPAW reads it
        assert _key(cfg, build_main_flow(cfg)[0]) == key
    finally:
        get_settings.cache_clear()


def test_local_and_hpc_flows_from_one_config_have_the_same_stages():
    """The HPC flow is the local chain with VASP makers and resources: the same stages in the
    same order, the same roles in the chain document, ending in the ECRAM parameters."""
    pytest.importorskip("jobflow_remote")
    from mttmat.hpc.config import HpcConfig
    from mttmat.hpc.flow import build_material_flow
    from tests.test_hpc import SHIPPED, _with  # the shipped cluster config

    data = _with(workflow={"materials": SMALL, "neb": {"n_images": 3}})
    hpc = HpcConfig(**data)
    local_flows, _ = build_chain_flows(hpc.workflow, dft_backend="gpaw", shared_li_metal=False)
    local, remote = local_flows["WOx"], build_material_flow(hpc, "WOx")
    assert SHIPPED.is_file()

    def stages(flow):
        """The stage of each step of the chain, in the order the chain puts them."""
        from jobflow import Flow

        chain = next(f for f in flow.jobs if isinstance(f, Flow) and f.name == "WOx chain")
        seq = []
        for item in chain.jobs:
            first = item if not isinstance(item, Flow) else _jobs(item)[0]
            st = first.metadata.get("stage")
            if st and (not seq or seq[-1] != st):
                seq.append(st)
        return seq

    assert stages(local) == stages(remote)
    assert stages(local)[-1] == "ECRAM parameters"
    params_l, roles_l = _by_role(local, "parameters")
    params_r, roles_r = _by_role(remote, "parameters")
    assert list(roles_l) == list(roles_r)
    assert params_l.function.__name__ == params_r.function.__name__ == "channel_parameters"
    # they differ in the makers of the DFT stages and in the resources only
    host_l, _ = _by_role(local, "host")
    host_r, _ = _by_role(remote, "host")
    assert type(host_l.maker).__name__ == "CalculatorRelaxMaker"
    assert type(host_r.maker).__name__ == "ChargedStaticMaker"
    assert host_r.config.manager_config["worker"] == "cluster"
    assert not host_l.config.manager_config
    # the same settings reach both codes
    incar = host_r.maker.input_set_generator.user_incar_settings
    assert incar["LDAUU"]["O"]["W"] == host_l.maker.calculator_kwargs["hubbard_u_ev"]["W"]
    assert incar["ENCUT"] == host_l.maker.calculator_kwargs["ecut_ev"] == 520.0


def test_the_chain_runs_the_makers_it_is_given_and_looks_up_no_backend(monkeypatch):
    """The stage makers are injected: with the backend lookup broken, the chain still builds
    from the makers it holds, and a replaced melt-quench maker is the one in the flow."""
    from dataclasses import replace

    import mttmat.flows.material_chain as mc
    from mttmat.backends import BackendError, get_backend
    from mttmat.chain.build import chain_maker, start_cell
    from mttmat.flows.melt_quench import MeltQuenchMaker
    from mttmat.flows.vasp import VaspMaterialChainMaker, VaspMeltQuenchMaker

    cfg = ChainConfig(materials=SMALL)
    maker = chain_maker(cfg, "WOx")
    assert type(maker) is mc.MaterialChainMaker and maker.dft.name == "gpaw"
    own = replace(maker, melt_quench_maker=MeltQuenchMaker(name="my quench", backend=maker.ml,
                                                           schedule=cfg.melt_quench))
    start, parent, _ = start_cell("WOx", cfg.materials["WOx"])

    def no_lookup(*a, **k):
        raise AssertionError("the chain looked up a backend by name")

    monkeypatch.setattr(mc, "get_backend", no_lookup)
    monkeypatch.setattr("mttmat.flows.melt_quench.get_backend", no_lookup)
    li = get_backend("gpaw").static_maker().make(start)
    flow = own.make(start, li, parent=parent)
    (quench,) = [f for f in flow.jobs if getattr(f, "name", "") == "my quench"]
    assert quench.jobs[0].name == "WOx: initialization"
    monkeypatch.undo()
    # a code that does not run in-process needs its per-code subclass, and says so
    with pytest.raises(BackendError, match="VaspMaterialChainMaker"):
        mc.MaterialChainMaker(dft=get_backend("vasp"), dft_kwargs=maker.dft_kwargs).make(start, li)
    # and every DFT setting is an input: none left to a code's or the environment's default
    with pytest.raises(ValueError, match=r"lack.*ecut_ev"):
        mc.MaterialChainMaker(dft_kwargs={"hubbard_u_ev": {"W": 6.2}}).make(start, li)
    vasp = chain_maker(cfg, "WOx", dft_backend="vasp", md_backend="vasp",
                       backend_options={"max_errors": 3})  # fmt: skip
    assert isinstance(vasp, VaspMaterialChainMaker)
    assert isinstance(vasp.melt_quench_maker, VaspMeltQuenchMaker)
    assert vasp.melt_quench_maker.backend is vasp.dft  # AIMD with the chain's custodian options
    assert vasp.melt_quench_maker.calculator_kwargs["hubbard_u_ev"] == {"W": 6.2}
    with pytest.raises(BackendError, match="MaterialChainMaker"):
        VaspMaterialChainMaker(dft=get_backend("gpaw"))
    # a Maker with its backends serializes and loads back equal (as atomate2's Makers do)
    back = json.loads(json.dumps(vasp, cls=MontyEncoder), cls=MontyDecoder)
    assert back == vasp and back.dft.max_errors == 3


@pytest.mark.parametrize("neb_dft", ["energies", "ci-neb"])
def test_every_role_of_the_chain_document_names_a_job(neb_dft):
    """The stage uuids in the chain document are jobs (whose outputs the report, the store
    and `ecram --from-store` read), also where a backend builds a stage as a flow (VASP's
    band statics, its CI-NEB)."""
    pytest.importorskip("jobflow_remote")
    from mttmat.hpc.config import HpcConfig
    from mttmat.hpc.flow import build_material_flow
    from tests.test_hpc import _with

    data = _with(workflow={"materials": SMALL, "neb": {"n_images": 2, "dft": neb_dft}})
    if neb_dft == "ci-neb":
        data["resources"]["neb"] = {**data["resources"]["relax"], "cores_per_node": 64}
    flow = build_material_flow(HpcConfig(**data), "WOx")
    uuids = {j.uuid: j for j in _jobs(flow)}
    band, stages = _by_role(flow, "DFT band")
    assert set(stages.values()) <= set(uuids)
    want = "band_from_statics" if neb_dft == "energies" else "neb_doc_from_vasp"
    assert band.function.__name__ == want
    # jobflow-remote refuses a flow whose jobs name a store the project lacks (it has "data")
    assert {k for j in uuids.values() for k in j._kwargs} <= {"data"}
    if neb_dft == "ci-neb":
        types = {j.name: j.metadata["mttmat_job_type"] for j in uuids.values()}
        assert types["WOx: vasp CI-NEB"] == "neb"
        assert types["WOx: vasp relax initial endpoint"] == "relax"


def test_hpc_chain_defaults_are_full_size():
    cfg = HpcChainConfig()
    assert cfg.materials["WOx"].crystal == "gamma-WO3" and cfg.materials["WOx"].melts
    assert cfg.dft.hubbard_u_ev == {"W": 6.2, "Nb": 4.0}
    assert ChainConfig().materials["WOx"].composition == "W4O12"


def test_every_job_of_every_flow_binds_its_arguments():
    """Each job of the main chain, the HPC chain and the Li-electron study is called with
    arguments its function accepts (a missing argument once failed the study at its end)."""
    import inspect

    pytest.importorskip("jobflow_remote")
    from pymatgen.core import Structure

    from mttmat.flows.li_electron_study import LiElectronStudyMaker
    from mttmat.hpc.config import HpcConfig
    from mttmat.hpc.flow import build_material_flow
    from mttmat.runs.config import MainJobConfig
    from mttmat.runs.main_job import build_main_flow
    from tests.test_hpc import _with

    host = Structure.from_file("structures/a-WOx-32.cif")
    flows = [
        build_main_flow(MainJobConfig())[0],
        build_material_flow(HpcConfig(**_with()), "NbOx"),
        LiElectronStudyMaker(u_values=(0.0, 6.2), geometries=("unrelaxed", "ml", "dft")).make(
            {"a": host}
        ),
    ]
    n = 0
    for flow in flows:
        for j in _jobs(flow):
            inspect.signature(j.function).bind(*j.function_args, **j.function_kwargs)
            n += 1
    assert n > 100


def test_vasp_chain_jobs_follow_the_config_not_the_environment(tmp_path, monkeypatch, fake_potcars):
    """On HPC every VASP cell takes the chain's settings, whatever the environment of the
    process that builds or runs the flow says: AIMD and relax included, spin-paired melt,
    the polaron start's single moment, no +U on bcc Li, the VASP command from the job's
    environment (set per job type), not baked into the Maker."""
    pytest.importorskip("jobflow_remote")
    from pymatgen.io.vasp import Incar, Poscar

    from mttmat.backends.vasp import write_vasp_inputs
    from mttmat.hpc.config import HpcConfig
    from mttmat.hpc.flow import build_material_flow
    from mttmat.jobs.li_electron import polaron_start
    from mttmat.structures.io import read_structure
    from mttmat.structures.sites import insert_li
    from tests.test_hpc import _with

    monkeypatch.setenv("MTTMAT_HUBBARD_U_EV", '{"W": 0.0}')
    get_settings.cache_clear()
    try:
        cfg = HpcConfig(**_with(workflow={"dft": {"hubbard_u_ev": {"W": 3.0}, "ecut_ev": 450}}))
        flow = build_material_flow(cfg, "WOx")
    finally:
        get_settings.cache_clear()
    host = read_structure("structures/a-WOx-32.cif")
    li = insert_li(host, None)
    pol = polaron_start.original(li, None, 0.1, 1.0)
    cells = {"host": host, "Li_i q=+0 polaron": pol, "Li_i q=+1": li}
    jobs = {j.name.split(": ", 1)[-1]: j for j in _jobs(flow)}
    written = {}
    for name, cell in [("init 0 AIMD", host), ("relax", host), ("bcc Li (μ_Li)", None),
                       *((f"vasp {k}", c) for k, c in cells.items())]:  # fmt: skip
        j = jobs[name]
        assert "vasp_cmd" not in j.maker.run_vasp_kwargs, name
        export = j.config.manager_config["exec_config"].export
        assert export["ATOMATE2_VASP_CMD"].strip("\"").startswith("srun "), name
        assert export["ATOMATE2_VASP_GAMMA_CMD"].strip("\"").startswith("srun "), name
        cell = cell if cell is not None else j.function_args[0]
        d = write_vasp_inputs(j.maker, cell, tmp_path / name.replace(" ", "_"))
        written[name] = (Incar.from_file(d / "INCAR"), Poscar.from_file(d / "POSCAR"))
    for name, (incar, poscar) in written.items():
        if name.startswith("bcc Li"):
            assert not incar.get("LDAU") and "LDAUU" not in incar  # no +U channel on Li
            continue
        u = dict(zip(poscar.site_symbols, incar["LDAUU"], strict=True))
        assert u["W"] == 3.0 and u["O"] == 0.0, name  # the config's, not the environment's
        assert incar["ENCUT"] == 450, name
    assert written["init 0 AIMD"][0]["ISPIN"] == 1 and written["relax"][0]["ISPIN"] == 1
    incar, poscar = written["vasp Li_i q=+0 polaron"]
    assert incar["ISPIN"] == 2
    moments = [m for m in incar["MAGMOM"] if abs(m) > 1e-6]
    assert moments == [1.0]  # one cation, as the polaron start says
    assert written["vasp Li_i q=+1"][0]["NELECT"] == 8 * 14 + 24 * 6 + 3 - 1

"""Config → chain flows, the same for every backend (local GPAW, HPC VASP).

* :func:`build_start`: the one start-cell builder (random packing, parent crystal, file);
  :func:`start_cell` checks its cell for the material's cation, for Li and for the DFT
  backend's cell-size limit;
* :func:`chain_maker`: the :class:`~mttmat.flows.material_chain.MaterialChainMaker` of one
  material, every calculation setting fixed from the config now;
* :func:`build_chain_flows`: bcc Li (μ_Li) and one chain per material.

The local main job runs the result as it is; the HPC run adds only workers, resources and
execution environments per job type (:func:`mttmat.hpc.flow.apply_run_config`).
"""

from __future__ import annotations

from typing import Any

from jobflow import Flow, Job
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.chain.config import ChainConfig, StartCell
from mttmat.errors import ConfigError
from mttmat.flows.material_chain import MaterialChainMaker
from mttmat.flows.melt_quench import MeltQuenchMaker
from mttmat.flows.vasp import VaspMaterialChainMaker, VaspMeltQuenchMaker
from mttmat.materials import cation_of
from mttmat.structures import bcc_li, make_supercell, parent_crystal, random_packing
from mttmat.structures.io import read_structure

__all__ = [
    "CHAIN_MAKERS",
    "MELT_QUENCH_MAKERS",
    "build_chain_flows",
    "build_start",
    "chain_maker",
    "li_metal_job",
    "start_cell",
]


def build_start(m: StartCell) -> tuple[Structure, Structure | None, dict[str, Any]]:
    """(start structure, parent crystal or None, description) of one start cell: a random
    packing, a parent crystal's supercell (its own parent), or a file (no parent). Every
    path that makes a start cell (the chain, ``mttmat melt-quench``, the HPC melt-quench
    recipe) makes it here."""
    if m.start == "random":
        s = random_packing(m.composition, m.density_g_cm3, seed=m.seed)
        meta = {"start": "random packing", "composition": m.composition,
                "density_g_cm3": m.density_g_cm3, "seed": m.seed}  # fmt: skip
        return s, None, meta
    if m.start == "crystal":
        s = make_supercell(parent_crystal(m.crystal), m.supercell)
        return s, s, {"start": "crystal", "crystal": m.crystal, "supercell": m.supercell}
    return read_structure(m.path), None, {"start": "file", "path": str(m.path)}


def start_cell(
    material: str, m: StartCell, dft_backend: str | None = None
) -> tuple[Structure, Structure | None, dict[str, Any]]:
    """:func:`build_start` for ``material``, checked.

    Raises :class:`ConfigError` naming the material for a cell that cannot be made, lacks
    the material's cation, holds Li already, or is too large for ``dft_backend``.
    """
    try:
        s, parent, meta = build_start(m)
    except ConfigError:
        raise
    except Exception as err:
        raise ConfigError(f"materials.{material}: cannot make the start cell: {err}") from err
    cation = cation_of(material)
    if cation not in {e.symbol for e in s.composition.elements}:
        raise ConfigError(f"materials.{material}: the start cell {s.formula} has no {cation}")
    if "Li" in s.composition:
        raise ConfigError(
            f"materials.{material}: the start cell {s.formula} already holds Li; give the "
            "Li-free host"
        )
    if dft_backend is not None:
        try:
            get_backend(dft_backend).check_structure(s)
        except Exception as err:
            raise ConfigError(f"materials.{material}: {err}") from err
    return s, parent, {**meta, "formula": s.composition.formula, "n_atoms": len(s)}


#: the per-code subclasses of the common Makers (atomate2's ``common``/``vasp`` split); a code
#: not listed here runs in-process through the common ones
CHAIN_MAKERS: dict[str, type[MaterialChainMaker]] = {"vasp": VaspMaterialChainMaker}
MELT_QUENCH_MAKERS: dict[str, type[MeltQuenchMaker]] = {"vasp": VaspMeltQuenchMaker}


def chain_maker(
    cfg: ChainConfig,
    material: str,
    ml_backend: str = "chgnet",
    dft_backend: str = "gpaw",
    backend_options: dict[str, Any] | None = None,
    md_backend: str | None = None,
) -> MaterialChainMaker:
    """The chain Maker of ``material``: the backend profile (the codes by name, the Maker
    class of each) turned into injected makers, every DFT setting an explicit field, fixed
    now. ``md_backend``: the melt-quench's code (default the ML potential; a DFT code: AIMD
    with the chain's DFT settings, spin-paired; the chain's own DFT backend object when it
    is the chain's DFT code, so the AIMD gets its custodian options)."""
    d, m = cfg.dft, cfg.materials[material]
    species = [cation_of(material), "O", "Li"]
    dft_kwargs = d.calculator_kwargs(species)
    dft, ml = get_backend(dft_backend, **(backend_options or {})), get_backend(ml_backend)
    mq = None
    if m.melts:
        name = md_backend or ml_backend
        md = {dft_backend: dft, ml_backend: ml}.get(name) or get_backend(name)
        mq = MELT_QUENCH_MAKERS.get(name, MeltQuenchMaker)(
            name="melt-quench", backend=md,
            schedule=cfg.melt_quench.model_copy(update={"seed": m.seed}),
            # AIMD in any DFT code: the chain's DFT settings, spin-paired
            calculator_kwargs={**dft_kwargs, "spin_polarized": False}
            if md.fidelity == "dft" else {},
        )  # fmt: skip
    return CHAIN_MAKERS.get(dft_backend, MaterialChainMaker)(
        material=material, ml=ml, dft=dft, melt_quench_maker=mq,
        max_candidates=cfg.li_sites.max_candidates,
        screening_fmax=cfg.li_sites.fmax_ev_a, dft_kwargs=dft_kwargs,
        polaron_distortion_a=d.polaron_distortion_a,
        polaron_moment_mub=d.polaron_moment_mub, dft_relax=d.relax,
        two_li_spin_polarized=d.two_li_spin_polarized,
        relax_fmax=d.relax_fmax_ev_a, relax_steps=d.relax_steps,
        dielectric=cfg.formation.dielectric[material],
        dielectric_source=cfg.formation.dielectric_source, neb_images=cfg.neb.n_images,
        neb_fmax=cfg.neb.fmax_ev_a, neb_max_steps=cfg.neb.max_steps, neb_dft=cfg.neb.dft,
        neb_charge=cfg.neb.charge, network_sites=cfg.neb.network_sites,
        min_hops=cfg.neb.min_hops, max_hops=cfg.neb.max_hops,
        max_hop_length_a=cfg.neb.max_hop_length_a, finetune=cfg.finetune.options(),
    )  # fmt: skip


def li_metal_job(
    cfg: ChainConfig, dft_backend: str = "gpaw", backend_options: dict[str, Any] | None = None
) -> Job:
    """The bcc Li single point (μ_Li) with the chain's cutoff and smearing, spin-paired."""

    d = cfg.dft
    j = get_backend(dft_backend, **(backend_options or {})).static_maker(
        name="bcc Li (μ_Li)",
        calculator_kwargs={**d.calculator_kwargs(["Li"]), "kpts": list(d.li_metal_kpts),
                           "kpts_gamma": True, "spin_polarized": False},
    ).make(bcc_li())  # fmt: skip
    j.metadata["stage"] = "DFT+U single points"
    j.metadata["role"] = "bcc Li"
    return j


def build_chain_flows(
    cfg: ChainConfig,
    materials: list[str] | None = None,
    ml_backend: str = "chgnet",
    dft_backend: str = "gpaw",
    backend_options: dict[str, Any] | None = None,
    shared_li_metal: bool = True,
    md_backend: str | None = None,
) -> tuple[dict[str, Flow], dict[str, dict[str, Any]]]:
    """One chain flow per material and the start cells ({material: {meta, parent}}).

    ``shared_li_metal``: one bcc Li job, in the first material's flow, serves every chain
    (the local run, one flow); False gives each flow its own (HPC: one flow per material,
    submitted and rerun on its own). ``md_backend``: the melt-quench's (default the ML
    potential; ``vasp`` for AIMD on HPC).
    """
    names = materials or list(cfg.materials)
    unknown = [m for m in names if m not in cfg.materials]
    if unknown:
        raise ConfigError(f"materials {unknown} are not in the config's {sorted(cfg.materials)}")
    flows: dict[str, Flow] = {}
    starts: dict[str, dict[str, Any]] = {}
    li_metal: Job | None = None
    for material in names:
        s, parent, meta = start_cell(material, cfg.materials[material], dft_backend)
        own = li_metal is None or not shared_li_metal
        if own:
            li_metal = li_metal_job(cfg, dft_backend, backend_options)
        assert li_metal is not None
        maker = chain_maker(cfg, material, ml_backend, dft_backend, backend_options, md_backend)
        chain = maker.make(s, li_metal, parent=parent)
        if own:
            chain = Flow([li_metal, chain], output=chain.output, name=chain.name)
        flows[material] = chain
        starts[material] = {"meta": meta, "parent": parent}
    return flows, starts

"""The chain part of a run configuration, shared by the local main job and the HPC run.

:class:`ChainConfig` holds what decides the computed numbers: the materials and their start
cells, the melt-quench schedule, the Li site screening, the DFT settings (U per species,
cutoff, k-mesh, smearing), ε of the charge correction and the hop network. The local main
job (:class:`~mttmat.runs.config.MainJobConfig`) adds the device stage and output folders; the
HPC run (:class:`~mttmat.hpc.config.HpcConfig`) adds workers, resources and custodian, with
full-size defaults (:class:`HpcChainConfig`). Material defaults (cation, U, ε, cells) come
from the one table in :mod:`mttmat.materials`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mttmat.jobs.melt_quench import MeltQuenchSchedule
from mttmat.materials import DIELECTRIC_SOURCE, MATERIALS, check_hubbard_u, hubbard_u_of

__all__ = [
    "ChainConfig",
    "DftConfig",
    "FineTuneConfig",
    "FormationConfig",
    "HpcChainConfig",
    "LiSitesConfig",
    "NebConfig",
    "StartCell",
]

def _default_schedule() -> MeltQuenchSchedule:
    # 16-atom cells, CHGNet, ~0.05 s/step here: 0.05 ps at 300 K, 0.1 ps ramp, 0.5 ps melt at
    # 6000 K (W4O12 keeps its crystal at 5000 K with CHGNet: W 0.42 Å² in the hold, 7.4 Å²
    # at 6000 K; Nb4O10 melts at either), 5000 K/ps quench (1.14 ps), cell relax.
    return MeltQuenchSchedule(
        init_steps=25,
        heat_steps=50,
        melt_temperature_k=6000.0,
        melt_steps=250,
        quench_rate_k_per_ps=5000.0,
        relax_cell=True,
        relax_fmax_ev_a=0.05,
        relax_steps=500,
        checkpoint_interval=50,
    )


class StartCell(BaseModel):
    """The start cell of one material."""

    model_config = ConfigDict(extra="forbid")

    start: Literal["random", "crystal", "file"] = Field(
        "random", description="random packing or parent crystal (both melt-quenched), or a "
        "file holding an amorphous host used as it is (no melt-quench)",
    )  # fmt: skip
    composition: str | None = Field(None, description="Cell composition (random packing).")
    density_g_cm3: float | None = Field(None, gt=0, description="Packing density.")
    crystal: str | None = Field(None, description="Parent crystal name (crystal start).")
    supercell: list[int] = Field([1, 1, 1], description="Supercell of the crystal.")
    seed: int = Field(0, description="Seed of the packing and of the melt-quench MD.")
    path: Path | None = Field(None, description="Structure file (file start).")
    melt_quench: bool | None = Field(
        None, description="Melt-quench the start cell (default: yes, unless it is a file)"
    )

    @model_validator(mode="after")
    def _complete(self) -> StartCell:
        if self.start == "random" and (self.composition is None or self.density_g_cm3 is None):
            raise ValueError("a random start needs composition and density_g_cm3")
        if self.start == "crystal" and self.crystal is None:
            raise ValueError("a crystal start needs crystal (e.g. gamma-WO3)")
        if self.start == "file":
            if self.path is None:
                raise ValueError("a file start needs path (e.g. structures/a-WOx-32.cif)")
            if not self.path.is_file():
                raise ValueError(f"structure file {self.path} does not exist")
        if len(self.supercell) != 3 or any(n < 1 for n in self.supercell):
            raise ValueError(f"supercell must be three integers >= 1, got {self.supercell}")
        return self

    @property
    def melts(self) -> bool:
        """Whether the chain melt-quenches this cell first."""
        return self.start != "file" if self.melt_quench is None else self.melt_quench


class LiSitesConfig(BaseModel):
    """ML screening of the Li sites (up to neb.network_sites distinct sites are kept)."""

    model_config = ConfigDict(extra="forbid")

    max_candidates: int = Field(6, ge=2, description="Largest voids screened.")
    fmax_ev_a: float = Field(0.05, gt=0, description="Force limit of each ML relax (eV/Å).")


class DftConfig(BaseModel):
    """DFT+U settings shared by every cell (the summaries refuse to mix settings).

    They are inputs of every DFT job, fixed when the flow is built and recorded in each DFT
    document: nothing in the environment of a running job changes them.
    """

    model_config = ConfigDict(extra="forbid")

    hubbard_u_ev: dict[str, float] = Field(
        default_factory=hubbard_u_of,
        description="Dudarev U_eff (eV) per species; species absent get U = 0 "
        "(default: the materials table, W 6.2 and Nb 4.0 eV)",
    )
    kpts: list[int] = Field([1, 1, 1], description="k-point mesh of the host/doped cells.")
    kpts_gamma: bool = Field(True, description="Γ-centred mesh (False: Monkhorst-Pack).")
    li_metal_kpts: list[int] = Field([8, 8, 8], description="k-point mesh of bcc Li.")
    ecut_ev: float = Field(300.0, gt=0, description="Plane-wave cutoff (eV).")
    smearing_ev: float = Field(0.05, gt=0, description="Fermi-Dirac width (eV).")
    polaron_distortion_a: float = Field(
        0.1, ge=0, le=0.3, description="Polaron start of Li_i^0: O shell of the cation next "
        "to Li pushed out this far (Å); the band solution is computed too.",
    )  # fmt: skip
    polaron_moment_mub: float = Field(
        1.0, gt=0, le=3, description="Polaron start: initial moment on that cation (μ_B)."
    )
    two_li_spin_polarized: bool = Field(
        False, description="Two-Li cell spin-polarised from one moment per Li (3-4x the SCF "
        "time); spin-paired by default: a lower bound on the two-Li voltage when Li "
        "electrons localise",
    )  # fmt: skip
    relax: bool = Field(False, description="DFT relax of host and Li_i^0 before the statics.")
    relax_fmax_ev_a: float = Field(0.1, gt=0)
    relax_steps: int = Field(40, gt=0)

    @field_validator("kpts", "li_metal_kpts")
    @classmethod
    def _mesh(cls, v: list[int]) -> list[int]:
        if len(v) != 3 or any(n < 1 for n in v):
            raise ValueError(f"k-point mesh must be three integers >= 1, got {v}")
        return v

    @field_validator("hubbard_u_ev")
    @classmethod
    def _u(cls, v: dict[str, float]) -> dict[str, float]:
        return check_hubbard_u(v)

    def calculator_kwargs(self, species: list[str] | None = None) -> dict[str, Any]:
        """The settings every DFT cell of a chain shares, as backend calculator kwargs.

        ``hubbard_u_ev`` is restricted to ``species`` (all when None) so that two chains
        with different cations carry only their own U.
        """
        u = {el: float(x) for el, x in self.hubbard_u_ev.items()
             if species is None or el in species}  # fmt: skip
        lmap = {m.cation: m.hubbard_l for m in MATERIALS.values()}
        return {"hubbard_u_ev": u, "hubbard_l": {el: lmap.get(el, 2) for el in u},
                "kpts": list(self.kpts), "kpts_gamma": self.kpts_gamma,
                "ecut_ev": self.ecut_ev, "smearing_ev": self.smearing_ev}  # fmt: skip


class FormationConfig(BaseModel):
    """Charge correction input: ε per material (supplied, not computed)."""

    model_config = ConfigDict(extra="forbid")

    dielectric: dict[str, float] = Field(
        default_factory=lambda: {m.name: m.dielectric for m in MATERIALS.values()},
        description="Static dielectric constant per material (> 0).",
    )
    dielectric_source: str = Field(DIELECTRIC_SOURCE)

    @field_validator("dielectric")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if x <= 0}
        if bad:
            raise ValueError(f"dielectric constants must be > 0, got {bad}")
        return v


class NebConfig(BaseModel):
    """Hops between the lowest sites (ML CI-NEB), percolation, DFT on the limiting hop."""

    model_config = ConfigDict(extra="forbid")

    network_sites: int = Field(4, ge=2, description="Lowest distinct Li sites in the network.")
    min_hops: int = Field(3, ge=1, description="Hops computed at least (shortest first).")
    max_hops: int = Field(4, ge=1, description="Hops computed at most.")
    max_hop_length_a: float = Field(5.0, gt=1, description="Longest hop considered (Å).")

    n_images: int = Field(3, ge=1, description="Interior images.")
    fmax_ev_a: float = Field(0.05, gt=0, description="CI-NEB force limit (eV/Å).")
    max_steps: int = Field(200, gt=0)
    dft: Literal["energies", "ci-neb", "none"] = Field(
        "energies", description="DFT single points on the ML band, a seeded DFT CI-NEB, or none"
    )
    charge: Literal[0, 1] = Field(
        1, description="Cell charge of the DFT band: 1 = the Li ion (closed shell), 0 = Li^0"
    )

    @model_validator(mode="after")
    def _hops(self) -> NebConfig:
        if self.min_hops > self.max_hops:
            raise ValueError(f"neb.min_hops ({self.min_hops}) > neb.max_hops ({self.max_hops})")
        return self



class FineTuneConfig(BaseModel):
    """Fine-tuning of the ML potential on the chain's own DFT frames (off by default).

    On: a committee of ``members`` CHGNet heads, fine-tuned ``committee_epochs`` epochs on
    the chain's neutral DFT single points, picks the ``label_budget`` cells of the
    pretrained model's hop network (band images, sites strained by ± ``strain``) where it
    spreads most; they get DFT single points; CHGNet is fine-tuned ``epochs`` epochs on all
    frames but a held-out ``holdout`` fraction, and the fine-tuned model re-screens the Li
    sites and makes the hop network whose limiting band DFT checks."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Run the fine-tuning stage.")
    label_budget: int = Field(2, ge=0, description="Extra DFT single points per material.")
    members: int = Field(3, ge=2, description="Committee heads.")
    committee_epochs: int = Field(20, ge=1, description="Fine-tuning epochs of each head.")
    strain: float = Field(0.02, gt=0, lt=0.2, description="Isotropic strain of the sites.")
    epochs: int = Field(40, ge=1, description="Fine-tuning epochs of the model.")
    holdout: float = Field(0.25, ge=0, lt=1, description="Fraction of frames held out.")
    seed: int = Field(0, description="Seed of the split, the heads and the training.")
    learning_rate: float = Field(1e-3, gt=0)

    def options(self) -> dict[str, Any] | None:
        """The chain Maker's ``finetune`` options, or None when off."""
        return self.model_dump(exclude={"enabled"}) if self.enabled else None


def _small_cells() -> dict[str, StartCell]:
    return {m.name: StartCell(**m.small_cell) for m in MATERIALS.values()}


class ChainConfig(BaseModel):
    """The chain part of a run configuration (see the module doc)."""

    model_config = ConfigDict(extra="forbid")

    materials: dict[str, StartCell] = Field(default_factory=_small_cells)
    melt_quench: MeltQuenchSchedule = Field(default_factory=_default_schedule)
    li_sites: LiSitesConfig = Field(default_factory=LiSitesConfig)
    dft: DftConfig = Field(default_factory=DftConfig)
    formation: FormationConfig = Field(default_factory=FormationConfig)
    neb: NebConfig = Field(default_factory=NebConfig)
    finetune: FineTuneConfig = Field(default_factory=FineTuneConfig)

    @model_validator(mode="after")
    def _materials(self) -> ChainConfig:
        from pymatgen.core import Composition

        if not self.materials:
            raise ValueError("materials: at least one material is needed")
        for name, m in self.materials.items():
            if name not in MATERIALS:
                raise ValueError(
                    f"materials: unknown material {name!r}; known: {sorted(MATERIALS)}"
                )
            cation = MATERIALS[name].cation
            if m.composition is not None:
                try:
                    comp = Composition(m.composition)
                except Exception as err:
                    raise ValueError(f"materials.{name}: bad composition ({err})") from None
                if cation not in {e.symbol for e in comp.elements}:
                    raise ValueError(
                        f"materials.{name}: composition {m.composition} has no {cation}"
                    )
            if name not in self.formation.dielectric:
                raise ValueError(
                    f"formation.dielectric has no value for {name}; give one (> 0), e.g. "
                    f"{{{name}: 25}}"
                )
        return self


def _full_cells() -> dict[str, StartCell]:
    return {m.name: StartCell(**m.full_cell) for m in MATERIALS.values()}


def _hpc_schedule() -> MeltQuenchSchedule:
    # package data: there after `pip install mttmat[hpc]` too, not only in a source checkout

    text = files("mttmat").joinpath("data/melt_quench_hpc.yaml").read_text()
    return MeltQuenchSchedule.model_validate(yaml.safe_load(text)["schedule"])


class HpcChainConfig(ChainConfig):
    """The chain of the full-size HPC run: the same fields, full-size defaults.

    ``schedule`` names a melt-quench schedule YAML (its ``schedule:`` mapping) that replaces
    ``melt_quench``; by default the HPC recipe ``mttmat/data/melt_quench_hpc.yaml`` (package
    data).
    """

    materials: dict[str, StartCell] = Field(default_factory=_full_cells)
    melt_quench: MeltQuenchSchedule = Field(default_factory=_hpc_schedule)
    schedule: Path | None = Field(None, description="melt-quench schedule YAML file")
    li_sites: LiSitesConfig = Field(default_factory=lambda: LiSitesConfig(max_candidates=24))
    dft: DftConfig = Field(default_factory=lambda: DftConfig(ecut_ev=520.0))
    neb: NebConfig = Field(default_factory=lambda: NebConfig(n_images=5, network_sites=6,
                                                             min_hops=4, max_hops=8))  # fmt: skip

    @model_validator(mode="after")
    def _schedule_file(self) -> HpcChainConfig:
        if self.schedule is not None:
            if not self.schedule.is_file():
                raise ValueError(f"schedule file {self.schedule} does not exist")
            data = yaml.safe_load(self.schedule.read_text()) or {}
            self.melt_quench = MeltQuenchSchedule.model_validate(data.get("schedule", data))
        return self

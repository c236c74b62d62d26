"""The document of one fine-tuning of the ML potential on a run's own DFT frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

from mttmat.schemas.frames import FrameSettings

__all__ = [
    "FineTuneDoc",
    "FineTuneEffectDoc",
    "HopBarrierCompare",
    "LabelCandidate",
    "LabelSelectionDoc",
    "ParityDoc",
]


class ParityDoc(BaseModel):
    """Errors of one model on a set of DFT frames.

    Energies per atom are compared after per-element reference energies fitted (least
    squares) on the training frames, which absorb the DFT code's energy zero (not the one
    CHGNet learnt); forces per Cartesian component."""

    model: str = Field(description="'chgnet (pretrained)' or the fine-tuned checkpoint")
    n_frames: int
    offsets_ev: dict[str, float] = Field(description="per-element reference energies (eV)")
    energy_mae_ev_atom: float
    energy_rmse_ev_atom: float
    force_mae_ev_a: float
    force_rmse_ev_a: float


class FineTuneDoc(BaseModel):
    """CHGNet fine-tuned on the DFT frames of one material (one DFT setting)."""

    material: str
    checkpoint: str = Field(description="path of the fine-tuned model (torch checkpoint)")
    checkpoint_sha256: str | None = Field(None, description="sha256 of the checkpoint file")
    weights_b64: str | None = Field(
        None, description="the checkpoint file itself, base64 (kept in the store's data store)"
    )
    settings: FrameSettings = Field(description="the DFT settings of every frame")
    training_uuids: list[str | None] = Field(description="jobs of the training frames")
    heldout_uuids: list[str | None] = Field(description="jobs of the held-out frames")
    training_roles: list[str]
    heldout_roles: list[str]
    skipped: dict[str, str] = Field(
        default_factory=dict, description="role → why its calculation is no frame"
    )
    epochs: int
    seed: int
    learning_rate: float
    targets: str = Field(description="CHGNet targets: e, f, s (stress), m (moments)")
    resumed_from_epoch: int | None = None
    wall_s: float | None = Field(None, description="wall time of the training (s)")
    train_before: ParityDoc
    train_after: ParityDoc
    heldout_before: ParityDoc | None = None
    heldout_after: ParityDoc | None = None
    history: dict[str, Any] = Field(
        default_factory=dict, description="CHGNet's per-epoch MAEs (train, val)"
    )
    heldout_pairs: dict[str, Any] | None = Field(
        None, description="base/finetuned: (DFT, ML) pairs of the held-out frames (parity figure)"
    )
    heldout_nearest_a: dict[str, float | None] = Field(
        default_factory=dict,
        description="held-out role → largest atom displacement (Å) from the nearest training "
        "frame of the same atoms (about 0: a near copy, not an independent test)",
    )

    def write_checkpoint(self, path: str | Path) -> Path:
        """Write the stored checkpoint to ``path`` (e.g. on a worker that lost the job
        folder), checked against its sha256."""
        import base64
        import hashlib

        if self.weights_b64 is None:
            raise ValueError("this document holds no weights (stored before they were kept)")
        blob = base64.b64decode(self.weights_b64)
        if self.checkpoint_sha256 and hashlib.sha256(blob).hexdigest() != self.checkpoint_sha256:
            raise ValueError("the stored weights do not match their sha256")
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(blob)
        return p

    def summary(self) -> str:
        """One line: the force MAE before → after, on the held-out frames if any."""
        b, a = self.heldout_before or self.train_before, self.heldout_after or self.train_after
        on = "held-out" if self.heldout_before else "training"
        return (f"{self.material}: force MAE on {b.n_frames} {on} DFT frame(s) "
                f"{b.force_mae_ev_a:.3f} → {a.force_mae_ev_a:.3f} eV/Å, energy "
                f"{b.energy_mae_ev_atom * 1e3:.1f} → {a.energy_mae_ev_atom * 1e3:.1f} meV/atom "
                f"({len(self.training_uuids)} training frames, {self.epochs} epochs)")  # fmt: skip


class LabelCandidate(BaseModel):
    """A cell the chain's ML potential met (or will meet) that has no DFT label yet."""

    origin: str = Field(description="where it comes from, e.g. 'hop 2 image 2', 'site 0 +2 %'")
    disagreement_ev_a: float = Field(
        description="largest over atoms of the committee's force spread (eV/Å)"
    )
    picked: bool = False


class LabelSelectionDoc(BaseModel):
    """The extra DFT labels of one material: a committee of fine-tuned heads spread most
    on these cells (:func:`mttmat.backends.chgnet_training.committee_disagreement`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    material: str
    budget: int = Field(description="extra DFT single points allowed (the config's budget)")
    members: int = Field(description="committee heads")
    epochs: int = Field(description="fine-tuning epochs of each head")
    training_roles: list[str] = Field(description="the chain's frames the heads learnt")
    committee: list[str] = Field(description="checkpoints of the heads")
    candidates: list[LabelCandidate]
    picked: list[int] = Field(description="indices of the picked candidates, most uncertain first")
    structures: list[Structure] = Field(description="the picked cells, same order")
    wall_s: float


class HopBarrierCompare(BaseModel):
    """One band's barrier by each model on the same images (and by DFT where computed)."""

    hop: int = Field(description="index of the hop in the fine-tuned model's network")
    label: str = Field(description="site i → j")
    tuned_ev: float = Field(description="fine-tuned model, its own CI-NEB band")
    base_ev: float = Field(description="pretrained model, single points on the same images")
    base_own_ev: float | None = Field(
        None, description="pretrained model, its own CI-NEB of the same hop (when it ran it)"
    )
    dft_ev: float | None = Field(None, description="DFT on the same images (limiting hop)")
    tuned_on_dft_images_ev: float | None = Field(
        None, description="fine-tuned model on the DFT band's images (limiting hop)"
    )
    base_on_dft_images_ev: float | None = Field(
        None, description="pretrained model on the DFT band's images (limiting hop)"
    )


class FineTuneEffectDoc(BaseModel):
    """What fine-tuning changed downstream: the barrier of every hop of the fine-tuned
    model's network by both models, and at the limiting hop both against DFT."""

    material: str
    base_model: str
    tuned_model: str
    hops: list[HopBarrierCompare]
    limiting_hop: int
    dft_fidelity: str | None = Field(None, description="energies on the band, or DFT CI-NEB")
    error_base_ev: float | None = Field(None, description="|E_a(base) − E_a(DFT)|, same images")
    error_tuned_ev: float | None = Field(None, description="|E_a(tuned) − E_a(DFT)|, same images")
    dft_charge: float | None = Field(None, description="cell charge of the DFT band (+1: Li⁺)")
    dft_spin_polarized: bool | None = None
    like_for_like: bool = Field(
        False,
        description="the DFT band is neutral and spin-paired, as the models' labels: only then "
        "are the differences errors of what was fine-tuned",
    )
    reaction_on_dft_images_ev: dict[str, float] | None = Field(
        None, description="E(end) − E(start) on the DFT band's images: dft, pretrained, fine-tuned"
    )

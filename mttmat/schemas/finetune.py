"""The document of one fine-tuning of the ML potential on a run's own DFT frames."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mttmat.schemas.frames import FrameSettings

__all__ = ["FineTuneDoc", "ParityDoc"]


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

    def summary(self) -> str:
        """One line: the force MAE before → after, on the held-out frames if any."""
        b, a = self.heldout_before or self.train_before, self.heldout_after or self.train_after
        on = "held-out" if self.heldout_before else "training"
        return (f"{self.material}: force MAE on {b.n_frames} {on} DFT frame(s) "
                f"{b.force_mae_ev_a:.3f} → {a.force_mae_ev_a:.3f} eV/Å, energy "
                f"{b.energy_mae_ev_atom * 1e3:.1f} → {a.energy_mae_ev_atom * 1e3:.1f} meV/atom "
                f"({len(self.training_uuids)} training frames, {self.epochs} epochs)")  # fmt: skip

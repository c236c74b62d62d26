"""Fine-tuning the ML potential on the chain's own DFT frames: which calculations are frames,
the training/held-out split, and the resumable fine-tuning job."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import job

from mttmat.backends.chgnet_training import file_sha256, finetune_chgnet, load_model, parity
from mttmat.schemas.finetune import FineTuneDoc, ParityDoc
from mttmat.schemas.frames import DftFrame, FrameSet, FrameSettings, MixedSettingsError
from mttmat.structures.io import atomic_write_text

__all__ = [
    "FINETUNE_DIR",
    "NEAR_COPY_A",
    "collect_frames",
    "finetune_potential",
    "nearest_distance_a",
    "split_frames",
]

#: the job folder's subfolder of checkpoints (a rerun in the same folder resumes there)
FINETUNE_DIR = "chgnet_finetune"
#: a cell whose atoms all sit within this distance (Å) of another's fractional positions is
#: a near copy of it (e.g. the same cell strained): not an independent test of it
NEAR_COPY_A = 0.1


def nearest_distance_a(s: Any, others: list[Any]) -> float | None:
    """The smallest, over ``others`` with the same species in the same order, of the largest
    atom displacement (Å, in ``s``'s lattice) between fractional positions (periodic): about
    0 for a strained copy of one of them; None when none has the same atoms."""
    s = _pmg(s)
    best = None
    for o in map(_pmg, others):
        if [x.species_string for x in o] != [x.species_string for x in s]:
            continue
        d = s.frac_coords - o.frac_coords
        d -= np.round(d)
        far = float(np.linalg.norm(s.lattice.get_cartesian_coords(d), axis=1).max())
        best = far if best is None else min(best, far)
    return best


def _pmg(s: Any) -> Any:
    from pymatgen.core import Structure

    if isinstance(s, DftFrame):
        return s.pmg
    return s if isinstance(s, Structure) else Structure.from_dict(s)


def collect_frames(outputs: dict[str, Any]) -> tuple[FrameSet, dict[str, str]]:
    """The DFT frames of ``outputs`` (role → (uuid, task document)), and role → why each
    other calculation is no frame (ML, charged, no forces, other DFT settings).

    The frames of the most common DFT setting are kept (the chain's cells); a calculation
    of other settings (e.g. bcc Li on its own k-mesh) is skipped with the difference."""
    frames: list[DftFrame] = []
    skipped: dict[str, str] = {}
    for role, (uuid, doc) in outputs.items():
        d = doc if isinstance(doc, dict) else doc.model_dump()
        if d.get("fidelity") not in (None, "dft") or not d.get("electronic"):
            skipped[role] = "not a DFT single point"
            continue
        q = re.search(r"q=([+-]?\d+)", role)
        if q and int(q.group(1)) != 0:
            skipped[role] = "a charged cell (the potential has no electron count)"
            continue
        try:
            frames.append(DftFrame.from_calc(d, job_uuid=uuid, role=role))
        except ValueError as err:
            skipped[role] = str(err)
    keys = [f.settings.model_dump_json() for f in frames]
    # the most frequent setting; a tie goes to the first role (the host), not to hash order
    common = max(dict.fromkeys(keys), key=keys.count) if keys else None
    out = FrameSet()
    for f, k in zip(frames, keys, strict=True):
        if k != common:
            ref = FrameSettings.model_validate_json(common)
            skipped[f.role] = f"other DFT settings: {ref.differences(f.settings)}"
            continue
        try:
            out.add(f)
        except MixedSettingsError as err:  # pragma: no cover (same key, same settings)
            skipped[f.role] = str(err)
    return out, skipped


def split_frames(frames: list[DftFrame], holdout: float, seed: int
                 ) -> tuple[list[DftFrame], list[DftFrame]]:  # fmt: skip
    """(training, held-out): a seeded random ``holdout`` fraction held out (at least one
    frame when ``holdout`` > 0 and two or more frames exist)."""
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    n_out = 0 if holdout == 0 or len(frames) < 2 else max(1, round(holdout * len(frames)))
    order = np.random.default_rng(seed).permutation(len(frames))
    held = set(order[:n_out].tolist())
    return ([f for i, f in enumerate(frames) if i not in held],
            [f for i, f in enumerate(frames) if i in held])  # fmt: skip


def _parity_doc(model: Any, name: str, frames: list[DftFrame],
                offsets: dict[str, float] | None) -> tuple[ParityDoc, dict[str, Any]]:  # fmt: skip
    p = parity(model, frames, offsets)
    keys = ParityDoc.model_fields.keys() - {"model"}
    return ParityDoc(model=name, **{k: p[k] for k in keys}), p


@job(output_schema=FineTuneDoc, data=["weights_b64"])
def finetune_potential(
    frames: Any,
    material: str,
    holdout: float = 0.25,
    epochs: int = 40,
    seed: int = 0,
    learning_rate: float = 1e-3,
    skipped: dict[str, str] | None = None,
    workdir: str | None = None,
    stress: bool = False,
    always_train: list[str] | None = None,
) -> FineTuneDoc:
    """Fine-tune CHGNet on ``frames`` (a :class:`FrameSet` of one setting) and measure it
    on held-out frames, before and after. Resumable: the checkpoints live in ``workdir``
    (default: this job's folder), and a rerun continues from the last epoch.

    ``always_train``: roles that are never held out (the committee's labels: the split is
    made over the other frames, as :func:`~mttmat.jobs.labels.select_labels` made it).

    Writes ``frames.extxyz`` (every frame, with its job uuid and role) and ``parity.json``
    (every energy and force pair of the held-out frames, base and fine-tuned) beside the
    checkpoints."""
    fs = frames if isinstance(frames, FrameSet) else FrameSet.model_validate(frames)
    if len(fs) < 2:
        raise ValueError(
            f"{material}: {len(fs)} DFT frame(s) of one setting; fine-tuning needs at least "
            "two (one to train on, one to check)"
        )
    fixed = set(always_train or ())
    train, held = split_frames([f for f in fs.frames if f.role not in fixed], holdout, seed)
    train += [f for f in fs.frames if f.role in fixed]
    work = Path(workdir or Path.cwd() / FINETUNE_DIR)
    res = finetune_chgnet(train, work, epochs=epochs, learning_rate=learning_rate, seed=seed,
                          stress=stress)  # fmt: skip
    fs.write_extxyz(work / "frames.extxyz")
    base, tuned = load_model(), load_model(res["checkpoint"])
    tb, _ = _parity_doc(base, "chgnet (pretrained)", train, None)
    ta, _ = _parity_doc(tuned, res["checkpoint"], train, None)
    pairs: dict[str, Any] = {}
    hb = ha = None
    if held:  # the held-out energies on the reference energies of the training frames
        hb, pairs["base"] = _parity_doc(base, "chgnet (pretrained)", held, tb.offsets_ev)
        ha, pairs["finetuned"] = _parity_doc(tuned, res["checkpoint"], held, ta.offsets_ev)
        atomic_write_text(work / "parity.json", json.dumps(pairs))
    blob = Path(res["checkpoint"]).read_bytes()
    return FineTuneDoc(
        material=material, checkpoint=res["checkpoint"], settings=fs.settings,
        checkpoint_sha256=file_sha256(res["checkpoint"]),
        weights_b64=base64.b64encode(blob).decode(),
        training_uuids=[f.job_uuid for f in train], heldout_uuids=[f.job_uuid for f in held],
        training_roles=[f.role for f in train], heldout_roles=[f.role for f in held],
        skipped=skipped or {}, epochs=epochs, seed=seed, learning_rate=learning_rate,
        targets=res["targets"], resumed_from_epoch=res.get("resumed_from"),
        wall_s=res.get("wall_s"),
        train_before=tb, train_after=ta, heldout_before=hb, heldout_after=ha,
        history=res.get("history", {}), heldout_pairs=pairs or None,
        heldout_nearest_a={f.role: nearest_distance_a(f, train) for f in held},
    )  # fmt: skip

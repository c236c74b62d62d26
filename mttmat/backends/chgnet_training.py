"""Fine-tuning CHGNet on a run's own DFT frames, with CHGNet's own ``Trainer``.

* :func:`finetune_chgnet`: the early layers frozen (embeddings, basis expansions, every
  convolution but the last atom one: CHGNet's own fine-tuning recipe), energy per atom,
  forces, stress and moments as targets where the frames have them; the composition model
  (per-element reference energies) trained too, because the DFT code's energy zero is not
  the one CHGNet learnt (MPtrj, VASP). Seeded: every epoch reseeds torch from ``seed`` and
  its index, so a run resumed from any epoch's checkpoint ends with the same weights as one
  that was never stopped. A checkpoint is written atomically after every epoch.
* :func:`predict`: energies and forces of a model on structures.
* :func:`parity`: errors of a model on frames (energy per atom after per-element reference
  energies fitted on the training frames, which absorb the codes' different energy zeros;
  forces per component).
* :func:`train_committee` and :func:`committee_disagreement`: a committee of fine-tuned
  heads (the trainable layers of each member perturbed by a few per cent, seeded, before
  the same fine-tuning) and the spread of their forces per structure, the measure that picks
  where a new DFT label is most needed (:func:`most_uncertain`).

  Why a committee and not the pretrained against the fine-tuned model: measured on the
  tether-teacher frames of ``tests/test_finetune.py`` (six candidates, one with an O pushed
  0.6 Å off its site), the pretrained and the fine-tuned model (6 epochs) differ where
  fine-tuning changed the model and hardly more at the outlier, whose error is by far the
  largest (spread 0.15 eV/Å there, 0.14 at an ordinary frame; force error 0.89 against at
  most 0.24 eV/Å). Three heads perturbed by 5 % and fine-tuned 30 epochs agree on the
  training frames (0.08-0.11 eV/Å) and spread at the outlier (0.22 against at most
  0.12 eV/Å at the five ordinary frames; its force error 0.75 against at most 0.26 eV/Å).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from ase import units

from mttmat.schemas.frames import DftFrame

__all__ = [
    "committee_disagreement",
    "element_offsets",
    "file_sha256",
    "finetune_chgnet",
    "fingerprint",
    "load_model",
    "most_uncertain",
    "parity",
    "predict",
    "train_committee",
]

FINAL = "finetuned.pth.tar"


def file_sha256(path: str | Path) -> str:
    """sha256 of a file (a checkpoint's identity, whatever its path)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_model(path: str | Path | None = None) -> Any:
    """CHGNet's pretrained model (``path`` None) or a fine-tuned one from its checkpoint."""
    from chgnet.model import CHGNet

    with contextlib.redirect_stdout(io.StringIO()):
        if path is None:
            return CHGNet.load()
        import torch

        state = torch.load(str(path), map_location="cpu", weights_only=False)
        return CHGNet.from_dict(state["model"])


def _freeze(model: Any) -> None:
    for layer in (model.atom_embedding, model.bond_embedding, model.angle_embedding,
                  model.bond_basis_expansion, model.angle_basis_expansion,
                  model.atom_conv_layers[:-1], model.bond_conv_layers,
                  model.angle_layers):  # fmt: skip
        for p in layer.parameters():
            p.requires_grad = False


def _perturb_head(model: Any, noise: float, seed: int) -> None:
    import torch

    _freeze(model)
    gen = torch.Generator().manual_seed(10_007 + seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(noise * p.abs() * torch.randn(p.shape, generator=gen))


def _structure_data(frames: list[DftFrame], targets: str,
                    offsets_ev: dict[str, float] | None = None) -> Any:  # fmt: skip
    """CHGNet's dataset of ``frames`` with the labels of ``targets`` (the training set's, so
    training and validation agree); a frame without stress gets NaN, which CHGNet's loss
    leaves out, one without moments None (spin-paired: no moment to learn). The energies
    are moved onto CHGNet's scale by the per-element ``offsets_ev``."""
    from chgnet.data.dataset import StructureData

    stress, moments = "s" in targets, "m" in targets
    nan = np.full((3, 3), np.nan)
    with contextlib.redirect_stdout(io.StringIO()):
        return StructureData(
            structures=[f.pmg for f in frames],
            energies=[(f.energy_ev + _shift(f, offsets_ev or {})) / f.n_atoms
                      for f in frames],
            forces=[f.forces_ev_a for f in frames],
            # StructureData takes VASP's stress (kBar, compression positive) and turns it
            # into CHGNet's GPa (-0.1×); ours is ASE's (eV/Å³, tension positive)
            stresses=[(-10.0 * np.asarray(f.stress_ev_a3 if f.stress_ev_a3 is not None
                                          else nan) / units.GPa).tolist()
                      for f in frames] if stress else None,
            magmoms=[f.magmoms_mub for f in frames] if moments else None,
            structure_ids=[str(i) for i in range(len(frames))],
            shuffle=False,
        )


def _shift(frame: DftFrame, offsets_ev: dict[str, float]) -> float:
    comp = frame.pmg.composition
    return float(sum(comp[el] * offsets_ev.get(el, 0.0) for el in comp.as_dict()))


def _targets(frames: list[DftFrame], stress: bool) -> str:
    t = "ef"
    if stress and any(f.stress_ev_a3 is not None for f in frames):
        t += "s"
    if any(f.magmoms_mub is not None for f in frames):
        t += "m"
    return t


def _checkpoints(workdir: Path) -> list[tuple[int, Path]]:
    """Every checkpoint of ``workdir``, newest epoch first, the per-epoch file before the
    best-epoch copies of the same epoch (CHGNet copies those without a temporary file)."""
    found = []
    for p in workdir.glob("*.pth.tar"):
        m = re.match(r"(best[EF]_)?epoch(\d+)_", p.name)
        if m:
            found.append((int(m.group(2)), 0 if m.group(1) is None else 1, p))
    return [(e, p) for e, _, p in sorted(found, key=lambda x: (-x[0], x[1], x[2].name))]


def finetune_chgnet(
    train: list[DftFrame],
    workdir: str | Path,
    *,
    epochs: int = 40,
    learning_rate: float = 1e-3,
    seed: int = 0,
    batch_size: int = 4,
    val: list[DftFrame] | None = None,
    progress: Any = None,
    head_noise: float = 0.0,
    stress: bool = False,
) -> dict[str, Any]:
    """Fine-tune CHGNet on ``train`` in ``workdir`` (checkpoints, log) and return
    ``{"checkpoint": path, "epochs": n, "resumed_from": epoch or None, "targets": ...,
    "history": {...}}``; resumes from the last checkpoint in ``workdir``.

    ``val`` frames (default: the training frames) only feed CHGNet's per-epoch report; the
    model kept is the last epoch's, so the result does not depend on a tiny validation set.

    ``stress``: train on the stress too. Off by default: the chain's cells are fixed-volume
    single points at cutoffs where the stress is not converged (Pulay stress; the tiny test
    chain's host, 8 atoms at 250 eV, reads 142 GPa), so it would teach the model an
    artefact. Use it for frames at a cutoff converged for the stress.

    ``head_noise`` > 0 perturbs the trainable (unfrozen) weights before training, each by
    that fraction of its own size (Gaussian, seeded): the members of a committee then start
    apart and agree only where the frames constrain them (:func:`committee_disagreement`).
    """
    import torch
    from torch.utils.data import DataLoader

    if not train:
        raise ValueError("no training frames")
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    final = work / FINAL
    fp = fingerprint(train, epochs=epochs, learning_rate=learning_rate, seed=seed,
                     batch_size=batch_size, head_noise=head_noise, stress=stress)  # fmt: skip
    _check_fingerprint(work, fp)
    if final.is_file():
        state = torch.load(str(final), map_location="cpu", weights_only=False)
        return {**state["mttmat"], "checkpoint": str(final)}
    from chgnet.data.dataset import collate_graphs
    from torch.optim.lr_scheduler import CosineAnnealingLR

    targets = _targets(train, stress)
    # the DFT code's energy zero is not CHGNet's (GPAW's is its reference atoms): labels are
    # moved onto CHGNet's scale by per-element energies fitted to the pretrained model, so the
    # energy loss sees relative energies and does not drown the forces in a constant
    e_base, _ = predict(load_model(), [f.pmg for f in train])
    mu = element_offsets(train, e_base - np.array([f.energy_ev for f in train]))
    tr = _structure_data(train, targets, mu)
    va = _structure_data(val or train, targets, mu)
    n_batches = -(-len(train) // batch_size)
    t0 = time.perf_counter()
    with open(work / "finetune.log", "a") as log, contextlib.redirect_stdout(log):
        cls = _trainer_class()
        trainer, done = None, -1
        for epoch_done, path in _checkpoints(work):  # the newest that loads
            try:
                trainer, done = cls.load(str(path)), epoch_done
                break
            except Exception as err:  # a truncated copy: the next older one
                print(f"mttmat: checkpoint {path.name} does not load ({err}); trying older")
        resumed = trainer is not None
        if trainer is None:
            torch.manual_seed(seed)
            model = load_model()
            if head_noise > 0:
                _perturb_head(model, head_noise, seed)
            trainer = cls(
                model=model, targets=targets, optimizer="Adam", scheduler="CosLR",
                criterion="MSE", epochs=epochs, learning_rate=learning_rate,
                use_device="cpu", print_freq=1000, torch_seed=seed,
            )  # fmt: skip
            # CHGNet steps its cosine schedule min(10, batches) times an epoch against a
            # period of 10 × epochs: with a few frames the rate would hardly decay
            trainer.scheduler = CosineAnnealingLR(
                trainer.optimizer, T_max=epochs * min(10, n_batches),
                eta_min=0.01 * learning_rate,
            )  # fmt: skip
        _freeze(trainer.model)
        for epoch in range(done + 1, epochs):
            torch.manual_seed(seed * 100_003 + epoch)  # this epoch's batches, on its own
            loader = DataLoader(tr, batch_size=batch_size, shuffle=True,
                                collate_fn=collate_graphs)  # fmt: skip
            val_loader = DataLoader(va, batch_size=batch_size, collate_fn=collate_graphs)
            trainer.starting_epoch, trainer.epochs = epoch, epoch + 1
            trainer.train(loader, val_loader, save_dir=str(work), train_composition_model=True)
            hist = trainer.training_history["e"]["train"]
            if len(hist) != epoch + 1 or not np.isfinite(hist[-1]):
                raise FloatingPointError(
                    f"fine-tuning diverged at epoch {epoch} (energy MAE {hist[-1:]}): lower "
                    f"the learning rate ({learning_rate:g}) and delete {work}"
                )
            if progress is not None:
                progress(epoch + 1, epochs)
    trainer.epochs = epochs
    meta = {"epochs": epochs, "seed": seed, "learning_rate": learning_rate,
            "batch_size": batch_size, "targets": targets, "head_noise": head_noise,
            "fingerprint": fp, "resumed_from": done if resumed else None,
            "label_offsets_ev": mu,
            # the training's wall time; None when it was resumed (the killed part is unknown)
            "wall_s": None if resumed else time.perf_counter() - t0,
            "training_uuids": [f.job_uuid for f in train],
            "history": {k: {s: list(map(float, v.get(s, []))) for s in ("train", "val")}
                        for k, v in trainer.training_history.items()}}  # fmt: skip
    state = {"model": trainer.model.as_dict(), "mttmat": meta}
    tmp = final.with_suffix(".tmp")
    torch.save(state, str(tmp))
    os.replace(tmp, final)
    return {**meta, "checkpoint": str(final)}


def fingerprint(frames: list[DftFrame], **hyper: Any) -> str:
    """Hash of the training frames (structures, labels, uuids) and the hyperparameters: a
    folder's checkpoints belong to one training only."""
    blob = json.dumps([[f.model_dump(mode="json") for f in frames], hyper], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _check_fingerprint(work: Path, fp: str) -> None:
    from mttmat.structures.io import atomic_write_text

    mark = work / "fingerprint.txt"
    if mark.is_file() and mark.read_text().strip() != fp:
        raise ValueError(
            f"{work} holds a fine-tuning of other frames or settings (fingerprint "
            f"{mark.read_text().strip()}, this one {fp}): give another folder, or delete it "
            "to start again"
        )
    if not mark.is_file():
        atomic_write_text(mark, fp + "\n")


def _trainer_class() -> Any:
    """CHGNet's Trainer whose checkpoints are written through a temporary file: a kill while
    saving leaves the previous checkpoint, never a truncated one."""
    from chgnet.trainer import Trainer

    class AtomicTrainer(Trainer):
        def save(self, filename: str = "training_result.pth.tar") -> None:
            tmp = f"{filename}.tmp"
            super().save(filename=tmp)
            os.replace(tmp, filename)

    return AtomicTrainer


def predict(model: Any, structures: list[Any]) -> tuple[np.ndarray, list[np.ndarray]]:
    """(energies eV, forces eV/Å per structure) of ``model`` on pymatgen ``structures``."""
    with contextlib.redirect_stdout(io.StringIO()):
        preds = model.predict_structure(structures, task="ef", batch_size=4)
    if isinstance(preds, dict):
        preds = [preds]
    e = np.array([float(p["e"]) * len(s) for p, s in zip(preds, structures, strict=True)])
    return e, [np.asarray(p["f"], float) for p in preds]


def element_offsets(frames: list[DftFrame], residual_ev: np.ndarray) -> dict[str, float]:
    """Per-element energies μ (eV) that best explain ``residual_ev`` (ML − DFT total energy
    per frame) as Σ n_el μ_el: least squares, minimum norm (the elements of a fixed ratio,
    W and O of one oxide, share one combination)."""
    els = sorted({el for f in frames for el in f.pmg.composition.as_dict()})
    counts = np.array([[f.pmg.composition[el] for el in els] for f in frames], float)
    mu = np.linalg.lstsq(counts, np.asarray(residual_ev, float), rcond=None)[0]
    return {el: float(m) for el, m in zip(els, mu, strict=True)}


def parity(model: Any, frames: list[DftFrame], offsets_ev: dict[str, float] | None = None
           ) -> dict[str, Any]:  # fmt: skip
    """Errors of ``model`` on ``frames``: energy per atom after per-element reference
    energies (fitted on these frames, or ``offsets_ev``, e.g. the training frames'; the DFT
    code's energy zero is not the one CHGNet learnt), forces per Cartesian component.

    Returns MAE/RMSE, the offsets and the pairs for a parity figure."""
    e_ml, f_ml = predict(model, [f.pmg for f in frames])
    n = np.array([f.n_atoms for f in frames], float)
    e_dft = np.array([f.energy_ev for f in frames])
    mu = offsets_ev if offsets_ev is not None else element_offsets(frames, e_ml - e_dft)
    shift = np.array([sum(f.pmg.composition[el] * mu.get(el, 0.0)
                          for el in f.pmg.composition.as_dict()) for f in frames])  # fmt: skip
    de = (e_ml - shift - e_dft) / n
    fd = np.concatenate([np.ravel(f.forces_ev_a) for f in frames])
    fm = np.concatenate([np.ravel(x) for x in f_ml])
    return {
        "n_frames": len(frames), "offsets_ev": mu,
        "energy_mae_ev_atom": float(np.abs(de).mean()),
        "energy_rmse_ev_atom": float(np.sqrt((de**2).mean())),
        "force_mae_ev_a": float(np.abs(fm - fd).mean()),
        "force_rmse_ev_a": float(np.sqrt(((fm - fd) ** 2).mean())),
        "energy_pairs_ev_atom": [[float(a), float(b)] for a, b in
                                 zip(e_dft / n, (e_ml - shift) / n, strict=True)],
        "force_pairs_ev_a": [[float(a), float(b)] for a, b in zip(fd, fm, strict=True)],
    }  # fmt: skip


def committee_disagreement(models: list[Any], structures: list[Any]) -> np.ndarray:
    """Per structure: the largest, over atoms, standard deviation of the committee's force
    vectors (eV/Å; the norm of the per-component standard deviations). Large where the
    members, fine-tuned alike on different data or seeds, extrapolate differently."""
    if len(models) < 2:
        raise ValueError("a committee needs at least two models")
    forces = [predict(m, structures)[1] for m in models]
    out = []
    for k in range(len(structures)):
        stack = np.stack([f[k] for f in forces])  # members × atoms × 3
        out.append(float(np.linalg.norm(stack.std(axis=0), axis=1).max()))
    return np.array(out)


def train_committee(
    train: list[DftFrame],
    workdir: str | Path,
    members: int = 3,
    head_noise: float = 0.05,
    seed: int = 0,
    **kwargs: Any,
) -> list[str]:
    """Checkpoints of ``members`` heads fine-tuned on ``train`` (each in
    ``workdir/member_k``, seed ``seed + k``, its trainable weights perturbed by
    ``head_noise`` first); resumable like :func:`finetune_chgnet`."""
    if members < 2:
        raise ValueError(f"a committee needs at least two members, got {members}")
    return [
        finetune_chgnet(train, Path(workdir) / f"member_{k}", seed=seed + k,
                        head_noise=head_noise, **kwargs)["checkpoint"]
        for k in range(members)
    ]  # fmt: skip


def most_uncertain(disagreement: Any, budget: int) -> list[int]:
    """Indices of the ``budget`` candidates with the largest disagreement, largest first:
    the frames worth a DFT label."""
    if budget < 0:
        raise ValueError(f"the DFT budget must be >= 0, got {budget}")
    order = np.argsort(-np.asarray(disagreement, float), kind="stable")
    return [int(i) for i in order[:budget]]

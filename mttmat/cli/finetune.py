"""``mttmat finetune``: CHGNet fine-tuned on the DFT frames a run has stored."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mttmat.cli.common import UserError, chain_documents, progress

__all__ = ["add_parsers"]


def _cmd_finetune(args: argparse.Namespace) -> int:
    from mttmat.backends import get_backend
    from mttmat.jobs.finetune import collect_frames, finetune_potential
    from mttmat.plots.finetune import plot_parity
    from mttmat.structures.io import atomic_write_text, ensure_writable_dir

    store, docs = chain_documents(args.store, args.material or None)
    out = Path(args.output)
    ensure_writable_dir(out)
    for material, doc in docs.items():
        outputs = {}
        read = get_backend(doc.get("dft_backend") or "gpaw").calc_document
        for role, uuid in doc["stages"].items():
            try:
                out_doc = store.get_output(uuid, load=True)
            except ValueError:
                continue  # a stage without its own output (e.g. a flow's role)
            if isinstance(out_doc, dict) and "calcs_reversed" in out_doc:
                out_doc = read(out_doc)  # a VASP TaskDoc (HPC store): the shared shape
            outputs[role] = (uuid, out_doc)
        frames, skipped = collect_frames(outputs)
        if len(frames) < 2:
            raise UserError(
                f"{material}: {len(frames)} DFT frame(s) of one setting in {args.store} "
                f"(skipped: {skipped}); fine-tuning needs at least two"
            )
        folder = out / material
        frames.write_extxyz(folder / "frames.extxyz")
        roles = ", ".join(f.role for f in frames.frames)
        progress(f"{material}: {len(frames)} DFT frames ({roles}) → {folder / 'frames.extxyz'}; "
                 f"fine-tuning {args.epochs} epochs")  # fmt: skip
        res = finetune_potential.original(
            frames, material, holdout=args.holdout, epochs=args.epochs, seed=args.seed,
            learning_rate=args.lr, skipped=skipped, workdir=str(folder / "train"),
            stress=args.stress,
            # the committee's labels always train, as in the chain
            always_train=[f.role for f in frames.frames if f.role.startswith("label ")],
        )  # fmt: skip
        # the weights stay beside it, in the checkpoint file
        text = res.model_dump_json(indent=1, exclude={"weights_b64"})
        atomic_write_text(folder / "finetune.json", text)
        pairs = folder / "train" / "parity.json"
        if pairs.is_file():
            plot_parity(json.loads(pairs.read_text()), folder / "parity.png", material)
        progress(res.summary())
    return 0


def add_parsers(sub: Any) -> None:
    f = sub.add_parser(
        "finetune",
        help="fine-tune CHGNet on the DFT frames of finished chains in a job store",
    )
    f.add_argument("store", help="job store: folder (mttmat run) or MongoDB URI (HPC run)")
    f.add_argument("--material", nargs="*", help="materials (default: every chain)")
    f.add_argument("-o", "--output", default="finetune", help="output folder")
    f.add_argument("--epochs", type=int, default=40)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    f.add_argument("--holdout", type=float, default=0.25,
                   help="fraction of the frames held out for the parity check")  # fmt: skip
    f.add_argument("--stress", action="store_true",
                   help="train on the stress too (only for frames at a cutoff converged for "
                   "it: the chain's fixed-cell single points carry Pulay stress)")  # fmt: skip
    f.set_defaults(func=_cmd_finetune)

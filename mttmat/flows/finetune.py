"""The stage of a material chain that teaches its ML potential the chain's own DFT.

:func:`finetune_stage` adds, after the chain's DFT single points and the pretrained model's
hop network: a committee that picks where extra DFT labels are worth most
(:func:`~mttmat.jobs.labels.select_labels`), those DFT single points, CHGNet fine-tuned on
every frame (:func:`~mttmat.jobs.labels.finetune_on_chain`), and the fine-tuned model's Li
site screening and hop network, which the chain then uses downstream (the DFT check of the
limiting band, the channel parameters).
"""

from __future__ import annotations

from typing import Any

from jobflow import Job

from mttmat.jobs.hop_network import ml_hop_network
from mttmat.jobs.labels import finetune_on_chain, select_labels
from mttmat.jobs.sites import rescreen_li_sites

__all__ = ["FINETUNE_OPTIONS", "finetune_stage"]

#: the options of the fine-tuning stage (``MaterialChainMaker.finetune``), all required
FINETUNE_OPTIONS = ("label_budget", "members", "committee_epochs", "strain", "epochs",
                    "holdout", "seed", "learning_rate")  # fmt: skip


def finetune_stage(
    chain: Any, screening: Job, frames: dict[str, tuple[str, Any]], network: Job,
    calculator_kwargs: dict[str, Any],
) -> tuple[list[Job], dict[str, Job]]:  # fmt: skip
    """The jobs that teach the ML potential this chain's DFT (``frames``: role → (uuid,
    single-point output)): a committee picks ``label_budget`` cells of the pretrained
    model's hop network (``network``) for extra DFT single points (``calculator_kwargs``:
    the host's), CHGNet is fine-tuned on all the frames, and the fine-tuned model re-relaxes
    and re-ranks every distinct site of the pretrained screening (``screening``), keeps the
    ``network_sites`` lowest, and computes the hop
    network again, each band started from the pretrained band of the same hop where there is
    one.

    Returns (every job, the jobs by role: ``label selection`` and ``label k`` (with a
    budget), ``fine-tuning``, ``screening (fine-tuned model)``, ``hop network``)."""
    missing = [k for k in FINETUNE_OPTIONS if k not in chain.finetune]
    if missing:
        raise ValueError(
            f"finetune lacks {missing}: build the Maker with "
            "mttmat.chain.build.chain_maker(config, material) (config finetune.enabled)"
        )
    o, dft, ml = chain.finetune, chain.dft, chain.ml
    jobs: list[Job] = []
    roles: dict[str, Job] = {}
    frames = dict(frames)
    if o["label_budget"] > 0:
        sel = select_labels(
            dict(frames), network.output, chain.material, o["label_budget"], o["members"],
            o["committee_epochs"], o["seed"], o["learning_rate"], o["strain"], code=dft.name,
            holdout=o["holdout"],
        )  # fmt: skip
        sel.name = f"{ml.name} committee: where to add DFT labels"
        jobs.append(sel)
        roles["label selection"] = sel
        for k in range(o["label_budget"]):
            lab = dft.static_maker(name=f"{dft.name} label {k + 1}",
                                   calculator_kwargs=calculator_kwargs,
                                   ).make(sel.output.structures[k])  # fmt: skip
            jobs.append(lab)
            frames[f"label {k + 1}"] = (lab.uuid, lab.output)
            roles[f"label {k + 1}"] = lab
    ft = finetune_on_chain(frames, chain.material, code=dft.name, holdout=o["holdout"],
                           epochs=o["epochs"], seed=o["seed"],
                           learning_rate=o["learning_rate"])  # fmt: skip
    ft.name = f"{ml.name} fine-tuning"
    tuned = {"model_path": ft.output.checkpoint, "model_sha256": ft.output.checkpoint_sha256}
    screen = rescreen_li_sites(screening.output, ml.name, chain.screening_fmax,
                               calculator_kwargs=tuned,
                               n_sites_max=chain.network_sites)  # fmt: skip
    screen.name = "Li site screening (fine-tuned model)"
    net = ml_hop_network(
        screen.output, ml.name, chain.neb_images, chain.neb_fmax, chain.neb_max_steps,
        chain.min_hops, chain.max_hops, chain.max_hop_length_a, calculator_kwargs=tuned,
        seed_network=network.output,
    )  # fmt: skip
    net.name = f"{ml.name} hop network (fine-tuned model)"
    jobs += [ft, screen, net]
    for j in jobs:
        label = j.name.startswith(f"{dft.name} label")
        j.metadata["stage"] = "DFT+U single points" if label else "ML fine-tuning"
    roles.update({"fine-tuning": ft, "screening (fine-tuned model)": screen, "hop network": net})
    return jobs, roles


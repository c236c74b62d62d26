"""The chain teaches its ML potential: where to add DFT labels, the fine-tuning on the chain's
own frames, and what fine-tuning changed downstream.

* :func:`label_candidates`: cells the potential meets without a DFT label: the interior
  images of every band of the ML hop network (the saddles the barrier rests on) and every
  network site's cell under a volume-preserving strain of ± a few per cent (endpoints off
  their minimum; a volume change would teach the basis set's Pulay error at the chain's
  cutoffs, the reason stress is not trained).
* :func:`select_labels`: the chain's frames are split once (seeded) into training and
  held-out frames; a committee of fine-tuned heads
  (:func:`~mttmat.backends.chgnet_training.train_committee`) learns the training ones; the
  ``budget`` candidates where it spreads most, and that are no near copy of a held-out
  frame, get a DFT single point. A committee, not the pretrained against the fine-tuned
  model: see :mod:`mttmat.backends.chgnet_training`.
* :func:`finetune_on_chain`: the chain's DFT frames (:func:`~mttmat.jobs.finetune.collect_frames`)
  → :func:`~mttmat.jobs.finetune.finetune_potential`.
* :func:`finetune_effect`: every hop of the fine-tuned model's network by both models on
  the same images, and at the limiting hop both against DFT on the DFT band's images.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import job
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.backends.chgnet_training import (
    committee_disagreement,
    load_model,
    most_uncertain,
    predict,
    train_committee,
)
from mttmat.jobs.finetune import (
    NEAR_COPY_A,
    collect_frames,
    finetune_potential,
    nearest_distance_a,
    split_frames,
)
from mttmat.jobs.hop_network import matching_band
from mttmat.schemas.finetune import (
    FineTuneDoc,
    FineTuneEffectDoc,
    HopBarrierCompare,
    LabelCandidate,
    LabelSelectionDoc,
)
from mttmat.schemas.migration import HopSpec

__all__ = ["finetune_effect", "finetune_on_chain", "label_candidates", "select_labels"]


def _dump(d: Any) -> dict[str, Any]:
    return d if isinstance(d, dict) else d.model_dump()


def _frames(outputs: dict[str, Any], code: str | None) -> Any:
    """:func:`collect_frames` of ``outputs`` (role → (uuid, the code's task document)),
    each document read by its code's backend (VASP: atomate2's ``TaskDoc``)."""
    read = get_backend(code).calc_document if code else (lambda d: d)
    return collect_frames({r: (u, read(d)) for r, (u, d) in outputs.items()})


def _independent(s: Structure, held: list[Any]) -> bool:
    """``s`` is no near copy (e.g. a strained copy) of a held-out frame."""
    d = nearest_distance_a(s, held) if held else None
    return d is None or d >= NEAR_COPY_A


def _structure(s: Any) -> Structure:
    return s if isinstance(s, Structure) else Structure.from_dict(s)


def label_candidates(network: Any, strain: float = 0.02) -> list[tuple[Structure, str]]:
    """(cell, origin) of every interior image of every band of ``network`` (a
    :class:`~mttmat.schemas.hop_network.HopNetworkDoc`) and of every band endpoint (the
    network's site cells) strained by ± ``strain`` along a and ∓ ``strain``/2 along b and c
    (the volume kept: atoms at the same fractional positions, the cell deformed off its
    minimum)."""
    if not 0 < strain < 0.2:
        raise ValueError(f"strain must be in (0, 0.2), got {strain}")
    net = _dump(network)
    out: list[tuple[Structure, str]] = []
    ends: dict[int, Structure] = {}
    for k, (rec, band) in enumerate(zip(net["hops"], net["bands"], strict=True)):
        images = [_structure(s) for s in _dump(band)["images"]]
        out += [(s, f"hop {k} image {m}") for m, s in enumerate(images[1:-1], start=1)]
        ends.setdefault(int(rec["i"]), images[0])
        ends.setdefault(int(rec["j"]), images[-1])
    for site, s in sorted(ends.items()):
        for sign in (+1, -1):
            eps = sign * strain * np.array([1.0, -0.5, -0.5])
            m = s.lattice.matrix * (1.0 + eps)[:, None]
            m *= (s.volume / abs(np.linalg.det(m))) ** (1 / 3)  # the volume exactly kept
            t = Structure(m, s.species, s.frac_coords)
            out.append((t, f"site {site} strained {sign * strain * 100:+.1f} % along a"))
    return out


@job(data=["structures"], output_schema=LabelSelectionDoc)
def select_labels(
    outputs: dict[str, Any],
    network: Any,
    material: str,
    budget: int,
    members: int = 3,
    epochs: int = 20,
    seed: int = 0,
    learning_rate: float = 1e-3,
    strain: float = 0.02,
    code: str | None = None,
    holdout: float = 0.25,
) -> LabelSelectionDoc:
    """The ``budget`` cells of :func:`label_candidates` where a committee of ``members``
    heads, fine-tuned ``epochs`` epochs on the chain's training frames (``outputs``: role →
    (uuid, task document of the DFT code ``code``); the ``holdout`` fraction split off with
    ``seed`` as :func:`finetune_on_chain` splits them), spreads most; candidates that are
    near copies of a held-out frame are left out. Resumable: each head's checkpoints live
    in ``committee/member_k`` of the job folder.

    Raises
    ------
    ValueError
        No DFT frame to learn from, or fewer candidates than the budget.
    """
    t0 = time.perf_counter()
    frames, _ = _frames(outputs, code)
    train, held = split_frames(frames.frames, holdout, seed)
    if not train:
        raise ValueError(f"{material}: no DFT frame of the chain to train the committee on")
    cands = [c for c in label_candidates(network, strain) if _independent(c[0], held)]
    if budget > len(cands):
        raise ValueError(
            f"{material}: a label budget of {budget} but only {len(cands)} candidate cells "
            "(band images and strained sites): lower finetune.label_budget"
        )
    ckpts = train_committee(train, Path.cwd() / "committee", members=members,
                            seed=seed, epochs=epochs, learning_rate=learning_rate)  # fmt: skip
    spread = committee_disagreement([load_model(c) for c in ckpts], [c[0] for c in cands])
    picked = most_uncertain(spread, budget)
    print(f"{material}: committee force spread {spread.min():.3f}-{spread.max():.3f} eV/Å "
          f"over {len(cands)} candidates; DFT labels for "
          + ", ".join(f"{cands[i][1]} ({spread[i]:.3f})" for i in picked), flush=True)  # fmt: skip
    return LabelSelectionDoc(
        material=material, budget=budget, members=members, epochs=epochs,
        training_roles=[f.role for f in train], committee=ckpts,
        candidates=[LabelCandidate(origin=o, disagreement_ev_a=float(d), picked=k in picked)
                    for k, ((_, o), d) in enumerate(zip(cands, spread, strict=True))],
        picked=picked, structures=[cands[i][0] for i in picked],
        wall_s=time.perf_counter() - t0,
    )  # fmt: skip


@job(output_schema=FineTuneDoc, data=["weights_b64"])
def finetune_on_chain(outputs: dict[str, Any], material: str, code: str | None = None,
                      **kwargs: Any) -> FineTuneDoc:  # fmt: skip
    """:func:`finetune_potential` on the chain's DFT frames (``outputs``: role → (uuid,
    task document of the DFT code ``code``)); ``kwargs`` are its options (holdout, epochs,
    seed, learning_rate, stress). The committee's labels (roles ``label k``) always train;
    the held-out frames are split from the others as :func:`select_labels` split them. The
    checkpoints live in this job's folder: a rerun resumes there."""
    frames, skipped = _frames(outputs, code)
    labels = [r for r in outputs if r.startswith("label ")]
    return finetune_potential.original(frames, material, skipped=skipped, always_train=labels,
                                       **kwargs)  # fmt: skip


def _barrier(e: Any) -> float:
    e = np.asarray(e, float)
    return float(e.max() - e[0])


def _ml_barrier(model: Any, images: list[Structure]) -> float:
    return _barrier(predict(model, images)[0])


def _tuned_model(ft: dict[str, Any]) -> Any:
    """The fine-tuned model of a :class:`FineTuneDoc` (its checkpoint, checked by sha256;
    written back from the stored weights when the file is not on this machine)."""
    from mttmat.backends.chgnet import fine_tuned_model

    path = ft["checkpoint"]
    if not Path(path).is_file() and ft.get("weights_b64"):
        doc = FineTuneDoc.model_validate(ft)
        path = str(doc.write_checkpoint(Path.cwd() / "finetuned.pth.tar"))
    return fine_tuned_model(path, ft.get("checkpoint_sha256"))


@job(output_schema=FineTuneEffectDoc)
def finetune_effect(network: Any, dft_band: Any, finetune: Any, material: str,
                    dft_charge: float | None = None, dft_spin_polarized: bool | None = None,
                    pretrained_network: Any = None) -> FineTuneEffectDoc:  # fmt: skip
    """Barriers of the fine-tuned model's hop network (``network``) by the fine-tuned and
    the pretrained model, each band's images the same for both (the pretrained model as
    single points), the pretrained model's own CI-NEB barrier of the same hop where its
    network (``pretrained_network``) has it, and at the limiting hop both models on the
    images of the DFT band (``dft_band``: DFT energies on the band, or a DFT CI-NEB; None:
    no DFT), with the reaction energies. The DFT band's cell charge and spin (given, or read
    from the band document; unknown counts as different) say whether DFT and the models
    (neutral cells; spin-paired labels) describe the same state."""
    net, ft = _dump(network), _dump(finetune)
    base, tuned = load_model(), _tuned_model(ft)
    sites = [_structure(_dump(b)["images"][0]) for b in net["bands"]]
    ends = [_structure(_dump(b)["images"][-1]) for b in net["bands"]]
    hops = []
    for k, (rec, band) in enumerate(zip(net["hops"], net["bands"], strict=True)):
        b = _dump(band)
        own = matching_band(pretrained_network, sites[k], ends[k],
                            HopSpec.model_validate(b["hop"]))  # fmt: skip
        if own is not None:  # its barrier in this hop's direction
            own = own[0]["barrier_backward_ev" if own[1] else "barrier_forward_ev"]
        hops.append(HopBarrierCompare(
            hop=k, label=f"site {rec['i']} → {rec['j']}", tuned_ev=float(b["barrier_forward_ev"]),
            base_ev=_ml_barrier(base, [_structure(s) for s in b["images"]]),
            base_own_ev=None if own is None else float(own),
        ))  # fmt: skip
    lim = int(net["limiting_hop"])
    err_b = err_t = fidelity = reaction = None
    if dft_band is not None:
        d = _dump(dft_band)
        dft_charge = d.get("charge") if dft_charge is None else dft_charge
        if dft_spin_polarized is None:
            dft_spin_polarized = d.get("spin_polarized")
        images = d.get("images") or _dump(net["bands"][lim])["images"]
        images = [_structure(s) for s in images]
        h = hops[lim]
        h.dft_ev = float(d["barrier_forward_ev"])
        e_b, e_t = predict(base, images)[0], predict(tuned, images)[0]
        h.base_on_dft_images_ev, h.tuned_on_dft_images_ev = _barrier(e_b), _barrier(e_t)
        e_d = np.asarray(d["energies_ev"], float)
        reaction = {"dft": float(e_d[-1] - e_d[0]), "pretrained": float(e_b[-1] - e_b[0]),
                    "fine-tuned": float(e_t[-1] - e_t[0])}  # fmt: skip
        err_b = abs(h.base_on_dft_images_ev - h.dft_ev)
        err_t = abs(h.tuned_on_dft_images_ev - h.dft_ev)
        fidelity = str(d.get("fidelity"))
    known = dft_charge is not None and dft_spin_polarized is not None
    return FineTuneEffectDoc(
        material=material, base_model=get_backend("chgnet").model_label(),
        tuned_model=net.get("model") or ft["checkpoint"], hops=hops, limiting_hop=lim,
        dft_fidelity=fidelity, error_base_ev=err_b, error_tuned_ev=err_t,
        dft_charge=dft_charge, dft_spin_polarized=dft_spin_polarized,
        like_for_like=known and float(dft_charge) == 0 and not dft_spin_polarized,
        reaction_on_dft_images_ev=reaction,
    )  # fmt: skip

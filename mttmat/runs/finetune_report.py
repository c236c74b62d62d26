"""The report's fine-tuning lines: the first-screen verdict and the section with the parity,
the committee's label picks and the barriers of both models (``<material>/finetune.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mttmat.jobs.finetune import NEAR_COPY_A

__all__ = ["finetune_section", "finetune_verdict"]


def _mae(ft: dict[str, Any]) -> tuple[str, float, float]:
    on = "held-out" if ft.get("heldout_before") else "training (no held-out frame: not a test)"
    b = ft.get("heldout_before") or ft["train_before"]
    a = ft.get("heldout_after") or ft["train_after"]
    return on, b["force_mae_ev_a"], a["force_mae_ev_a"]


def finetune_verdict(f: dict[str, Any] | None) -> str | None:
    """One line: frames, force MAE and the limiting hop's barrier error before → after (in
    bold when fine-tuning made either worse; the barrier difference is an error only when
    the DFT band is neutral and spin-paired, as the labels); None when the run did not
    fine-tune."""
    if not f:
        return None
    ft, eff = f["finetune"], f["effect"]
    on, b, a = _mae(ft)
    n_lab = len((f.get("labels") or {}).get("picked") or [])
    text = (f"{len(ft['training_roles'])} frames trained ({n_lab} committee labels), "
            f"{len(ft['heldout_roles'])} held out; {on} force MAE {b:.3f} → {a:.3f} "
            "eV/Å")  # fmt: skip
    dist = (ft.get("heldout_nearest_a") or {}).items()
    near = [r for r, d in dist if d is not None and d < NEAR_COPY_A]
    if near:
        text += f" (held out but a near copy of a training frame: {', '.join(near)})"
    worse = a > b
    lab = f.get("labels") or {}
    learnt = set(lab.get("training_roles") or ()) & set(ft["heldout_roles"])
    if learnt:  # a committee of a flow built before the one split
        text += f" (**the committee learnt held-out frames: {', '.join(sorted(learnt))}**)"
    if eff.get("error_base_ev") is not None:
        eb, et = eff["error_base_ev"], eff["error_tuned_ev"]
        if eff.get("like_for_like", True):
            text += f"; limiting hop |E_a(ML) − E_a(DFT)| {eb:.3f} → {et:.3f} eV"
            worse = worse or et > eb
        else:
            q = eff.get("dft_charge")
            text += (f"; limiting hop |E_a(ML) − E_a(DFT)| {eb:.3f} → {et:.3f} eV against a "
                     "DFT band of " + ("unknown charge" if q is None else f"charge {q:+g}")
                     + (", spin-polarised" if eff.get("dft_spin_polarized") else "")
                     + " (the models are neutral: a difference, not an error)")  # fmt: skip
    return f"**{text}: fine-tuning made it worse**" if worse else text


def finetune_section(mats: list[str], docs: dict[str, Any], out: Path) -> list[str]:
    """The report section (empty when no material was fine-tuned)."""
    done = [m for m in mats if docs[m].get("finetune")]
    if not done:
        return []
    lines = [
        "## Fine-tuning: CHGNet taught this run's DFT",
        "",
        "Frames: the chain's neutral DFT single points of one setting (spin treatment "
        "included: the spin-paired ones), plus the committee's extra labels; charged cells and "
        "other settings are skipped. The held-out frames are split off before the committee "
        "learns, and labels that copy a held-out cell are not taken. Energies per atom are "
        "compared after per-element reference energies fitted on the training frames (the DFT "
        "code's energy zero is not CHGNet's; with one host composition this tests relative "
        "energies only, and the training-frame energy error is small by construction). "
        "Barriers: E_a = max − first image, both models on the same images (the pretrained "
        "model as single points on the fine-tuned model's bands), next to the pretrained "
        "model's own CI-NEB of the same hop where it ran one; DFT only on the limiting band.",
        "",
    ]
    for m in done:
        f = docs[m]["finetune"]
        ft, eff, lab = f["finetune"], f["effect"], f.get("labels")
        lines += [f"### {m}", "",
                  f"- models: pretrained `{eff['base_model']}`; fine-tuned `{eff['tuned_model']}`",
                  f"- training frames: {', '.join(ft['training_roles'])}; held out: "
                  f"{', '.join(ft['heldout_roles']) or 'none'}; {ft['epochs']} epochs, seed "
                  f"{ft['seed']}, {ft.get('wall_s') or 0:.0f} s"]  # fmt: skip
        for role, why in ft.get("skipped", {}).items():
            lines.append(f"- not a frame: {role} ({why})")
        for role, d in (ft.get("heldout_nearest_a") or {}).items():
            if d is not None:
                lines.append(f"- held-out {role}: its atoms lie within {d:.2f} Å of the nearest "
                             "training frame" + (" (a near copy: not an independent test)"
                                                 if d < NEAR_COPY_A else ""))  # fmt: skip
        if lab:
            picks = [c for c in lab["candidates"] if c["picked"]]
            spread = [c["disagreement_ev_a"] for c in lab["candidates"]]
            lines.append(
                f"- extra DFT labels (budget {lab['budget']}, committee of {lab['members']} "
                f"heads, {lab['epochs']} epochs; force spread over {len(spread)} candidates "
                f"{min(spread):.3f}–{max(spread):.3f} eV/Å): "
                + ", ".join(f"{c['origin']} ({c['disagreement_ev_a']:.3f})" for c in picks)
            )
        lines += ["", "| frames | model | energy MAE (meV/atom) | force MAE (eV/Å) | "
                  "force RMSE (eV/Å) |", "|---|---|---|---|---|"]  # fmt: skip
        for on, pre, post in (("training", "train_before", "train_after"),
                              ("held-out", "heldout_before", "heldout_after")):  # fmt: skip
            for label, key in (("pretrained", pre), ("fine-tuned", post)):
                p = ft.get(key)
                if p:
                    lines.append(
                        f"| {on} ({p['n_frames']}) | {label} | "
                        f"{p['energy_mae_ev_atom'] * 1e3:.1f} | "
                        f"{p['force_mae_ev_a']:.3f} | {p['force_rmse_ev_a']:.3f} |"
                    )
        lines += ["", "| hop (fine-tuned network) | E_a fine-tuned (eV) | E_a pretrained, same "
                  "images (eV) | E_a pretrained, its own CI-NEB (eV) | DFT (eV) |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for h in eff["hops"]:
            dft = "–" if h.get("dft_ev") is None else f"{h['dft_ev']:.3f}"
            own = "–" if h.get("base_own_ev") is None else f"{h['base_own_ev']:.3f}"
            lines.append(f"| {h['hop']}: {h['label']} | {h['tuned_ev']:.3f} | "
                         f"{h['base_ev']:.3f} | {own} | {dft} |")  # fmt: skip
        if eff.get("error_base_ev") is not None:
            h = eff["hops"][eff["limiting_hop"]]
            r = eff.get("reaction_on_dft_images_ev") or {}
            q = eff.get("dft_charge")
            state = (("charge unknown" if q is None else f"charge {q:+g}")
                     + (", spin-polarised" if eff.get("dft_spin_polarized") else ", spin-paired"))
            lines += ["", f"Limiting hop {eff['limiting_hop']}, on the DFT band's images "
                      f"({eff['dft_fidelity']}, {state}): E_a forward DFT {h['dft_ev']:.3f} eV, "
                      f"pretrained {h['base_on_dft_images_ev']:.3f} eV (|Δ| "
                      f"{eff['error_base_ev']:.3f}), fine-tuned {h['tuned_on_dft_images_ev']:.3f}"
                      f" eV (|Δ| {eff['error_tuned_ev']:.3f}); E(end) − E(start) DFT "
                      f"{r.get('dft', float('nan')):+.3f}, pretrained "
                      f"{r.get('pretrained', float('nan')):+.3f}, fine-tuned "
                      f"{r.get('fine-tuned', float('nan')):+.3f} eV."]  # fmt: skip
            if not eff.get("like_for_like", True):
                lines += ["", "The DFT band is not the models' state (they are neutral and "
                          "learnt spin-paired labels; a neutral DFT band is run spin-polarised): "
                          "these differences include the charge and spin of the DFT cells, not "
                          "only the potential's error. The like-for-like check is the "
                          "benchmark's neutral, spin-paired DFT CI-NEB "
                          "(`benchmarks/bench_finetune.py --barriers`)."]  # fmt: skip
        pn = f["pretrained_network"]
        perc = pn["percolation_barrier_ev"]
        lines += ["", f"The pretrained model's own network: percolation barrier "
                  f"{'none' if perc is None else f'{perc:.3f} eV'} (limiting hop "
                  f"{pn['limiting_hop']}); the fine-tuned model's sites: "
                  f"{f['finetuned_screening']['n_unique_sites']} distinct, spread "
                  f"{f['finetuned_screening']['energy_spread_ev']:.3f} eV."]  # fmt: skip
        if (out / m / "figures" / "parity.png").is_file():
            lines += ["", f"![{m} parity]({m}/figures/parity.png)"]
        lines.append("")
    return lines

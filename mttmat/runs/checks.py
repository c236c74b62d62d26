"""The first screen of the main job's report: one verdict per physical check and material
(melted or not, hop barrier with an interior saddle or not, the Li electron's state, the
device switching), each with its number."""

from __future__ import annotations

from typing import Any

from mttmat.jobs.amorphous import MELT_MSD_A2, is_melted
from mttmat.runs.finetune_report import finetune_verdict

__all__ = ["check_lines", "electron_verdict", "hop_verdict", "melt_verdict"]


def melt_verdict(cell: dict[str, Any]) -> str:
    """"melted at T: W 2.1 Å²" (with the failed holds before it), or a bold NOT MELTED."""

    def text(msd: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.2f} Å²" for k, v in msd.items() if k not in ("O", "Li"))

    msd = cell.get("melt_msd_a2") or {}
    if not msd:
        return "not measured"
    threshold = cell.get("melt_threshold_a2") or MELT_MSD_A2
    attempts = cell.get("melt_attempts") or []
    t = f" at {attempts[-1]['temperature_k']:.0f} K" if attempts else ""
    before = "; ".join(f"{a['temperature_k']:.0f} K: {text(a['msd_a2'])}" for a in attempts[:-1])
    before = f" (after {len(attempts) - 1} hold(s) that did not melt: {before})" if before else ""
    if is_melted(msd, threshold):
        return f"melted{t}: {text(msd)}{before}"
    return f"**NOT MELTED{t}: {text(msd)} < {threshold:g} Å²**{before}"


def hop_verdict(neb: dict[str, Any]) -> str:
    """The hop network in one cell: hops, saddles, percolation, the DFT check."""
    net, band = neb.get("network") or {}, neb.get("band")
    hops = net.get("hops") or []
    if not hops:
        return "no hops"
    n_saddle = sum(bool(h["has_saddle"]) for h in hops)
    text = f"{len(hops)} hops, {n_saddle} with an ML saddle; "
    bad = [n for n, h in enumerate(hops) if not h.get("converged", True)]
    if bad:
        text += f"**ML CI-NEB of hop(s) {bad} not converged**; "
    off = [n for n, h in enumerate(hops) if abs(h.get("end_mismatch_ev", 0.0)) > 0.05]
    if off:
        text += f"**band end ≠ screened site for hop(s) {off}**; "
    if net.get("percolation_barrier_ev") is None:
        text += "**no winding path among them**"
    else:
        lim = hops[net["limiting_hop"]]
        d = net["direction"]
        d = "all three directions" if d == "all" else "**one direction only (any)**"
        v = lim["verdict"] if lim["has_saddle"] else f"**{lim['verdict']}: a site-energy limit**"
        text += (f"E_perc(ML) = {net['percolation_barrier_ev']:.3f} eV over {d}, "
                 f"limited by hop {net['limiting_hop']} ({v})")  # fmt: skip
    if band is not None:
        v = band.get("verdict", "")
        text += f"; DFT on it: {'**' + v + '**' if v.startswith('no saddle') else v}"
        if net.get("hops"):
            lim = hops[net["limiting_hop"]]
            sites = [x["energy_ev"] for x in net["sites"]]
            de_ml = sites[lim["j"]] - sites[lim["i"]]
            de = band.get("reaction_energy_ev")
            if de is not None and abs(de - de_ml) > 0.05:
                text += (f"; **DFT ΔE {de:+.3f} eV vs ML site energies {de_ml:+.3f} eV**")
    return text


def electron_verdict(el: dict[str, Any] | None) -> str:
    """Band vs polaron in one cell (the ground state in bold when it is not n-type)."""
    if not el:
        return "not computed"
    v = el["verdict"]
    return v if el["n_type"] else f"**{v}**"


def check_lines(mats: list[str], docs: dict[str, Any], device: dict[str, Any]) -> list[str]:
    """The report's first screen: every physical check of the run, passed or failed, with
    its number (a failed one in bold)."""

    lines = [
        "## Checks",
        "",
        f"| material | melt (cation MSD in the melt hold, ≥ {MELT_MSD_A2:g} Å²) | Li electron "
        "(band vs polaron) | hops (ML CI-NEB, DFT on the limiting band) | channel barrier "
        "used | device under the paper's pulse |",
        "|---|---|---|---|---|---|",
    ]
    for m in mats:
        d = docs[m]
        cell = d.get("melt_quench", {}).get("cell")
        melt = "start cell used as it is (no melt-quench)" if cell is None else melt_verdict(cell)
        bar = d["parameters"]["channel_barrier_ev"]
        src = bar["source"]
        used = f"{bar['value']:.3f} eV ({src.get('fidelity') or src['kind']})"
        if src["kind"] != "dft":
            used = f"**{used}: no computed percolation barrier**"
        elif src.get("fidelity") == "ml":
            used = f"**{used}: ML saddles only**"
        row = device.get("materials", {}).get(m, {})
        if row.get("switches", True):
            dev = f"on/off {row.get('on_off_ratio', float('nan')):.3g}"
        else:
            dev = f"**does not switch: on/off {row['on_off_ratio']:.3g}** (see the device notes)"
        lines.append(f"| {m} | {melt} | {electron_verdict(d.get('electron'))} | "
                     f"{hop_verdict(d.get('neb', {}))} | {used} | {dev} |")  # fmt: skip
    skipped = device.get("exports_skipped", {})
    lines += [""] + [f"- {m}: {why}." for m, why in skipped.items()]
    for m in mats:
        ft = finetune_verdict(docs[m].get("finetune"))
        if ft is not None:
            lines.append(f"- {m} fine-tuned CHGNet (downstream sites and hops): {ft}.")
    return [*lines, ""]

"""The main job's report: key numbers read back from the result files, and report.md.

:data:`KEY_NUMBERS` lists every number the report prints, with its unit, fidelity, and the
file and key it comes from; :func:`key_numbers` reads them (they are also written to
``key_numbers.json``), :func:`write_report` renders ``report.md`` from them, so the report
cannot disagree with the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mttmat.materials import cation_of
from mttmat.runs.checks import check_lines
from mttmat.runs.finetune_report import finetune_section

if TYPE_CHECKING:
    from mttmat.runs.config import MainJobConfig

__all__ = ["KEY_NUMBERS", "dig", "fmt_value", "key_numbers", "write_report"]


#: hops listed one by one in the key numbers (neb.max_hops is 4 by default)
MAX_HOP_ROWS = 8

# (section, quantity, unit, fidelity, file, path, format). ``{m}``: material, ``{c}``: its
# cation; a path step {"q": 1} picks the list item with that key. The report prints these
# numbers from key_numbers.json, and the test reads each one back from its file.
KEY_NUMBERS: list[tuple[str, str, str, str, str, list[Any], str]] = [
    ("host", "atoms in the cell", "", "–", "{m}/start.json", ["start", "n_atoms"], "d"),
    ("host", "density", "g/cm³", "ml", "{m}/melt_quench.json",
     ["cell", "density_g_cm3"], ".2f"),
    ("host", "cation MSD in the melt", "Å²", "ml", "{m}/melt_quench.json",
     ["cell", "melt_msd_a2", "{c}"], ".2f"),
    ("host", "melted (cation MSD ≥ threshold)", "", "ml", "{m}/melt_quench.json",
     ["cell", "melted"], ""),
    ("host", "melt temperature of the last hold", "K", "ml", "{m}/melt_quench.json",
     ["cell", "melt_attempts", -1, "temperature_k"], ".0f"),
    ("host", "{c}–O coordination", "", "ml", "{m}/melt_quench.json",
     ["cell", "coordination", "{c}-O", "mean"], ".2f"),
    ("Li sites", "voids found", "", "–", "{m}/li_sites.json",
     ["n_candidates_found"], "d"),
    ("Li sites", "distinct sites", "", "ml", "{m}/li_sites.json", ["n_unique_sites"], "d"),
    ("Li sites", "site energy spread", "eV", "ml", "{m}/li_sites.json",
     ["energy_spread_ev"], ".3f"),
    ("DOS", "host band gap", "eV", "dft", "{m}/li_dos_summary.json",
     ["host_band_gap_ev"], ".2f"),
    ("Li electron", "E(polaron) − E(band) of Li_i^0", "eV", "dft", "{m}/li_electron.json",
     ["delta_e_polaron_minus_band_ev"], "+.3f"),
    ("Li electron", "ground state (lower solution)", "", "dft", "{m}/li_electron.json",
     ["ground_state_name"], ""),
    ("Li electron", "n-type ground state (≥ 0.5 e per Li above the CBM)", "", "dft",
     "{m}/li_electron.json", ["n_type"], ""),
    ("Li electron", "polaron start localised", "", "dft", "{m}/li_electron.json",
     ["polaron_localized"], ""),
    *[row for lab in ("band", "polaron") for row in (
        ("Li electron", f"{lab}: total energy", "eV", "dft", "{m}/li_electron.json",
         ["solutions", {"label": lab}, "total_energy_ev"], ".3f"),
        ("Li electron", f"{lab}: E_F − host CBM", "eV", "dft", "{m}/li_electron.json",
         ["solutions", {"label": lab}, "fermi_above_host_cbm_ev"], "+.2f"),
        ("Li electron", f"{lab}: highest occupied level − host CBM", "eV", "dft",
         "{m}/li_electron.json", ["solutions", {"label": lab},
                                  "highest_occupied_above_host_cbm_ev"], "+.2f"),
        ("Li electron", f"{lab}: electrons above the host CBM per Li", "e", "dft",
         "{m}/li_electron.json", ["solutions", {"label": lab},
                                  "electrons_above_host_cbm_per_li"], ".2f"),
        ("Li electron", f"{lab}: largest local moment", "μ_B", "dft", "{m}/li_electron.json",
         ["solutions", {"label": lab}, "max_local_moment_mub"], ".2f"),
    )],
    ("formation", "E_f(Li_i^0) = insertion energy vs bcc Li", "eV", "dft",
     "{m}/li_formation.json", ["sites", 0, "intercalation_energy_ev"], "+.3f"),
    ("formation", "voltage vs Li/Li⁺ (one Li)", "V", "dft", "{m}/li_formation.json",
     ["sites", 0, "voltage_v"], ".3f"),
    ("formation", "average voltage, two Li in the cell (ML-relaxed together; spin-paired: "
     "a lower bound)", "V", "dft",
     "{m}/li_formation.json", ["voltage_multi_li_v"], ".3f"),
    ("formation", "E_f(Li_i^+) at E_F = VBM", "eV", "dft", "{m}/li_formation.json",
     ["sites", 0, "states", {"q": 1}, "formation_energy_vbm_ev"], "+.3f"),
    ("formation", "ε(+/0) − VBM", "eV", "dft", "{m}/li_formation.json",
     ["sites", 0, "transition_level_ev"], ".3f"),
    ("migration", "Li sites in the hop network", "", "ml", "{m}/neb.json",
     ["network", "n_sites"], "d"),
    ("migration", "hops computed (ML CI-NEB)", "", "ml", "{m}/neb.json",
     ["network", "n_hops"], "d"),
    *[row for k in range(MAX_HOP_ROWS) for row in (
        ("migration", f"hop {k}: E_a forward / backward", "eV", "ml", "{m}/neb.json",
         ["network", "hops", k, "barriers"], ""),
        ("migration", f"hop {k}: interior saddle", "", "ml", "{m}/neb.json",
         ["network", "hops", k, "has_saddle"], ""),
    )],
    ("migration", "percolation barrier (ML saddles and sites)", "eV", "ml", "{m}/neb.json",
     ["network", "percolation_barrier_ev"], ".3f"),
    ("migration", "percolation: direction (all = x, y and z)", "", "ml", "{m}/neb.json",
     ["network", "direction"], ""),
    ("migration", "limiting hop", "", "ml", "{m}/neb.json", ["network", "limiting_hop"], "d"),
    ("migration", "DFT on the limiting band: E_a forward", "eV", "dft on ml path",
     "{m}/neb.json", ["band", "barrier_forward_ev"], ".3f"),
    ("migration", "DFT on the limiting band: ΔE end − start", "eV", "dft on ml path",
     "{m}/neb.json", ["band", "reaction_energy_ev"], "+.3f"),
    ("migration", "DFT on the limiting band: interior saddle", "", "dft on ml path",
     "{m}/neb.json", ["band", "has_saddle"], ""),
    ("fine-tuning", "held-out force MAE, pretrained CHGNet", "eV/Å", "ml",
     "{m}/finetune.json", ["finetune", "heldout_before", "force_mae_ev_a"], ".3f"),
    ("fine-tuning", "held-out force MAE, fine-tuned CHGNet", "eV/Å", "ml",
     "{m}/finetune.json", ["finetune", "heldout_after", "force_mae_ev_a"], ".3f"),
    ("fine-tuning", "limiting hop |E_a − E_a(DFT band)|, pretrained (an error only when the "
     "band is like for like, next row)", "eV", "ml vs dft",
     "{m}/finetune.json", ["effect", "error_base_ev"], ".3f"),
    ("fine-tuning", "limiting hop |E_a − E_a(DFT band)|, fine-tuned", "eV", "ml vs dft",
     "{m}/finetune.json", ["effect", "error_tuned_ev"], ".3f"),
    ("fine-tuning", "DFT band like for like (neutral, spin-paired as the labels)", "", "–",
     "{m}/finetune.json", ["effect", "like_for_like"], ""),
    ("fine-tuning", "DFT band: cell charge", "e", "–",
     "{m}/finetune.json", ["effect", "dft_charge"], "+g"),
    ("fine-tuning", "site energy spread, fine-tuned model's screening", "eV", "ml",
     "{m}/finetune.json", ["finetuned_screening", "energy_spread_ev"], ".3f"),
    ("fine-tuning", "percolation barrier of the pretrained model's own network", "eV", "ml",
     "{m}/finetune.json", ["pretrained_network", "percolation_barrier_ev"], ".3f"),
    ("device", "channel barrier (parameter)", "eV", "see source",
     "device/ecram_parameters_{m}.json", ["channel_barrier_ev", "value"], ".3f"),
    ("device", "channel barrier: fidelity", "", "–", "device/ecram_parameters_{m}.json",
     ["channel_barrier_ev", "source", "fidelity"], ""),
    ("device", "site energy σ (parameter)", "eV", "ml", "device/ecram_parameters_{m}.json",
     ["site_energy_sigma_ev", "value"], ".3f"),
    ("device", "electrons per Li (parameter)", "e", "dft", "device/ecram_parameters_{m}.json",
     ["electrons_per_li", "value"], ".2f"),
    ("device", "G after 180 LTP pulses", "S", "model", "device/device_summary.json",
     ["materials", "{m}", "g_top_s"], ".3g"),
    ("device", "on/off over the cycle", "", "model", "device/device_summary.json",
     ["materials", "{m}", "on_off_ratio"], ".1f"),
    ("device", "NeuroSim A/P_max, LTP", "", "model", "device/device_summary.json",
     ["materials", "{m}", "ltp_a_normalized"], ".3f"),
    ("device", "retention time of the mid state", "s", "model", "device/device_summary.json",
     ["materials", "{m}", "retention_time_s"], ".3g"),
]  # fmt: skip


def dig(doc: Any, path: list[Any], material: str) -> Any:
    """Follow ``path`` (see :data:`KEY_NUMBERS`) into ``doc``; None where it is absent."""
    cation = cation_of(material)
    for step in path:
        if doc is None:
            return None
        if isinstance(step, dict):
            (k, v), = step.items()
            doc = next((x for x in doc if x.get(k) == v), None)
        elif isinstance(step, int):
            doc = doc[step] if -len(doc) <= step < len(doc) else None
        else:
            doc = doc.get(step.format(m=material, c=cation))
    return doc


def key_numbers(out: Path, materials: list[str]) -> list[dict[str, Any]]:
    """The report's numbers, read from the result files (rows with no value are dropped)."""
    cache: dict[Path, Any] = {}
    rows = []
    for section, quantity, unit, fidelity, file, path, fmt in KEY_NUMBERS:
        values, files = {}, {}
        for m in materials:
            f = out / file.format(m=m)
            if f not in cache:
                cache[f] = json.loads(f.read_text()) if f.is_file() else None
            values[m] = dig(cache[f], path, m)
            files[m] = str(f.relative_to(out))
        if all(v is None for v in values.values()):
            continue
        rows.append({
            "section": section,
            "quantity": quantity.replace("{c}", "M"),
            "unit": unit, "fidelity": fidelity, "format": fmt, "values": values,
            "files": files, "path": path,
        })  # fmt: skip
    return rows


def fmt_value(v: Any, fmt: str) -> str:
    """How the report prints a key number."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    return format(v, fmt)


_FIGURES = {
    "melt-quench": ["schedule", "rdf", "snapshot"],
    "Li sites and DOS": ["li_sites", "li_electron", "dos", "pdos"],
    "migration": ["neb_profile"],
}


def write_report(
    cfg: MainJobConfig,
    numbers: list[dict[str, Any]],
    device: dict,
    out: Path,
    docs: dict,
    timings: dict[str, Any] | None = None,
) -> str:
    """The text of report.md."""
    mats = list(cfg.materials)
    d = cfg.dft
    u = {cation_of(m): d.hubbard_u_ev.get(cation_of(m), 0.0) for m in mats}
    lines = [
        f"# mttmat report: {cfg.name}",
        "",
        "Small-cell material→device chain for " + " and ".join(mats) + ". "
        f"ML potential: {cfg.ml_backend} (melt-quench, Li site screening, CI-NEB"
        + ("; fine-tuned on this run's DFT frames for the hop network and its sites, see "
           "Fine-tuning" if cfg.finetune.enabled else "; pretrained weights") + "). DFT: "
        f"{cfg.dft_backend} PBE+U (Dudarev U_eff {u} eV), {d.ecut_ev:g} eV plane waves, "
        f"k-mesh {d.kpts} {'Γ-centred' if d.kpts_gamma else 'Monkhorst-Pack'}, "
        f"Fermi-Dirac {d.smearing_ev:g} eV; Li_i^0 in two solutions, band (spin-paired) and "
        f"polaron (spin-polarised from {d.polaron_moment_mub:g} μ_B on the cation next to Li, "
        f"first converged with its O shell pushed out {d.polaron_distortion_a:g} Å, then at "
        "the same geometry as the band solution), the lower one used; two Li in one cell "
        "ML-relaxed together, "
        + ("spin-polarised from one moment per Li" if d.two_li_spin_polarized else
           "spin-paired (a lower bound on the two-Li voltage when the Li electrons localise)")
        + "; hops: ML CI-NEB between the "
        f"{cfg.neb.network_sites} lowest sites ({cfg.neb.min_hops}–{cfg.neb.max_hops} hops), "
        f"DFT ({cfg.neb.dft}) on the hop that limits percolation; geometries "
        f"{'DFT-relaxed' if d.relax else 'from the ML potential (no DFT relax)'}. "
        f"ε for the charge correction: {cfg.formation.dielectric} "
        f"({cfg.formation.dielectric_source}). These are small-cell estimates that exercise "
        "the chain; they are not converged values (use larger cells by config, or the HPC "
        "path).",
        "",
        *check_lines(mats, docs, device),
        "## Key numbers",
        "",
        "Fidelity: `ml` = CHGNet, `dft` = GPAW PBE+U, `dft on ml path` = DFT single points on "
        "the converged ML band, `model` = ECRAM compact model. Every number is in "
        "`key_numbers.json` with the file and key it was read from.",
        "",
        *_model_lines(mats, docs),
        "| stage | quantity | unit | fidelity | " + " | ".join(mats) + " |",
        "|---|---|---|---|" + "---|" * len(mats),
    ]
    for r in numbers:
        vals = " | ".join(fmt_value(r["values"][m], r["format"]) for m in mats)
        lines.append(
            f"| {r['section']} | {r['quantity']} | {r['unit']} | {r['fidelity']} | {vals} |"
        )
    lines += ["", "## Figures", ""]
    for title, names in _FIGURES.items():
        lines.append(f"### {title}")
        lines.append("")
        for m in mats:
            for n in names:
                if (out / m / "figures" / f"{n}.png").is_file():
                    lines.append(f"![{m} {n}]({m}/figures/{n}.png)")
        lines.append("")
    lines += ["### formation energy vs Fermi level", ""]
    for n in ("formation_energy", "formation_distribution"):
        if (out / "figures" / f"{n}.png").is_file():
            lines.append(f"![{n}](figures/{n}.png)")
    lines += ["", "### device", ""]
    for fig in ("ltp_ltd", "g_vs_x", "voc", "transfer", "retention", "accuracy_vs_k"):
        if (out / "device" / "figures" / f"{fig}.png").is_file():
            lines.append(f"![{fig}](device/figures/{fig}.png)")
    lines += [
        "",
        f"## ECRAM parameters (calibrated on {device['reference']}, transferred to the others)",
        "",
        "Per material in `device/ecram_parameters_<material>.json` (value, unit and source of "
        "every entry). Computed here:",
        "",
    ]
    for m in mats:
        p = docs[m]["parameters"]
        for k, v in p.items():
            if isinstance(v, dict) and v.get("source", {}).get("kind") in ("dft", "structure"):
                src = v["source"]
                lines.append(
                    f"- {m} `{k}` = {v['value']:.4g} {v['unit']} ({src['kind']}"
                    f"{', ' + src['fidelity'] if src.get('fidelity') else ''}): {src.get('note')}"
                )
    cal = sorted(k for k, v in device["sources"][mats[0]].items() if v == "calibration")
    res = device.get("calibration_residuals", {})
    worst = max((abs(v) for v in res.values()), default=0.0)
    lines += ["", f"Calibrated to the device: {', '.join(cal)} (relative residuals "
              + ", ".join(f"{k} {v:+.2%}" for k, v in res.items()) + "). Others: literature, "
              "device or assumption (see the JSON)."]  # fmt: skip
    if worst > 0.05:
        lines += ["", f"**Warning: the calibration misses the device targets by {worst:.0%}; "
                  "the device numbers above do not describe the measured device.**"]  # fmt: skip
    for m, why in device.get("exports_skipped", {}).items():
        lines.append(f"- {m}: {why}.")
    xor = device.get("xor_accuracy_fitted_transfer")
    if xor is not None:
        lines += ["", f"Metaplastic 2×3×1 XOR BNN through the exported MTT transfer "
                  f"({device['reference']}): test accuracy {xor * 100:.1f} %."]  # fmt: skip
    if "k_sweep" in device:
        ks = device["k_sweep"]
        pairs = ", ".join(
            f"K={k:g}: {a * 100:.1f} %" for k, a in zip(ks["K"], ks["accuracy"], strict=True)
        )
        lines += ["", f"XOR accuracy vs K (mean of {len(ks['seeds'])} seeds): {pairs}."]
    lines += ["", *finetune_section(mats, docs, out)]
    if timings:
        lines += ["", *timing_lines(timings, mats)]
    lines += ["", "## Provenance (job uuids in the store)", ""]
    lines.append(f"Store: `{cfg.store_dir or 'results/store'}`; `mttmat show <uuid> --store …`.")
    lines.append("")
    for m in mats:
        uu = json.loads((out / m / "start.json").read_text())["uuids"]
        lines.append(f"- {m}: " + "; ".join(f"{k} `{v}`" for k, v in uu.items()))
    warn = [w for m in mats for w in docs[m]["formation"].get("warnings", [])]
    if warn:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in warn]
    return "\n".join(lines) + "\n"


def _model_lines(mats: list[str], docs: dict[str, Any]) -> list[str]:
    """Which ML model each ML file's numbers came from (pretrained or fine-tuned)."""
    out = []
    for m in mats:
        sites = docs[m].get("screening", {}).get("model")
        net = docs[m].get("neb", {}).get("network", {}).get("model")
        if sites or net:
            out.append(f"- {m}: Li sites (`li_sites.json`): {sites or 'not recorded'}; hop "
                       f"network and its bands (`neb.json`): {net or 'not recorded'}")  # fmt: skip
    return ["ML models:", "", *out, ""] if out else []


def timing_lines(timings: dict[str, Any], mats: list[str]) -> list[str]:
    """The report's wall-time table (from ``timings.json``)."""
    cols = [*mats, "shared", "all"]
    used = [c for c in cols if any(c in r for r in timings["stages_s"].values())]
    lines = [
        "## Wall time",
        "",
        f"This invocation: {timings['total_s']:.0f} s ({timings['jobs_run_now']} jobs run, "
        f"{timings['jobs_read_back']} read back from the store). Compute over every "
        f"invocation of this run: {timings['compute_s']:.0f} s (job wall times added up; "
        f"up to {timings.get('workers', 1)} jobs ran at once). Per job: `timings.json`.",
        "",
        "| stage | " + " | ".join(used) + " |",
        "|---|" + "---|" * len(used),
    ]
    for stage, row in timings["stages_s"].items():
        vals = " | ".join(f"{row[c]:.0f}" if c in row else "" for c in used)
        lines.append(f"| {stage} | {vals} |")
    return lines

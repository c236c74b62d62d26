"""Build, calibrate, compare and export the ECRAM model; write its JSON and CSV files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mttmat.device.build import MIN_ON_OFF, compare_materials
from mttmat.device.calibrate import DeviceTargets
from mttmat.device.exports import EXPORT_FORMATS, export
from mttmat.device.mtt import MttTransfer, train_xor_bnn
from mttmat.device.parameters import EcramParameters, ParameterError
from mttmat.structures.io import atomic_write_text

__all__ = ["fitted_transfer", "k_sweep", "write_device_outputs"]

K_SWEEP = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 200.0, 632.0)


def k_sweep(
    k_values: tuple[float, ...] = K_SWEEP, seeds: tuple[int, ...] = (0, 1, 2), epochs: int = 30
) -> dict[str, list[float]]:
    """XOR test accuracy (mean over seeds) of the metaplastic BNN vs the MTT on/off ratio K."""
    acc = [
        float(
            np.mean(
                [
                    train_xor_bnn(MttTransfer.symmetric(k), seed=s, epochs=epochs).accuracy
                    for s in seeds
                ]
            )
        )
        for k in k_values
    ]
    return {"K": list(k_values), "accuracy": acc, "seeds": list(seeds)}


def write_device_outputs(
    params: dict[str, EcramParameters],
    reference: str,
    out_dir: str | Path,
    targets: DeviceTargets | None = None,
    export_format: str = "all",
    sweep: bool = True,
    progress: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Calibrate on ``reference``, transfer to the other materials, export.

    Writes ``ecram_parameters_<material>.json``, ``exports/<material>/*`` and
    ``device_summary.json``; returns the summary. The figures are drawn from these files by
    :func:`mttmat.plots.device.make_figures`.
    """
    if export_format not in EXPORT_FORMATS:
        raise ParameterError(
            f"unknown export format {export_format!r}; choose one of {EXPORT_FORMATS}"
        )
    t = targets or DeviceTargets()
    out = Path(out_dir)
    progress(f"device: calibrating on {reference} and transferring to {sorted(params)}")
    table, results = compare_materials(params, reference, t)
    files: dict[str, list[str]] = {}
    skipped: dict[str, str] = {}
    for name, res in results.items():
        res.params.to_json(out / f"ecram_parameters_{name}.json")
        if res.params.electrons_per_li.value <= 0:
            skipped[name] = (
                "no exports: electrons_per_li = 0 (the DFT traps the Li electron), so the "
                "model has no conductance modulation to fit"
            )
            files[name] = []
            continue
        if not table[name]["switches"]:
            need = table[name]["pulse_to_reach_reference_window"]
            v, w = need["amplitude_v_at_paper_width"], need["width_s_at_paper_amplitude"]
            head = (
                f"no exports: the device does not switch under the paper's pulses (on/off "
                f"{table[name]['on_off_ratio']:.3g} up, {table[name]['ltd_on_off_ratio']:.3g} "
                f"down after {t.n_pulses} × {t.v_set:+g} / {t.v_reset:+g} V, {t.width_s:g} s; "
                f"below {MIN_ON_OFF:g})"
            )
            if need["limited_by"].startswith("conductance"):
                skipped[name] = f"{head}; no pulse helps: {need['limited_by']}"
            else:
                skipped[name] = (
                    f"{head}; 90 % of {reference}'s G_max needs "
                    + (f"{v:.3g} V at {t.width_s:g} s" if v else "more than 100 V")
                    + " or "
                    + (f"{w:.3g} s at {t.v_set:+g} V" if w else "pulses longer than 1000 s")
                )
            files[name] = []
            continue
        written = export(res, export_format, out / "exports" / name)
        files[name] = [str(p.relative_to(out)) for p in written]
    ref = results[reference]
    xor = (
        train_xor_bnn(fitted_transfer(out / "exports" / reference), seed=0, epochs=60)
        if export_format in ("mtt", "all")
        else None
    )
    summary: dict[str, Any] = {
        "reference": reference,
        "targets": t.__dict__,
        "calibration_residuals": ref.residuals,
        "theta_window": [ref.theta_bot, ref.theta_top],
        "materials": table,
        "sources": {name: r.params.sources() for name, r in results.items()},
        "exports": files,
        "exports_skipped": skipped,
        "xor_accuracy_fitted_transfer": None if xor is None else xor.accuracy,
    }
    if sweep:
        progress("device: BNN accuracy vs K sweep")
        summary["k_sweep"] = k_sweep()
    atomic_write_text(out / "device_summary.json", json.dumps(summary, indent=2))
    return summary


def fitted_transfer(export_dir: Path) -> MttTransfer:
    d = json.loads((export_dir / "mtt_transfer.json").read_text())
    return MttTransfer(d["A_p"], d["B_p"], d["A_n"], d["B_n"], d["radius"])

"""Build, calibrate, compare and export the ECRAM model; write JSON, CSV and figures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mttmat.device.build import MIN_ON_OFF, compare_materials
from mttmat.device.calibrate import DeviceTargets
from mttmat.device.exports import EXPORT_FORMATS, export
from mttmat.device.model import EcramModel
from mttmat.device.mtt import MttTransfer, train_xor_bnn
from mttmat.device.parameters import EcramParameters, ParameterError
from mttmat.structures.io import atomic_write_text

__all__ = ["k_sweep", "make_figures", "write_device_outputs"]

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


def _retention_curves(
    params: EcramParameters, theta_lo: float, theta_hi: float, n_states: int = 16
) -> tuple[np.ndarray, list[np.ndarray]]:
    m = EcramModel(params, n_devices=n_states, variation=False)
    m.theta[:] = np.linspace(theta_lo, theta_hi, n_states)
    times = np.geomspace(1.0, 1e6, 25)
    g = [m.conductance().copy()]
    last = 0.0
    for t in times:
        m.rest(t - last, n_steps=20)
        last = t
        g.append(m.conductance().copy())
    g_arr = np.array(g[1:])
    return times, [g_arr[:, i] for i in range(n_states)]


def write_device_outputs(
    params: dict[str, EcramParameters],
    reference: str,
    out_dir: str | Path,
    targets: DeviceTargets | None = None,
    export_format: str = "all",
    figures: bool = True,
    sweep: bool = True,
    progress: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Calibrate on ``reference``, transfer to the other materials, export, plot.

    Writes ``ecram_parameters_<material>.json``, ``exports/<material>/*``,
    ``device_summary.json`` and, with ``figures``, ``figures/*.png``. Returns the summary.
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
        train_xor_bnn(_fitted_transfer(out / "exports" / reference), seed=0, epochs=60)
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
    if figures:
        progress("device: figures")
        make_figures(out)
    return summary


def _fitted_transfer(export_dir: Path) -> MttTransfer:
    d = json.loads((export_dir / "mtt_transfer.json").read_text())
    return MttTransfer(d["A_p"], d["B_p"], d["A_n"], d["B_n"], d["radius"])


def make_figures(device_dir: str | Path) -> list[Path]:
    """(Re)draw every device figure from the files of a finished run (no recomputation
    beyond evaluating the stored model parameters). Returns the PNG paths."""
    import matplotlib.pyplot as plt

    from mttmat.analysis import device_plots as dp
    from mttmat.device.calibrate import PulseTrace

    device_dir = Path(device_dir)
    summary_path = device_dir / "device_summary.json"
    if not summary_path.is_file():
        raise ParameterError(f"{device_dir} has no device_summary.json: not a device run folder")
    summary = json.loads(summary_path.read_text())
    mats = list(summary["materials"])
    params = {m: EcramParameters.from_json(device_dir / f"ecram_parameters_{m}.json") for m in mats}
    n_pulses = int(summary["targets"]["n_pulses"])
    figs = {}
    traces = {}
    for m in mats:
        trace_csv = device_dir / "exports" / m / "pulse_trace.csv"
        if trace_csv.is_file():
            traces[m] = PulseTrace.from_csv(trace_csv).conductance_s
    if traces:
        figs["ltp_ltd"] = dp.plot_ltp_ltd(traces, n_pulses)
    th = np.linspace(0.0, 1.0, 200)
    x_li = {m: th * params[m].x_max.value for m in mats}
    models = {m: EcramModel(params[m], variation=False) for m in mats}
    figs["g_vs_x"] = dp.plot_conductance_vs_li(
        x_li[mats[0]], {m: models[m].conductance(th) for m in mats}
    )
    figs["voc"] = dp.plot_voc(
        x_li[mats[0]], {m: models[m].voc_curve.voc(np.clip(th, 1e-4, 1 - 1e-4)) for m in mats}
    )
    w = np.linspace(-1, 1, 401)
    curves = {f"K = {k:g}": MttTransfer.symmetric(k)(w) for k in (1, 5, 20, 100)}
    ref_dir = device_dir / "exports" / summary["reference"]
    if (ref_dir / "mtt_transfer.json").is_file():
        curves["device fit"] = _fitted_transfer(ref_dir)(w)
    figs["transfer"] = dp.plot_transfer_functions(w, curves)
    lo, hi = summary["theta_window"]
    times, g_ret = _retention_curves(params[summary["reference"]], lo, hi)
    figs["retention"] = dp.plot_retention(times, g_ret)
    if "k_sweep" in summary:
        figs["accuracy_vs_k"] = dp.plot_accuracy_vs_k(
            summary["k_sweep"]["K"], summary["k_sweep"]["accuracy"]
        )
    fig_dir = device_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figs.items():
        paths.append(fig_dir / f"{name}.png")
        fig.savefig(paths[-1], dpi=130)
        plt.close(fig)
    return paths

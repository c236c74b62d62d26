"""ECRAM compact model: physics, calibration, exports, MTT transfer, metaplastic BNN."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mttmat.device import EcramModel, EcramParameters, ParameterError, VocCurve
from mttmat.device.calibrate import DeviceTargets, PulseTrace, calibrate, fit_trace
from mttmat.device.exports import (
    AIHWKIT_DOCUMENTED_FIELDS,
    export,
    fit_neurosim,
    mtt_parameters,
    neurosim_curve,
)
from mttmat.device.mtt import MttTransfer, f_meta, quantize_hidden, train_xor_bnn
from mttmat.device.voc import K_B_EV

P0 = EcramParameters.paper_defaults()


@pytest.fixture(scope="module")
def cal():
    return calibrate(P0)


def _model(params=P0, n=1, **kw):
    return EcramModel(params, n_devices=n, variation=False, **kw)


# ----------------------------------------------------------------- parameters
def test_json_round_trip(tmp_path):
    path = tmp_path / "p.json"
    P0.to_json(path)
    back = EcramParameters.from_json(path)
    assert back == P0
    assert back.sources()["electrolyte_barrier_ev"] == "literature"


def test_parameter_without_source_or_out_of_range():
    data = json.loads(P0.to_json())
    del data["mobility_cm2_vs"]["source"]
    with pytest.raises(ParameterError, match=r"mobility_cm2_vs\.source"):
        EcramParameters.checked(**data)
    with pytest.raises(ParameterError, match="out of range"):
        P0.updated(channel_barrier_ev=-0.2)
    with pytest.raises(ParameterError, match="out of range"):
        P0.updated(width_um=0.0)
    data = json.loads(P0.to_json())
    data["channel_barrier_ev"]["source"] = {"kind": "dft"}  # no uuids
    with pytest.raises(ParameterError, match="uuids"):
        EcramParameters.checked(**data)
    with pytest.raises(ParameterError, match="schema"):
        EcramParameters.from_json('{"schema_version": "0.1"}')


@pytest.mark.parametrize(
    ("name", "unit", "value", "message"),
    [
        ("channel_barrier_ev", "kJ/mol", 60.0, "0.0103643 eV"),  # 60 kJ/mol is 0.62 eV
        ("temperature_k", "°C", 27.0, r"T\[K\] = T\[°C\] \+ 273.15"),
        ("temperature_k", "C", 27.0, "273.15"),
        ("site_energy_mean_ev", "meV", -800.0, "0.001 eV"),
        ("hop_length_a", "furlong", 2.8, "'Å'"),  # unknown: refused, the accepted units named
    ],
)
def test_parameter_files_with_foreign_units_are_refused(tmp_path, name, unit, value, message):
    """A value in another unit is never used as if it were in the model's unit."""
    from mttmat.cli import main

    data = json.loads(P0.to_json())
    data[name] = {**data[name], "value": value, "unit": unit}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ParameterError, match=message) as err:
        EcramParameters.from_json(path)
    assert name in str(err.value) and repr(unit) in str(err.value)
    assert main(["ecram", "--params", str(path), "-o", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_accepted_unit_spellings_and_old_files(tmp_path):
    data = json.loads(P0.to_json())
    data["hop_length_a"]["unit"] = "A"
    data["width_um"]["unit"] = "um"
    data["x_max"]["unit"] = "Li/Nb"
    assert EcramParameters.checked(**data).hop_length_a.value == P0.hop_length_a.value
    old = {k: v for k, v in json.loads(P0.to_json()).items() if k != "schema_version"}
    (tmp_path / "old.json").write_text(json.dumps(old))
    with pytest.raises(ParameterError, match=r"no schema_version.*--write-defaults") as err:
        EcramParameters.from_json(tmp_path / "old.json")
    assert "None" not in str(err.value)


def test_bad_targets():
    with pytest.raises(ParameterError, match="ratio"):
        DeviceTargets(ratio_pulse=0.5)  # G_min >= G_max
    with pytest.raises(ParameterError):
        DeviceTargets(width_s=0.0)
    with pytest.raises(ParameterError, match="width"):
        _model().apply_pulse(10.0, 0.0)


# ----------------------------------------------------------------- physics
def test_voc_lattice_gas_limit_and_monotone():
    kt = K_B_EV * 300
    c = VocCurve(-2.0, 0.0, 300.0)
    th = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    assert np.allclose(c.voc(th), 2.0 - kt * np.log(th / (1 - th)), atol=2e-4)
    wide = VocCurve(-2.0, 0.3, 300.0)
    v = wide.voc(np.linspace(0.02, 0.98, 50))
    assert np.all(np.diff(v) < 0)  # V_oc falls as sites fill
    # disorder makes V_oc fall more steeply over the window
    assert (v[0] - v[-1]) > (c.voc(0.02) - c.voc(0.98))


def test_conductance_monotone_and_size_scaling():
    m = _model()
    th = np.linspace(0, 1, 50)
    g = m.conductance(th)
    assert np.all(np.diff(g) > 0)
    m2 = _model(P0.updated(width_um=20.0))
    assert np.allclose(m2.conductance(th), 2 * g)  # G ∝ W / L


def test_soft_bounds_and_direction():
    m = _model(n=3)
    m.theta[:] = [0.1, 0.5, 0.9]
    before = m.theta.copy()
    m.apply_pulse(10.0, 2e-3)
    up = m.theta - before
    assert np.all(up > 0) and up[0] > up[1] > up[2]  # step shrinks toward the upper bound
    m.theta[:] = [0.1, 0.5, 0.9]
    m.apply_pulse(-7.0, 2e-3)
    down = before - m.theta
    assert np.all(down > 0) and down[2] > down[1] > down[0]


def test_table_step_matches_exact_integration():
    m = _model(n=500)
    th = np.random.default_rng(1).random(500).astype(np.float32)
    m.theta[:] = th
    m.apply_pulse(10.0, 2e-3)  # tabulated, 4 sub-steps
    same = m.exact_step(th, 10.0, 2e-3, 4, m.k)
    assert np.max(np.abs(m.theta - same)) < 1e-4  # the table reproduces the integrator
    fine = m.exact_step(th, 10.0, 2e-3, 200, m.k)  # converged reference
    step = np.abs(fine - th)
    assert np.all(np.abs(same - fine) <= 0.1 * step + 1e-6)  # 4 sub-steps: < 10 % of a step


def test_higher_barrier_slows_pulse_response():
    steps = []
    for ea in (0.7, 0.8, 0.9):
        m = _model(P0.updated(channel_barrier_ev=ea))
        m.apply_pulse(10.0, 2e-3)
        steps.append(float(m.theta[0] - P0.theta_rest.value))
    assert steps[0] > steps[1] > steps[2] > 0


def test_retention_is_arrhenius_in_the_barrier():
    kt = K_B_EV * 300
    tau = [_model(P0.updated(retention_barrier_ev=eb)).retention_time_s(0.4) for eb in (1.0, 1.1)]
    assert np.log(tau[1] / tau[0]) == pytest.approx(0.1 / kt, rel=1e-6)
    m = _model(n=2)
    m.theta[:] = [0.4, P0.theta_rest.value]
    m.rest(1e7)
    assert m.theta[0] < 0.4 and m.theta[0] > P0.theta_rest.value  # decays, never overshoots
    assert m.theta[1] == pytest.approx(P0.theta_rest.value, abs=1e-4)


def test_variation_spreads_devices():
    m = EcramModel(P0, n_devices=2000, seed=3)
    m.apply_pulse(10.0, 2e-3)
    step = m.theta - P0.theta_rest.value
    rel = step.std() / step.mean()
    expected = np.hypot(P0.d2d_sigma.value, P0.c2c_sigma.value)
    assert rel == pytest.approx(expected, rel=0.15)


# ----------------------------------------------------------------- calibration
def test_calibration_reproduces_the_device(cal):
    t = DeviceTargets()
    ltp = cal.trace_s[: t.n_pulses + 1]
    ltd = cal.trace_s[t.n_pulses :]
    assert ltp[-1] == pytest.approx(t.g_max_s, rel=0.02)
    assert ltp[-1] / ltp[0] == pytest.approx(t.ratio_pulse, rel=0.03)
    assert ltd[-1] == pytest.approx(ltp[0], rel=0.03)  # the cycle closes
    assert np.all(np.diff(ltp) >= 0) and np.all(np.diff(ltd) <= 0)
    srcs = cal.params.sources()
    assert srcs["field_factor"] == "calibration" and srcs["channel_barrier_ev"] == "literature"
    assert cal.params.field_factor.source.residual < 0.05


def test_fit_trace_recovers_a_generated_trace(tmp_path, cal):
    truth = cal.params
    v = np.array([0.0] + [10.0] * 60 + [-7.0] * 60)
    w = np.full(v.shape, 2e-3)
    m = _model(truth)
    m.theta[:] = 0.3
    g = [m.conductance()[0]]
    for vi in v[1:]:
        m.apply_pulse(vi, 2e-3)
        g.append(m.conductance()[0])
    PulseTrace(v, w, np.array(g)).to_csv(tmp_path / "t.csv")
    trace = PulseTrace.from_csv(tmp_path / "t.csv")
    start = P0.updated(field_factor=0.01, kinetic_prefactor=5.0)
    res = fit_trace(start, trace)
    assert res.residuals["rms_log_g"] < 0.03
    assert np.allclose(res.trace_s, trace.conductance_s, rtol=0.08)


def test_bad_trace(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("pulse,volts\n0,1\n")
    with pytest.raises(ParameterError, match="columns"):
        PulseTrace.from_csv(f)
    with pytest.raises(ParameterError, match="does not exist"):
        PulseTrace.from_csv(tmp_path / "none.csv")


# ----------------------------------------------------------------- exports
@pytest.mark.parametrize("a", [5.0, 30.0, 120.0])
def test_neurosim_fit_recovers_a(a):
    p = np.arange(101)
    g = neurosim_curve(p, a, 1e-6, 40e-6, 100)
    fit = fit_neurosim(g)
    assert fit["a_pulses"] == pytest.approx(a, rel=1e-4)
    g_ltd = neurosim_curve(100 - p, a, 1e-6, 40e-6, 100, ltd=True)
    assert fit_neurosim(g_ltd, ltd=True)["a_pulses"] == pytest.approx(a, rel=1e-4)


def test_exports_written(tmp_path, cal):
    files = export(cal, "all", tmp_path)
    names = {f.name for f in files}
    assert names == {"neurosim.json", "aihwkit_device.json", "mtt_transfer.json", "pulse_trace.csv"}
    ai = json.loads((tmp_path / "aihwkit_device.json").read_text())
    assert ai["class"] == "SoftBoundsPmaxDevice" and ai["kwargs"]["p_max"] == 180
    trace = PulseTrace.from_csv(tmp_path / "pulse_trace.csv")
    assert np.allclose(trace.conductance_s, cal.trace_s, rtol=1e-6)
    assert set(trace.voltage_v[1:]) == {10.0, -7.0}
    with pytest.raises(ParameterError, match="unknown export format"):
        export(cal, "spice", tmp_path)


def test_mtt_fit_of_ideal_device_recovers_k():
    # a device linear in pulses from 1 to K reproduces the ideal symmetric MTT (A, B)
    k = 20.0
    ltp = np.linspace(1.0, k, 101)
    out = mtt_parameters(ltp, ltp[::-1])
    assert out["A_p"] == pytest.approx((k + 1) / 2, rel=1e-3)
    assert out["B_p"] == pytest.approx((k - 1) / 2, rel=1e-3)
    assert out["A_n"] == pytest.approx(out["A_p"], rel=1e-6)


# ----------------------------------------------------------------- MTT + BNN
def test_transfer_function_properties():
    w = np.linspace(-1, 1, 2001)
    for k in (1.0, 5.0, 20.0, 632.0):
        t = MttTransfer.symmetric(k)
        wb = t(w)
        assert t(np.array([1.0, -1.0])) == pytest.approx([1.0, -1.0])
        assert np.allclose(t(-w), -wb)  # odd
        assert np.all(np.diff(wb) > 0)  # monotone
        if k <= 20:
            num = np.gradient(wb, w)[2:-2]
            assert np.allclose(t.derivative(w[2:-2]), num, rtol=2e-2, atol=2e-2)
    assert np.allclose(MttTransfer.symmetric(1.0)(w), w)  # K = 1 is linear
    errs = [
        np.abs(MttTransfer.symmetric(k)(w[np.abs(w) > 0.05]) - np.sign(w[np.abs(w) > 0.05])).max()
        for k in (10, 100, 1e4)
    ]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.01  # → sign(W_h) as K grows
    tern = MttTransfer.symmetric(20, radius=0.2)
    assert np.all(tern(np.linspace(-0.19, 0.19, 9)) == 0)
    assert tern(np.array([1.0]))[0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        MttTransfer.symmetric(0.5)


def test_meta_and_quantisation():
    assert f_meta(np.array([0.0]), 10)[0] == 1.0
    assert f_meta(np.array([1.0]), 10)[0] < 1e-6
    q = quantize_hidden(np.linspace(-1.2, 1.2, 100), 3)
    assert len(np.unique(q)) == 8 and q.min() == -1 and q.max() == 1


def test_xor_reaches_95_percent_with_exported_transfer(tmp_path, cal):
    export(cal, "mtt", tmp_path)
    d = json.loads((tmp_path / "mtt_transfer.json").read_text())
    t = MttTransfer(d["A_p"], d["B_p"], d["A_n"], d["B_n"])
    res = train_xor_bnn(t, hidden=3, m=10.0, lr=0.005, bits=3, seed=0)
    assert res.accuracy >= 0.95
    levels = np.unique(np.concatenate([w.ravel() for w in res.w_hidden]))
    assert len(levels) <= 8 and np.all(np.abs(levels) <= 1)


def test_fitted_mtt_transfer_keeps_unit_endpoints(cal):
    out = mtt_parameters(cal.trace_s[:181], cal.trace_s[180:])
    t = MttTransfer(out["A_p"], out["B_p"], out["A_n"], out["B_n"])
    assert t(np.array([-1.0, 1.0])) == pytest.approx([-1.0, 1.0])
    assert out["rms_p"] < 0.05 and out["rms_n"] < 0.05


def test_aihwkit_export_reproduces_the_ltp_shape(tmp_path, cal):
    from mttmat.device.exports import soft_bounds_pmax_curve

    export(cal, "aihwkit", tmp_path)
    d = json.loads((tmp_path / "aihwkit_device.json").read_text())
    kw = d["kwargs"]
    assert set(kw) <= AIHWKIT_DOCUMENTED_FIELDS["SoftBoundsPmaxDevice"]
    ltp = cal.trace_s[:181]
    w_model = -1 + 2 * (ltp - ltp[0]) / (ltp[-1] - ltp[0])  # G_min → -1, G_max → +1
    a_up = d["fit"]["ltp"]["a_pulses"]
    w_export = soft_bounds_pmax_curve(np.arange(181), kw["p_max"], 1 / a_up, -1.0, 1.0)
    assert np.max(np.abs(w_export - w_model)) < 0.05


def test_cli_fits_and_exports_a_measured_trace(tmp_path, cal):
    from mttmat.cli import main

    v = np.array([0.0] + [10.0] * 40 + [-7.0] * 40)
    m = _model(cal.params)
    m.theta[:] = 0.2
    g = [m.conductance()[0]]
    for vi in v[1:]:
        m.apply_pulse(vi, 2e-3)
        g.append(m.conductance()[0])
    PulseTrace(v, np.full(v.shape, 2e-3), np.array(g)).to_csv(tmp_path / "meas.csv")
    cal.params.to_json(tmp_path / "p.json")
    out = tmp_path / "fit"
    rc = main(
        [
            "ecram",
            "--params",
            str(tmp_path / "p.json"),
            "--trace",
            str(tmp_path / "meas.csv"),
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    ns = json.loads((out / "exports" / "WOx" / "neurosim.json").read_text())
    assert ns["ltp"]["p_max"] == 40 and ns["ltd"]["p_max"] == 40
    ai = json.loads((out / "exports" / "WOx" / "aihwkit_device.json").read_text())
    assert np.isfinite(ai["kwargs"]["lifetime"])
    bad = PulseTrace(v[:3], np.full(3, 2e-3), np.array(g[:3]))
    bad.to_csv(tmp_path / "short.csv")
    assert (
        main(
            [
                "ecram",
                "--params",
                str(tmp_path / "p.json"),
                "--trace",
                str(tmp_path / "short.csv"),
                "-o",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )

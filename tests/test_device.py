"""ECRAM compact model: parameters, physics, calibration (exports and the MTT/BNN side:
``test_device_exports.py``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mttmat.device import EcramModel, EcramParameters, ParameterError, VocCurve
from mttmat.device.calibrate import DeviceTargets, PulseTrace, calibrate, fit_trace
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


def test_retention_has_its_own_prefactor_and_grows_with_the_barrier():
    """Calibration pins f_int·exp(−E_a/kT); retention must not inherit f_int, or a lower
    channel barrier would give a longer retention (it did: 0.5 eV → 1.8e11 s, 0.8 eV →
    1.4e6 s). With the bare ν0 it is Arrhenius in E_b and independent of E_a."""
    taus = {}
    for e_a in (0.5, 0.8):
        c = calibrate(P0.updated(channel_barrier_ev=e_a))
        mid = 0.5 * (c.theta_bot + c.theta_top)
        taus[e_a] = _model(c.params).retention_time_s(mid)
    assert taus[0.8] == pytest.approx(taus[0.5], rel=0.5)  # same E_b: same order of magnitude
    c = calibrate(P0)
    mid = 0.5 * (c.theta_bot + c.theta_top)
    t1 = _model(c.params).retention_time_s(mid)
    t2 = _model(c.params.updated(retention_barrier_ev=1.2)).retention_time_s(mid)
    kt = K_B_EV * 300.0
    assert t2 / t1 == pytest.approx(np.exp(0.1 / kt), rel=1e-3)  # Arrhenius in E_b
    assert t2 > t1


def test_a_barrier_too_high_to_switch_stops_the_calibration_with_its_number():
    """A DFT barrier 1 eV above the paper's needs f_int ~ exp(1/kT) ~ 6e16 to switch in the
    measured pulses: beyond the prefactor's range. The calibration says so, with the
    barrier, instead of failing inside the fit on a parameter's range."""
    e_a = P0.channel_barrier_ev.value + 1.0
    from mttmat.errors import PHYSICS_ERRORS

    with pytest.raises(PHYSICS_ERRORS, match=f"does not switch.*E_a = {e_a:.3f} eV"):
        calibrate(P0.updated(channel_barrier_ev=e_a))


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

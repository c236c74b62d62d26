"""The one DFT → device mapping (:func:`parameters_from_chain`), and comparing materials.

Each DFT-derived entry records the uuids of the calculations it came from; entries a stage
has not produced yet keep their stated (literature/assumption) source, so the parameter file
always says which numbers are computed and which are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pymatgen.core import Structure

from mttmat.analysis.hops import network_barrier
from mttmat.device.calibrate import CalibrationResult, DeviceTargets, calibrate
from mttmat.device.exports import fit_neurosim
from mttmat.device.model import EcramModel
from mttmat.device.parameters import EcramParameters, Param, ParameterError, Source
from mttmat.materials import CATIONS

__all__ = [
    "compare_materials",
    "electrons_per_li",
    "metal_density_cm3",
    "parameters_from_chain",
]

def metal_density_cm3(structure: Structure, metals: Sequence[str] = CATIONS) -> float:
    """W/Nb atoms per cm³ of ``structure``."""
    n = sum(1 for s in structure if s.specie.symbol in metals)
    if n == 0:
        raise ParameterError(f"{structure.composition.reduced_formula} has no W or Nb")
    return n / (structure.volume * 1e-24)


def _structure(s: Any) -> Structure:
    return Structure.from_dict(s) if isinstance(s, dict) else s


def _doc(d: Any) -> dict[str, Any]:
    return d if isinstance(d, dict) else d.model_dump()


def electrons_per_li(cell: dict[str, Any], site_dos: dict[str, Any]) -> tuple[float, str]:
    """Electrons per Li that the host cations carry, and how (from the Li_i^0 cell).

    * ≥ 0.5 e per Li at or above the aligned host CBM: band electrons (that number);
    * else, in a spin-polarised cell whose unpaired electron is not on Li (Li local moment
      < 0.2 μ_B, total ≥ 0.5 μ_B) and is localised on the cations (one cation ≥ 0.5 μ_B or
      the DOS summary's ``polaron_like``): a polaron, however deep (in small cells with U
      the polaron level can sit near the VBM); it carries charge by thermally activated
      hopping, so it counts as one carrier per Li. A spin-polarised electron spread over
      the cell but below the CBM is no polaron and no band electron: 0;
    * else 0: the electron stays on Li, or a spin-paired cell holds it in a gap state (half
      an electron per spin there means the spin-polarised solution was not found, not a
      carrier).
    """
    n_li = max(1, int(cell["n_li"]))
    free = float(cell["electrons_above_host_cbm"]) / n_li
    depth = -float(cell["highest_occupied_above_host_cbm_ev"])
    if free >= 0.5:
        return min(3.0, free), f"{free:.2f} e per Li above the host CBM: band electrons"
    moments = site_dos.get("magnetic_moments_mub")
    total = site_dos.get("total_magnetic_moment_mub")
    if moments and total is not None:
        m_li = sum(abs(m) for m, sp in zip(moments, site_dos["species"], strict=True)
                   if sp == "Li")  # fmt: skip
        local = (cell.get("max_local_moment_mub") or 0.0) >= 0.5 or bool(cell.get("polaron_like"))
        if m_li < 0.2 and abs(total) >= 0.5 and local:
            part = cell.get("extra_electron_participation")
            return min(1.0, abs(total) / n_li), (
                f"the Li electron sits on the host cations (largest local moment "
                f"{cell['max_local_moment_mub']:.2f} μ_B, participation "
                f"{part if part is not None else float('nan'):.1f} cations), {depth:.2f} eV "
                "below the host CBM: a localised (polaron) carrier that conducts by hopping"
            )
    return 0.0, f"the Li electron is trapped {depth:.2f} eV below the host CBM (no carrier)"


def parameters_from_chain(
    material: str,
    host: Any,
    screening: Any,
    dos_summary: Any,
    formation: Any,
    network: Any,
    band: Any,
    site_dos: dict[str, Any],
    uuids: dict[str, str],
    electron: Any,
) -> EcramParameters:
    """The computed :class:`EcramParameters` entries of one material: the one DFT → device
    mapping, used by the chain on every backend.

    * site-energy mean: E_f(Li_i^0) at the lowest site = the insertion energy vs bcc Li (DFT);
    * site-energy spread σ: standard deviation of the ML energies of the distinct screened
      sites (ML fidelity: the DFT covers one site only at this size);
    * electrons per Li: :func:`electrons_per_li` of the lower-energy Li_i^0 solution
      (``electron``, a :class:`~mttmat.schemas.li_electron.LiElectronDoc`; ``site_dos`` holds
      the DOS document of each solution by label): conduction-band electrons, or the
      electron of a polaron on the host cations, which conducts by hopping (the calibrated
      mobility absorbs that, and the note says which it was);
    * channel barrier: the percolation barrier of the hop network (``network``, a
      :class:`~mttmat.schemas.hop_network.HopNetworkDoc`), with the DFT saddle of its
      limiting hop where the DFT ``band`` has one (:func:`network_barrier`); the literature
      value, saying why, when the hops do not percolate;
    * hop length: mean length of the hops at or below the percolating saddle;
    * metal density: the host cell.
    """

    host = _structure(host)
    scr, dos, form, net = _doc(screening), _doc(dos_summary), _doc(formation), _doc(network)
    el = _doc(electron)
    ground = el["ground_state"]
    p = EcramParameters.paper_defaults(material)
    cell = next(c for c in dos["cells"] if c["label"] == ground)
    site = form["sites"][0]
    de = site["intercalation_energy_ev"]
    if de is None:
        raise ParameterError(f"{material}: no Li_i^0 energy in the formation document")
    ef_src = Source(
        kind="dft",
        uuids=[uuids["host"], uuids["bcc Li"], uuids[f"Li_i q=+0 {ground}"]],
        fidelity="dft",
        note=f"E_f(Li_i^0, {ground} solution, the lower) at the lowest ML site = insertion "
        "energy vs bcc Li",
    )
    energies = [
        c["energy_ev"]
        for c in scr["candidates"]
        if c.get("duplicate_of") is None and c.get("energy_ev") is not None
    ]
    updates: dict[str, Param] = {
        "site_energy_mean_ev": Param(value=float(de), unit="eV", source=ef_src),
        "w_density_cm3": Param(
            value=metal_density_cm3(host),
            unit="cm^-3",
            source=Source(kind="structure", note=f"{host.composition.formula} cell"),
        ),
    }
    if len(energies) >= 2:
        updates["site_energy_sigma_ev"] = Param(
            value=float(np.std(energies, ddof=1)),
            unit="eV",
            source=Source(
                kind="dft", fidelity="ml",
                uuids=[uuids.get("screening (fine-tuned model)", uuids["screening"])],
                note=f"σ of the ML energies of {len(energies)} distinct Li sites"
                + (f" ({scr['model']})" if scr.get("model") else ""),
            ),
        )  # fmt: skip
    donated, note = electrons_per_li(cell, _doc(site_dos[ground]))
    de = el["delta_e_polaron_minus_band_ev"]
    updates["electrons_per_li"] = Param(
        value=donated,
        unit="e",
        source=Source(
            kind="dft", uuids=[uuids["DOS host"], uuids[f"DOS {ground}"], uuids["electron"]],
            fidelity="dft",
            note=f"carrier picture of the {el.get('ground_state_name') or ground} solution, "
            f"the lower by {abs(de):.3f} eV "
            f"(polaron − band = {de:+.3f} eV): {note}",
        ),
    )  # fmt: skip
    mig_uuids = [uuids["hop network"]] + ([uuids["DFT band"]] if "DFT band" in uuids else [])
    value, fidelity, why, k = network_barrier(net, _doc(band) if band is not None else None)
    why += f"; ML: {net['model']}" if net.get("model") else ""
    if value is not None:
        updates["channel_barrier_ev"] = Param(
            value=value,
            unit="eV",
            source=Source(kind="dft", uuids=mig_uuids, fidelity=fidelity, note=why),
        )
    else:  # no percolating path among the computed hops: the literature value, and why
        lit = p.channel_barrier_ev
        updates["channel_barrier_ev"] = Param(
            value=lit.value,
            unit=lit.unit,
            source=lit.source.model_copy(update={"note": f"{why}; literature value"}),
        )
    s_lim = net["hops"][k]["saddle_ev"]
    lengths = [h["length_a"] for h in net["hops"] if h["saddle_ev"] <= s_lim + 1e-9]
    updates["hop_length_a"] = Param(
        value=float(np.mean(lengths)),
        unit="Å",
        source=Source(kind="dft", uuids=[uuids["hop network"]], fidelity="ml",
                      note=f"mean of the {len(lengths)} hops at or below the limiting saddle"
                      + (f" ({net['model']})" if net.get("model") else "")),
    )  # fmt: skip
    return p.updated(**updates)


def _a_or_none(curve: np.ndarray, ltd: bool) -> float | None:
    """NeuroSim A/P_max, or None when the curve does not move (no conductance modulation)."""
    if abs(curve[-1] - curve[0]) <= 1e-6 * abs(curve[0]):
        return None
    return fit_neurosim(curve, ltd=ltd)["a_normalized"]


#: a transferred material "switches" when the paper's pulse cycle opens at least this window
#: (G_top/G_bottom): below 2× even a binary weight is lost in the few-% device spreads
MIN_ON_OFF = 2.0


def _theta_after(pp: EcramParameters, theta0: float, v: float, width_s: float, n: int) -> float:
    m = EcramModel(pp, variation=False)
    m.theta[:] = theta0
    for _ in range(n):
        m.apply_pulse(v, width_s)
    return float(m.theta[0])


def _g_after(pp: EcramParameters, theta0: float, v: float, width_s: float, n: int) -> float:
    m = EcramModel(pp, variation=False)
    th = _theta_after(pp, theta0, v, width_s, n)
    return float(m.conductance(np.array([th]))[0])


def _log_bisect(f: Any, lo: float, hi: float, steps: int = 40) -> float | None:
    """Smallest x in [lo, hi] with f(x) true (f monotone), on a log scale; None if f(hi) false."""
    if not f(hi):
        return None
    for _ in range(steps):
        mid = float(np.sqrt(lo * hi))
        lo, hi = (lo, mid) if f(mid) else (mid, hi)
    return hi


#: the fraction of the reference G_max a transferred material's set pulse must reach (the
#: last few % are the saturating tail of the soft bound, where the answer is ill-conditioned)
REACH_FRACTION = 0.9


def pulse_to_switch(
    pp: EcramParameters, theta_bot: float, t: DeviceTargets
) -> dict[str, Any]:
    """The set pulse that takes this material from θ_bot to 90 % of the reference G_max in
    the same number of pulses: the amplitude at the paper's width, or the width at the
    paper's amplitude (None when out of reach: 100 V, or 1000 s per pulse). When even a full
    channel (θ = 1) stays below that conductance, no pulse can help: the contrast is the
    limit (e.g. few electrons per Li), and the answer says so."""
    target = REACH_FRACTION * t.g_max_s
    g_full = float(EcramModel(pp, variation=False).conductance(np.array([1.0]))[0])
    out: dict[str, Any] = {"target_g_s": target, "n_pulses": t.n_pulses,
                           "paper_width_s": t.width_s, "paper_amplitude_v": t.v_set}  # fmt: skip
    if g_full < target:
        return {**out, "amplitude_v_at_paper_width": None, "width_s_at_paper_amplitude": None,
                "limited_by": f"conductance contrast: a full channel gives {g_full:.3g} S"}

    def reaches_v(v: float) -> bool:
        return _g_after(pp, theta_bot, v, t.width_s, t.n_pulses) >= target

    def reaches_w(w: float) -> bool:
        return _g_after(pp, theta_bot, t.v_set, w, t.n_pulses) >= target

    return {
        **out,
        "amplitude_v_at_paper_width": _log_bisect(reaches_v, t.v_set, 100.0),
        "width_s_at_paper_amplitude": _log_bisect(reaches_w, t.width_s, 1e3),
        "limited_by": "ion kinetics (the channel barrier)",
    }


def compare_materials(
    params: dict[str, EcramParameters],
    reference: str,
    targets: DeviceTargets | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, CalibrationResult]]:
    """Same device, different channel: calibrate on ``reference``, transfer to the others.

    The transport parameters fitted to the measured device (field factor, interface
    prefactor, mobility, off conductance, rest filling) are carried over; each material keeps
    its own DFT numbers (barrier, site energies, electrons per Li, metal density). Returns per
    material: the conductance window after the paper's 180/180 cycle, NeuroSim A for LTP/LTD,
    and the retention time of the mid-window state.
    """
    if reference not in params:
        raise ParameterError(f"reference {reference!r} not among {sorted(params)}")
    t = targets or DeviceTargets()
    ref = calibrate(params[reference], t)
    carried = ("field_factor", "kinetic_prefactor", "mobility_cm2_vs", "g0_sheet_s", "theta_rest")
    table: dict[str, dict[str, float]] = {}
    results: dict[str, CalibrationResult] = {}
    for name, p in params.items():
        pp = (
            ref.params
            if name == reference
            else p.updated(**{k: getattr(ref.params, k) for k in carried})
        )
        m = EcramModel(pp, variation=False)
        m.theta[:] = ref.theta_bot
        ltp = m.pulse_train([t.v_set] * t.n_pulses, t.width_s)[:, 0]
        top = float(m.theta[0])
        ltd = m.pulse_train([t.v_reset] * t.n_pulses, t.width_s)[:, 0]
        trace = np.concatenate([ltp, ltd[1:]])
        mid = 0.5 * (ref.theta_bot + top)
        table[name] = {
            "g_top_s": float(ltp[-1]),
            "g_bottom_s": float(ltd[-1]),
            "on_off_ratio": float(ltp[-1] / ltp[0]),
            "ltp_a_normalized": _a_or_none(ltp, ltd=False),
            "ltd_a_normalized": _a_or_none(ltd, ltd=True),
            "retention_time_s": m.retention_time_s(mid),
            "channel_barrier_ev": pp.channel_barrier_ev.value,
            "site_energy_mean_ev": pp.site_energy_mean_ev.value,
            "ltd_on_off_ratio": float(ltd[0] / ltd[-1]),
            # both directions must open the window: LTP up and LTD back down
            "switches": bool(min(ltp[-1] / ltp[0], ltd[0] / ltd[-1]) >= MIN_ON_OFF),
        }
        if not table[name]["switches"]:
            table[name]["pulse_to_reach_reference_window"] = pulse_to_switch(
                pp, ref.theta_bot, t
            )
        results[name] = CalibrationResult(
            pp,
            ref.residuals if name == reference else {},
            ref.theta_bot,
            top,
            trace,
            np.array([t.v_set] * t.n_pulses + [t.v_reset] * t.n_pulses),
            np.full(2 * t.n_pulses, t.width_s),
        )
    return table, results

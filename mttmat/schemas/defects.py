"""Li interstitial formation energies: per site and charge state, statistics, comparison.

:meth:`LiFormationDoc.build` takes the DFT task documents of the host, bcc Li and every
(site, q) cell, checks that they belong together (atom and electron counts, U, cutoff,
k-mesh), applies the charge correction, and returns formation-energy lines, ε(+/0) per site,
the site statistics and the intercalation voltages. The correction is Freysoldt's
(pymatgen-analysis-defects ``get_freysoldt_correction``: Gaussian model charge in an
isotropic dielectric, lattice energy + planar-averaged potential alignment) with a dielectric
constant that is *supplied*, not computed; in an amorphous host the alignment uses the
difference of defect and host potentials, so the glass's own disorder cancels, and its
spread over the three axes is reported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from mttmat.analysis.defects import (
    boltzmann_stats,
    formation_energy,
    intercalation_voltage,
    transition_level,
)

__all__ = ["LiChargeState", "LiFormationDoc", "LiSiteFormation", "charge_correction"]

ALIGNMENT_TOL_EV = 0.1  # max spread of the per-axis Freysoldt alignments for a usable correction


def _li_valence(li_metal: Any, cells: list[dict[str, Any]], n_host: float) -> float:
    """Valence electrons of one Li in this code's setup (GPAW's Li: 1; VASP's Li_sv: 3):
    from the bcc Li document of the same backend when there is one (electrons per atom),
    else from the Li cells themselves (N_cell + q − N_host), which must then agree."""
    if li_metal is not None:
        n_li_metal = _get(li_metal, "electronic", "n_electrons")
        if n_li_metal is None:
            raise ValueError("the bcc Li document holds no electron count (electronic.n_electrons)")
        return float(n_li_metal) / len(_structure(li_metal))
    counts = {round(float(_get(c["doc"], "electronic", "n_electrons")) + int(c["q"]) - n_host, 6)
              for c in cells}  # fmt: skip
    if len(counts) != 1:
        raise ValueError(
            f"the Li cells imply different Li valence counts {sorted(counts)} (N_cell + q − "
            "N_host): a charge state was computed with the wrong charge setting"
        )
    z = counts.pop()
    if z not in (1.0, 3.0):  # Li: 1s frozen (GPAW's setup) or semicore (VASP's Li_sv)
        raise ValueError(
            f"the Li cells imply {z:g} valence electrons per Li (N_cell + q − N_host); Li "
            "setups have 1 or 3: a wrong charge setting or a different setup than the host's"
        )
    return z


def _get(doc: Any, *path: str) -> Any:
    for key in path:
        if doc is None:
            return None
        doc = doc.get(key) if isinstance(doc, dict) else getattr(doc, key, None)
    return doc


def _structure(doc: Any) -> Any:
    from pymatgen.core import Structure

    s = _get(doc, "structure")
    return Structure.from_dict(s) if isinstance(s, dict) else s


def charge_correction(
    q: int,
    dielectric: float,
    defect: Any,
    host: Any,
    li_frac: list[float],
    energy_cutoff_ev: float = 520.0,
) -> dict[str, float]:
    """Freysoldt correction of Li_i^q (eV) and its parts, from the planar-averaged potentials."""
    if q == 0:
        return {"total": 0.0, "lattice": 0.0, "alignment": 0.0, "alignment_spread": 0.0}
    from pymatgen.analysis.defects.corrections.freysoldt import get_freysoldt_correction

    pd, ph = (_get(d, "electronic", "planar_avg_potential_ev") for d in (defect, host))
    if pd is None or ph is None:
        raise ValueError(
            "charged-cell correction needs the planar-averaged electrostatic potentials of the "
            "defect and host calculations (gpaw backend stores them)"
        )
    lat = _structure(defect).lattice
    res = get_freysoldt_correction(
        q, dielectric, {i: np.asarray(v) for i, v in enumerate(pd)},
        {i: np.asarray(v) for i, v in enumerate(ph)}, defect_frac_coords=li_frac,
        lattice=lat, energy_cutoff=energy_cutoff_ev,
    )  # fmt: skip
    md = res.metadata
    per_axis = [float(v) * q for v in md["alignments"].values()]
    return {
        "total": float(res.correction_energy),
        "lattice": float(md["electrostatic"]),
        "alignment": float(md["potential"]),
        "alignment_spread": float(np.ptp(per_axis)),  # disagreement of the three axes
    }


def _voltage_stats(volts: list[float], temperature_k: float) -> dict[str, float]:
    """Voltage statistics from the intercalation energies −V (lowest energy = highest V)."""
    st = boltzmann_stats([-v for v in volts], temperature_k)
    return {"max": -st["min"], "boltzmann_mean": -st["boltzmann_mean"], "mean": -st["mean"],
            "std": st["std"], "n": st["n"]}  # fmt: skip


class LiChargeState(BaseModel):
    """One (site, q) calculation."""

    q: int
    energy_ev: float = Field(..., description="Total energy of host + Li_i^q (eV).")
    n_electrons: float
    correction_ev: float = Field(..., description="Charge correction E_corr(q) (eV).")
    correction_parts_ev: dict[str, float] = Field(default_factory=dict)
    correction_reliable: bool | None = Field(
        None,
        description="The three axes agree on the alignment within ALIGNMENT_TOL_EV; False: "
        "the cell is too small for a region far from the defect (None for q = 0).",
    )
    formation_energy_vbm_ev: float = Field(..., description="E_f(q, E_F = VBM) (eV).")
    uuid: str | None = None


class LiSiteFormation(BaseModel):
    """All charge states of Li at one site."""

    label: str
    li_frac_coords: list[float]
    states: list[LiChargeState]
    transition_level_ev: float | None = Field(
        None, description="ε(+/0) above the host VBM (eV); None without both q = +1 and 0."
    )
    intercalation_energy_ev: float | None = Field(
        None, description="E(host+Li⁰) − E(host) − μ_Li = E_f(0) (eV)."
    )
    voltage_v: float | None = Field(None, description="−intercalation energy / e (V).")

    def line(self, q: int, e_fermi: np.ndarray) -> np.ndarray:
        st = next(s for s in self.states if s.q == q)
        return st.formation_energy_vbm_ev + q * np.asarray(e_fermi)


class LiFormationDoc(BaseModel):
    """Li_i formation energies over the sites of one host (E_F from the host VBM, eV)."""

    host_formula: str
    code: str
    host_energy_ev: float
    host_vbm_ev: float = Field(..., description="Host VBM on the code's scale (eV).")
    host_band_gap_ev: float
    mu_li_ev: float = Field(..., description="Li chemical potential used (eV/atom).")
    mu_li_reference: str = Field(..., description="'bcc Li (same settings)' or user-given.")
    dielectric: float = Field(..., description="Dielectric constant of the corrections.")
    dielectric_source: str = Field(..., description="Where ε came from ('supplied: ...').")
    correction_scheme: str
    settings: dict[str, Any] = Field(..., description="U, cutoff, k-mesh shared by all cells.")
    sites: list[LiSiteFormation]
    stats_by_q: dict[str, dict[str, float]] = Field(
        ..., description="E_f(q, E_F = VBM) over sites: min, Boltzmann mean (T), mean, std."
    )
    transition_level_stats: dict[str, float] | None = None
    voltage_one_li_v: dict[str, float] | None = Field(
        None,
        description="Voltage of one Li over the sites: max (lowest-energy site), Boltzmann "
        "mean, mean, std (V vs Li/Li⁺).",
    )
    voltage_multi_li_v: float | None = Field(
        None, description="Average voltage with n_multi Li in one cell (V)."
    )
    n_multi_li: int | None = None
    temperature_k: float = 300.0
    warnings: list[str] = Field(default_factory=list)
    uuids: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def build(
        cls,
        host: Any,
        li_metal: Any | None,
        cells: list[dict[str, Any]],
        dielectric: float,
        dielectric_source: str,
        mu_li_ev: float | None = None,
        multi: dict[str, Any] | None = None,
        temperature_k: float = 300.0,
        uuids: dict[str, str] | None = None,
    ) -> LiFormationDoc:
        """``cells``: dicts with label, q, doc (task document), uuid, li_frac.

        Raises
        ------
        ValueError
            No μ_Li (neither bcc Li nor a value), mixed U / cutoff / k-mesh, a cell with
            another Li count than one, or an electron count that does not match q.
        """
        if dielectric <= 0:
            raise ValueError(f"the dielectric constant must be > 0, got {dielectric}")
        code = str(_get(host, "backend") or _get(host, "electronic", "code"))
        ref = {k: _get(host, "electronic", k) for k in ("hubbard_u_ev", "ecut_ev", "kpts")}
        if mu_li_ev is None:
            if li_metal is None:
                raise ValueError(
                    "no Li chemical potential: give the bcc-Li calculation (same backend and "
                    "settings) or mu_li_ev explicitly (e.g. a Li2O-limited value)"
                )
            li_ref = {k: _get(li_metal, "electronic", k) for k in ("ecut_ev",)}
            if li_ref["ecut_ev"] != ref["ecut_ev"]:
                raise ValueError(
                    f"bcc Li was computed at {li_ref['ecut_ev']} eV, the host at "
                    f"{ref['ecut_ev']} eV: refusing to mix cutoffs in μ_Li"
                )
            mu = float(_get(li_metal, "output", "energy")) / len(_structure(li_metal))
            mu_ref = "bcc Li (same backend and cutoff)"
        else:
            mu, mu_ref = float(mu_li_ev), "supplied"
        e_host = float(_get(host, "output", "energy"))
        n_host = float(_get(host, "electronic", "n_electrons"))
        e_vbm = _get(host, "electronic", "vbm_ev")
        if e_vbm is None:
            raise ValueError(
                "the host calculation has no valence band maximum (a metallic host, or VASP's "
                "band structure was not parsed): E_f(E_F) is referenced to the host VBM and "
                "needs a gapped host; check the host's DOS and its k-mesh"
            )
        e_vbm = float(e_vbm)
        gap = float(_get(host, "electronic", "band_gap_ev") or 0.0)
        n_host_atoms = len(_structure(host))
        z_li = _li_valence(li_metal, cells, n_host)
        by_site: dict[str, dict[str, Any]] = {}
        for c in cells:
            doc, q, label = c["doc"], int(c["q"]), c["label"]
            st = {k: _get(doc, "electronic", k) for k in ("hubbard_u_ev", "ecut_ev", "kpts")}
            if st != ref:
                raise ValueError(
                    f"{label} q={q:+d} was computed with {st}, the host with {ref}: refusing "
                    "to mix U, cutoffs or k-meshes"
                )
            s = _structure(doc)
            n_li = sum(1 for x in s if x.specie.symbol == "Li")
            if len(s) - n_host_atoms != 1 or n_li != 1:
                raise ValueError(
                    f"{label}: {len(s) - n_host_atoms} extra atoms and {n_li} Li, but a Li_i "
                    "cell holds the host plus exactly one Li"
                )
            n_el = float(_get(doc, "electronic", "n_electrons"))
            if abs(n_el - (n_host + z_li - q)) > 1e-6:
                raise ValueError(
                    f"{label} q={q:+d} holds {n_el:g} electrons; host {n_host:g} + Li {z_li:g} "
                    f"− q needs {n_host + z_li - q:g}: wrong charge setting for this state"
                )
            corr = charge_correction(q, dielectric, doc, host, c["li_frac"])
            e = float(_get(doc, "output", "energy"))
            ef = float(formation_energy(e, e_host, mu, q, e_vbm, 0.0, corr["total"]))
            site = by_site.setdefault(label, {"li_frac": c["li_frac"], "states": []})
            site["states"].append(
                LiChargeState(
                    q=q,
                    energy_ev=e,
                    n_electrons=n_el,
                    correction_ev=corr["total"],
                    correction_parts_ev=corr,
                    correction_reliable=None
                    if q == 0
                    else corr["alignment_spread"] <= ALIGNMENT_TOL_EV,
                    formation_energy_vbm_ev=ef,
                    uuid=c.get("uuid"),
                )
            )
        sites = []
        for label, d in by_site.items():
            states = {s.q: s for s in d["states"]}
            eps = ei = None
            if 1 in states and 0 in states:
                p, z = states[1], states[0]
                eps = transition_level(p.energy_ev, z.energy_ev, 1, 0, e_vbm, p.correction_ev, 0.0)
            if 0 in states:
                ei = states[0].formation_energy_vbm_ev
            sites.append(
                LiSiteFormation(
                    label=label,
                    li_frac_coords=list(d["li_frac"]),
                    states=sorted(d["states"], key=lambda s: -s.q),
                    transition_level_ev=eps,
                    intercalation_energy_ev=ei,
                    voltage_v=None if ei is None else -ei,
                )
            )
        qs = sorted({s.q for site in sites for s in site.states}, reverse=True)
        stats = {
            f"{q:+d}": boltzmann_stats(
                [s.formation_energy_vbm_ev for site in sites for s in site.states if s.q == q],
                temperature_k,
            )
            for q in qs
        }
        eps_all = [s.transition_level_ev for s in sites if s.transition_level_ev is not None]
        warnings = [
            f"{site.label} q={st.q:+d}: the Freysoldt alignment differs by "
            f"{st.correction_parts_ev['alignment_spread']:.2f} eV between the cell axes (> "
            f"{ALIGNMENT_TOL_EV} eV): the cell is too small for a defect-free region; charged "
            "formation energies and ε(+/0) carry that uncertainty"
            for site in sites
            for st in site.states
            if st.correction_reliable is False
        ]
        volts = [s.voltage_v for s in sites if s.voltage_v is not None]
        v_multi = n_multi = None
        if multi is not None:
            ms = _structure(multi["doc"])
            n_multi = sum(1 for x in ms if x.specie.symbol == "Li")
            v_multi = intercalation_voltage(
                float(_get(multi["doc"], "output", "energy")), e_host, mu, n_multi
            )
        return cls(
            host_formula=_structure(host).composition.reduced_formula,
            code=code,
            host_energy_ev=e_host,
            host_vbm_ev=e_vbm,
            host_band_gap_ev=gap,
            mu_li_ev=mu,
            mu_li_reference=mu_ref,
            dielectric=dielectric,
            dielectric_source=dielectric_source,
            correction_scheme="Freysoldt (pymatgen-analysis-defects), isotropic ε, planar "
            "averages of the code's electrostatic potential; none for q = 0",
            settings=ref,
            sites=sites,
            stats_by_q=stats,
            transition_level_stats=boltzmann_stats(eps_all, temperature_k) if eps_all else None,
            voltage_one_li_v=_voltage_stats(volts, temperature_k) if volts else None,
            voltage_multi_li_v=v_multi,
            n_multi_li=n_multi,
            temperature_k=temperature_k,
            warnings=warnings,
            uuids=dict(uuids or {}),
        )

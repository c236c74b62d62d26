"""Calculation defaults of the backends, for callers that give none.

The chain (main job, HPC) sets every DFT setting explicitly from its config when the flow is
built (:class:`mttmat.chain.config.DftConfig`). The stage commands (``mttmat calc``,
``li-dos``, ``li-formation``, ``li-migration``) and the makers used on their own fall back to
these values. They are code, not settings: no environment variable or settings file of the
process that runs a job can change them, so a job computes the same thing on a laptop and on
a cluster worker (issue 15; atomate2 keeps its physics in input sets and makers the same
way). U per species comes from the material table (:mod:`mttmat.materials`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mttmat.materials import MATERIALS

__all__ = ["DEFAULTS", "CalcDefaults", "default_hubbard_l", "default_hubbard_u"]


@dataclass(frozen=True)
class CalcDefaults:
    """Defaults of a calculation that names none."""

    relax_fmax_ev_a: float = 0.02  # relaxations stop at max |F| below this
    neb_fmax_ev_a: float = 0.05  # CI-NEB stops at max |F| on the images below this
    gpaw_ecut_ev: float = 300.0  # GPAW plane-wave cutoff
    vasp_encut_ev: float = 520.0  # VASP ENCUT (Materials Project's)
    #: GPAW/ASE k-point density (points per Å⁻¹, 2π included): n_i = ceil(density·|b_i|);
    #: 3.8 Å cubic WO3 → 4, 15 Å amorphous cells → Γ
    kpoint_density: float = 2.0
    vasp_reciprocal_density: int = 64  # VASP k-points per Å⁻³ (pymatgen reciprocal_density)
    smearing_ev: float = 0.05  # Fermi-Dirac width
    spin_polarized: bool = True
    ldau_type: int = 2  # Dudarev: only U - J enters


DEFAULTS = CalcDefaults()


def default_hubbard_u() -> dict[str, float]:
    """U_eff per cation of the material table (the paper's W 6.2, Nb 4.0 eV)."""
    return {m.cation: m.hubbard_u_ev for m in MATERIALS.values()}


def default_hubbard_l() -> dict[str, int]:
    """Angular momentum of the +U channel per cation (2 = d)."""
    return {m.cation: m.hubbard_l for m in MATERIALS.values()}

"""GPAW backend: PAW plane waves, PBE, Dudarev DFT+U (U per species from the caller, else
the material table), for small local cells."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase.calculators.calculator import kptdensity2monkhorstpack

from mttmat.backends.base import AseCalculatorBackend, BackendError, register_backend
from mttmat.backends.defaults import DEFAULTS, default_hubbard_l, default_hubbard_u
from mttmat.settings import get_settings

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator
    from pymatgen.core import Structure

__all__ = ["GpawBackend", "gpaw_projections", "gpaw_setups"]

# Initial moments (μ_B) for spin-polarised runs, as in Materials Project sets (0.6 default
# for d metals); O and Li start at 0.
_INITIAL_MAGMOM = {"W": 0.6, "Nb": 0.6}

GPAW_TXT = "gpaw.txt"
GPAW_GPW = "gpaw.gpw"


def gpaw_setups(hubbard_u_ev: dict[str, float], hubbard_l: dict[str, int]) -> dict[str, str]:
    """GPAW ``setups`` for Dudarev +U, e.g. ``{"W": ":d,6.2"}`` (U in eV on the d shell)."""
    letters = {0: "s", 1: "p", 2: "d", 3: "f"}
    return {
        el: f":{letters[hubbard_l.get(el, 2)]},{u:g}" for el, u in hubbard_u_ev.items() if u > 0
    }


def gpaw_projections(calc: Any) -> dict[str, Any]:
    """Per-state PDOS shares per (element, l) channel and participation over atoms.

    Squared projections on the bound-state PAW projectors (``gpaw.dos``), summed over m,
    then normalised per state over all channels (see :mod:`mttmat.schemas.dos` for why).
    Returns ``pdos_channels``, ``pdos_weights`` [s][k][n][c] and ``participation`` [s][k][n]:
    the participation number of each state over the cations (1/Σ p_c², p_c the state's
    projector weight on cation c, normalised): ~1 on one W/Nb (a small polaron), ~N_cation
    for a band state.
    """
    from gpaw.dos import IBZWaveFunctions, get_projector_numbers

    wfs = IBZWaveFunctions(calc)
    symbols = calc.atoms.get_chemical_symbols()
    channels: list[str] = []
    per_channel: dict[str, np.ndarray] = {}
    per_atom = []
    for a, setup in enumerate(calc.setups):
        atom_total = 0.0
        for ell in sorted(set(setup.l_j)):
            idx = get_projector_numbers(setup, ell)
            if not idx:
                continue
            w = wfs.pdos_weights(a, idx).transpose(2, 0, 1)  # (k, n, s) → (s, k, n)
            name = f"{symbols[a]}:{'spdf'[ell]}"
            if name not in per_channel:
                channels.append(name)
                per_channel[name] = np.zeros_like(w)
            per_channel[name] += w
            atom_total = atom_total + w
        if symbols[a] not in ("O", "Li", "F", "N", "S", "H"):  # cations carry the d electron
            per_atom.append(atom_total)
    stack = np.stack([per_channel[c] for c in channels], axis=-1)  # (s, k, n, c)
    norm = stack.sum(axis=-1, keepdims=True)
    shares = np.divide(stack, norm, out=np.zeros_like(stack), where=norm > 0)
    part = np.zeros(stack.shape[:3])
    if per_atom:
        atoms_w = np.stack(per_atom, axis=-1)
        p = atoms_w / np.maximum(atoms_w.sum(axis=-1, keepdims=True), 1e-300)
        part = 1.0 / np.maximum((p**2).sum(axis=-1), 1e-300)
    return {
        "pdos_channels": channels,
        "pdos_weights": np.round(shares, 5).tolist(),
        "participation": np.round(part, 3).tolist(),
    }


@register_backend
class GpawBackend(AseCalculatorBackend):
    """GPAW (PW mode, PBE, Fermi-Dirac smearing, DFT+U).

    Calculator keyword arguments (``calculator_kwargs`` of the Makers): ``ecut_ev``,
    ``kpts`` (mesh or None for the default k-point density), ``kpts_gamma`` (Γ-centred mesh,
    default True; False gives Monkhorst-Pack points, fewer of them in low symmetry),
    ``spin_polarized``,
    ``hubbard_u_ev`` (U per species, the whole set: species absent get none; the material
    table's when not given), ``hubbard_l`` (angular momentum per species, d = 2),
    ``smearing_ev``, ``mixer`` (dict for
    ``gpaw.Mixer``), ``symmetry`` (GPAW's, e.g. ``"off"``), ``charge``, ``txt``,
    ``convergence``, ``maxiter``.
    """

    name = "gpaw"
    fidelity = "dft"
    # One BLAS thread: measured here (17-atom Li_i^0 cell, PW 300 eV, Γ), an SCF takes
    # 18.8 s with one OpenBLAS thread and 32.2 s with two (spin-polarised 33.6 vs 60.6 s):
    # GPAW's matrices at this size are too small for threaded BLAS to pay.
    blas_threads = 1

    def calculator(self, structure: Structure | None = None, **kwargs: Any) -> Calculator:
        try:
            from gpaw import GPAW, PW, FermiDirac
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise BackendError(
                "the gpaw backend needs GPAW: run the README's bootstrap (make test / make run), "
                "or `CC=g++ pip install gpaw`; without root use conda-forge's gpaw"
            ) from err
        d = DEFAULTS  # code defaults for direct calls; the chain passes every setting
        u = dict(kwargs.pop("hubbard_u_ev")) if "hubbard_u_ev" in kwargs else default_hubbard_u()
        kpts = kwargs.pop("kpts", None)
        gamma = bool(kwargs.pop("kpts_gamma", True))
        params: dict[str, Any] = {
            "mode": PW(ecut := kwargs.pop("ecut_ev", d.gpaw_ecut_ev)),
            "xc": "PBE",
            "setups": gpaw_setups(u, kwargs.pop("hubbard_l", None) or default_hubbard_l()),
            "occupations": FermiDirac(smearing := kwargs.pop("smearing_ev", d.smearing_ev)),
            "spinpol": kwargs.pop("spin_polarized", d.spin_polarized),
            "txt": kwargs.pop("txt", GPAW_TXT),
            "charge": kwargs.pop("charge", 0.0),
            "convergence": kwargs.pop("convergence", {"energy": 1e-5, "density": 1e-5}),
            "maxiter": kwargs.pop("maxiter", 300),
            "kpts": {"size": tuple(kpts), "gamma": gamma}
            if kpts is not None
            else {"density": d.kpoint_density, "gamma": True},
        }
        if "symmetry" in kwargs:  # e.g. "off": GPAW's analysis can fail on near-symmetric cells
            params["symmetry"] = kwargs.pop("symmetry")
        mixer = kwargs.pop("mixer", None)  # {"beta": 0.02, "nmaxold": 5, "weight": 100}
        if mixer is not None:
            from gpaw import Mixer

            params["mixer"] = Mixer(**mixer)
        if kwargs:
            raise BackendError(f"unknown GPAW calculator option(s): {sorted(kwargs)}")
        calc = GPAW(**params)
        calc.mttmat_meta = {  # what the summary reports; GPAW keeps its own copy too
            "hubbard_u_ev": {k: v for k, v in u.items() if v > 0},
            "ecut_ev": float(ecut),
            "kpts": list(kpts) if kpts is not None else None,
            "spin_polarized": bool(params["spinpol"]),
            "smearing_ev": float(smearing),
            "charge": float(params["charge"] or 0.0),
        }
        return calc

    def check_structure(self, structure: Structure) -> None:
        limit = get_settings().gpaw_max_atoms
        if len(structure) > limit:
            raise BackendError(
                f"{len(structure)} atoms is above the GPAW local limit of {limit} "
                "(settings.gpaw_max_atoms): use the vasp backend on HPC for full-size cells, "
                "a smaller cell, or raise MTTMAT_GPAW_MAX_ATOMS if you have the time"
            )

    def log_kwargs(self, log: str | None) -> dict[str, Any]:
        return {"txt": log}

    def prepare_atoms(self, atoms: Any, **calculator_kwargs: Any) -> None:
        spin = calculator_kwargs.get("spin_polarized", DEFAULTS.spin_polarized)
        if not spin:
            # GPAW turns spin polarisation on for any non-zero initial moment
            atoms.set_initial_magnetic_moments(None)
            return
        if not np.any(atoms.get_initial_magnetic_moments()):
            atoms.set_initial_magnetic_moments(
                [_INITIAL_MAGMOM.get(sym, 0.0) for sym in atoms.get_chemical_symbols()]
            )

    def electronic_summary(self, calc: Calculator, workdir: Path) -> dict[str, Any]:
        gpw = workdir / GPAW_GPW
        calc.write(str(gpw))
        meta = dict(getattr(calc, "mttmat_meta", {}))
        nspins = calc.get_number_of_spins()
        eigs, occs = [], []
        weights = calc.get_k_point_weights()
        for k in range(len(weights)):
            for s_ in range(nspins):
                eigs.append(calc.get_eigenvalues(kpt=k, spin=s_))
                occs.append(calc.get_occupation_numbers(kpt=k, spin=s_))
        eigs_a = np.concatenate(eigs)
        # occupation numbers are k-weighted; normalise to [0, 1] per state
        occs_a = np.concatenate([o / (o.max() if o.max() > 0 else 1.0) for o in occs])
        occupied = eigs_a[occs_a > 0.5]
        empty = eigs_a[occs_a <= 0.5]
        vbm = float(occupied.max()) if occupied.size else None
        cbm = float(empty.min()) if empty.size else None
        magmom = magmoms = None
        if nspins == 2:
            magmom = float(calc.get_magnetic_moment())
            magmoms = [float(m) for m in calc.get_magnetic_moments()]
        proj = gpaw_projections(calc)
        v = np.asarray(calc.get_electrostatic_potential())  # eV, electron potential energy
        return {
            **proj,
            "planar_avg_potential_ev": [
                np.round(v.mean(axis=tuple(j for j in range(3) if j != i)), 6).tolist()
                for i in range(3)
            ],
            "smearing_ev": meta.get("smearing_ev"),
            "code": "gpaw",
            "fermi_level_ev": float(calc.get_fermi_level()),
            "n_electrons": float(calc.get_number_of_electrons()),
            "charge": float(meta.get("charge", 0.0)),
            "total_magnetic_moment_mub": magmom,
            "magnetic_moments_mub": magmoms,
            "vbm_ev": vbm,
            "cbm_ev": cbm,
            "band_gap_ev": max(0.0, cbm - vbm) if vbm is not None and cbm is not None else None,
            "hubbard_u_ev": {
                el: u
                for el, u in meta.get("hubbard_u_ev", {}).items()
                if el in set(calc.atoms.get_chemical_symbols())
            },
            "ecut_ev": meta.get("ecut_ev"),
            "kpts": meta.get("kpts")
            or [
                int(n)
                for n in kptdensity2monkhorstpack(
                    calc.atoms, DEFAULTS.kpoint_density, even=False
                )
            ],
            "spin_polarized": meta.get("spin_polarized", nspins == 2),
            "eigenvalues_ev": [[e.tolist() for e in eigs[s_::nspins]] for s_ in range(nspins)],
            "kpoint_weights": [float(w) for w in weights],
            "restart_file": str(gpw),
            "log_file": str(workdir / GPAW_TXT),
        }

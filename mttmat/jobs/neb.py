"""Climbing-image NEB for one Li hop with any in-process ASE calculator, resumable.

ASE's :class:`~ase.mep.NEB` does the physics (IDPP interpolation, improved tangent, climbing
image); this module adds what a long DFT NEB needs: every optimizer step saves all image
positions atomically (``neb_images.npz``), so a killed run restarts from its last images;
each image gets its own calculator (GPAW keeps per-system state) and force calls are counted;
images can be seeded from a converged lower-fidelity (ML) path instead of IDPP.

Examples
--------
>>> from ase.build import bulk
>>> a = bulk("Cu", cubic=True); b = a.copy(); b.positions[0] += [0.2, 0, 0]
>>> len(interpolate_images(a, b, 3))
5
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

__all__ = [
    "CountingCalculator",
    "NebError",
    "NebRun",
    "hop_summary",
    "interpolate_images",
    "run_neb",
]


class NebError(ValueError):
    """Bad NEB request: endpoints that differ in atoms, too few images, bad tolerance."""


class CountingCalculator(Calculator):
    """Wraps a calculator and counts its energy+force evaluations (``n_calls``).

    An SCF that fails to converge (``*ConvergenceError``, e.g. GPAW's after a large step that
    started from the previous geometry's density) is retried once from scratch
    (``calc.reset()``); the failed attempt is counted in ``n_calls`` and ``n_restarts``.
    """

    implemented_properties = ("energy", "free_energy", "forces")

    def __init__(self, inner: Calculator) -> None:
        super().__init__()
        self.inner = inner
        self.n_calls = 0
        self.n_restarts = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms.copy()
        atoms.calc = self.inner
        try:
            e = atoms.get_potential_energy()
        except Exception as err:  # an SCF that failed from the previous step's density
            if not type(err).__name__.endswith("ConvergenceError") or not hasattr(
                self.inner, "reset"
            ):
                raise
            self.n_calls += 1  # the failed attempt cost a calculation too
            self.n_restarts += 1
            self.inner.reset()  # fresh start (new initial guess), once
            e = atoms.get_potential_energy()
        f = atoms.get_forces()
        self.n_calls += 1
        self.results = {"energy": e, "free_energy": e, "forces": f}


def interpolate_images(
    initial: Atoms, final: Atoms, n_images: int, method: str = "idpp", mic: bool = True
) -> list[Atoms]:
    """``n_images`` intermediate images between the endpoints (``idpp`` or ``linear``).

    With ``mic=False`` the endpoints' raw positions define the path (unwrap ``final`` first
    when a hop crosses the cell boundary along a chosen image).
    """
    from ase.mep import NEB

    if len(initial) != len(final) or initial.get_chemical_symbols() != final.get_chemical_symbols():
        raise NebError("NEB endpoints must hold the same atoms in the same order")
    if n_images < 1:
        raise NebError(f"need at least one intermediate image, got {n_images}")
    images = [initial.copy()] + [initial.copy() for _ in range(n_images)] + [final.copy()]
    neb = NEB(images, method="improvedtangent")
    neb.interpolate(method=method, mic=mic, apply_constraint=False)
    return images


class NebRun(NamedTuple):
    """Result of :func:`run_neb` (energies in eV, positions in Å)."""

    images: list[Atoms]
    energies_ev: list[float]
    forces_max_ev_a: float
    converged: bool
    n_steps: int
    force_calls: int
    resumed_from_step: int
    wall_time_s: float
    climbing_index: int


def _save(path: Path, images: Sequence[Atoms], step: int, calls: int) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(
        tmp,
        positions=np.array([im.get_positions() for im in images]),
        cells=np.array([im.get_cell().array for im in images]),
        step=np.array(step),
        calls=np.array(calls),
    )
    os.replace(tmp, path)


def run_neb(
    images: Sequence[Atoms],
    calculator_factory: Callable[[], Calculator],
    *,
    fmax: float = 0.05,
    climb: bool = True,
    max_steps: int = 300,
    spring: float = 0.1,
    optimizer: str = "FIRE",
    checkpoint: str | Path | None = "neb_images.npz",
    progress: Callable[[str], None] | None = None,
    endpoint_energies: tuple[float, float] | None = None,
) -> NebRun:
    """Relax the band to ``fmax`` (eV/Å) with the climbing image on, resuming from checkpoint.

    ``images`` includes both endpoints (kept fixed; their energies are computed once, or
    taken from ``endpoint_energies``). Returns energies of all images and the number of
    force calls spent (endpoints included when computed here).
    """
    from ase.mep import NEB
    from ase.optimize import BFGS, FIRE

    if fmax <= 0:
        raise NebError(f"fmax must be > 0 eV/Å, got {fmax}")
    if len(images) < 3:
        raise NebError("a NEB needs the two endpoints and at least one image")
    images = [im.copy() for im in images]
    ck = Path(checkpoint) if checkpoint is not None else None
    step0 = calls0 = 0
    if ck is not None and ck.is_file():
        with np.load(ck) as data:
            if data["positions"].shape != (len(images), len(images[0]), 3):
                raise NebError(f"checkpoint {ck} holds a different band; delete it to restart")
            for im, pos, cell in zip(images, data["positions"], data["cells"], strict=True):
                im.set_cell(cell)
                im.set_positions(pos)
            step0, calls0 = int(data["step"]), int(data["calls"])
        if progress:
            progress(f"NEB: resuming from the images of step {step0}")
    calcs = []
    for im in images:
        c = CountingCalculator(calculator_factory())
        im.calc = c
        calcs.append(c)
    if endpoint_energies is not None:
        e_ends = list(endpoint_energies)
    else:
        e_ends = [images[0].get_potential_energy(), images[-1].get_potential_energy()]
    neb = NEB(images, k=spring, climb=climb, method="improvedtangent")
    opt_cls = {"FIRE": FIRE, "BFGS": BFGS}.get(optimizer)
    if opt_cls is None:
        raise NebError(f"unknown optimizer {optimizer!r}; use FIRE or BFGS")
    opt = opt_cls(neb, logfile=None)
    state = {"step": step0}
    t0 = time.perf_counter()

    def observe() -> None:
        state["step"] += 1
        n = calls0 + sum(c.n_calls for c in calcs)
        if ck is not None:
            _save(ck, images, state["step"], n)
        if progress and state["step"] % 5 == 0:
            fm = float(np.sqrt((neb.get_forces() ** 2).sum(axis=1).max()))
            progress(f"NEB step {state['step']}: max force {fm:.3f} eV/Å, {n} force calls")

    opt.attach(observe, interval=1)
    converged = bool(opt.run(fmax=fmax, steps=max(max_steps - step0, 0)))
    energies = [e_ends[0]] + [im.get_potential_energy() for im in images[1:-1]] + [e_ends[1]]
    forces = neb.get_forces()
    fm = float(np.sqrt((forces**2).sum(axis=1).max())) if len(forces) else 0.0
    ci = 1 + int(np.argmax(energies[1:-1]))
    from ase.calculators.singlepoint import SinglePointCalculator

    out_images = []
    for k, im in enumerate(images):
        c = im.copy()
        ends_given = endpoint_energies is not None and k in (0, len(images) - 1)
        f = np.zeros((len(im), 3)) if ends_given else im.get_forces()
        c.calc = SinglePointCalculator(c, energy=energies[k], forces=f)
        out_images.append(c)
    return NebRun(
        images=out_images,
        energies_ev=[float(e) for e in energies],
        forces_max_ev_a=fm,
        converged=converged,
        n_steps=state["step"],
        force_calls=calls0 + sum(c.n_calls for c in calcs),
        resumed_from_step=step0,
        wall_time_s=time.perf_counter() - t0,
        climbing_index=ci,
    )


def hop_summary(run: NebRun, mobile_index: int) -> dict[str, Any]:
    """Barriers and geometry of a converged hop (eV, Å)."""
    e = np.asarray(run.energies_ev)
    first, last = run.images[0], run.images[-1]
    d = last.get_positions()[mobile_index] - first.get_positions()[mobile_index]
    from ase.geometry import find_mic

    _, length = find_mic(d, first.get_cell(), first.pbc)
    return {
        "energies_ev": (e - e[0]).tolist(),
        "barrier_forward_ev": float(e.max() - e[0]),
        "barrier_backward_ev": float(e.max() - e[-1]),
        "reaction_energy_ev": float(e[-1] - e[0]),
        "hop_length_a": float(length),
        "climbing_index": run.climbing_index,
        "saddle_is_interior": bool(0 < int(np.argmax(e)) < len(e) - 1),
    }

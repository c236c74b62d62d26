"""Li migration: hops between Li sites, ML-seeded CI-NEB, the percolating network.

For every site an endpoint (host + one Li) is relaxed with the ML potential (and with the DFT
backend when one is set). Every hop gets an ML CI-NEB from IDPP images; with a DFT backend
the converged ML images seed the DFT CI-NEB (GPAW in-process through ASE's NEB; VASP through
atomate2's ``NebFromImagesMaker`` with VTST-style ``IMAGES``/``LCLIMB``/``SPRING``). The
network job turns the hop barriers into the percolation barrier per direction and an
effective diffusion coefficient.

Examples
--------
>>> from mttmat.structures.crystals import cubic_wo3
>>> from mttmat.structures import make_supercell
>>> host = make_supercell(cubic_wo3(), [2, 1, 1])
>>> hops = enumerate_hops(host, [[0, 0, 0], [0.5, 0, 0]], 4.0)
>>> [(h.i, h.j, h.image) for h in hops if h.i != h.j]  # and 4 hops to a site's own image
[(0, 1, (-1, 0, 0)), (0, 1, (0, 0, 0))]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Flow, Maker, job
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Lattice, Structure

from mttmat.analysis.network import Hop, diffusion_coefficient, percolation_barrier
from mttmat.backends import get_backend
from mttmat.backends.defaults import DEFAULTS
from mttmat.jobs.neb import NebError, hop_summary, interpolate_images, run_neb
from mttmat.structures.io import atoms_to_structure
from mttmat.structures.sites import insert_li

__all__ = [
    "HopSpec",
    "LiMigrationMaker",
    "LiNetworkDoc",
    "NebHopDoc",
    "enumerate_hops",
    "li_network",
    "neb_hop",
]


class HopSpec(BaseModel):
    """Hop from site ``i`` to site ``j`` displaced by lattice vector ``image``."""

    i: int
    j: int
    image: tuple[int, int, int]
    length_a: float
    vector_frac: tuple[float, float, float] = Field(description="f_j + image − f_i")


def _widths(lattice: Lattice) -> np.ndarray:
    m = lattice.matrix
    return np.array(
        [
            lattice.volume / np.linalg.norm(np.cross(m[(k + 1) % 3], m[(k + 2) % 3]))
            for k in range(3)
        ]
    )


def enumerate_hops(
    host: Structure | Lattice, sites_frac: list[list[float]], cutoff_a: float
) -> list[HopSpec]:
    """All site pairs closer than ``cutoff_a`` (Å), periodic images included, each once.

    Hops to a periodic image are distinct hops (in a small cell Li can reach the same
    site through two windows); the NEB follows the hop's own displacement, not the minimum
    image.
    """
    lattice = host.lattice if isinstance(host, Structure) else host
    if cutoff_a <= 0:
        raise ValueError(f"hop cutoff must be > 0 Å, got {cutoff_a}")
    reach = [range(-n, n + 1) for n in np.ceil(cutoff_a / _widths(lattice)).astype(int)]
    f = np.asarray(sites_frac, float)
    hops = []
    for i, j in itertools.combinations_with_replacement(range(len(f)), 2):
        for image in itertools.product(*reach):
            if i == j and image == (0, 0, 0):
                continue
            if i == j and image < (0, 0, 0):
                continue  # i → i+image and i → i−image are the same hop
            vec = f[j] + np.array(image) - f[i]
            dist = float(np.linalg.norm(lattice.get_cartesian_coords(vec)))
            if dist < cutoff_a:
                hops.append(
                    HopSpec(i=i, j=j, image=image, length_a=dist, vector_frac=tuple(vec.tolist()))
                )
    return sorted(hops, key=lambda h: (h.i, h.j, h.image))


class NebHopDoc(BaseModel):
    """One CI-NEB hop (energies eV relative to the initial endpoint; lengths Å)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    hop: HopSpec
    backend: str
    fidelity: str = Field(description="fidelity of the energies and converged images")
    seed: str = Field(
        description="interpolation (idpp | linear), or the fidelity of the band that seeded it"
    )
    images: list[Structure]
    energies_ev: list[float]
    barrier_forward_ev: float
    barrier_backward_ev: float
    reaction_energy_ev: float
    hop_length_a: float
    climbing_index: int
    saddle_is_interior: bool
    max_force_ev_a: float
    converged: bool
    n_steps: int
    force_calls: int
    resumed_from_step: int
    wall_time_s: float
    fit: dict[str, list[float]] = Field(description="path (Å) and energies of ASE's force fit")


def _mobile_index(structure: Structure) -> int:
    li = [k for k, sp in enumerate(structure.species) if sp.symbol == "Li"]
    if len(li) != 1:
        raise NebError(f"a hop endpoint must hold exactly one Li, found {len(li)}")
    return li[0]


@job(data=["images"])
def neb_hop(
    initial: Structure,
    final: Structure,
    hop: HopSpec | dict,
    backend: str,
    n_images: int = 3,
    fmax: float | None = None,
    seed_images: list[Structure] | None = None,
    seed_fidelity: str | None = None,
    calculator_kwargs: dict[str, Any] | None = None,
    max_steps: int = 300,
    fix_host: bool = False,
) -> NebHopDoc:
    """CI-NEB between two relaxed endpoints; resumes from ``neb_images.npz`` in the job folder.

    ``seed_images`` (all images including endpoints, e.g. the converged ML band) replace
    the IDPP interpolation; their endpoints are swapped for ``initial``/``final``.
    ``fix_host`` freezes every atom but Li (a quick rigid-host barrier; an upper bound).
    """
    from ase.constraints import FixAtoms
    from ase.utils.forcecurve import fit_images

    hop = HopSpec.model_validate(hop)
    be = get_backend(backend)
    be.check_structure(initial)
    kwargs = dict(calculator_kwargs or {})
    for k, v in be.log_kwargs(None).items():  # one calculator per image: no shared log file
        kwargs.setdefault(k, v)
    a, b = initial.to_ase_atoms(), final.to_ase_atoms()
    li = _mobile_index(initial)
    if seed_images is not None:
        seed_atoms = [s.to_ase_atoms() for s in seed_images]
        if len(seed_atoms) < 3 or len(seed_atoms[0]) != len(a):
            raise NebError("seed images must be a band of ≥ 3 structures of the same atoms")
        images = _reanchor(seed_atoms, a, b)
        seed = seed_fidelity or "seed"
    else:
        # IDPP would move frozen host atoms in the interior images: linear for a rigid host
        method = "linear" if fix_host else "idpp"
        images = interpolate_images(a, _unwrap_final(a, b, li, hop), n_images, method, mic=False)
        seed = method
    for im in images:
        im.set_initial_magnetic_moments(None)
        be.prepare_atoms(im, **kwargs)
        if fix_host:
            im.set_constraint(FixAtoms(indices=[k for k in range(len(im)) if k != li]))
    with be.thread_limits():
        run = run_neb(
            images,
            lambda: be.ase_calculator(**kwargs),
            fmax=fmax or DEFAULTS.neb_fmax_ev_a,
            climb=True,
            max_steps=max_steps,
            checkpoint=Path.cwd() / "neb_images.npz",
            progress=lambda msg: print(msg, flush=True),
        )
    summ = hop_summary(run, li)
    fit = fit_images(run.images)
    return NebHopDoc(
        hop=hop,
        backend=backend,
        fidelity=be.fidelity,
        seed=seed,
        images=[atoms_to_structure(im) for im in run.images],
        max_force_ev_a=run.forces_max_ev_a,
        converged=run.converged,
        n_steps=run.n_steps,
        force_calls=run.force_calls,
        resumed_from_step=run.resumed_from_step,
        wall_time_s=run.wall_time_s,
        fit={
            "path_a": np.asarray(fit.path).tolist(),
            "energies_ev": np.asarray(fit.energies).tolist(),
            "fit_path_a": np.asarray(fit.fit_path).tolist(),
            "fit_energies_ev": np.asarray(fit.fit_energies).tolist(),
        },
        **summ,
    )


def _reanchor(seed: list[Any], first: Any, last: Any) -> list[Any]:
    """Seed band moved onto new endpoints: image k shifts by (1−t)·ΔA + t·ΔB (MIC), t = k/n.

    ``ΔA``/``ΔB`` are how far the new endpoints (e.g. DFT-relaxed) sit from the seed's own
    (ML-relaxed) ones, so the interior keeps the seed's shape and stays continuous.
    """
    from ase.geometry import find_mic

    n = len(seed) - 1
    d_a, _ = find_mic(first.positions - seed[0].positions, first.cell, first.pbc)
    d_b, _ = find_mic(last.positions - seed[-1].positions, last.cell, last.pbc)
    out = [first]
    for k in range(1, n):
        t = k / n
        im = seed[k].copy()
        im.set_cell(first.cell)
        im.positions = seed[k].positions + (1 - t) * d_a + t * d_b
        out.append(im)
    out.append(last)
    return out


def _unwrap_final(a: Any, b: Any, li: int, hop: HopSpec) -> Any:
    """``b`` with every host atom at its image nearest ``a`` and Li at the image that makes
    its displacement closest to the hop vector (the hop's own path, not the minimum image)."""
    from ase.geometry import find_mic

    out = b.copy()
    d, _ = find_mic(b.positions - a.positions, a.cell, a.pbc)
    out.positions = a.positions + d
    fa = a.cell.scaled_positions(a.positions[li : li + 1])[0]
    fb = b.cell.scaled_positions(b.positions[li : li + 1])[0]
    m = np.round(np.asarray(hop.vector_frac) - (fb - fa))
    out.positions[li] = a.cell.cartesian_positions((fb + m)[None, :])[0]
    return out


class LiNetworkDoc(BaseModel):
    """Hop network of one host: barriers, percolation barrier, diffusion coefficient."""

    n_sites: int
    sites_frac: list[list[float]]
    hops: list[dict[str, Any]] = Field(description="i, j, image, length_a, barrier_ev, fidelity")
    percolation_barrier_ev: dict[str, float | None] = Field(
        description="x, y, z, any (1D), all (3D) percolation barriers"
    )
    diffusion_coefficient_cm2_s: float | None = Field(
        description="a² ν0 exp(−E_a/kT)/(2d) at E_a = percolation barrier (all, else any)"
    )
    temperature_k: float
    attempt_frequency_hz: float = Field(description="ν0, assumed (not computed)")
    mean_hop_length_a: float
    uuids: dict[str, str]


@job
def li_network(
    hop_docs: list[Any],
    sites_frac: list[list[float]],
    uuids: dict[str, str],
    temperature_k: float = 300.0,
    attempt_frequency_hz: float = 1e13,
) -> LiNetworkDoc:
    """Percolation barrier and D from the hop barriers (max of forward and backward)."""
    hops, rows = [], []
    for d in hop_docs:
        d = d if isinstance(d, dict) else d.model_dump()
        h = HopSpec.model_validate(d["hop"])
        # a hop limits transport in both directions: the higher of the two barriers
        barrier = max(d["barrier_forward_ev"], d["barrier_backward_ev"])
        hops.append(Hop(h.i, h.j, tuple(h.image), barrier, d["hop_length_a"]))
        rows.append({**h.model_dump(), "barrier_ev": barrier, "fidelity": d["fidelity"]})
    perc = percolation_barrier(len(sites_frac), hops)
    ea = perc["all"] if perc["all"] is not None else perc["any"]
    dim = 3 if perc["all"] is not None else 1
    mean_len = float(np.mean([h.length_a for h in hops])) if hops else float("nan")
    d_eff = (
        diffusion_coefficient(ea, mean_len, temperature_k, attempt_frequency_hz, dim)
        if ea is not None
        else None
    )
    return LiNetworkDoc(
        n_sites=len(sites_frac),
        sites_frac=sites_frac,
        hops=rows,
        percolation_barrier_ev=perc,
        diffusion_coefficient_cm2_s=d_eff,
        temperature_k=temperature_k,
        attempt_frequency_hz=attempt_frequency_hz,
        mean_hop_length_a=mean_len,
        uuids=uuids,
    )


@job
def endpoint(host: Structure, frac: list[float]) -> Structure:
    """Host plus one Li at ``frac`` (checked against the host's minimum distances)."""
    return insert_li(host, [frac], 1)


@dataclass
class LiMigrationMaker(Maker):
    """Hops between Li sites of one host, ML CI-NEB, optional DFT CI-NEB, the network.

    Parameters
    ----------
    ml_backend
        In-process ML potential for endpoint relaxes and the seed bands (``chgnet``).
    dft_backend
        ``gpaw`` (small cells) or ``None`` for ML-only barriers. (``vasp``: see
        :meth:`mttmat.backends.vasp.VaspBackend.neb_maker` for HPC input sets.)
    hop_cutoff_a
        Longest hop considered (Å); below half the cell width.
    """

    name: str = "li migration"
    ml_backend: str = "chgnet"
    dft_backend: str | None = None
    n_images: int = 3
    hop_cutoff_a: float = 4.0
    fmax_ev_a: float | None = None
    relax_endpoints: bool = True
    max_neb_steps: int = 300
    temperature_k: float = 300.0
    dft_calculator_kwargs: dict = field(default_factory=dict)

    def make(
        self,
        host: Structure,
        sites_frac: list[list[float]],
        hops: list[tuple[int, int, tuple[int, int, int]]] | None = None,
    ) -> Flow:
        """The flow for ``host`` with Li sites ``sites_frac`` (fractional coordinates).

        ``hops`` restricts the enumerated hops to these ``(i, j, image)`` (e.g. the
        symmetry-distinct ones); each must be within ``hop_cutoff_a``.
        """
        if len(sites_frac) < 1:
            raise ValueError("give at least one Li site")
        all_hops = enumerate_hops(host, sites_frac, self.hop_cutoff_a)
        if hops is None:
            hops_ = all_hops
        else:
            wanted = {(i, j, tuple(im)) for i, j, im in hops}
            hops_ = [h for h in all_hops if (h.i, h.j, h.image) in wanted]
            missing = wanted - {(h.i, h.j, h.image) for h in hops_}
            if missing:
                raise ValueError(
                    f"hops {sorted(missing)} are not within {self.hop_cutoff_a} Å between the "
                    "given sites"
                )
        hops = hops_
        if not hops:
            raise ValueError(
                f"no two sites (or periodic images) are closer than {self.hop_cutoff_a} Å: "
                "raise hop_cutoff_a or add sites"
            )
        ml = get_backend(self.ml_backend)
        dft = get_backend(self.dft_backend) if self.dft_backend else None
        if dft is not None:
            dft.check_structure(host)
            if not dft.in_process:
                raise ValueError(
                    f"{dft.name} runs as atomate2 jobs on HPC: its CI-NEB is built with "
                    "the backend's neb_maker from the ML images (the HPC chain), not in this "
                    "in-process flow"
                )
        fmax = self.fmax_ev_a or DEFAULTS.neb_fmax_ev_a
        jobs: list[Any] = []
        uuids: dict[str, str] = {}
        ends_ml, ends_dft = [], []
        for k, f in enumerate(sites_frac):
            e = endpoint(host, list(f))
            e.name = f"Li site {k}"
            jobs.append(e)
            s_ml = s_dft = e.output
            if self.relax_endpoints:
                r = ml.relax_maker(relax_cell=False).make(e.output)
                r.name = f"site {k} {ml.name} relax"
                jobs.append(r)
                s_ml = r.output.structure
                if dft is not None:
                    rd = dft.relax_maker(
                        relax_cell=False, calculator_kwargs=self.dft_calculator_kwargs
                    ).make(s_ml)
                    rd.name = f"site {k} {dft.name} relax"
                    jobs.append(rd)
                    s_dft = rd.output.structure
            ends_ml.append(s_ml)
            ends_dft.append(s_dft)
        hop_outputs = []
        for h in hops:
            tag = f"hop {h.i}->{h.j}{'' if h.image == (0, 0, 0) else str(h.image)}"
            nm = neb_hop(
                ends_ml[h.i], ends_ml[h.j], h.model_dump(), ml.name, self.n_images, fmax,
                max_steps=self.max_neb_steps,
            )  # fmt: skip
            nm.name = f"{tag} {ml.name} NEB"
            nm.metadata["role"] = "ml neb"
            jobs.append(nm)
            uuids[nm.name] = nm.uuid
            out = nm.output
            if dft is not None:
                nd = neb_hop(
                    ends_dft[h.i], ends_dft[h.j], h.model_dump(), dft.name, self.n_images, fmax,
                    seed_images=nm.output.images, seed_fidelity=ml.fidelity,
                    calculator_kwargs=self.dft_calculator_kwargs, max_steps=self.max_neb_steps,
                )  # fmt: skip
                nd.name = f"{tag} {dft.name} NEB"
                nd.metadata["role"] = "dft neb"
                jobs.append(nd)
                uuids[nd.name] = nd.uuid
                out = nd.output
            hop_outputs.append(out)
        net = li_network(hop_outputs, [list(map(float, f)) for f in sites_frac], uuids,
                         self.temperature_k)  # fmt: skip
        net.name = "Li network"
        jobs.append(net)
        return Flow(jobs, output=net.output, name=self.name)

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
from typing import Any

import numpy as np
from jobflow import Flow, Maker
from pymatgen.core import Lattice, Structure

from mttmat.backends import get_backend
from mttmat.backends.defaults import DEFAULTS
from mttmat.jobs.migration import endpoint, li_network, neb_hop
from mttmat.schemas.migration import HopSpec

__all__ = ["LiMigrationMaker", "enumerate_hops"]


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

"""Li sites → DFT+U relax → DOS/PDOS of host and Li-doped cells → derived numbers.

One flow per host (:class:`LiSitesDosMaker`):

1. :func:`~mttmat.jobs.sites.screen_li_sites` (ML): every void, relaxed and ranked;
   ``n_sites`` distinct sites chosen.
2. DFT+U, same settings for every cell: relax (optional) and the DOS calculation of the host
   and of each selected doped cell. ``gpaw``: relax → SCF whose electronic summary carries the
   per-state PDOS projections. ``vasp``: relax → static (CHGCAR) → non-SCF on a denser mesh
   with ``LORBIT = 11`` (:meth:`~mttmat.backends.vasp.VaspBackend.dos_makers`).
3. :func:`~mttmat.jobs.dos.dos_document`: the code-agnostic
   :class:`~mttmat.schemas.dos.DosDoc` per cell.
4. :func:`~mttmat.jobs.dos.summarize_li_dos`:
   :class:`~mttmat.schemas.dos_summary.LiDosSummary` (E_F vs host CBM, electrons donated
   per Li, DOS at E_F, moments and localisation, site-to-site similarity).

The doped cells are spin-polarised (the Li electron may localise), the closed-shell host is
not; U, cutoff and k-mesh are the same for all cells and the summary refuses to mix others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Maker
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.jobs.dos import dos_document, summarize_li_dos
from mttmat.jobs.sites import screening_job

__all__ = ["LiSitesDosMaker"]


@dataclass
class LiSitesDosMaker(Maker):
    """Li site screening (ML) + DFT+U DOS/PDOS of the host and ``n_sites`` doped cells.

    Parameters
    ----------
    ml_backend, dft_backend
        ``chgnet`` for the screening; ``gpaw`` (local) or ``vasp`` (HPC) for the DFT.
    n_sites, n_lowest, max_candidates, screening_fmax, screening_kwargs
        Passed to :func:`~mttmat.jobs.sites.screen_li_sites`.
    dft_relax, relax_fmax, relax_steps
        DFT+U relaxation (positions) of every cell before its DOS; off = DOS on the ML
        geometries (cheaper; fidelity of the geometry then 'ml').
    dft_kwargs
        Calculator options for every cell (``kpts``, ``ecut_ev``, ``smearing_ev``,
        ``hubbard_u_ev`` ...; the chain's code-agnostic names, VASP translates them).
    dos_kwargs
        Options of the DOS step only: GPAW, calculator options of the DOS SCF (e.g. a
        denser ``kpts``); VASP, ``reciprocal_density`` (default 200) or ``kpts`` of the
        non-SCF mesh.
    width_ev
        Gaussian broadening of the DOS curves (eV).
    spin_polarized_doped
        Spin-polarised doped cells (default; lets the Li electron localise as a polaron).
    backend_options
        Options of the DFT backend, e.g. the VASP custodian set
        (``{"add_handlers": [...], "remove_handlers": [...], "max_errors": 5}``).
    """

    name: str = "li sites dos"
    ml_backend: str = "chgnet"
    dft_backend: str = "gpaw"
    n_sites: int = 3
    n_lowest: int = 2
    max_candidates: int | None = 24
    screening_fmax: float = 0.05
    screening_kwargs: dict = field(default_factory=dict)
    dft_relax: bool = True
    relax_fmax: float = 0.05
    relax_steps: int = 100
    dft_kwargs: dict = field(default_factory=dict)
    dos_kwargs: dict = field(default_factory=dict)
    width_ev: float = 0.1
    spin_polarized_doped: bool = True
    backend_options: dict = field(default_factory=dict)

    def make(self, host: Structure, prev_dir: str | None = None) -> Flow:
        dft = get_backend(self.dft_backend, **self.backend_options)
        dft.check_structure(host)
        screen = screening_job(
            host, "Li site screening", n_sites=self.n_sites, n_lowest=self.n_lowest,
            backend=self.ml_backend, max_candidates=self.max_candidates,
            fmax=self.screening_fmax, **self.screening_kwargs,
        )  # fmt: skip
        jobs: list[Any] = [screen]
        cells = [("host", host, False)] + [
            (f"site {i + 1}", screen.output.selected_structures[i], self.spin_polarized_doped)
            for i in range(self.n_sites)
        ]
        dos_out, uuids = [], {"screening": screen.uuid}
        for label, structure, spin in cells:
            new, dos = self._cell_jobs(dft, label, structure, spin)
            jobs.extend(new)
            jobs.append(dos)
            dos_out.append(dos.output)
            uuids[f"dos {label}"] = dos.uuid
            uuids[f"calc {label}"] = new[-1].uuid
        summary = summarize_li_dos(
            dos_out[0], dos_out[1:], n_li=1, labels=[c[0] for c in cells[1:]], uuids=uuids
        )
        summary.name = "Li DOS summary"
        jobs.append(summary)
        return Flow(jobs, output=summary.output, name=self.name)

    def _cell_jobs(self, dft: Any, label: str, structure: Any, spin: bool) -> tuple[list, Any]:
        relax = {"fmax": self.relax_fmax, "steps": self.relax_steps} if self.dft_relax else None
        kw = {**self.dft_kwargs, "spin_polarized": spin}
        new = dft.dos_jobs(label, structure, kw, self.dos_kwargs, relax)
        dos = dos_document(new[-1].output, uuid=new[-1].uuid, width_ev=self.width_ev,
                           code=dft.name)  # fmt: skip
        dos.name = f"DOS {label}"
        return new, dos

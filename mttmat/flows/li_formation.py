"""Li interstitial formation energy vs Fermi level over the sites of a host (one flow per host).

:class:`LiFormationMaker`: ML site screening (:func:`~mttmat.jobs.sites.screen_li_sites`)
→ DFT+U single points, same U / cutoff / k-mesh for every cell, of the host, of bcc Li, and of
Li_i^q at each chosen site for each q (GPAW ``charge = q``; on VASP, ``NELECT`` = host + Li
valence − q) → :class:`~mttmat.schemas.defects.LiFormationDoc` (lines, ε(+/0), statistics,
voltages; the uuid of every calculation). Optionally one cell with ``multi_li`` Li at the
lowest sites gives the average voltage for several Li.

Geometries are the ML-relaxed ones of the screening (the charged cells cannot be relaxed
with the ML potential); the ``geometry_fidelity`` of the document says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Maker
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.jobs.formation import (
    li_formation_summary,
    multi_li_cell,
)
from mttmat.jobs.sites import screening_job
from mttmat.structures import bcc_li

__all__ = ["LiFormationMaker"]


@dataclass
class LiFormationMaker(Maker):
    """Li_i^q formation energies at ``n_sites`` screened sites of one host.

    Parameters
    ----------
    dielectric, dielectric_source
        ε of the host for the charge correction (supplied, > 0), and where it came from.
    charges
        Charge states (default +1 and 0).
    dft_kwargs
        GPAW options shared by every cell (``kpts``, ``ecut_ev`` ...).
    li_metal_kwargs
        Options of the bcc Li calculation (its own k-mesh; same cutoff is enforced).
    mu_li_ev
        Use this μ_Li (e.g. Li2O-limited) instead of computing bcc Li.
    multi_li
        If > 1: one more cell with this many Li at the lowest sites (average voltage).
    spin_polarized_neutral
        Spin-polarise Li_i^0 (its electron is unpaired; default). In tiny cells its SCF can
        oscillate between polaron states: spin-paired is the fallback.
    backend_options
        Options of the DFT backend (the VASP custodian set).
    """

    name: str = "li formation"
    dielectric: float = 0.0
    dielectric_source: str = "supplied"
    dft_backend: str = "gpaw"
    ml_backend: str = "chgnet"
    charges: tuple[int, ...] = (1, 0)
    n_sites: int = 2
    n_lowest: int = 2
    max_candidates: int | None = 12
    screening_fmax: float = 0.05
    dft_kwargs: dict = field(default_factory=dict)
    li_metal_kwargs: dict = field(default_factory=lambda: {"kpts": [8, 8, 8]})
    mu_li_ev: float | None = None
    multi_li: int = 0
    temperature_k: float = 300.0
    spin_polarized_neutral: bool = True
    backend_options: dict = field(default_factory=dict)

    def make(self, host: Structure, prev_dir: str | None = None) -> Flow:
        if self.dielectric <= 0:
            raise ValueError(
                "the charge correction needs the host's dielectric constant: set dielectric "
                "(> 0) and say where it came from in dielectric_source"
            )
        if not self.charges or any(q not in (-1, 0, 1) for q in self.charges):
            raise ValueError(f"charges must be a subset of (+1, 0, -1), got {self.charges}")
        if self.multi_li > self.n_sites:
            raise ValueError(f"multi_li ({self.multi_li}) > n_sites ({self.n_sites})")
        dft = get_backend(self.dft_backend, **self.backend_options)
        if dft.fidelity != "dft":
            raise ValueError(f"LiFormationMaker needs a DFT backend (gpaw, vasp), got {dft.name!r}")
        dft.check_structure(host)
        screen = screening_job(
            host, "Li formation energies", n_sites=self.n_sites, n_lowest=self.n_lowest,
            backend=self.ml_backend, max_candidates=self.max_candidates,
            fmax=self.screening_fmax,
        )  # fmt: skip
        jobs: list[Any] = [screen]
        kw = dict(self.dft_kwargs)
        host_job = self._static(dft, "host", host, 0, {**kw, "spin_polarized": False})
        jobs.append(host_job)
        li_job = None
        if self.mu_li_ev is None:
            li_kw = {"ecut_ev": kw["ecut_ev"]} if "ecut_ev" in kw else {}
            li_job = self._static(
                dft, "bcc Li", bcc_li(), 0,
                {**li_kw, **self.li_metal_kwargs, "spin_polarized": False},
            )  # fmt: skip
            jobs.append(li_job)
        cells, uuids = [], {"screening": screen.uuid, "host": host_job.uuid}
        for i in range(self.n_sites):
            for q in self.charges:
                label = f"site {i + 1}"
                # q = 0 holds one unpaired electron: spin-polarised; q = ±1 closed shell
                spin = q == 0 and self.spin_polarized_neutral
                j = self._static(
                    dft, f"Li_i {label} q={q:+d}", screen.output.selected_structures[i], q,
                    {**kw, "charge": float(q), "spin_polarized": spin},
                )  # fmt: skip
                jobs.append(j)
                cells.append({"label": label, "q": q, "doc": j.output, "uuid": j.uuid})
                uuids[f"{label} q={q:+d}"] = j.uuid
        multi = None
        if self.multi_li > 1:
            mc = multi_li_cell(
                host, screen.output.selected_structures, self.multi_li, self.ml_backend,
                self.screening_fmax,
            )  # fmt: skip
            mj = self._static(dft, f"{self.multi_li} Li", mc.output, 0,
                              {**kw, "spin_polarized": True})  # fmt: skip
            jobs += [mc, mj]
            multi = {"doc": mj.output}
            uuids[f"{self.multi_li} Li"] = mj.uuid
        if li_job is not None:
            uuids["bcc Li"] = li_job.uuid
        summary = li_formation_summary(
            host_job.output, li_job.output if li_job is not None else None, cells,
            self.dielectric, self.dielectric_source, self.mu_li_ev, multi, self.temperature_k,
            uuids, dft.name,
        )  # fmt: skip
        summary.name = "Li formation summary"
        jobs.append(summary)
        return Flow(jobs, output=summary.output, name=self.name)

    @staticmethod
    def _static(dft: Any, label: str, structure: Any, q: int, kw: dict[str, Any]) -> Any:
        """One single point of net charge ``q`` (``kw["charge"]``): GPAW's ``charge``; VASP
        sets NELECT from the cell it receives when the job runs, and writes LOCPOT (LVHAR)
        for the potential alignment of the correction."""
        return dft.static_maker(name=f"{dft.name} {label}", calculator_kwargs=kw).make(structure)

"""Smallest end-to-end chain: Li in a WO3 host, ML relax → DFT+U static → E_F shift, voltage.

This is the current main job (``mttmat run``): crystal → ML-potential relaxation of the host
and the Li-doped host → GPAW PBE+U single points of both and of bcc Li → Fermi-level shift,
electrons added, magnetic moment and the Li insertion voltage vs Li/Li⁺.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Maker, job
from pymatgen.core import Structure

from mttmat.backends import get_backend
from mttmat.schemas.li_doping import LiDopingSummary
from mttmat.structures import bcc_li, cubic_wo3, make_supercell
from mttmat.structures.validate import StructureError, check_min_distances, require_elements

__all__ = ["LiDopingMaker", "insert_li", "summarize_li_doping"]


def insert_li(host: Structure, frac_coords: list[list[float]]) -> Structure:
    """Host plus Li at ``frac_coords``; refuses sites too close to host atoms or occupied."""
    require_elements(host, ("W", "Nb"), "Li insertion")
    doped = host.copy()
    for fc in frac_coords:
        doped.append("Li", fc)
    try:
        check_min_distances(doped)
    except StructureError as err:
        raise StructureError(f"Li site {frac_coords} is not a void of the host: {err}") from err
    return doped


@job(output_schema=LiDopingSummary)
def summarize_li_doping(
    host: Any,
    doped: Any,
    li_metal: Any,
    n_li: int,
    ml_energies: dict[str, float],
    uuids: dict[str, str],
) -> LiDopingSummary:
    """Combine the DFT documents into the doping summary (numbers + provenance)."""
    return LiDopingSummary.from_docs(
        host, doped, li_metal, n_li=n_li, ml_energies=ml_energies, uuids=uuids
    )


@dataclass
class LiDopingMaker(Maker):
    """Li doping of a host: ML relax of host and doped cell, DFT+U statics, summary.

    Parameters
    ----------
    ml_backend, dft_backend
        Backend names for the geometry (``chgnet``) and the electronic structure (``gpaw``).
    li_sites
        Fractional coordinates of the Li atoms in the host cell.
    dft_kwargs
        ``calculator_kwargs`` of the DFT statics (e.g. ``{"kpts": [2, 4, 4]}``).
    """

    name: str = "li doping"
    ml_backend: str = "chgnet"
    dft_backend: str = "gpaw"
    li_sites: list[list[float]] = field(default_factory=lambda: [[0.0, 0.0, 0.0]])
    dft_kwargs: dict = field(default_factory=dict)
    li_metal_kwargs: dict = field(default_factory=dict)

    def make(self, host: Structure, prev_dir: str | None = None) -> Flow:
        doped = insert_li(host, self.li_sites)
        ml = get_backend(self.ml_backend)
        dft = get_backend(self.dft_backend)
        for s in (host, doped):
            dft.check_structure(s)
        relax_host = ml.relax_maker(name=f"{self.ml_backend} relax host").make(host)
        relax_doped = ml.relax_maker(name=f"{self.ml_backend} relax host+Li").make(doped)
        kw = {"calculator_kwargs": dict(self.dft_kwargs)} if self.dft_kwargs else {}
        static_host = dft.static_maker(name=f"{self.dft_backend} static host", **kw).make(
            relax_host.output.structure
        )
        static_doped = dft.static_maker(name=f"{self.dft_backend} static host+Li", **kw).make(
            relax_doped.output.structure
        )
        li_kw = {"calculator_kwargs": dict(self.li_metal_kwargs)} if self.li_metal_kwargs else {}
        static_li = dft.static_maker(name=f"{self.dft_backend} static bcc Li", **li_kw).make(
            bcc_li()
        )
        summary = summarize_li_doping(
            static_host.output,
            static_doped.output,
            static_li.output,
            n_li=len(self.li_sites),
            ml_energies={
                "host_ev": relax_host.output.output.energy,
                "doped_ev": relax_doped.output.output.energy,
            },
            uuids={
                "ml_relax_host": relax_host.uuid,
                "ml_relax_doped": relax_doped.uuid,
                "dft_host": static_host.uuid,
                "dft_doped": static_doped.uuid,
                "dft_li_metal": static_li.uuid,
            },
        )
        jobs = [relax_host, relax_doped, static_host, static_doped, static_li, summary]
        return Flow(jobs, output=summary.output, name=self.name)


def default_wo3_host() -> Structure:
    """Cubic WO3 2×1×1 (8 atoms); Li goes to the cube centre (0, 0, 0)."""
    return make_supercell(cubic_wo3(), (2, 1, 1))

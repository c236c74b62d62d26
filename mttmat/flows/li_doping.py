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
from mttmat.structures import bcc_li
from mttmat.structures.validate import StructureError, check_min_distances, require_elements
from mttmat.structures.voids import find_voids

__all__ = ["LiDopingMaker", "insert_li", "summarize_li_doping"]


def insert_li(host: Structure, frac_coords: list[list[float]] | None, n_li: int = 1) -> Structure:
    """Host plus Li at ``frac_coords`` (or in the ``n_li`` largest voids when None).

    Refuses sites too close to host atoms, and a host that already holds Li there.
    """
    require_elements(host, ("W", "Nb"), "Li insertion")
    if frac_coords is None:
        frac_coords = [v[0].tolist() for v in find_voids(host, n=n_li)]
        if len(frac_coords) < n_li:
            raise StructureError(
                f"the host holds only {len(frac_coords)} separate Li voids, {n_li} requested"
            )
    from mttmat.structures.sites import check_site_free

    doped = host.copy()
    for fc in frac_coords:
        check_site_free(doped, fc, "Li")  # Li already there (host or an earlier site)
        doped.append("Li", fc)
    try:
        check_min_distances(doped)
    except StructureError as err:
        raise StructureError(f"Li site {frac_coords} is not a void of the host: {err}") from err
    return doped


@job
def place_li(host: Structure, frac_coords: list[list[float]] | None, n_li: int) -> Structure:
    """Job: Li into the (relaxed) host, at given sites or the largest voids."""
    return insert_li(host, frac_coords, n_li)


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
    """Li doping of a host: ML relax host → place Li → ML relax doped → DFT+U statics.

    Parameters
    ----------
    ml_backend, dft_backend
        Backend names for geometries (``chgnet``) and electronic structure (``gpaw``).
    li_sites
        Fractional coordinates of the Li atoms in the host cell; None = the ``n_li`` largest
        voids of the relaxed host.
    relax_host_cell
        Relax the host's cell too (a random packing needs it; a crystal does not).
    dft_kwargs, li_metal_kwargs
        ``calculator_kwargs`` of the DFT statics of the cells and of bcc Li.
    """

    name: str = "li doping"
    ml_backend: str = "chgnet"
    dft_backend: str = "gpaw"
    li_sites: list[list[float]] | None = field(default_factory=lambda: [[0.0, 0.0, 0.0]])
    n_li: int = 1
    relax_host_cell: bool = False
    dft_kwargs: dict = field(default_factory=dict)
    li_metal_kwargs: dict = field(default_factory=dict)

    def make(self, host: Structure, prev_dir: str | None = None) -> Flow:
        n_li = len(self.li_sites) if self.li_sites is not None else self.n_li
        if self.li_sites is not None:
            insert_li(host, self.li_sites)  # fail now, not after the relaxation
        else:
            require_elements(host, ("W", "Nb"), "Li insertion")
        ml = get_backend(self.ml_backend)
        dft = get_backend(self.dft_backend)
        dft.check_structure(host)
        relax_host = ml.relax_maker(
            name=f"{self.ml_backend} relax host", relax_cell=self.relax_host_cell
        ).make(host)
        doped = place_li(relax_host.output.structure, self.li_sites, n_li)
        doped.name = "place Li"
        relax_doped = ml.relax_maker(name=f"{self.ml_backend} relax host+Li").make(doped.output)
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
            n_li=n_li,
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
        jobs = [relax_host, doped, relax_doped, static_host, static_doped, static_li, summary]
        return Flow(jobs, output=summary.output, name=self.name)

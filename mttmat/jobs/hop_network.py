"""Several Li hops between the lowest sites of one host, and their percolation barrier.

:func:`choose_hops` picks hops between the screened sites (relaxed Li positions, periodic
images included) shortest first, until there are at least ``min_hops`` and the chosen set
winds around the cell in x, y and z (geometrically), or ``max_hops`` is reached.
:func:`ml_hop_network` runs an ML CI-NEB for each (resumable hop by hop), puts every saddle
on one absolute energy scale with the site energies, and computes the percolation barrier
(:func:`mttmat.analysis.network.saddle_percolation`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import job
from monty.json import MontyDecoder, MontyEncoder
from pymatgen.core import Structure

from mttmat.analysis.hops import has_saddle, saddle_verdict
from mttmat.analysis.network import Hop, SaddleHop, percolation_barrier, saddle_percolation
from mttmat.jobs.migration import neb_hop
from mttmat.schemas.hop_network import HopNetworkDoc, HopRecord, SiteRecord
from mttmat.schemas.migration import HopSpec, NebHopDoc
from mttmat.structures.io import atomic_write_text

__all__ = ["MIN_HOP_A", "SEED_MATCH_A", "choose_hops", "matching_band", "ml_hop_network"]

#: hops shorter than this (Å) join a site to itself
MIN_HOP_A = 1.0
PROGRESS_FILE = "hop_network.json"


def _doc(d: Any) -> dict[str, Any]:
    return d if isinstance(d, dict) else d.model_dump()


def _structure(s: Any) -> Structure:
    return Structure.from_dict(s) if isinstance(s, dict) else s


#: a seed band joins the same two sites when both its Li ends lie within this (Å)
SEED_MATCH_A = 0.5


def _seed_band(network: Any, a: Structure, b: Structure, hop: HopSpec) -> list | None:
    """The images of the band of ``network`` between the Li sites of ``a`` and ``b`` along
    ``hop`` (reversed when it runs the other way), or None."""
    found = matching_band(network, a, b, hop)
    if found is None:
        return None
    band, reverse = found
    images = [_structure(s) for s in band["images"]]
    return images[::-1] if reverse else images


def matching_band(network: Any, a: Structure, b: Structure, hop: HopSpec
                  ) -> tuple[dict[str, Any], bool] | None:  # fmt: skip
    """(band of ``network`` that joins the Li sites of ``a`` and ``b`` along ``hop``,
    whether it runs the other way), or None."""
    if network is None:
        return None
    lat = a.lattice
    fa, fb = a.frac_coords[-1], b.frac_coords[-1]
    v = lat.get_cartesian_coords(hop.vector_frac)
    for band in _doc(network)["bands"]:
        band = _doc(band)
        first, last = _structure(band["images"][0]), _structure(band["images"][-1])
        if len(first) != len(a):
            continue
        g0, g1 = first.frac_coords[-1], last.frac_coords[-1]
        u = lat.get_cartesian_coords(_doc(band["hop"])["vector_frac"])
        for ends, sign in (((g0, g1), 1), ((g1, g0), -1)):
            near = all(lat.get_distance_and_image(f, g)[0] < SEED_MATCH_A
                       for f, g in zip((fa, fb), ends, strict=True))  # fmt: skip
            if near and np.linalg.norm(v - sign * u) < SEED_MATCH_A:
                return band, sign < 0
    return None


def choose_hops(
    lattice: Any,
    sites_frac: list[list[float]],
    min_hops: int = 3,
    max_hops: int = 4,
    max_length_a: float = 5.0,
) -> tuple[list[HopSpec], str]:
    """Hops between ``sites_frac`` (shortest first) and a sentence on how they were chosen.

    Every pair ``i ≤ j`` and image in {−1, 0, 1}³ between :data:`MIN_HOP_A` and
    ``max_length_a`` is a candidate (a site to its own image once per ± pair). Hops are
    added shortest first until at least ``min_hops`` are chosen and they wind around the
    cell in x, y and z, or ``max_hops`` is reached.
    """
    f = [np.asarray(x, float) % 1.0 for x in sites_frac]
    cands = []
    for i, j in itertools.combinations_with_replacement(range(len(f)), 2):
        for image in itertools.product((-1, 0, 1), repeat=3):
            if i == j and image <= (0, 0, 0):  # own image once; not itself
                continue
            vec = f[j] + np.array(image) - f[i]
            length = float(np.linalg.norm(lattice.get_cartesian_coords(vec)))
            if MIN_HOP_A <= length <= max_length_a:
                cands.append(HopSpec(i=i, j=j, image=image, length_a=length,
                                     vector_frac=tuple(vec.tolist())))  # fmt: skip
    cands.sort(key=lambda h: h.length_a)
    chosen: list[HopSpec] = []
    why = f"no hop between {len(f)} sites within {max_length_a} Å"
    for h in cands:
        chosen.append(h)
        geo = percolation_barrier(
            len(f), [Hop(c.i, c.j, tuple(c.image), c.length_a, c.length_a) for c in chosen]
        )
        if len(chosen) >= min_hops and geo["all"] is not None:
            why = (
                f"the {len(chosen)} shortest hops (≤ {chosen[-1].length_a:.2f} Å) between the "
                f"{len(f)} lowest sites: the first set that winds in x, y and z"
            )
            break
        if len(chosen) == max_hops:
            dirs = [k for k in "xyz" if geo[k] is not None]
            why = (f"the {max_hops} shortest hops (≤ {chosen[-1].length_a:.2f} Å) between the "
                   f"{len(f)} lowest sites (max_hops); they wind along "
                   f"{', '.join(dirs) if dirs else 'no direction'}")  # fmt: skip
            break
    else:
        if chosen:
            why = (f"all {len(chosen)} hops within {max_length_a} Å between the {len(f)} "
                   "lowest sites")  # fmt: skip
    return chosen, why


@job(data=["bands", "limiting_band"])
def ml_hop_network(
    screening: Any,
    backend: str = "chgnet",
    n_images: int = 3,
    fmax: float = 0.05,
    max_steps: int = 200,
    min_hops: int = 3,
    max_hops: int = 4,
    max_length_a: float = 5.0,
    calculator_kwargs: dict[str, Any] | None = None,
    seed_network: Any = None,
) -> HopNetworkDoc:
    """ML CI-NEB of the hops between the screened sites, and their percolation barrier.

    The sites are the screening's selected (distinct, ML-relaxed) sites; each hop runs
    between the relaxed cells of its two sites, in ``hop_<k>/`` (resumable). Finished hops
    are kept in ``hop_network.json``: a killed job resumes at the first unfinished hop.
    ``calculator_kwargs`` go to the ML calculator of every hop (e.g. ``model_path``: a
    fine-tuned checkpoint). ``seed_network``: another network of the same host (e.g. the
    pretrained model's); a hop that joins the same two sites (Li within
    ``SEED_MATCH_A``, either direction) starts from that band instead of IDPP.
    """
    doc = _doc(screening)
    structs = [_structure(s) for s in doc["selected_structures"]]
    if len(structs) < 2:
        raise ValueError(
            f"a hop network needs at least two distinct Li sites; the screening of "
            f"{doc['host_formula']} selected {len(structs)}: raise li_sites.max_candidates"
        )
    energy = {c["index"]: c["energy_ev"] for c in doc["candidates"]}
    e_abs = np.array([energy[k] for k in doc["selected"]], float)
    order = np.argsort(e_abs, kind="stable")  # site 0 = the lowest
    structs = [structs[k] for k in order]
    cand_idx = [doc["selected"][k] for k in order]
    e_abs = e_abs[order]
    frac = [list(map(float, s.frac_coords[-1] % 1.0)) for s in structs]
    hops, selection = choose_hops(structs[0].lattice, frac, min_hops, max_hops, max_length_a)
    if not hops:
        raise ValueError(f"{selection}: raise neb.max_hop_length_a or li_sites.max_candidates")
    progress = Path.cwd() / PROGRESS_FILE
    done: dict[str, Any] = {}
    if progress.is_file():
        saved = json.loads(progress.read_text(), cls=MontyDecoder)
        if saved.get("hops") == [h.model_dump(mode="json") for h in hops]:
            done = saved["bands"]
    t0 = time.perf_counter()
    for k, h in enumerate(hops):
        if str(k) in done:
            continue
        print(f"hop {k + 1}/{len(hops)}: site {h.i} → {h.j} {h.image}, {h.length_a:.2f} Å",
              flush=True)  # fmt: skip
        folder = Path.cwd() / f"hop_{k}"
        folder.mkdir(exist_ok=True)
        seed = _seed_band(seed_network, structs[h.i], structs[h.j], h)
        with contextlib.chdir(folder):
            band = neb_hop.original(structs[h.i], structs[h.j], h, backend, n_images, fmax,
                                    max_steps=max_steps, calculator_kwargs=calculator_kwargs,
                                    seed_images=seed,
                                    seed_fidelity=None if seed is None else "ml (another "
                                    "model's band)")  # fmt: skip
        done[str(k)] = band.model_dump()
        atomic_write_text(
            progress,
            json.dumps(
                {"hops": [x.model_dump(mode="json") for x in hops], "bands": done},
                cls=MontyEncoder,
            ),
        )
    bands = [NebHopDoc.model_validate(done[str(k)]) for k in range(len(hops))]
    e_rel = e_abs - e_abs[0]
    records, saddles = [], []
    for k, (h, b) in enumerate(zip(hops, bands, strict=True)):
        e = np.asarray(b.energies_ev, float)
        # on the sites' scale; never below either relaxed end (the band's ends are those cells)
        s_ij = max(e_rel[h.i] + float(e.max()), e_rel[h.i], e_rel[h.j])
        saddles.append(SaddleHop(h.i, h.j, tuple(h.image), s_ij))
        mig = {"energies_ev": e.tolist()}
        records.append(HopRecord(
            i=h.i, j=h.j, image=tuple(h.image), length_a=h.length_a,
            barrier_forward_ev=b.barrier_forward_ev, barrier_backward_ev=b.barrier_backward_ev,
            saddle_ev=s_ij, has_saddle=has_saddle(e), verdict=saddle_verdict(mig),
            converged=b.converged, max_force_ev_a=b.max_force_ev_a, neb_index=k,
            end_mismatch_ev=float(e_rel[h.i] + e[-1] - e_rel[h.j]),
        ))  # fmt: skip
    perc = saddle_percolation(e_rel, saddles)
    direction = "all" if perc["all"] is not None else "any" if perc["any"] is not None else None
    if direction is not None:
        limiting = int(perc[direction]["hop"])
        barrier = float(perc[direction]["barrier_ev"])
    else:
        limiting, barrier = int(np.argmax([s.saddle_ev for s in saddles])), None
    return HopNetworkDoc(
        backend=bands[0].backend,
        fidelity=bands[0].fidelity,
        model=bands[0].model,
        sites=[
            SiteRecord(index=k, candidate=c, frac_coords=f, energy_ev=float(e))
            for k, (c, f, e) in enumerate(zip(cand_idx, frac, e_rel, strict=True))
        ],
        hops=records,
        percolation=perc,
        direction=direction,
        percolation_barrier_ev=barrier,
        limiting_hop=limiting,
        limiting_band=bands[limiting].model_dump(),
        bands=[b.model_dump() for b in bands],
        selection=selection,
        wall_time_s=time.perf_counter() - t0,
    )

"""Jobs that judge and describe a melt-quenched cell: the melt check (cation mean squared
displacement over the melt hold), the structure analysis of one cell, the summary over
replicas, and the largest force of a relaxation."""

from __future__ import annotations

from typing import Any

import numpy as np
from jobflow import job
from pymatgen.core import Structure

from mttmat.analysis.amorphous import analyze_amorphous, summarize_replicas
from mttmat.jobs.melt_quench import melt_ok, software_versions
from mttmat.schemas.amorphous import AmorphousStructureDoc, MeltQuenchSummary

__all__ = ["MELT_MSD_A2", "analyze_cell", "is_melted", "max_force", "summarize_melt_quench"]

#: cation mean squared displacement (Å²) over the melt hold that counts as molten: a liquid
#: oxide diffuses several Å² per ps, a superheated crystal stays below ~0.5 Å²
MELT_MSD_A2 = 1.0


def is_melted(melt_msd_a2: dict[str, float], threshold_a2: float = MELT_MSD_A2) -> bool:
    """True when every cation species moved ≥ ``threshold_a2`` during the melt hold."""
    return melt_ok(melt_msd_a2, threshold_a2)


@job(data=["rdf"])
def analyze_cell(
    structure: Structure,
    parent: Structure | None,
    stage_uuids: dict[str, str],
    max_force_ev_a: float | None = None,
    replica: int = 0,
    seed: int = 0,
    melt_msd_a2: dict[str, float] | None = None,
    melt_threshold_a2: float = MELT_MSD_A2,
    melt_attempts: list[Any] | None = None,
) -> AmorphousStructureDoc:
    """RDFs, coordination, angles, order vs the parent, for one quenched-and-relaxed cell.

    ``melt_msd_a2`` (the last melt hold's mean squared displacements) decides ``melted``: the
    cations must have moved ≥ ``melt_threshold_a2`` on average, else the "melt" was a
    superheated crystal and the quench cannot give a glass. ``melt_attempts`` are the melt
    stage's holds (a retry runs hotter).
    """
    doc = analyze_amorphous(structure, parent=parent)
    melted = is_melted(melt_msd_a2, melt_threshold_a2) if melt_msd_a2 else None
    attempts = [a if isinstance(a, dict) else a.model_dump() for a in (melt_attempts or [])]
    return AmorphousStructureDoc(
        melt_msd_a2=melt_msd_a2,
        melted=melted,
        melt_threshold_a2=melt_threshold_a2 if melt_msd_a2 else None,
        melt_attempts=attempts,
        structure=structure,
        replica=replica,
        seed=seed,
        max_force_ev_a=max_force_ev_a,
        stage_uuids=stage_uuids,
        **doc,
    )


@job
def summarize_melt_quench(
    docs: list[AmorphousStructureDoc | dict], schedule: dict[str, Any], backend: str
) -> MeltQuenchSummary:
    """Mean ± std over the replicas; the lowest-energy-free choice is replica 0's structure."""
    dicts = [d if isinstance(d, dict) else d.model_dump() for d in docs]
    return MeltQuenchSummary(
        backend=backend,
        schedule=schedule,
        n_replicas=len(dicts),
        stats=summarize_replicas(dicts),
        replica_uuids=[d.get("stage_uuids", {}) for d in dicts],
        software=software_versions(),
    )


@job
def max_force(forces: list[list[float]] | None) -> float | None:
    """Largest atomic force norm (eV/Å) of a relax output."""
    if forces is None:
        return None
    return float(np.linalg.norm(np.asarray(forces), axis=1).max())

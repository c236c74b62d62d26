"""Parent crystals, supercells, random packing, O sub-stoichiometry, I/O and checks."""

from __future__ import annotations

from mttmat.structures.builders import (
    OxygenRemoval,
    density_g_cm3,
    make_supercell,
    random_packing,
    remove_oxygen,
)
from mttmat.structures.crystals import (
    PARENT_CRYSTALS,
    bcc_li,
    cubic_wo3,
    gamma_wo3,
    parent_crystal,
)
from mttmat.structures.io import read_structure, write_structure
from mttmat.structures.validate import StructureError, check_min_distances, require_elements

__all__ = [
    "PARENT_CRYSTALS",
    "OxygenRemoval",
    "StructureError",
    "bcc_li",
    "check_min_distances",
    "cubic_wo3",
    "density_g_cm3",
    "gamma_wo3",
    "make_supercell",
    "parent_crystal",
    "random_packing",
    "read_structure",
    "remove_oxygen",
    "require_elements",
    "write_structure",
]

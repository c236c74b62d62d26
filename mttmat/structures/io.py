"""Read and write structures (CIF, POSCAR, extxyz) with validation and atomic writes."""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from mttmat.structures.validate import StructureError, check_min_distances

__all__ = [
    "FORMATS",
    "atomic_write_text",
    "atoms_to_structure",
    "ensure_writable_dir",
    "read_structure",
    "write_structure",
]

FORMATS = ("cif", "poscar", "extxyz")


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt:
        fmt = fmt.lower()
    else:
        name = path.name.lower()
        if name.endswith(".cif"):
            fmt = "cif"
        elif name.endswith((".xyz", ".extxyz")):
            fmt = "extxyz"
        elif name.endswith(".vasp") or "poscar" in name or "contcar" in name:
            fmt = "poscar"
        else:
            fmt = ""
    if fmt not in FORMATS:
        raise StructureError(
            f"cannot tell the format of {path.name!r}: use a .cif, .vasp/POSCAR or .extxyz name, "
            f"or pass fmt= one of {FORMATS}"
        )
    return fmt


def read_structure(path: str | Path, fmt: str | None = None, check: bool = True) -> Structure:
    """Read a periodic structure; by default reject overlapping atoms.

    Raises
    ------
    StructureError
        Missing or empty file, unreadable content, or unphysical geometry; the message names
        the file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"structure file {path} does not exist: check the path")
    if path.stat().st_size == 0:
        raise StructureError(f"structure file {path} is empty")
    kind = _format_of(path, fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the parsers' warnings repeat what the error says
        structure = _parse(path, kind)
    if isinstance(structure, Exception):
        raise StructureError(
            f"could not read {path} as {_KIND_NAMES[kind]}: {_why(structure)}; check that the "
            f"file is complete (not truncated) and really {_KIND_NAMES[kind]}, or re-export it"
        ) from structure
    if len(structure) == 0:
        raise StructureError(f"{path} holds no atoms")
    if check:
        check_min_distances(structure, absolute_only=True)
    return structure


_KIND_NAMES = {"cif": "a CIF file", "poscar": "a POSCAR file", "extxyz": "an extended XYZ file"}

#: parser messages (pymatgen, ASE) → what they mean for a user's file
_KNOWN_FAILURES = (
    ("integer modulo by zero", "a loop_ block has no column names"),
    ("is not a multiple of", "the rows of a loop_ block do not fill its columns"),
    ("no structures", "no complete structure in it (cell lengths, angles and atom sites)"),
    ("could not convert string to float", "a number field holds text"),
    ("list index out of range", "a line is shorter than its format requires"),
)


def _why(err: Exception) -> str:
    """One short phrase for a parser exception (the raw message if it is not a known one)."""
    text = str(err)
    for needle, meaning in _KNOWN_FAILURES:
        if needle in text:
            return meaning
    first = text.splitlines()[0] if text else type(err).__name__
    return f"{type(err).__name__}: {first[:160]}"


def _parse(path: Path, kind: str) -> Structure | Exception:
    try:
        if kind == "extxyz":
            from ase.io import read

            structure = AseAtomsAdaptor.get_structure(read(path, format="extxyz"))
        elif kind == "cif":
            structure = Structure.from_file(path, primitive=False)
        else:
            structure = Structure.from_str(path.read_text(), fmt="poscar")
    except Exception as err:  # the parsers raise many types; the caller reports one message
        return err
    return structure


def ensure_writable_dir(path: str | Path) -> Path:
    """Create ``path`` if needed and prove it writable; raises ``OSError`` otherwise."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(dir=path, prefix=".write_probe.")  # unique: runs in parallel
    os.close(fd)
    os.unlink(probe)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and rename (no half-written files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_structure(
    structure: Structure,
    path: str | Path,
    fmt: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``structure`` atomically; ``metadata`` goes to a ``<name>.json`` sidecar."""
    path = Path(path)
    kind = _format_of(path, fmt)
    if kind == "cif":
        from pymatgen.io.cif import CifWriter

        text = str(CifWriter(structure))
    elif kind == "poscar":
        from pymatgen.io.vasp import Poscar

        text = Poscar(structure).get_str(significant_figures=8)
    else:
        from ase.io import write

        buf = io.StringIO()
        write(buf, AseAtomsAdaptor.get_atoms(structure), format="extxyz")
        text = buf.getvalue()
    atomic_write_text(path, text)
    if metadata is not None:
        atomic_write_text(path.with_suffix(".json"), json.dumps(metadata, indent=2, default=str))
    return path


def atoms_to_structure(atoms: Any) -> Structure:
    """Cell, species and Cartesian positions of ASE ``atoms`` as a bare pymatgen ``Structure``.

    Unlike ``AseAtomsAdaptor.get_structure`` it carries no site properties (velocities,
    moments, calculator results), which MD and NEB keep in their own fields.
    """
    return Structure(
        atoms.get_cell().array,
        atoms.get_chemical_symbols(),
        atoms.get_positions(),
        coords_are_cartesian=True,
    )

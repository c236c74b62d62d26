"""POTCARs of the VASP jobs: one choice per element, found the way pymatgen finds them.

pymatgen (and so atomate2) reads POTCARs from ``PMG_VASP_PSP_DIR`` (an environment variable
or ``~/.config/.pmgrc.yaml``), in the layout ``pmg config -p`` writes:
``$PMG_VASP_PSP_DIR/POT_GGA_PAW_PBE_54/W_sv/POTCAR`` (or ``POTCAR.W_sv.gz``). Every input
set of the chain names the same POTCAR per element (:data:`POTCARS`) and functional
(:data:`POTCAR_FUNCTIONAL`), so energies of different jobs can be compared and NELECT of a
charged cell is pymatgen's own count (``use_structure_charge``: Σ ZVAL of the POTCARs − the
structure's charge).

Without POTCARs (a laptop, CI) inputs are written with ``POTCAR.spec`` and a charged cell
cannot get its NELECT: :func:`require_potcars` says how to set them up.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

from pymatgen.core import Structure

from mttmat.backends.base import BackendError

__all__ = [
    "POTCARS",
    "POTCAR_FIX",
    "POTCAR_FUNCTIONAL",
    "PotcarStatus",
    "charged_copy",
    "potcar_report",
    "potcars_available",
    "require_potcars",
    "resolve_potcars",
]

#: POTCAR per element for every VASP job (one choice for the whole workflow: energies of
#: different jobs are compared). Materials Project's choice for W, O and Li; Nb_pv (MP)
#: everywhere, also in the AIMD whose default set would take Nb_sv.
POTCARS: dict[str, str] = {"W": "W_sv", "Nb": "Nb_pv", "O": "O", "Li": "Li_sv"}

#: the POTCAR set of atomate2's and Materials Project's PBE input sets
POTCAR_FUNCTIONAL = "PBE_54"

POTCAR_FIX = (
    "make pymatgen find the POTCARs: `pmg config -p <folder of your VASP POTCAR tree> "
    "<target>` then `export PMG_VASP_PSP_DIR=<target>` (or `pmg config --add "
    "PMG_VASP_PSP_DIR <target>`), on every worker that writes VASP inputs; expected layout "
    f"<target>/POT_GGA_PAW_{POTCAR_FUNCTIONAL}/W_sv/POTCAR"
)


@dataclass(frozen=True)
class PotcarStatus:
    """One element's POTCAR as pymatgen resolves it."""

    element: str
    symbol: str
    zval: float | None = None
    title: str | None = None
    error: str | None = None
    known_to_pymatgen: bool | None = None  # its hash is in pymatgen's table of real POTCARs

    @property
    def found(self) -> bool:
        return self.error is None


def resolve_potcars(elements: list[str] | None = None) -> dict[str, PotcarStatus]:
    """The POTCAR of each element (default: every element of :data:`POTCARS`)."""
    from pymatgen.io.vasp.inputs import PotcarSingle

    out = {}
    for el in elements or list(POTCARS):
        sym = POTCARS.get(el, el)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                p = PotcarSingle.from_symbol_and_functional(sym, POTCAR_FUNCTIONAL)
        except (OSError, RuntimeError, ValueError) as err:
            out[el] = PotcarStatus(el, sym, error=f"{type(err).__name__}: {err}")
            continue
        unknown = any("not known to pymatgen" in str(w.message) for w in caught)
        out[el] = PotcarStatus(el, sym, zval=float(p.zval), title=p.TITEL,
                               known_to_pymatgen=not unknown)  # fmt: skip
    return out


def potcar_report(elements: list[str] | None = None, psp_dir: str | None = None
                  ) -> tuple[bool, list[str]]:  # fmt: skip
    """(all found, one line per element) with pymatgen's POTCAR folder, or ``psp_dir``
    instead of it (e.g. what a worker's ``pre_run`` exports as ``PMG_VASP_PSP_DIR``)."""

    from pymatgen.core import SETTINGS

    with contextlib.ExitStack() as stack:
        if psp_dir is not None:
            old = SETTINGS.get("PMG_VASP_PSP_DIR")
            SETTINGS["PMG_VASP_PSP_DIR"] = psp_dir
            stack.callback(lambda: SETTINGS.__setitem__("PMG_VASP_PSP_DIR", old))
        status = resolve_potcars(elements)
    lines = []
    for st in status.values():
        if not st.found:
            lines.append(f"{st.element:2s} {st.symbol}: NOT FOUND ({st.error})")
            continue
        note = "" if st.known_to_pymatgen else " (hash unknown to pymatgen: not a released POTCAR?)"
        lines.append(f"{st.element:2s} {st.symbol}: ZVAL {st.zval:g}, {st.title}{note}")
    return all(st.found for st in status.values()), lines


def potcars_available(elements: list[str] | None = None) -> bool:
    """True when pymatgen finds the POTCAR of every element."""
    return all(s.found for s in resolve_potcars(elements).values())


def require_potcars(elements: list[str], why: str) -> None:
    """Raise a :class:`~mttmat.backends.base.BackendError` naming the missing POTCARs and
    the fix, when pymatgen does not find them."""

    missing = [s for s in resolve_potcars(elements).values() if not s.found]
    if missing:
        names = ", ".join(f"{s.symbol} ({s.error})" for s in missing)
        raise BackendError(f"{why} needs the POTCARs; not found: {names}. Fix: {POTCAR_FIX}")


def charged_copy(structure: Structure, charge: float) -> Structure:
    """A copy of ``structure`` with net ``charge`` (e), for pymatgen's NELECT."""
    s = structure.copy()
    s.set_charge(float(charge))
    return s

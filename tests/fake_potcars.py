"""A fake POTCAR tree in pymatgen's layout (``pmg config -p``), for tests without VASP.

Each POTCAR has a real-looking header (TITEL, ZVAL, POMASS, ENMAX, LEXCH) and a few numbers
as its data: pymatgen parses it (and warns that its hash is unknown), atomate2 writes it,
NELECT is counted from its ZVAL. The ZVALs are those of the real PBE_54 POTCARs (W_sv 14,
Nb_pv 11, O 6, Li_sv 3); nothing else in them is physical.
"""

from __future__ import annotations

from pathlib import Path

ZVAL = {"W_sv": 14.0, "Nb_pv": 11.0, "O": 6.0, "Li_sv": 3.0}
_MASS = {"W": 183.84, "Nb": 92.906, "O": 16.0, "Li": 6.941}


def _potcar(symbol: str) -> str:
    el = symbol.split("_")[0]
    z = ZVAL[symbol]
    return f"""  PAW_PBE {symbol} 01Jan2000
 {z:.10f}
 parameters from PSCTR are:
   VRHFIN ={el}: fake for tests
   LEXCH  = PE
   TITEL  = PAW_PBE {symbol} 01Jan2000
   POMASS =  {_MASS[el]:.3f}; ZVAL   =   {z:.3f}    mass and valenz
   ENMAX  =  400.000; ENMIN  =  300.000 eV
   END of PSCTR-controll parameters
 local part
  100.000000000000
  0.10000000E+01  0.20000000E+01  0.30000000E+01  0.40000000E+01  0.50000000E+01
 End of Dataset
"""


def write_fake_potcars(root: str | Path, functional_dir: str = "POT_GGA_PAW_PBE_54") -> Path:
    """Write the tree under ``root`` and return ``root`` (the PMG_VASP_PSP_DIR)."""
    root = Path(root)
    for symbol in ZVAL:
        d = root / functional_dir / symbol
        d.mkdir(parents=True, exist_ok=True)
        (d / "POTCAR").write_text(_potcar(symbol))
    return root

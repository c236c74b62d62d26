"""Every figure of mttmat, drawn from result documents and files (nothing recomputed).

- :mod:`.melt_quench`: g(r), MSD and temperature of a melt-quench;
- :mod:`.dos`: DOS/PDOS of host and Li cells, the Li electron's band and polaron solutions;
- :mod:`.defects`: Li_i formation energy vs E_F;
- :mod:`.neb`: CI-NEB profiles and the hop network;
- :mod:`.device`: the ECRAM model's curves, pulse traces, transfer functions, retention;
- :mod:`.main_job`: every figure of a finished main job (``mttmat run``).

The numerics live in :mod:`mttmat.analysis` and :mod:`mttmat.device`; nothing there imports
this package, so the layers do not depend on each other in a circle.
"""

"""One material chain for every backend: its configuration and how it is built.

:mod:`mttmat.chain.config` holds the chain part of every run configuration (materials and
start cells, melt-quench schedule, Li sites, DFT settings, ε, hops); the local main job
(:class:`~mttmat.runs.config.MainJobConfig`) and the HPC run (:class:`~mttmat.hpc.config.HpcConfig`)
both extend it. :mod:`mttmat.chain.build` turns it into the chain flows with one start-cell
builder, for GPAW locally and VASP on HPC alike.
"""

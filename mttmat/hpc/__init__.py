"""HPC path: the full-size VASP workflow submitted through jobflow-remote (Slurm, MongoDB).

* :mod:`mttmat.hpc.config` — :class:`HpcConfig` (``workflows/hpc.yaml``): MongoDB, workers,
  resources per job type, custodian; checked before anything is submitted;
* :mod:`mttmat.hpc.flow` — the full-size flow per material and the job-type → resources map;
* :mod:`mttmat.hpc.remote` — the jobflow-remote project, submission and status;
* :mod:`mttmat.hpc.local_slurm` — a real single-node Slurm for tests.
"""

from mttmat.hpc.config import HpcConfig, load_hpc_config

__all__ = ["HpcConfig", "load_hpc_config"]

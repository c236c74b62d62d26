"""The environment of each HPC job type: export values reach the job shell as written, and
every job type sets its OpenMP threads per process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("jobflow_remote")

from mttmat.hpc.config import load_hpc_config

SHIPPED = Path(__file__).parents[1] / "workflows" / "hpc.yaml"


def test_export_values_reach_the_job_shell_as_written(tmp_path):
    """jobflow-remote writes `export KEY=VALUE` verbatim: each value is one shell word that
    bash turns back into the configured text (with $VARS and ~/ expanded as unquoted)."""
    from jobflow_remote.remote.queue import QueueManager

    from mttmat.hpc.flow import shell_word

    values = {"A": "srun vasp_std", "B": "srun --mpi=pmix -n $NPROC vasp_std",
              "C": "~/bin/vasp_std", "D": '"srun vasp_gam"', "E": "plain",
              "F": 'say "hi"'}  # fmt: skip
    lines = QueueManager.get_export(None, {k: shell_word(v) for k, v in values.items()})
    env = {"NPROC": "8", "HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    script = f'{lines}\nfor k in A B C D E F; do echo "${{!k}}"; done'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True,
                         env=env).stdout  # fmt: skip
    assert out.splitlines() == ["srun vasp_std", "srun --mpi=pmix -n 8 vasp_std",
                                f"{tmp_path}/bin/vasp_std", "srun vasp_gam", "plain",
                                'say "hi"']  # fmt: skip


def test_each_job_type_sets_its_threads_per_process():
    """VASP job types: one OpenMP thread per MPI rank, however the VASP command is given; a
    Python job: the cores of its allocation. A job type's export or the worker's pre_run
    that sets OMP_NUM_THREADS wins."""
    from mttmat.hpc.flow import run_config_map

    cfg = load_hpc_config(SHIPPED)
    rmap = run_config_map(cfg)
    expected = {"aimd": "1", "relax": "1", "static": "1", "defect": "1", "neb": "1",
                "ml": str(cfg.resources["ml"].cores_per_node),
                "light": str(cfg.resources["light"].cores_per_node)}  # fmt: skip
    for jt in cfg.resources:
        assert rmap[jt]["exec_config"]["export"]["OMP_NUM_THREADS"] == expected[jt], jt
    data = cfg.model_dump()
    data["resources"]["ml"]["export"] = {"OMP_NUM_THREADS": "3"}
    data["resources"]["static"]["vasp_cmd"] = None  # the command from the worker's pre_run
    rmap = run_config_map(type(cfg).model_validate(data))
    assert rmap["ml"]["exec_config"]["export"]["OMP_NUM_THREADS"] == "3"
    assert rmap["static"]["exec_config"]["export"]["OMP_NUM_THREADS"] == "1"  # still VASP
    worker = cfg.resources["ml"].worker
    data["workers"][worker]["pre_run"] = "module load x\nexport OMP_NUM_THREADS=4"
    rmap = run_config_map(type(cfg).model_validate(data))
    assert "OMP_NUM_THREADS" not in (rmap["light"]["exec_config"]["export"] or {})  # kept
    assert rmap["aimd"]["exec_config"]["export"]["OMP_NUM_THREADS"] == "1"  # VASP: per rank
    data["workers"][worker]["pre_run"] = "# OMP_NUM_THREADS is set below\nunset OMP_NUM_THREADS"
    rmap = run_config_map(type(cfg).model_validate(data))
    assert rmap["light"]["exec_config"]["export"]["OMP_NUM_THREADS"] == str(
        cfg.resources["light"].cores_per_node)  # a mention is not a setting

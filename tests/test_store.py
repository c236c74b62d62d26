from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mttmat.store import StoreError, get_store

WRITER = textwrap.dedent(
    """
    import sys
    from jobflow import Flow, job
    from mttmat.store import get_store, run_flow

    @job
    def charge_balance(n_w, n_o, n_li):
        # W6+ O2- Li+: net charge of the cell in e
        return 6 * n_w - 2 * n_o + n_li

    j1 = charge_balance(8, 24, 0)
    j2 = charge_balance(8, 24, 2)
    run_flow(Flow([j1, j2]), get_store(sys.argv[1]), sys.argv[1] + "/jobs")
    print(j1.uuid, j2.uuid)
    """
)


def test_flow_written_in_one_process_is_read_in_another(tmp_path):
    store_dir = str(tmp_path / "store")
    res = subprocess.run(
        [sys.executable, "-c", WRITER, store_dir], capture_output=True, text=True, check=True
    )
    u1, u2 = res.stdout.split()[-2:]
    # the writer process has exited; a fresh store object (this process) reads its outputs
    store = get_store(store_dir)
    store.connect()
    assert store.get_output(u1) == 0  # WO3 is neutral
    assert store.get_output(u2) == 2  # two Li+ without compensating electrons
    reader = (
        "import sys; from mttmat.store import get_store; s = get_store(sys.argv[1]); "
        "s.connect(); print(s.get_output(sys.argv[2]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", reader, store_dir, u2], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "2"


def test_unwritable_store(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "store").write_text("a file where a folder should be")
    with pytest.raises(StoreError, match="cannot write"):
        get_store(ro / "store")


def test_a_saved_flow_of_another_version_is_refused_with_the_fix(tmp_path):
    """A flow file whose jobs name a module this version does not have (a job moved since
    it was saved) stops the resume with a StoreError naming the file, not a traceback."""
    import json

    from jobflow import Flow

    from mttmat.store import run_resumable

    flow_file = tmp_path / "flows" / "main.json"
    flow_file.parent.mkdir()
    flow_file.write_text(json.dumps({"@module": "mttmat.flows.li_sites",
                                     "@callable": "screen_li_sites"}))  # fmt: skip
    with pytest.raises(StoreError, match=r"another mttmat version.*delete it"):
        run_resumable(Flow([]), get_store(tmp_path / "store"), tmp_path / "jobs", flow_file,
                      lambda msg: None)  # fmt: skip

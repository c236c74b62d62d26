from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mttmat.cli import main


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "mttmat.cli", *args], capture_output=True, text=True
    )


def test_help_lists_subcommands():
    res = _run("--help")
    assert res.returncode == 0
    for sub in ("structures", "calc", "vasp-inputs", "run", "show", "settings"):
        assert sub in res.stdout


def test_build_and_check(tmp_path, capsys):
    out = tmp_path / "wo3.cif"
    assert (
        main(
            [
                "structures",
                "build",
                "gamma-WO3",
                "--supercell",
                "2",
                "2",
                "1",
                "--x",
                "2.875",
                "--seed",
                "4",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["n_atoms"] == 124 and meta["oxygen_removal"]["x_achieved"] == 2.875
    assert main(["structures", "check", str(out)]) == 0
    assert '"n_atoms": 124' in capsys.readouterr().out


def test_pack(tmp_path):
    out = tmp_path / "nbox.extxyz"
    assert main(["structures", "pack", "Nb48O120", "--density", "4.5", "-o", str(out)]) == 0
    assert out.is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["calc", "static", "{missing}"], "does not exist"),
        (["calc", "static", "{garbled}"], "could not read"),
        (["calc", "static", "{good}", "--backend", "abinitx"], "unknown backend"),
        (["calc", "static", "{li}", "--require-cation"], "W or Nb"),
        (["calc", "static", "{overlap}"], "physical minimum"),
        (["structures", "pack", "Nb2O5", "--density", "0", "-o", "{out}"], "density"),
        (["structures", "pack", "Nb2O5", "--density", "-3", "-o", "{out}"], "density"),
        (
            ["structures", "pack", "Li2O", "--density", "2", "--require-cation", "-o", "{out}"],
            "W or Nb",
        ),
    ],
)
def test_bad_input_clear_error_nothing_written(tmp_path, args, message):
    files = {
        "missing": tmp_path / "missing.cif",
        "garbled": tmp_path / "garbled.cif",
        "good": tmp_path / "good.cif",
        "li": tmp_path / "li.cif",
        "overlap": tmp_path / "POSCAR",
        "out": tmp_path / "out" / "x.cif",
    }
    files["garbled"].write_text("data_x\n_cell_length_a ???\n")
    main(["structures", "build", "cubic-WO3", "-o", str(files["good"])])
    main(["structures", "build", "bcc-Li", "-o", str(files["li"])])
    files["overlap"].write_text(
        "overlap\n1.0\n5 0 0\n0 5 0\n0 0 5\nW O\n1 1\nCartesian\n0 0 0\n1.0 0 0\n"
    )
    before = sorted(p.name for p in tmp_path.rglob("*"))
    store = tmp_path / "store"
    full = [a.format(**files) for a in args]
    if full[0] == "calc":
        full += ["--store", str(store)]
    res = _run(*full)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert res.stderr.count("\n") <= 2  # one clear line, no traceback
    assert not files["out"].exists()
    assert not (store / "jobs").exists()  # no calculation started
    assert sorted(p.name for p in tmp_path.rglob("*") if "store" not in p.parts) == [
        b for b in before if b != "store"
    ]


def test_vasp_inputs(tmp_path):
    main(["structures", "build", "cubic-WO3", "-o", str(tmp_path / "c.cif")])
    assert main(["vasp-inputs", "relax", str(tmp_path / "c.cif"), "-o", str(tmp_path / "v")]) == 0
    assert (tmp_path / "v" / "POTCAR.spec").read_text().split() == ["W_sv", "O"]

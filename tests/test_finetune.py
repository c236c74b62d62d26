"""Fine-tuning CHGNet on DFT frames: the frame set keeps one DFT setting, fine-tuning lowers
the training error, is reproducible from its seed, resumes after a kill to the same model,
and the base-vs-fine-tuned disagreement picks the frame the potential gets most wrong.

The labels of the training tests come from a known teacher, not from DFT (a DFT label costs
minutes here): CHGNet plus a harmonic tether of every atom to its lattice site, k = 2 eV/Å²,
E = E_CHGNet + k/2 Σ|u|², F = F_CHGNet − k u. A potential that learns it has stiffer sites.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mttmat.schemas.frames import DftFrame, FrameSet, FrameSettings, MixedSettingsError
from mttmat.structures.crystals import cubic_wo3

K_TETHER = 2.0  # eV/Å²
EPOCHS = 6
ROOT = Path(__file__).resolve().parents[1]
SETTINGS = FrameSettings(code="gpaw", hubbard_u_ev={"W": 6.2}, ecut_ev=400.0, kpts=[1, 1, 1],
                         smearing_ev=0.05)  # fmt: skip


def _frame(structure, energy, forces, settings=SETTINGS, role=""):
    return DftFrame(structure=structure.as_dict(), energy_ev=float(energy),
                    forces_ev_a=np.asarray(forces).tolist(), settings=settings,
                    job_uuid=f"uuid-{role}", role=role)  # fmt: skip


def test_a_frame_set_refuses_frames_of_other_settings_and_round_trips_extxyz(tmp_path):
    s = cubic_wo3()
    fs = FrameSet()
    fs.add(_frame(s, -40.0, np.zeros((4, 3)), role="host"))
    other = SETTINGS.model_copy(update={"ecut_ev": 500.0})
    with pytest.raises(MixedSettingsError, match=r"ecut_ev: set 400.0, frame 500.0"):
        fs.add(_frame(s, -41.0, np.zeros((4, 3)), settings=other, role="hi-cut"))
    other_u = SETTINGS.model_copy(update={"hubbard_u_ev": {"W": 4.0}})
    with pytest.raises(MixedSettingsError, match="hubbard_u_ev"):
        fs.add(_frame(s, -41.0, np.zeros((4, 3)), settings=other_u, role="low-U"))
    f2 = np.random.default_rng(1).normal(0, 0.1, (4, 3))
    fs.add(_frame(s, -39.5, f2, role="Li_i^0"))
    assert len(fs) == 2 and fs.uuids() == ["uuid-host", "uuid-Li_i^0"]
    back = FrameSet.read_extxyz(fs.write_extxyz(tmp_path / "frames.extxyz"))
    assert back.settings == SETTINGS and [f.role for f in back.frames] == ["host", "Li_i^0"]
    assert back.frames[1].energy_ev == -39.5
    assert np.allclose(back.frames[1].forces_ev_a, f2)


def test_a_charged_or_ml_calculation_is_no_frame():
    from mttmat.jobs.finetune import collect_frames

    s = cubic_wo3()
    el = {"code": "gpaw", "hubbard_u_ev": {"W": 6.2}, "ecut_ev": 400.0, "kpts": [1, 1, 1],
          "smearing_ev": 0.05, "spin_polarized": False, "fermi_level_ev": 0.0,
          "n_electrons": 48.0}  # fmt: skip
    doc = {"structure": s.as_dict(), "fidelity": "dft", "electronic": el,
           "output": {"energy": -40.0, "forces": np.zeros((4, 3)).tolist()}}  # fmt: skip
    charged = {**doc, "electronic": {**el, "charge": 1.0}}
    li_metal = {**doc, "electronic": {**el, "kpts": [8, 8, 8]}}
    ml = {**doc, "fidelity": "ml", "electronic": None}
    frames, skipped = collect_frames({  # a calculation of another setting comes first
        "bcc Li": ("u5", li_metal), "host": ("u1", doc), "two Li": ("u2", doc),
        "Li_i q=+1": ("u3", doc), "charged": ("u4", charged), "screening": ("u6", ml),
    })  # fmt: skip
    assert [f.role for f in frames.frames] == ["host", "two Li"]
    assert set(skipped) == {"Li_i q=+1", "charged", "bcc Li", "screening"}
    assert "kpts" in skipped["bcc Li"] and "charged" in skipped["charged"]


@pytest.mark.chgnet
def test_stress_from_a_task_document_reaches_chgnet_as_its_own_prediction():
    """atomate2 stores the stress in kBar with VASP's sign; the frame holds ASE's eV/Å³, and
    CHGNet's dataset target is then what CHGNet itself predicts for the same cell (GPa)."""
    from ase import units
    from chgnet.model.dynamics import CHGNetCalculator

    from mttmat.backends.chgnet_training import _structure_data, load_model

    model = load_model()
    s = cubic_wo3()
    s.apply_strain([0.02, -0.01, 0.015])
    atoms = s.to_ase_atoms()
    atoms.calc = CHGNetCalculator(model=model)
    ase_stress = atoms.get_stress(voigt=False)  # eV/Å³, tension positive
    kbar = -10.0 * ase_stress / units.GPa  # how atomate2 stores it
    el = {"code": "gpaw", "hubbard_u_ev": {}, "ecut_ev": 400.0, "kpts": [1, 1, 1],
          "spin_polarized": False}  # fmt: skip
    doc = {"structure": s.as_dict(), "fidelity": "dft", "electronic": el,
           "output": {"energy": float(atoms.get_potential_energy()),
                      "forces": atoms.get_forces().tolist(), "stress": kbar.tolist()}}  # fmt: skip
    frame = DftFrame.from_calc(doc, job_uuid="u", role="strained")
    assert np.allclose(frame.stress_ev_a3, ase_stress, atol=1e-8)
    _, targets = _structure_data([frame], "efs")[0]
    predicted = model.predict_structure(s, task="efs")["s"]  # GPa
    assert np.allclose(targets["s"].numpy(), predicted, atol=1e-3), (targets["s"], predicted)
    assert np.abs(predicted).max() > 0.5  # a strained cell: a stress worth comparing


@pytest.fixture(scope="module")
def teacher():
    """(base model, label function, training frames) of the tether teacher."""
    from mttmat.backends.chgnet_training import load_model, predict

    base = load_model()
    s0 = cubic_wo3().make_supercell([2, 1, 1], in_place=False)

    def label(displacements, role):
        s = s0.copy()
        for j, d in enumerate(displacements):
            s.translate_sites([j], d, frac_coords=False, to_unit_cell=True)
        (e,), (f,) = predict(base, [s])
        u2 = float((np.asarray(displacements) ** 2).sum())
        return _frame(s, e + 0.5 * K_TETHER * u2, f - K_TETHER * np.asarray(displacements),
                      role=role)  # fmt: skip

    rng = np.random.default_rng(0)
    train = [label(rng.normal(0, 0.08, (len(s0), 3)), f"rattle {k}") for k in range(6)]
    return base, label, train


def _run(frames, workdir, **kw):
    from mttmat.backends.chgnet_training import finetune_chgnet

    return finetune_chgnet(frames, workdir, epochs=EPOCHS, seed=7, learning_rate=1e-3, **kw)


@pytest.fixture(scope="module")
def uninterrupted(teacher, tmp_path_factory):
    return _run(teacher[2], tmp_path_factory.mktemp("ft_a"))


def _forces(checkpoint, frames):
    from mttmat.backends.chgnet_training import load_model, predict

    return np.concatenate([f.ravel() for f in predict(load_model(checkpoint),
                                                      [f.pmg for f in frames])[1]])  # fmt: skip


@pytest.mark.chgnet
def test_finetuning_lowers_the_training_error_and_is_reproducible_from_its_seed(
    teacher, uninterrupted, tmp_path
):
    from mttmat.backends.chgnet_training import load_model, parity

    base, _, train = teacher
    before = parity(base, train)["force_mae_ev_a"]
    after = parity(load_model(uninterrupted["checkpoint"]), train)["force_mae_ev_a"]
    # the tether's forces are k·|u| ~ 0.2 eV/Å per component: the base misses all of it
    assert before > 0.1
    assert after < 0.7 * before, (before, after)
    assert uninterrupted["training_uuids"] == [f.job_uuid for f in train]
    again = _run(train, tmp_path / "b")
    assert np.allclose(_forces(again["checkpoint"], train),
                       _forces(uninterrupted["checkpoint"], train), atol=1e-5)  # fmt: skip


@pytest.mark.chgnet
def test_a_killed_finetuning_resumes_to_the_same_model(teacher, uninterrupted, tmp_path):
    train = teacher[2]
    frames = tmp_path / "frames.json"  # JSON keeps every float: the same training's fingerprint
    frames.write_text(FrameSet(frames=train, settings=SETTINGS).model_dump_json())
    work = tmp_path / "work"
    script = (
        "from pathlib import Path\n"
        "from mttmat.schemas.frames import FrameSet\n"
        "from mttmat.backends.chgnet_training import finetune_chgnet\n"
        f"fs = FrameSet.model_validate_json(Path({str(frames)!r}).read_text())\n"
        f"finetune_chgnet(fs.frames, {str(work)!r}, epochs={EPOCHS}, seed=7, "
        "learning_rate=1e-3)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 300
    while not list(work.glob("epoch1_*.pth.tar")):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint after 300 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (work / "finetuned.pth.tar").exists(), "finished before the kill"
    resumed = _run(train, work)
    assert resumed["resumed_from"] >= 1
    assert np.allclose(_forces(resumed["checkpoint"], train),
                       _forces(uninterrupted["checkpoint"], train), atol=1e-5)  # fmt: skip


@pytest.mark.chgnet
@pytest.mark.integration  # three fine-tunings of 30 epochs (about 55 s on 2 cores)
def test_the_committee_picks_an_inserted_outlier_the_frame_with_the_largest_error(
    teacher, tmp_path
):
    from mttmat.backends.chgnet_training import (
        committee_disagreement,
        load_model,
        most_uncertain,
        predict,
        train_committee,
    )

    _, label, train = teacher
    rng = np.random.default_rng(42)
    candidates = [label(rng.normal(0, 0.08, (8, 3)), f"md {k}") for k in range(5)]
    far = rng.normal(0, 0.08, (8, 3))
    far[3] += [0.0, 0.0, 0.6]  # one O pushed 0.6 Å off its site: outside the training data
    candidates.insert(2, label(far, "outlier"))
    members = [load_model(c) for c in train_committee(
        train, tmp_path, members=3, head_noise=0.05, seed=0, epochs=30,
        learning_rate=1e-3)]  # fmt: skip
    # the members agree where the frames hold them ...
    on_train = committee_disagreement(members, [f.pmg for f in train])
    spread = committee_disagreement(members, [c.pmg for c in candidates])
    # ... and spread most at the outlier, clearly (measured: 0.22 against at most 0.12 eV/Å)
    assert most_uncertain(spread, 1) == [2], spread
    assert spread[2] > 1.3 * max(np.delete(spread, 2)), spread
    assert spread[2] > 1.3 * on_train.max(), (spread, on_train)
    # and it is the frame the committee's members get most wrong (largest atom error)
    _, f = predict(members[0], [c.pmg for c in candidates])
    err = [np.linalg.norm(fk - np.asarray(c.forces_ev_a), axis=1).max()
           for fk, c in zip(f, candidates, strict=True)]  # fmt: skip
    assert int(np.argmax(err)) == 2, err
    assert len(most_uncertain(spread, 3)) == 3 and most_uncertain(spread, 0) == []

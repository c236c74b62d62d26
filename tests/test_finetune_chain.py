"""The main job with fine-tuning on (integration, tiny WOx cell): the committee picks the
extra DFT labels, CHGNet is fine-tuned on the chain's frames, the fine-tuned model makes the
hop network whose limiting band DFT checks, and the report names the model of every ML
number."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from tests.test_main_job_run import TINY

pytestmark = [pytest.mark.integration, pytest.mark.gpaw, pytest.mark.chgnet]


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    from mttmat.runs.main_job import run_main_job

    root = tmp_path_factory.mktemp("finetune_chain")
    cfg = {**TINY, "name": "tuned", "materials": {"WOx": TINY["materials"]["WOx"]},
           "device": {"k_sweep": False, "reference": "WOx"},
           "finetune": {"label_budget": 1, "members": 2, "committee_epochs": 4, "epochs": 8,
                        "holdout": 0.2}}  # fmt: skip
    path = root / "tuned.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return run_main_job(path, root / "results", progress=lambda m: None, finetune=True)


def _load(out, name):
    return json.loads((out / "WOx" / name).read_text())


def test_the_committee_labels_where_it_spreads_most_and_the_labels_are_frames(tuned_run):
    f = _load(tuned_run, "finetune.json")
    lab, ft = f["labels"], f["finetune"]
    assert len(lab["committee"]) == 2 and len(lab["picked"]) == 1
    # candidates: interior images of every band (3 hops × 1 image) and strained sites; a
    # strained copy of the held-out frame is no candidate
    origins = [c["origin"] for c in lab["candidates"]]
    assert sum("image" in o for o in origins) == 3 and any("strained" in o for o in origins)
    # one split: the committee learnt exactly the chain frames the model trains on, the
    # label always trains, nothing held out was learnt
    assert "label 1" in ft["training_roles"]
    assert sorted(lab["training_roles"]) == sorted(r for r in ft["training_roles"]
                                                   if not r.startswith("label"))  # fmt: skip
    assert not set(ft["heldout_uuids"]) & set(ft["training_uuids"]) and ft["heldout_roles"]
    assert all(d is None or d >= 0.1 for d in ft["heldout_nearest_a"].values())
    assert "Li_i q=+1" in ft["skipped"] and "spin_polarized" in ft["skipped"]["Li_i q=+0 polaron"]
    assert ft["checkpoint_sha256"] and "weights_b64" not in ft  # the weights stay in the store
    # fine-tuning lowers the error on what it learnt
    assert ft["train_after"]["force_mae_ev_a"] < ft["train_before"]["force_mae_ev_a"]
    assert ft["heldout_before"] is not None and ft["heldout_pairs"]


def test_the_fine_tuned_model_does_the_hops_and_dft_checks_its_band(tuned_run):
    f = _load(tuned_run, "finetune.json")
    neb, sites = _load(tuned_run, "neb.json"), _load(tuned_run, "li_sites.json")
    ckpt = f["finetune"]["checkpoint"]
    assert ckpt in neb["network"]["model"] and "fine-tuned" in neb["network"]["model"]
    assert f["finetune"]["checkpoint_sha256"][:12] in neb["network"]["model"]
    assert "pretrained" in sites["model"]  # the DFT cells' sites: the pretrained screening
    assert "pretrained" in f["pretrained_network"]["model"]
    eff = f["effect"]
    assert len(eff["hops"]) == len(neb["network"]["hops"])
    lim = eff["hops"][eff["limiting_hop"]]
    band = neb["band"]
    assert lim["dft_ev"] == pytest.approx(band["barrier_forward_ev"])
    # the default DFT band is Li⁺ (q = +1): not the models' state, and said so
    assert eff["dft_charge"] == 1 and eff["like_for_like"] is False
    # the checkpoint loaded again gives the band's own CI-NEB energies on its images: the
    # hop network really ran the fine-tuned model (tolerance: float32 of the network)
    assert lim["tuned_on_dft_images_ev"] == pytest.approx(band["ml_barrier_forward_ev"], abs=2e-3)
    err = abs(lim["tuned_on_dft_images_ev"] - lim["dft_ev"])
    assert eff["error_tuned_ev"] == pytest.approx(err)
    # every hop by both models on the same images; the two differ (the weights changed)
    assert all(np.isfinite([h["tuned_ev"], h["base_ev"]]).all() for h in eff["hops"])
    assert any(abs(h["tuned_ev"] - h["base_ev"]) > 1e-3 for h in eff["hops"])
    # a hop of both networks starts from the pretrained band and gets its own barrier next
    # to the fine-tuned one; the re-ranked sites are every distinct pretrained site
    seeded = [b["seed"].startswith("ml (another") for b in neb["network"]["bands"]]
    own = [h["base_own_ev"] is not None for h in eff["hops"]]
    assert seeded == own and any(own)
    assert len(sites["candidate_structures"]) == len(sites["candidates"])
    params = json.loads((tuned_run / "device" / "ecram_parameters_WOx.json").read_text())
    assert "fine-tuned" in params["channel_barrier_ev"]["source"]["note"]


def test_the_report_names_the_models_and_shows_the_parity(tuned_run):
    report = (tuned_run / "report.md").read_text()
    first_screen = report.split("## Key numbers")[0]
    assert "WOx fine-tuned CHGNet" in first_screen and "force MAE" in first_screen
    assert "not an error" in first_screen  # the q = +1 DFT band
    assert "ML models:" in report and "li_sites.json`): CHGNet 0." in report
    assert "## Fine-tuning" in report and "CHGNet 0." in report
    assert (tuned_run / "WOx" / "figures" / "parity.png").is_file()
    timings = json.loads((tuned_run / "timings.json").read_text())
    assert "ML fine-tuning" in json.dumps(timings)

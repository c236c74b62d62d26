"""The fine-tuning stage of the chain, built (fast): where its jobs sit in the flow, what
they are fed, the resources they get on HPC, the label candidates, the report's verdict."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from mttmat.jobs.finetune import nearest_distance_a
from mttmat.jobs.labels import label_candidates
from mttmat.runs.finetune_report import finetune_verdict
from tests.test_chain import SMALL, _by_role, _jobs

ON = {"enabled": True, "label_budget": 2, "members": 2}


def _cell(x: float) -> Structure:
    return Structure(Lattice.cubic(4.0), ["W", "O", "Li"],
                     [[0, 0, 0], [0.5, 0, 0], [x, 0.5, 0.5]])  # fmt: skip


def test_label_candidates_are_interior_images_and_strained_sites():
    bands = [{"images": [_cell(0.1), _cell(0.2), _cell(0.3)]},
             {"images": [_cell(0.3), _cell(0.4), _cell(0.5), _cell(0.6)]}]  # fmt: skip
    net = {"hops": [{"i": 0, "j": 1}, {"i": 1, "j": 2}], "bands": bands}
    cands = label_candidates(net, strain=0.02)
    origins = [o for _, o in cands]
    assert origins[:3] == ["hop 0 image 1", "hop 1 image 1", "hop 1 image 2"]
    assert len(cands) == 3 + 3 * 2  # three sites, each strained both ways
    by = dict((o, s) for s, o in cands)
    plus, minus = by["site 2 strained +2.0 % along a"], by["site 0 strained -2.0 % along a"]
    # the volume is kept (a volume change would teach the cutoff's Pulay error), the cell not
    for s in (plus, minus):
        assert s.volume == pytest.approx(64.0)
    assert plus.lattice.a > 4.0 > plus.lattice.b and minus.lattice.a < 4.0 < minus.lattice.b
    # a strained site keeps its fractional positions: a near copy of its site
    assert np.allclose(plus.frac_coords, _cell(0.6).frac_coords)
    assert nearest_distance_a(plus, [_cell(0.6)]) < 0.1
    assert nearest_distance_a(plus, [_cell(0.1)]) == pytest.approx(0.5 * 4.0 * 1.02 / 1.0002,
                                                                    rel=0.02)  # fmt: skip
    assert nearest_distance_a(plus, [Structure(Lattice.cubic(4.0), ["W"], [[0, 0, 0]])]) is None
    with pytest.raises(ValueError, match="strain"):
        label_candidates(net, strain=0.5)


def _main_flow(**finetune):
    pytest.importorskip("gpaw")
    from mttmat.runs.config import MainJobConfig
    from mttmat.runs.main_job import build_main_flow

    return build_main_flow(MainJobConfig(materials=SMALL, device={"reference": "WOx"},
                                         finetune=finetune))[0]  # fmt: skip


def test_the_fine_tuned_model_feeds_the_dft_band_and_the_parameters():
    flow = _main_flow(**ON)
    jobs = {j.name.split(": ", 1)[-1]: j for j in _jobs(flow)}
    net, stages = _by_role(flow, "hop network")
    assert net.name.endswith("(fine-tuned model)")
    assert stages["hop network (pretrained model)"] != net.uuid
    ft = jobs["chgnet fine-tuning"]
    assert net.function_kwargs["calculator_kwargs"]["model_path"].uuid == ft.uuid
    screen = jobs["Li site screening (fine-tuned model)"]
    assert screen.function_kwargs["calculator_kwargs"]["model_path"].uuid == ft.uuid
    # the DFT band is the fine-tuned network's limiting band; the parameters read its network
    band = jobs["gpaw energies on the limiting band"]
    assert band.function_args[0].uuid == net.uuid
    params = jobs["ECRAM channel parameters"]
    assert params.function_args[2].uuid == screen.uuid and params.function_args[5].uuid == net.uuid
    # the labels: neutral, spin-paired, the host's settings; the frames the model learns
    host = jobs["gpaw host"]
    for k in (1, 2):
        lab = jobs[f"gpaw label {k}"]
        assert lab.maker.calculator_kwargs == host.maker.calculator_kwargs
        assert lab.metadata["stage"] == "DFT+U single points"
    frames = ft.function_args[0]
    assert set(frames) == {"host", "Li_i q=+0 band", "Li_i q=+0 polaron", "Li_i q=+1",
                           "two Li", "label 1", "label 2"}  # fmt: skip
    sel = jobs["chgnet committee: where to add DFT labels"]
    assert "label 1" not in sel.function_args[0]  # the committee learns before the labels
    assert {j.metadata["stage"] for j in (ft, sel, net, screen)} == {"ML fine-tuning"}


def test_without_the_option_the_chain_has_no_fine_tuning_and_a_partial_option_is_refused():
    from mttmat.chain.build import chain_maker
    from mttmat.chain.config import ChainConfig
    from mttmat.flows.material_chain import MaterialChainMaker

    names = " ".join(j.name for j in _jobs(_main_flow()))
    assert "fine-tun" not in names and "label" not in names and "committee" not in names
    maker = chain_maker(ChainConfig(materials=SMALL, finetune=ON), "WOx")
    assert isinstance(maker, MaterialChainMaker) and maker.finetune["label_budget"] == 2
    maker.finetune = {"epochs": 3}
    with pytest.raises(ValueError, match="finetune lacks"):
        maker.make(_host(), _li_metal())


def _host() -> Structure:
    from mttmat.structures.io import read_structure

    return read_structure("structures/a-WOx-32.cif")


def _li_metal():
    from jobflow import job

    @job
    def li():
        return None

    return li()


def test_on_hpc_the_fine_tuning_runs_on_the_ml_resources_and_its_labels_are_statics():
    pytest.importorskip("jobflow_remote")
    from mttmat.hpc.config import HpcConfig
    from mttmat.hpc.flow import build_material_flow
    from tests.test_hpc import _with

    flow = build_material_flow(HpcConfig(**_with(workflow={"finetune": ON})), "WOx")
    types = {j.name.split(": ", 1)[-1]: j.metadata["mttmat_job_type"] for j in _jobs(flow)}
    for name in ("chgnet committee: where to add DFT labels", "chgnet fine-tuning",
                 "Li site screening (fine-tuned model)", "chgnet hop network (fine-tuned model)",
                 "fine-tuning: barriers before and after"):  # fmt: skip
        assert types[name] == "ml", name
    assert types["vasp label 1"] == types["vasp label 2"] == "static"
    for j in _jobs(flow):  # every job is called with arguments its function accepts
        inspect.signature(j.function).bind(*j.function_args, **j.function_kwargs)


def test_the_first_screen_says_when_fine_tuning_made_things_worse():
    p = {"n_frames": 2, "force_mae_ev_a": 0.3}
    ft = {"train_before": p, "train_after": p,
          "heldout_before": {**p, "force_mae_ev_a": 0.40},
          "heldout_after": {**p, "force_mae_ev_a": 0.25}}  # fmt: skip
    ft.update(training_roles=["host", "two Li", "label 1"], heldout_roles=["Li_i q=+0 band"])
    better = {"finetune": ft, "effect": {"error_base_ev": 0.30, "error_tuned_ev": 0.05}}
    text = finetune_verdict(better)
    assert "held-out force MAE 0.400 → 0.250" in text and "0.300 → 0.050" in text
    assert text.startswith("3 frames trained") and "1 held out" in text and "**" not in text
    worse = {"finetune": ft, "effect": {"error_base_ev": 0.05, "error_tuned_ev": 0.20}}
    assert finetune_verdict(worse).startswith("**") and "worse" in finetune_verdict(worse)
    # against a charged DFT band the difference is no error of the (neutral) potential
    charged = {"finetune": ft, "effect": {"error_base_ev": 0.05, "error_tuned_ev": 0.20,
                                          "like_for_like": False, "dft_charge": 1.0}}  # fmt: skip
    text = finetune_verdict(charged)
    assert "**" not in text and "charge +1" in text and "not an error" in text
    # a held-out frame that is a strained copy of a training frame is flagged
    ft["heldout_nearest_a"] = {"Li_i q=+0 band": 0.0}
    assert "near copy" in finetune_verdict(better)
    assert finetune_verdict(None) is None


def test_a_hop_starts_from_another_models_band_of_the_same_two_sites():
    from mttmat.jobs.hop_network import _seed_band
    from mttmat.schemas.migration import HopSpec

    a, b, c = _cell(0.1), _cell(0.3), _cell(0.7)
    band = [_cell(0.1), _cell(0.2), _cell(0.3)]
    hop = {"i": 0, "j": 1, "image": (0, 0, 0), "length_a": 0.8, "vector_frac": (0.2, 0, 0)}
    net = {"bands": [{"images": band, "hop": hop}]}
    fwd = HopSpec(**hop)
    assert _seed_band(net, a, b, fwd) == band
    back = HopSpec(**{**hop, "i": 1, "j": 0, "vector_frac": (-0.2, 0, 0)})
    assert _seed_band(net, b, a, back) == band[::-1]  # the same hop run the other way
    other = HopSpec(**{**hop, "j": 2, "vector_frac": (0.6, 0, 0)})
    assert _seed_band(net, a, c, other) is None  # another site: IDPP as before
    # the same ends joined through another periodic image is another hop
    wrapped = HopSpec(**{**hop, "image": (-1, 0, 0), "vector_frac": (-0.8, 0, 0)})
    assert _seed_band(net, a, b, wrapped) is None
    assert _seed_band(None, a, b, fwd) is None

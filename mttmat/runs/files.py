"""The main job's per-material result files: documents read from the store by role, written
as ``<material>/*.json`` with the host cells (:func:`collect`, :func:`write_material`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mttmat.analysis.hops import has_saddle, saddle_verdict
from mttmat.structures.io import atomic_write_text

__all__ = ["collect", "migration_files", "write_material"]


def collect(store: Any, uuids: dict[str, str]) -> dict[str, Any]:
    """Every document of one material from the store, by role."""

    def get(uuid: str) -> Any:
        return store.get_output(uuid, load=True)

    d: dict[str, Any] = {
        "screening": get(uuids["screening"]),
        "dos": {k: get(uuids[f"DOS {k}"]) for k in ("host", "band", "polaron")},
        "dos_summary": get(uuids["DOS summary"]),
        "electron": get(uuids["electron"]),
        "formation": get(uuids["formation"]),
        "neb": migration_files(
            get(uuids["hop network"]), get(uuids["DFT band"]) if "DFT band" in uuids else None
        ),
    }
    d["electron"].pop("ground_state_doc", None)  # the single point itself is in the store
    d["parameters"] = get(uuids["parameters"])
    if "fine-tuning" in uuids:
        d["finetune"] = finetune_file(
            get(uuids["fine-tuning"]), get(uuids["fine-tuning effect"]),
            get(uuids["label selection"]) if "label selection" in uuids else None,
            get(uuids["hop network (pretrained model)"]),
            get(uuids["screening (fine-tuned model)"]),
        )  # fmt: skip
    if "melt-quench" in uuids:
        cell = get(uuids["melt-quench"])
        stages = [get(cell["stage_uuids"][k]) for k in ("init", "melt", "quench")]
        for s in stages:  # the plots need the logs, not the final snapshots
            s.pop("velocities", None)
        d["melt_quench"] = {"cell": cell, "stages": stages}
    return d


def finetune_file(ft: dict[str, Any], effect: dict[str, Any], labels: dict[str, Any] | None,
                  base_net: dict[str, Any], screen: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """finetune.json: the fine-tuning (parity before/after), the committee's label picks
    (without the cells), the barriers of both models, and the ML numbers of the pretrained
    model that the fine-tuned one replaced downstream (its percolation barrier, the site
    screening's energy spread of the fine-tuned model)."""
    labels = None if labels is None else {k: v for k, v in labels.items() if k != "structures"}
    ft = {k: v for k, v in ft.items() if k != "weights_b64"}  # the weights stay in the store
    return {
        "finetune": ft, "effect": effect, "labels": labels,
        "pretrained_network": {
            "model": base_net.get("model"),
            "percolation_barrier_ev": base_net["percolation_barrier_ev"],
            "limiting_hop": base_net["limiting_hop"],
            "hops": [{k: h[k] for k in ("i", "j", "barrier_forward_ev", "saddle_ev")}
                     for h in base_net["hops"]],
        },
        "finetuned_screening": {k: screen.get(k) for k in
                                ("model", "n_unique_sites", "energy_spread_ev")},
    }  # fmt: skip


def migration_files(net: dict[str, Any], band: dict[str, Any] | None) -> dict[str, Any]:
    """neb.json: the hop network (bands without their images) and the DFT band, with the
    counts and flags the report reads."""

    net = dict(net)
    for b in (*net["bands"], net["limiting_band"]):
        b.pop("images", None)
    net["n_sites"], net["n_hops"] = len(net["sites"]), len(net["hops"])
    for h in net["hops"]:
        h["barriers"] = f"{h['barrier_forward_ev']:.3f} / {h['barrier_backward_ev']:.3f}"
    if band is not None:
        band = dict(band)
        band.pop("images", None)
        band["has_saddle"] = has_saddle(band.get("energies_ev"))
        band["verdict"] = saddle_verdict(band)
    return {"network": net, "band": band}


def write_material(folder: Path, d: dict[str, Any], meta: dict[str, Any], uuids: dict) -> None:
    from pymatgen.core import Structure

    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "li_sites.json": d["screening"],
        "dos.json": d["dos"],
        "li_dos_summary.json": d["dos_summary"],
        "li_formation.json": d["formation"],
        "li_electron.json": d["electron"],
        "neb.json": d["neb"],
        "start.json": {"start": meta, "uuids": uuids},
    }
    if "melt_quench" in d:
        files["melt_quench.json"] = d["melt_quench"]
    if "finetune" in d:
        files["finetune.json"] = d["finetune"]
    for name, doc in files.items():
        atomic_write_text(folder / name, json.dumps(doc, default=json_default))
    host = d["melt_quench"]["cell"]["structure"] if "melt_quench" in d else None
    if host is None:
        host = d["screening"]["selected_structures"][0]
        s = Structure.from_dict(host)
        s.remove_species(["Li"])
    else:
        s = Structure.from_dict(host)
    atomic_write_text(folder / "host.cif", s.to(fmt="cif"))
    li = Structure.from_dict(d["screening"]["selected_structures"][0])
    atomic_write_text(folder / "host_li_site1.cif", li.to(fmt="cif"))


def json_default(o: Any) -> Any:
    if hasattr(o, "as_dict"):
        return o.as_dict()
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"cannot write {type(o).__name__} to JSON")

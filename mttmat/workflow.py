"""The main job (``mttmat run``): config → flow in the persistent store → results folder.

The config is validated completely (unknown keys, types, materials, writable output) before
any computation starts. Defaults live in :class:`MainJobConfig`; ``workflows/main_job.yaml``
is the same set written out for users to copy and edit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mttmat.errors import ConfigError
from mttmat.structures.io import atomic_write_text

__all__ = ["DftConfig", "MainJobConfig", "load_config", "run_main_job"]


class DftConfig(BaseModel):
    """DFT settings of the local (GPAW) steps."""

    model_config = ConfigDict(extra="forbid")

    kpts: list[int] = Field([2, 2, 2], description="k-point mesh of the host/doped cells.")
    li_metal_kpts: list[int] = Field([4, 4, 4], description="k-point mesh of bcc Li.")
    ecut_ev: float = Field(300.0, gt=0, description="Plane-wave cutoff (eV).")
    spin_polarized: bool = Field(False, description="Spin-polarised DFT.")

    @field_validator("kpts", "li_metal_kpts")
    @classmethod
    def _mesh(cls, v: list[int]) -> list[int]:
        if len(v) != 3 or any(n < 1 for n in v):
            raise ValueError(f"k-point mesh must be three integers >= 1, got {v}")
        return v


MATERIALS = ("WOx",)


class MainJobConfig(BaseModel):
    """Configuration of ``mttmat run``; every field has a default."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("mttmat-small", description="Run name: results/<name>/.")
    materials: list[Literal["WOx"]] = Field(["WOx"], description="Channel materials to run.")
    ml_backend: str = Field("chgnet", description="Backend for geometries.")
    dft_backend: str = Field("gpaw", description="Backend for electronic structure.")
    dft: DftConfig = Field(default_factory=DftConfig)
    store_dir: Path | None = Field(None, description="Job store (default results/store).")

    @field_validator("ml_backend", "dft_backend")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        from mttmat.backends import available_backends

        if v not in available_backends():
            raise ValueError(f"unknown backend {v!r}; choose one of {available_backends()}")
        return v


def load_config(path: str | Path | None = None, **overrides: Any) -> MainJobConfig:
    """Defaults, updated from a YAML file and keyword overrides; clear errors on bad input."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping (key: value)")
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return MainJobConfig(**data)
    except ValidationError as err:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid config{where}: " + "; ".join(lines)) from None


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write_probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ConfigError(
            f"output folder {folder} is not writable ({err.strerror}); choose another with -o"
        ) from err


def run_main_job(
    config_path: str | Path | None = None,
    output_root: str | Path = "results",
    name: str | None = None,
    progress: Callable[[str], None] = print,
) -> Path:
    """Run the main job and return its results folder."""
    cfg = load_config(config_path, name=name)
    out = Path(output_root) / cfg.name
    _check_writable(out)
    store_dir = cfg.store_dir or Path(output_root) / "store"

    from mttmat.flows.li_doping import LiDopingMaker, default_wo3_host
    from mttmat.settings import get_settings
    from mttmat.store import get_store, run_flow

    store = get_store(store_dir)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(json.loads(cfg.model_dump_json())))
    summaries: dict[str, dict[str, Any]] = {}
    for material in cfg.materials:
        progress(f"{material}: Li doping chain ({cfg.ml_backend} relax → {cfg.dft_backend} DFT+U)")
        dft_kw = {
            "kpts": cfg.dft.kpts,
            "ecut_ev": cfg.dft.ecut_ev,
            "spin_polarized": cfg.dft.spin_polarized,
        }
        li_kw = {**dft_kw, "kpts": cfg.dft.li_metal_kpts, "spin_polarized": False}
        flow = LiDopingMaker(
            name=f"{cfg.name}:{material}:li-doping",
            ml_backend=cfg.ml_backend,
            dft_backend=cfg.dft_backend,
            dft_kwargs=dft_kw,
            li_metal_kwargs=li_kw,
        ).make(default_wo3_host())
        run_flow(flow, store, out / "jobs")
        store.connect()
        summary = store.get_output(flow.jobs[-1].uuid)
        summary["flow_uuid"] = flow.uuid
        summary["summary_uuid"] = flow.jobs[-1].uuid
        summaries[material] = summary
        atomic_write_text(out / f"li_doping_{material}.json", json.dumps(summary, indent=2))
        progress(
            f"{material}: E_F shift {summary['fermi_shift_ev']:+.3f} eV, "
            f"voltage {summary['voltage_vs_li_v']:.3f} V vs Li/Li+"
        )
    atomic_write_text(out / "report.md", _report(cfg, summaries, get_settings().hubbard_u_ev))
    return out


def _report(cfg: MainJobConfig, summaries: dict[str, dict], u: dict[str, float]) -> str:
    rows = [
        ("host", "host_formula", "", ""),
        ("insertion energy per Li", "insertion_energy_per_li_ev", "eV", ".3f"),
        ("average voltage vs Li/Li⁺", "voltage_vs_li_v", "V", ".3f"),
        ("E_F(doped) − E_F(host)", "fermi_shift_ev", "eV", "+.3f"),
        ("E_F(doped) − CBM(host)", "fermi_above_host_cbm_ev", "eV", "+.3f"),
        ("host band gap", "host_band_gap_ev", "eV", ".3f"),
        ("electrons added", "electrons_added", "e", ".2f"),
        ("fidelity", "fidelity", "", ""),
    ]
    mats = list(summaries)
    lines = [
        f"# mttmat report: {cfg.name}",
        "",
        f"DFT: {cfg.dft_backend}, PBE+U (U_eff = {u}), cutoff {cfg.dft.ecut_ev} eV, "
        f"k-mesh {cfg.dft.kpts}; geometries: {cfg.ml_backend}.",
        "",
        "| quantity | unit | " + " | ".join(mats) + " |",
        "|---|---|" + "---|" * len(mats),
    ]
    for label, key, unit, fmt in rows:
        vals = []
        for m in mats:
            v = summaries[m].get(key)
            vals.append("—" if v is None else (format(v, fmt) if fmt else str(v)))
        lines.append(f"| {label} | {unit} | " + " | ".join(vals) + " |")
    lines += ["", "## Provenance (job uuids in the store)", ""]
    for m in mats:
        for role, uuid in summaries[m].get("uuids", {}).items():
            lines.append(f"- {m} {role}: `{uuid}`")
    return "\n".join(lines) + "\n"

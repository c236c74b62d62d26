"""CHGNet backend: atomate2's force-field Makers (weights ship in the PyPI package: offline)."""

from __future__ import annotations

from typing import Any

from jobflow import Maker

from mttmat.backends.base import Backend, register_backend
from mttmat.backends.defaults import DEFAULTS

__all__ = ["ChgnetBackend"]


@register_backend
class ChgnetBackend(Backend):
    """CHGNet universal potential through ``atomate2.forcefields`` (ML fidelity)."""

    name = "chgnet"
    fidelity = "ml"
    force_field_name = "CHGNet"

    def ase_calculator(self, model_path: str | None = None, model_sha256: str | None = None,
                       **kwargs: Any) -> Any:  # fmt: skip
        """CHGNet's calculator: the pretrained model, or the fine-tuned one of the
        checkpoint ``model_path`` (:func:`mttmat.jobs.finetune.finetune_potential`), checked
        against ``model_sha256`` when given; one load per process and checkpoint.

        Raises
        ------
        BackendError
            The checkpoint is not on this machine, or is another file than the one trained.
        """
        from atomate2.forcefields.utils import ase_calculator

        if model_path is not None:
            kwargs["model"] = fine_tuned_model(str(model_path), model_sha256)
        return ase_calculator(self.force_field_name, **kwargs)

    def model_label(self, calculator_kwargs: dict[str, Any] | None = None) -> str:
        kw = calculator_kwargs or {}
        if kw.get("model_path") is not None:
            sha = kw.get("model_sha256")
            return ("CHGNet fine-tuned on this run's DFT frames ("
                    + (f"sha256 {sha[:12]}, " if sha else "") + f"{kw['model_path']})")  # fmt: skip
        return f"CHGNet {_version()} pretrained (MPtrj)"

    def static_maker(self, **kwargs: Any) -> Maker:
        from atomate2.forcefields.jobs import ForceFieldStaticMaker

        kwargs.setdefault("name", "chgnet static")
        return ForceFieldStaticMaker(force_field_name=self.force_field_name, **kwargs)

    def relax_maker(self, relax_cell: bool = False, **kwargs: Any) -> Maker:
        from atomate2.forcefields.jobs import ForceFieldRelaxMaker

        kwargs.setdefault("name", "chgnet relax")
        kwargs.setdefault("relax_kwargs", {"fmax": DEFAULTS.relax_fmax_ev_a})
        return ForceFieldRelaxMaker(
            force_field_name=self.force_field_name, relax_cell=relax_cell, **kwargs
        )

    def md_maker(
        self,
        temperature_k: float | tuple[float, float],
        n_steps: int,
        timestep_fs: float = 2.0,
        ensemble: str = "nvt",
        **kwargs: Any,
    ) -> Maker:
        from atomate2.forcefields.md import ForceFieldMDMaker

        kwargs.setdefault("name", "chgnet md")
        temps = list(temperature_k) if isinstance(temperature_k, tuple | list) else temperature_k
        return ForceFieldMDMaker(
            force_field_name=self.force_field_name,
            temperature=temps,
            n_steps=n_steps,
            time_step=timestep_fs,
            ensemble=ensemble,
            **kwargs,
        )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chgnet")
    except PackageNotFoundError:  # pragma: no cover
        return "(version unknown)"


_MODELS: dict[tuple[str, str | None], Any] = {}


def fine_tuned_model(path: str, sha256: str | None) -> Any:
    """The fine-tuned CHGNet of the checkpoint ``path`` (checked against ``sha256`` when
    given), loaded once per process."""
    from pathlib import Path

    from mttmat.backends.base import BackendError
    from mttmat.backends.chgnet_training import file_sha256, load_model

    if (path, sha256) not in _MODELS:
        if not Path(path).is_file():
            raise BackendError(
                f"the fine-tuned CHGNet checkpoint {path} is not on this machine: run the ML "
                "jobs where the fine-tuning job ran (the same filesystem), or write it back "
                "from the store: FineTuneDoc.write_checkpoint(path) of the fine-tuning job"
            )
        if sha256 is not None and file_sha256(path) != sha256:
            raise BackendError(
                f"{path} is not the checkpoint the fine-tuning trained (sha256 differs): "
                "rerun the fine-tuning job, or write it back from the store"
            )
        _MODELS[(path, sha256)] = load_model(path)
    return _MODELS[(path, sha256)]

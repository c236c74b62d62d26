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

    def ase_calculator(self, model_path: str | None = None, **kwargs: Any) -> Any:
        """CHGNet's calculator: the pretrained model, or the fine-tuned one of the
        checkpoint ``model_path`` (:func:`mttmat.jobs.finetune.finetune_potential`)."""
        from atomate2.forcefields.utils import ase_calculator

        if model_path is not None:
            from mttmat.backends.chgnet_training import load_model

            kwargs["model"] = load_model(model_path)
        return ase_calculator(self.force_field_name, **kwargs)

    def model_label(self, calculator_kwargs: dict[str, Any] | None = None) -> str:
        path = (calculator_kwargs or {}).get("model_path")
        if path is not None:
            return f"CHGNet fine-tuned on this run's DFT frames ({path})"
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

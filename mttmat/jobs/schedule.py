"""The melt-quench schedule: every temperature, time and thermostat choice of a melt-quench,
validated before any MD starts, and its MD segments per stage."""

from __future__ import annotations

import itertools
import math
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from mttmat.jobs.md import THERMOSTATS, Segment

__all__ = ["MeltQuenchSchedule", "Stage"]

Stage = Literal["init", "melt", "quench"]


class MeltQuenchSchedule(BaseModel):
    """Every choice of a melt-quench run, with units; validated before any MD starts.

    Stages: ``init`` holds ``init_temperature_k`` for ``init_steps``; ``melt`` ramps to
    ``melt_temperature_k`` in ``heat_steps`` and holds it ``melt_steps`` (diffusion);
    ``quench`` cools linearly at ``quench_rate_k_per_ps`` to ``quench_end_temperature_k``, or
    walks the stepwise ``quench_ladder`` ``[[T_K, steps], ...]`` (MPMorph's slow-quench
    idea), then optionally anneals; ``relax`` minimises forces (and the cell if
    ``relax_cell``) to ``relax_fmax_ev_a`` (default: ``DEFAULTS.relax_fmax_ev_a``).
    """

    model_config = ConfigDict(extra="forbid")

    time_step_fs: PositiveFloat = Field(2.0, description="MD time step (fs)")
    ensemble: Literal["nvt", "npt"] = Field("nvt", description="nvt at fixed cell; npt (0 GPa)")
    thermostat: str = Field("langevin", description="langevin | bussi | berendsen | andersen")
    friction_per_ps: PositiveFloat = Field(10.0, description="Langevin friction (1/ps)")
    taut_fs: PositiveFloat = Field(100.0, description="Bussi/Berendsen coupling time (fs)")
    andersen_prob: float = Field(0.01, gt=0, le=1, description="Andersen collision probability")
    pressure_gpa: float = Field(0.0, description="NPT target pressure (GPa)")
    taup_fs: PositiveFloat = Field(1000.0, description="NPT barostat time (fs)")
    compressibility_per_gpa: PositiveFloat = Field(0.005, description="NPT compressibility")
    density_g_cm3: PositiveFloat | None = Field(
        None, description="rescale the start cell isotropically to this density (g/cm³)"
    )
    init_temperature_k: PositiveFloat = Field(300.0, description="initialization T (K)")
    init_steps: PositiveInt = Field(100, description="initialization steps")
    melt_temperature_k: PositiveFloat = Field(3500.0, description="melt T (K)")
    heat_steps: NonNegativeInt = Field(250, description="ramp init → melt T (steps)")
    melt_steps: PositiveInt = Field(1000, description="hold at melt T (steps)")
    quench_end_temperature_k: PositiveFloat = Field(300.0, description="quench end T (K)")
    quench_rate_k_per_ps: PositiveFloat = Field(500.0, description="linear quench rate (K/ps)")
    quench_ladder: list[tuple[PositiveFloat, PositiveInt]] | None = Field(
        None, description="stepwise quench [[T_K, steps], ...], decreasing T; replaces the rate"
    )
    anneal_temperature_k: PositiveFloat | None = Field(None, description="anneal T after quench")
    anneal_steps: NonNegativeInt = Field(0, description="anneal steps")
    melt_check_msd_a2: NonNegativeFloat = Field(
        1.0, description="cation MSD (Å²) over a melt attempt that counts as molten; 0: no check"
    )
    melt_retries: NonNegativeInt = Field(
        2, description="extra melt holds (hotter by melt_retry_step_k, melt_steps each) when "
        "the cations did not move melt_check_msd_a2; then the stage stops with the numbers",
    )  # fmt: skip
    melt_retry_step_k: NonNegativeFloat = Field(
        1000.0, description="temperature added per melt retry (K); 0: longer only"
    )
    melt_max_temperature_k: PositiveFloat = Field(
        7000.0, description="highest melt temperature a retry may use (K)"
    )
    relax_cell: bool = Field(True, description="relax the cell too in the final relax")
    relax_fmax_ev_a: PositiveFloat | None = Field(None, description="final relax force limit")
    relax_steps: PositiveInt = Field(2000, description="maximum optimizer steps of the relax")
    seed: int = Field(0, description="seed of velocities and thermostat noise")
    checkpoint_interval: PositiveInt = Field(50, description="steps between checkpoints")
    log_interval: PositiveInt = Field(10, description="steps between log rows")

    @model_validator(mode="after")
    def _check(self) -> MeltQuenchSchedule:
        allowed = THERMOSTATS[self.ensemble]
        if self.thermostat not in allowed:
            raise ValueError(
                f"unknown thermostat {self.thermostat!r} for ensemble {self.ensemble!r}; "
                f"choose one of {list(allowed)}"
            )
        melt = self.melt_temperature_k
        if self.quench_ladder is not None:
            if "quench_rate_k_per_ps" in self.model_fields_set:
                raise ValueError("give quench_rate_k_per_ps or quench_ladder, not both")
            temps = [t for t, _ in self.quench_ladder]
            if not temps:
                raise ValueError("quench_ladder is empty; give [[T_K, steps], ...] or omit it")
            if any(t >= melt for t in temps):
                raise ValueError(
                    f"quench_ladder has temperatures {temps} K at or above the melt "
                    f"({melt} K): a quench must cool below the melt"
                )
            if any(b >= a for a, b in itertools.pairwise(temps)):
                raise ValueError(f"quench_ladder temperatures must decrease, got {temps} K")
        elif self.quench_end_temperature_k >= melt:
            raise ValueError(
                f"quench_end_temperature_k ({self.quench_end_temperature_k} K) must be below "
                f"melt_temperature_k ({melt} K)"
            )
        if self.melt_max_temperature_k < melt:
            raise ValueError(
                f"melt_max_temperature_k ({self.melt_max_temperature_k} K) is below "
                f"melt_temperature_k ({melt} K): raise it, or lower the melt"
            )
        if self.init_temperature_k >= melt:
            raise ValueError(
                f"init_temperature_k ({self.init_temperature_k} K) must be below the melt "
                f"({melt} K)"
            )
        if self.anneal_temperature_k is not None and self.anneal_temperature_k >= melt:
            raise ValueError("anneal_temperature_k must be below melt_temperature_k")
        if self.anneal_temperature_k is None and self.anneal_steps:
            raise ValueError("anneal_steps > 0 needs anneal_temperature_k")
        return self

    @property
    def quench_end_k(self) -> float:
        """Temperature at the end of the quench (before any anneal), K."""
        if self.quench_ladder:
            return float(self.quench_ladder[-1][0])
        return self.quench_end_temperature_k

    def segments(self, stage: Stage) -> list[Segment]:
        """The MD segments of ``stage``: ``[(T_start, T_end, steps), ...]``."""
        t_i, t_m = self.init_temperature_k, self.melt_temperature_k
        if stage == "init":
            return [Segment(t_i, t_i, self.init_steps)]
        if stage == "melt":
            segs = [Segment(t_i, t_m, self.heat_steps)] if self.heat_steps else []
            return [*segs, Segment(t_m, t_m, self.melt_steps)]
        if stage == "quench":
            if self.quench_ladder:
                segs = [Segment(t, t, n) for t, n in self.quench_ladder]
            else:
                dt_ps = self.time_step_fs / 1000.0
                n = math.ceil((t_m - self.quench_end_k) / (self.quench_rate_k_per_ps * dt_ps))
                segs = [Segment(t_m, self.quench_end_k, max(n, 1))]
            if self.anneal_temperature_k is not None and self.anneal_steps:
                ta = self.anneal_temperature_k
                segs.append(Segment(ta, ta, self.anneal_steps))
            return segs
        raise ValueError(f"unknown MD stage {stage!r}; use init, melt or quench")

    def n_steps(self, stage: Stage | None = None) -> int:
        """MD steps of one stage, or of all three MD stages."""
        stages: tuple[Stage, ...] = (stage,) if stage else ("init", "melt", "quench")
        return sum(seg.n_steps for st in stages for seg in self.segments(st))

    def md_options(self) -> dict[str, float]:
        """Thermostat/barostat constants for :func:`mttmat.jobs.md.run_md`."""
        return {
            "friction_per_ps": self.friction_per_ps,
            "taut_fs": self.taut_fs,
            "andersen_prob": self.andersen_prob,
            "pressure_gpa": self.pressure_gpa,
            "taup_fs": self.taup_fs,
            "compressibility_per_gpa": self.compressibility_per_gpa,
        }

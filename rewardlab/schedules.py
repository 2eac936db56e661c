"""Weight schedules: a component weight that follows the training step.

A spec writes ``weight = {schedule = "cosine", start = 1.0, end = 0.0, steps = 1000}``
instead of a number; the pipeline evaluates it at the batch's training step
(:func:`batch_step`) and logs the weights in force.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rewardlab.batch import BatchContext
from rewardlab.errors import InputError


def anneal(kind: Literal["linear", "cosine"], start: float, end: float, steps: int, t: Any) -> Any:
    """From ``start`` at t = 0 to ``end`` at t = ``steps``, then constant; ``t`` a number or an array.

    linear: start + (end - start) f; cosine: end + (start - end) (1 + cos(pi f)) / 2, with
    f = min(max(t, 0) / steps, 1) (SGDR, Loshchilov & Hutter 2017, eq. 5).
    """
    frac = np.clip(np.asarray(t, dtype=np.float64) / steps, 0.0, 1.0)
    if kind == "linear":
        return start + (end - start) * frac
    return end + (start - end) * 0.5 * (1.0 + np.cos(np.pi * frac))


def piecewise(values: Sequence[float], boundaries: Sequence[int], t: Any) -> Any:
    """``values[i]`` for boundaries[i-1] <= t < boundaries[i]; ``t`` a number or an array."""
    return np.asarray(values, dtype=np.float64)[np.searchsorted(np.asarray(boundaries), t, side="right")]


class WeightSchedule(BaseModel):
    """A component weight that changes with the training step (``weight = {schedule = ...}``).

    ``linear``: start + (end - start) min(t / steps, 1). ``cosine``: end + (start - end)
    (1 + cos(pi min(t / steps, 1))) / 2 (the cosine annealing of Loshchilov & Hutter
    2017, "SGDR", arXiv 1608.03983). ``exp``: start e^(-t / steps) (SophiaVL-R1's
    time-based annealing of the thinking reward). ``step``: ``values[i]`` for the i-th interval of
    ``boundaries`` (values[0] before boundaries[0], ...). Used e.g. for annealed
    auxiliary rewards (SophiaVL-R1's thinking reward, ToolRL's dynamic scales).
    """

    model_config = ConfigDict(extra="forbid")
    schedule: Literal["linear", "cosine", "exp", "step"]
    start: float | None = None
    end: float | None = None
    steps: int | None = Field(default=None, gt=0)
    values: list[float] | None = None
    boundaries: list[int] | None = None

    @model_validator(mode="after")
    def _check(self) -> WeightSchedule:
        if self.schedule == "step":
            if self.values is None or self.boundaries is None:
                raise ValueError("schedule 'step' needs 'values' and 'boundaries'")
            if len(self.values) != len(self.boundaries) + 1 or self.boundaries != sorted(self.boundaries):
                raise ValueError("schedule 'step': 'values' needs one more entry than the sorted 'boundaries'")
        elif self.schedule == "exp":
            if self.start is None or self.steps is None:
                raise ValueError("schedule 'exp' needs 'start' and 'steps'")
        elif self.start is None or self.end is None or self.steps is None:
            raise ValueError(f"schedule {self.schedule!r} needs 'start', 'end' and 'steps'")
        return self

    def at(self, step: float) -> float:
        """The weight at training step ``step`` (>= 0)."""
        if self.schedule == "step":
            assert self.values is not None and self.boundaries is not None
            return float(piecewise(self.values, self.boundaries, step))
        assert self.start is not None and self.steps is not None
        if self.schedule == "exp":
            return self.start * math.exp(-max(step, 0.0) / self.steps)
        assert self.end is not None
        return float(anneal(self.schedule, self.start, self.end, self.steps, step))


def batch_step(ctx: BatchContext, step: float | None, key: str = "step") -> float | None:
    """The training step for this batch: ``step`` if given, else ``meta[key]`` (all equal)."""
    if step is not None:
        return float(step)
    seen = {s for s in ctx.meta_column(key) if s is not None}
    if len(seen) > 1:
        raise InputError(f"samples carry different meta[{key!r}] values {sorted(seen)[:4]}; "
                         "one batch is scored at one training step")
    if not seen:
        return None
    value = seen.pop()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InputError(f"meta[{key!r}] must be a training step >= 0, got {value!r}")
    return float(value)

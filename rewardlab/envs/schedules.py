"""Weight schedules for reward terms: a weight as a function of the env steps taken so far.

Each schedule maps an array of step counts (one per env) to weights, in numpy (the
formulas are :mod:`rewardlab.schedules`'s, shared with the pipeline's weight schedules),
so the vector wrapper evaluates it once per step. They are frozen dataclasses,
so a wrapped env still pickles into an ``AsyncVectorEnv`` worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rewardlab.envs._base import check_count, check_number
from rewardlab.errors import SpecError
from rewardlab.schedules import anneal, piecewise  # the formulas the pipeline's weight schedules use


@dataclass(frozen=True)
class _Anneal:
    """From ``start`` at t = 0 to ``end`` at t = ``steps``, then constant."""

    start: float
    end: float
    steps: int

    def __post_init__(self) -> None:
        where = type(self).__name__.lower()
        check_count(self.steps, f"{where} schedule: steps")
        for name in ("start", "end"):
            check_number(getattr(self, name), f"{where} schedule: {name}")


@dataclass(frozen=True)
class Linear(_Anneal):
    """w(t) = start + (end − start)·min(t / steps, 1)."""

    def __call__(self, t: np.ndarray) -> np.ndarray:
        return np.asarray(anneal("linear", self.start, self.end, self.steps, t))


@dataclass(frozen=True)
class Cosine(_Anneal):
    """w(t) = end + (start − end)·(1 + cos(π·min(t / steps, 1)))/2 (Loshchilov & Hutter 2017, SGDR eq. 5)."""

    def __call__(self, t: np.ndarray) -> np.ndarray:
        return np.asarray(anneal("cosine", self.start, self.end, self.steps, t))


@dataclass(frozen=True)
class Step:
    """w(t) = values[i] for boundaries[i−1] <= t < boundaries[i] (piecewise constant)."""

    values: Sequence[float]
    boundaries: Sequence[int]

    def __post_init__(self) -> None:
        for v in self.values:
            check_number(v, "step schedule: each value")
        for b in self.boundaries:
            check_number(b, "step schedule: each boundary", "an integer step count", integer=True)
        if len(self.values) != len(self.boundaries) + 1 or list(self.boundaries) != sorted(set(self.boundaries)):
            raise SpecError(
                f"step schedule: need one more value than boundaries and increasing boundaries "
                f"(got values={list(self.values)}, boundaries={list(self.boundaries)})"
            )

    def __call__(self, t: np.ndarray) -> np.ndarray:
        return np.asarray(piecewise(self.values, self.boundaries, np.asarray(t)))


Schedule = Linear | Cosine | Step

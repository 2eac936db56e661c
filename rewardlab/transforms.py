"""Reward transforms: array in, array out, ``NaN`` (unscorable) kept as ``NaN``.

A transform applies to one component or to the combined reward. Stateful
transforms (running normalisation, fitted length debiasing) expose their state
with :meth:`Transform.state_dict` and can be frozen for evaluation.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from rewardlab.batch import BatchContext
from rewardlab.errors import validate_params
from rewardlab.registry import register


class Transform:
    """Base class: subclasses set ``name``, ``Params`` and implement :meth:`apply`."""

    name: ClassVar[str] = "transform"
    Params: ClassVar[type[BaseModel]]

    def __init__(self, **params: Any) -> None:
        self.params: Any = validate_params(self.Params, params, f"transform {self.name!r}")
        self.frozen = False

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        out = self.apply(np.asarray(values, dtype=np.float64), ctx)
        out = np.asarray(out, dtype=np.float64)
        out[np.isnan(values)] = np.nan  # unscorable stays unscorable
        return out

    def freeze(self) -> None:
        """Stop updating state (evaluation mode)."""
        self.frozen = True

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"transform {self.name!r} is stateless; got state {sorted(state)}")


class ClipParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ClipParams:
        if self.low is None and self.high is None:
            raise ValueError("give at least one of 'low' and 'high'")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"'low' ({self.low}) must not exceed 'high' ({self.high})")
        return self


@register("transform", "clip")
class Clip(Transform):
    """Clip values to [low, high] (either bound optional)."""

    name = "clip"
    Params = ClipParams

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        return np.clip(values, self.params.low, self.params.high)

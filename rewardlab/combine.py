"""Combiners: many reward components -> one reward per sample.

Input is a mapping of component name -> float array (``NaN`` = unscorable) and
the spec's weights. Unless a combiner documents otherwise, a sample with any
unscorable component gets an unscorable (``NaN``) combined reward.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from rewardlab.batch import BatchContext
from rewardlab.core import NoParams
from rewardlab.errors import validate_params
from rewardlab.registry import register


class Combiner:
    """Base class: subclasses set ``name``, ``Params`` and implement :meth:`combine`."""

    name: ClassVar[str] = "combiner"
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, **params: Any) -> None:
        self.params: Any = validate_params(self.Params, params, f"combiner {self.name!r}")

    def combine(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        raise NotImplementedError

    def __call__(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        return np.asarray(self.combine(components, weights, ctx), dtype=np.float64)


def stack(components: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Components as a (n_components, n_samples) matrix and the weight vector."""
    names = list(components)
    matrix = np.vstack([np.asarray(components[n], dtype=np.float64) for n in names])
    w = np.array([weights.get(n, 1.0) for n in names], dtype=np.float64)
    return matrix, w


@register("combiner", "weighted_sum")
class WeightedSum(Combiner):
    """Sum of weight * component; unscorable if any component is."""

    name = "weighted_sum"

    def combine(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        matrix, w = stack(components, weights)
        return w @ matrix if matrix.size else np.zeros(len(ctx))

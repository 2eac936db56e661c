"""Group advantage estimators, vectorised over the whole batch.

Input: the combined reward per sample (``NaN`` = unscorable) and a
:class:`~rewardlab.batch.BatchContext` with group codes. Output: an advantage per
sample, ``NaN`` where none is defined (unscorable samples, groups with fewer than
two scorable members).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from rewardlab.batch import BatchContext
from rewardlab.errors import validate_params
from rewardlab.registry import register

EPS = 1e-6


class AdvantageEstimator:
    """Base class: subclasses set ``name``, ``Params`` and implement :meth:`estimate`."""

    name: ClassVar[str] = "advantage"
    Params: ClassVar[type[BaseModel]]

    def __init__(self, **params: Any) -> None:
        self.params: Any = validate_params(self.Params, params, f"advantage {self.name!r}")

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        raise NotImplementedError

    def __call__(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        return np.asarray(self.estimate(rewards, ctx, components, weights), dtype=np.float64)


def group_stats(values: np.ndarray, ctx: BatchContext, ddof: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample (count, mean, std) of its group's scorable values (NaN excluded).

    Computed with ``bincount`` over group codes: no Python loop per group.
    """
    ok = ~np.isnan(values)
    idx = ctx.group_index
    v = np.where(ok, values, 0.0)
    n = np.bincount(idx, weights=ok.astype(np.float64), minlength=ctx.n_groups)
    s = np.bincount(idx, weights=v, minlength=ctx.n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / n
        dev = np.where(ok, values - mean[idx], 0.0)
        ss = np.bincount(idx, weights=dev * dev, minlength=ctx.n_groups)
        std = np.sqrt(ss / (n - ddof))
    return n[idx], mean[idx], std[idx]


class GRPOParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unbiased_std: bool = True  # verl uses torch.std (unbiased, ddof=1)
    eps: float = EPS


@register("advantage", "grpo")
class GRPO(AdvantageEstimator):
    """GRPO: A_i = (R_i - mean R) / (std R + eps) within each group.

    Shao et al. 2024 (DeepSeekMath, arXiv 2402.03300), outcome supervision; std is
    unbiased by default to match verl's ``compute_grpo_outcome_advantage``.
    """

    name = "grpo"
    Params = GRPOParams

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        n, mean, std = group_stats(rewards, ctx, ddof=1 if self.params.unbiased_std else 0)
        adv = (rewards - mean) / (std + self.params.eps)
        adv[n < 2] = np.nan
        return adv

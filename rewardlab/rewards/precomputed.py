"""Rewards computed elsewhere, read from the input rows."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.registry import register


class PrecomputedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = "reward"


@register("reward", "precomputed")
class Precomputed(BaseReward):
    """A score already in the row: ``row[key]`` or ``row["rewards"][key]`` (null = missing).

    Lets ``rewardlab score`` shape, combine and compute advantages for rollouts
    scored by another system.
    """

    name = "precomputed"
    reads = ("meta",)
    Params = PrecomputedParams

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        key = self.params.key
        value = sample.meta.get(key)
        nested = sample.meta.get("rewards")
        if value is None and isinstance(nested, dict):
            value = nested.get(key)
        if value is None:
            return Score.unscorable(Status.MISSING, f"the row has no precomputed {key!r} value")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return Score.unscorable(Status.ERROR, f"precomputed {key!r} is not a number: {value!r}")
        if not math.isfinite(value):
            return Score.unscorable(Status.MISSING, f"precomputed {key!r} is {value!r}")
        return Score.ok(float(value))

    def check(self, sample: Sample) -> str | None:
        score = self.score_one(sample, {})
        return None if score.status is Status.OK else str(score.detail.get("reason"))

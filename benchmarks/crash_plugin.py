"""A reward for the load test that kills its worker process on a marker (``os._exit``), else scores 0.0."""

from __future__ import annotations

import os

from rewardlab.core import BaseReward, CostClass, Deps, Sample, Score
from rewardlab.registry import register

MARKER = "@@CRASH@@"


@register("reward", "bench.crash")
class CrashReward(BaseReward):
    """Runs in the process pool; a completion containing MARKER kills the worker."""

    name = "bench.crash"
    cost = CostClass.CPU
    reads = ("completion",)

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        if MARKER in sample.completion_text:
            os._exit(7)
        return Score.ok(0.0)


@register("reward", "bench.crash_inline")
class InlineCrashReward(CrashReward):
    """Runs where the pipeline runs (the server's scoring process): the marker kills that process."""

    name = "bench.crash_inline"
    cost = CostClass.INLINE

"""Rewards used by the tests: registered through the spec's ``plugins`` key."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from rewardlab.core import BaseReward, CostClass, Deps, Sample, Score
from rewardlab.registry import register


class BehaveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    log: str | None = None  # append one line per computation, to count calls across processes
    sleep: float = 0.0


def _log(path: str | None, sample: Sample) -> None:
    if path:
        with Path(path).open("a") as f:
            f.write(f"{os.getpid()} {sample.completion_text}\n")


def behave(sample: Sample, params: BehaveParams) -> Score:
    """Completion text drives behaviour: hang, boom, die, else the text length."""
    text = sample.completion_text
    _log(params.log, sample)
    if params.sleep:
        time.sleep(params.sleep)
    if text == "hang":
        while True:
            pass
    if text == "swallow":  # a loop that swallows every exception it can
        while True:
            try:
                time.sleep(0.01)
            except BaseException:
                continue
    if text == "boom":
        raise ValueError("boom happened")
    if text == "surrogate":  # text no UTF-8 writer accepts, in detail and in an exception message
        return Score.ok(1.0, note="lone " + chr(0xD800))
    if text == "boom-surrogate":
        raise ValueError("bad " + chr(0xDC80))
    if text == "alloc":  # far more memory than the engine's memory limit allows
        block = bytearray(4 << 30)
        return Score.ok(float(len(block)))
    if text == "die":
        os._exit(3)
    return Score.ok(float(len(text)))


@register("reward", "test.cpu")
class CpuReward(BaseReward):
    """Test reward run in the process pool."""

    name = "test.cpu"
    cost = CostClass.CPU
    reads = ("completion",)
    Params = BehaveParams

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        return behave(sample, self.params)


@register("reward", "test.inline")
class InlineReward(BaseReward):
    """Test reward run inline (hang/die not allowed here)."""

    name = "test.inline"
    reads = ("completion",)
    Params = BehaveParams

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        return behave(sample, self.params)

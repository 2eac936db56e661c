"""Length rewards: DAPO overlong punishment, cosine length scaling, Kimi k1.5 length reward."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rewardlab.batch import LENGTH_META_KEYS, completion_length
from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.registry import register

Unit = Literal["auto", "tokens", "words", "chars"]


def _length(sample: Sample, unit: str) -> tuple[int, str]:
    """(length, unit actually used): ``auto`` is tokens from meta when present, else words."""
    if unit == "auto":
        has_tokens = any(isinstance(sample.meta.get(k), (int, float)) for k in LENGTH_META_KEYS)
        return completion_length(sample, "auto"), "tokens" if has_tokens else "words"
    return completion_length(sample, unit), unit


class OverlongParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_tokens: int = Field(..., gt=0, description="L_max")
    buffer: int = Field(..., gt=0, description="L_cache, the soft-punishment interval")
    unit: Unit = "auto"

    @model_validator(mode="after")
    def _fits(self) -> OverlongParams:
        if self.buffer > self.max_tokens:
            raise ValueError(f"buffer ({self.buffer}) must not exceed max_tokens ({self.max_tokens})")
        return self


def dapo_overlong(length: int, max_tokens: int, buffer: int) -> float:
    """DAPO soft overlong punishment (Yu et al. 2025, arXiv 2503.14476, Eq. 13).

    0 if |y| <= L_max - L_cache; ((L_max - L_cache) - |y|) / L_cache if
    L_max - L_cache < |y| <= L_max; -1 beyond L_max.

    >>> dapo_overlong(100, 4096, 512), dapo_overlong(3840, 4096, 512), dapo_overlong(5000, 4096, 512)
    (0.0, -0.5, -1.0)
    """
    expected = max_tokens - buffer
    if length <= expected:
        return 0.0
    if length <= max_tokens:
        return (expected - length) / buffer
    return -1.0


@register("reward", "length.overlong")
class Overlong(BaseReward):
    """DAPO soft overlong punishment: 0 up to L_max - buffer, then linear down to -1."""

    name = "length.overlong"
    reads = ("completion", "meta")
    Params = OverlongParams

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        length, unit = _length(sample, self.params.unit)
        value = dapo_overlong(length, self.params.max_tokens, self.params.buffer)
        return Score.ok(value, length=length, unit=unit)


def _correctness(sample: Sample, deps: Deps, source: str, threshold: float) -> bool | Score:
    """Whether the sample is correct, from the component ``source`` or ``meta[source]``.

    Returns an unscorable :class:`Score` when correctness is unknown.
    """
    dep = deps.get(source)
    if dep is not None:
        if dep.value is None:
            return Score.unscorable(
                Status.MISSING, f"correctness component {source!r} is unscorable ({dep.status.value})"
            )
        return dep.value >= threshold
    value = sample.meta.get(source)
    if isinstance(value, (bool, int, float)):
        return float(value) >= threshold
    return Score.unscorable(
        Status.MISSING, f"no correctness: no component or meta key {source!r} for this sample"
    )


class CosineParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    correctness: str = Field("correct", description="component (or meta key) saying correct")
    threshold: float = Field(1.0, description="correct when that value >= threshold")
    max_tokens: int = Field(..., gt=0, description="T, the generation limit")
    r_c0: float = 2.0
    r_cL: float = 1.0
    r_w0: float = -10.0
    r_wL: float = 0.0
    r_e: float = -10.0
    unit: Unit = "auto"


def cosine_schedule(t: float, horizon: float, start: float, end: float) -> float:
    """Cosine interpolation from ``start`` at t=0 to ``end`` at t=T.

    CosFn of Yeo et al. 2025 (arXiv 2502.03373, Eq. 1): end + 0.5 (start - end)(1 + cos(pi t/T)).

    >>> cosine_schedule(0, 100, 2.0, 1.0), cosine_schedule(100, 100, 2.0, 1.0)
    (2.0, 1.0)
    """
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * t / horizon))


@register("reward", "length.cosine")
class Cosine(BaseReward):
    """Cosine length scaling keyed on correctness (arXiv 2502.03373).

    Correct: r_c0 at length 0 down to r_cL at T (shorter is better); wrong: r_w0 at 0
    up to r_wL at T (longer thinking is penalised less); r_e when the generation hit
    the limit (length >= T). Paper defaults r_c0=2, r_cL=1, r_w0=-10, r_wL=0, r_e=-10.
    """

    name = "length.cosine"
    reads = ("completion", "meta")
    Params = CosineParams

    def requires(self) -> tuple[str, ...]:
        return (self.params.correctness,) if self.params.correctness else ()

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        p = self.params
        correct = _correctness(sample, deps, p.correctness, p.threshold)
        if isinstance(correct, Score):
            return correct
        length, unit = _length(sample, p.unit)
        if length >= p.max_tokens:
            return Score.ok(p.r_e, length=length, unit=unit, correct=correct, truncated=True)
        start, end = (p.r_c0, p.r_cL) if correct else (p.r_w0, p.r_wL)
        value = cosine_schedule(length, p.max_tokens, start, end)
        return Score.ok(value, length=length, unit=unit, correct=correct)


class KimiParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    correctness: str = Field("correct", description="component (or meta key) saying correct")
    threshold: float = 1.0
    unit: Unit = "auto"


@register("reward", "length.kimi")
class KimiLength(BaseReward):
    """Kimi k1.5 group-relative length reward (arXiv 2501.12599, Sec. 2.3.3).

    lambda_i = 0.5 - (len_i - min len) / (max len - min len) over the group's
    responses; reward lambda_i if correct, min(0, lambda_i) if wrong; 0 for every
    member when all lengths are equal. All members' lengths define min and max;
    a member whose correctness is unscorable gets ``None`` (status ``missing``).
    """

    name = "length.kimi"
    reads = ("completion", "meta")
    group_level = True
    Params = KimiParams

    def requires(self) -> tuple[str, ...]:
        return (self.params.correctness,) if self.params.correctness else ()

    def score_group(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        p = self.params
        lengths = [_length(s, p.unit)[0] for s in samples]
        lo, hi = min(lengths), max(lengths)
        out = []
        for sample, dep, length in zip(samples, deps, lengths, strict=True):
            correct = _correctness(sample, dep, p.correctness, p.threshold)
            if isinstance(correct, Score):
                out.append(correct)
                continue
            lam = 0.0 if hi == lo else 0.5 - (length - lo) / (hi - lo)
            out.append(Score.ok(lam if correct else min(0.0, lam), length=length, correct=correct))
        return out

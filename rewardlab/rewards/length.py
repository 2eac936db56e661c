"""Length rewards: DAPO overlong punishment, cosine length scaling, Kimi k1.5 length reward."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rewardlab.batch import TOKEN_ESTIMATE, completion_length, estimate_tokens, meta_token_count
from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.errors import SpecError, require_extra
from rewardlab.registry import register

Unit = Literal["auto", "tokens", "words", "chars"]
TOKENIZER_HELP = "local path of a Hugging Face tokenizer for exact counts when the trainer gives none"


class _LengthReward(BaseReward):
    """A reward on the completion's length, in ``params.unit``.

    ``auto`` and ``tokens``: the trainer's token count from ``meta`` when there is one,
    else ``params.tokenizer``'s count when one is named; ``auto`` then falls back to the
    tokenizer-free estimate :func:`~rewardlab.batch.estimate_tokens`. ``detail`` says which.
    """

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._tokenizer = _load_tokenizer(self.params.tokenizer) if self.params.tokenizer else None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tokenizer": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tokenizer = _load_tokenizer(self.params.tokenizer) if self.params.tokenizer else None

    def length(self, sample: Sample) -> tuple[int, dict[str, Any]]:
        """(length, detail naming the unit and how it was counted)."""
        unit = self.params.unit
        if unit in ("auto", "tokens"):
            count = meta_token_count(sample)
            if count is not None:
                return count, {"unit": "tokens"}
            if self._tokenizer is not None:
                ids = self._tokenizer(sample.completion_text, add_special_tokens=False)["input_ids"]
                return len(ids), {"unit": "tokens", "tokenizer": self.params.tokenizer}
            if unit == "auto":
                return estimate_tokens(sample.completion_text), {"unit": "estimated_tokens",
                                                                 "estimate": TOKEN_ESTIMATE}
        return completion_length(sample, unit), {"unit": unit}


def _load_tokenizer(path: str) -> Any:
    """A tokenizer from a local directory (no hub download), or a SpecError saying why not."""
    require_extra("models", "tokenizer", "transformers", error=SpecError)
    from transformers import AutoTokenizer
    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise SpecError(f"tokenizer {path!r} could not be loaded from a local path: {type(exc).__name__}: {exc}"
                        ) from None


class OverlongParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_tokens: int = Field(..., gt=0, description="L_max")
    buffer: int = Field(..., gt=0, description="L_cache, the soft-punishment interval")
    unit: Unit = "auto"
    tokenizer: str | None = Field(None, description=TOKENIZER_HELP)

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
class Overlong(_LengthReward):
    """DAPO soft overlong punishment: 0 up to L_max - buffer, then linear down to -1.

    Lengths in tokens: the trainer's count (``meta``), else a named ``tokenizer``'s, else
    the estimate ``max(words, ceil(chars / 4))``, so a long completion without spaces is
    not one word; ``detail`` says which.

    A penalty only: an empty completion scores 0, as in DAPO's Eq. 13 and verl's DAPO
    reward manager (``min(-exceed / buffer, 0)``), so it beats any long one. DAPO adds it
    to a +/-1 correctness reward, where an empty answer (-1) still beats a truncated wrong
    one (-2). Alone or in a weighted sum it pays for saying nothing (``rewardlab audit``
    fails it on ``empty``); put it behind a format gate (``examples/spec_gated.toml``,
    docs/audit.md) so that an empty answer ties the worst formatted one.
    """

    name = "length.overlong"
    reads = ("completion", "meta")
    Params = OverlongParams

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        length, how = self.length(sample)
        value = dapo_overlong(length, self.params.max_tokens, self.params.buffer)
        return Score.ok(value, length=length, **how)


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
    tokenizer: str | None = Field(None, description=TOKENIZER_HELP)


def cosine_schedule(t: float, horizon: float, start: float, end: float) -> float:
    """Cosine interpolation from ``start`` at t=0 to ``end`` at t=T.

    CosFn of Yeo et al. 2025 (arXiv 2502.03373, Eq. 1): end + 0.5 (start - end)(1 + cos(pi t/T)).

    >>> cosine_schedule(0, 100, 2.0, 1.0), cosine_schedule(100, 100, 2.0, 1.0)
    (2.0, 1.0)
    """
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * t / horizon))


@register("reward", "length.cosine")
class Cosine(_LengthReward):
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
        length, how = self.length(sample)
        if length >= p.max_tokens:
            return Score.ok(p.r_e, length=length, **how, correct=correct, truncated=True)
        start, end = (p.r_c0, p.r_cL) if correct else (p.r_w0, p.r_wL)
        value = cosine_schedule(length, p.max_tokens, start, end)
        return Score.ok(value, length=length, **how, correct=correct)


class KimiParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    correctness: str = Field("correct", description="component (or meta key) saying correct")
    threshold: float = 1.0
    unit: Unit = "auto"
    tokenizer: str | None = Field(None, description=TOKENIZER_HELP)


@register("reward", "length.kimi")
class KimiLength(_LengthReward):
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
        measured = [self.length(s) for s in samples]
        lengths = [n for n, _ in measured]
        lo, hi = min(lengths), max(lengths)
        out = []
        for sample, dep, (length, how) in zip(samples, deps, measured, strict=True):
            correct = _correctness(sample, dep, p.correctness, p.threshold)
            if isinstance(correct, Score):
                out.append(correct)
                continue
            lam = 0.0 if hi == lo else 0.5 - (length - lo) / (hi - lo)
            out.append(Score.ok(lam if correct else min(0.0, lam), length=length, **how, correct=correct))
        return out

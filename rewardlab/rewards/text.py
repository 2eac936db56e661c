"""Text rewards: exact match with configurable normalisation, reasoning-pattern counts."""

from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.registry import register

Step = Literal["strip", "lower", "collapse_whitespace", "remove_punctuation", "remove_articles"]
DEFAULT_STEPS: tuple[Step, ...] = ("strip", "collapse_whitespace")
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)
_PUNCT = str.maketrans("", "", string.punctuation)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def normalize_text(text: str, steps: list[Step]) -> str:
    """Apply normalisation steps in order.

    >>> steps = ["lower", "remove_punctuation", "remove_articles", "collapse_whitespace"]
    >>> normalize_text("  The  Cat. ", steps)
    'cat'
    """
    for step in steps:
        if step == "strip":
            text = text.strip()
        elif step == "lower":
            text = text.lower()
        elif step == "collapse_whitespace":
            text = " ".join(text.split())
        elif step == "remove_punctuation":
            text = text.translate(_PUNCT)
        elif step == "remove_articles":
            text = _ARTICLES.sub(" ", text)
    return text


class ExactMatchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    normalize: list[Step] = Field(default_factory=lambda: list(DEFAULT_STEPS))
    extract: Literal["full", "answer_tag"] = "full"


@register("reward", "text.exact_match")
class ExactMatch(BaseReward):
    """1.0 if the (extracted, normalised) completion equals the reference (or one of a list).

    ``extract = "answer_tag"`` compares only the last ``<answer>…</answer>`` block;
    without one the sample is ``no_answer`` (0.0).
    """

    name = "text.exact_match"
    needs_reference = True
    Params = ExactMatchParams

    def _references(self, sample: Sample) -> list[str] | None:
        ref = sample.reference
        refs = ref if isinstance(ref, list) else [ref]
        if not refs or not all(isinstance(r, (str, int, float)) and not isinstance(r, bool)
                                for r in refs):
            return None
        return [normalize_text(str(r), self.params.normalize) for r in refs]

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        refs = self._references(sample)
        if refs is None or not any(refs):
            return Score.unscorable(Status.INVALID_REFERENCE,
                                    f"reference must be text or a list of texts, got {sample.reference!r}")
        text = sample.completion_text
        if self.params.extract == "answer_tag":
            found = _ANSWER.findall(text)
            if not found:
                return Score.no_answer(0.0, reason="no <answer>…</answer> block")
            text = found[-1]
        candidate = normalize_text(text, self.params.normalize)
        return Score.ok(float(candidate in refs), extracted=candidate[:200])

    def check(self, sample: Sample) -> str | None:
        problem = super().check(sample)
        if problem:
            return problem
        refs = self._references(sample)
        if refs is None or not any(refs):
            return f"reference must be text or a list of texts, got {sample.reference!r}"
        return None


DEFAULT_PHRASES = [
    "first, i need to", "let me check", "let me verify", "let's verify", "double-check",
    "wait", "alternatively", "on second thought", "step by step", "therefore",
    "so the answer is", "let me re-examine", "hmm",
]


class PatternParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phrases: list[str] = Field(default_factory=lambda: list(DEFAULT_PHRASES), min_length=1)
    cap: int = Field(5, ge=1, description="counts above cap give no more reward")
    normalize: bool = True  # divide by cap, so the value is in [0, 1]


@register("reward", "text.reasoning_pattern")
class ReasoningPattern(BaseReward):
    """Count of key reasoning phrases (case-insensitive, whole words), capped.

    Value min(count, cap), divided by cap when ``normalize`` (default).
    """

    name = "text.reasoning_pattern"
    reads = ("completion",)
    Params = PatternParams

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        alternatives = "|".join(re.escape(p.lower()) for p in self.params.phrases)
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        count = len(self._pattern.findall(sample.completion_text))
        capped = min(count, self.params.cap)
        value = capped / self.params.cap if self.params.normalize else float(capped)
        return Score.ok(value, count=count)

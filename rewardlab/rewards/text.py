"""Text rewards: exact match with configurable normalisation, the reasoning pattern reward."""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.registry import register
from rewardlab.rewards.answer import last_answer_block

Repetition = Literal["duplicates", "released"]
Step = Literal["strip", "lower", "collapse_whitespace", "remove_punctuation", "remove_articles"]
DEFAULT_STEPS: tuple[Step, ...] = ("strip", "collapse_whitespace")
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)
_PUNCT = str.maketrans("", "", string.punctuation)


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
            block = last_answer_block(text)
            if block is None:
                return Score.no_answer(0.0, reason="no <answer>…</answer> block")
            text = block
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


# The phrase list of the paper's released math reward (``think_reward`` in
# trestad/Noisy-Rewards-in-Learning-to-Reason, verl/utils/reward_score/math_score.py),
# matched as there: lower-cased substrings (so "wait" also matches "waiting").
DEFAULT_PHRASES = [
    "i need to", "we need to", "wait", "alternatively", "let me check", "let me see",
    "let's focus on", "we know that", "we can observe ", "we can see ", "let me try", "let's try",
    "let us try", "first, ", "firstly, ", "next, ", "finally, ", "let us first", "let's first",
    "let me first", "try again", "still not", "not working", "not correct", "does not work",
    "doesn't work", "makes sence", "since we ", "because we ", "consequently", "as a result",
    "thus", "therefore", "hence", "so that", "thereby", "if we", "given there ", "for instance ",
    "for example ",
]


class PatternParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phrases: list[str] = Field(default_factory=lambda: list(DEFAULT_PHRASES), min_length=1)
    cap: int = Field(20, ge=1, description="distinct phrases for the full reward")
    normalize: bool = True  # divide by cap, so the value is in [0, 1]
    ngram: int = Field(20, ge=0, description="n of the repetition penalty (0: none)")
    repetition: Repetition = Field("duplicates", description="'released': the paper code's statistic")
    penalty_phrases: list[str] = Field(default_factory=lambda: ["user: "])


def ngram_repetition_ratio(text: str, n: int, statistic: Repetition = "duplicates") -> float:
    """How repetitive ``text`` is, over its word n-grams (0 when it has none).

    ``duplicates``: the share of n-grams that repeat an earlier one, 1 - distinct/total
    (Yeo et al. 2025, arXiv 2502.03373, App. C.2); k copies of a text give 1 - 1/k.
    ``released``: distinct n-grams that occur more than once, over all n-grams, as RPR's
    released code computes it; k copies give about 1/k, so more copies cost less.

    >>> text = " ".join(f"w{i}" for i in range(30))
    >>> [round(ngram_repetition_ratio(" ".join([text] * k), 20, "duplicates"), 2) for k in (1, 3, 10)]
    [0.0, 0.58, 0.89]
    >>> [round(ngram_repetition_ratio(" ".join([text] * k), 20, "released"), 2) for k in (1, 3, 10)]
    [0.0, 0.42, 0.11]
    """
    words = text.split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    counts = Counter(grams)
    if statistic == "duplicates":
        return 1.0 - len(counts) / len(grams)
    return sum(1 for c in counts.values() if c > 1) / len(grams)


@register("reward", "text.reasoning_pattern")
class ReasoningPattern(BaseReward):
    """Reasoning Pattern Reward: distinct key reasoning phrases, minus a repetition penalty.

    Lv et al. 2025, "The Climb Carves Wisdom Deeper Than the Summit: On the Noisy
    Rewards in Learning to Reason" (arXiv 2505.22653), RPR as in its released
    ``think_reward``: r = max(0, min(k, cap) / cap - rho_n - #penalty phrases),
    k the number of *distinct* phrases present (lower-cased substrings; a phrase
    repeated counts once), cap = 20, rho_n the repetition of the word 20-grams, and
    each occurrence of a penalty phrase ("user: ", a model posing itself new
    questions) costs 1. ``normalize=false`` gives min(k, cap) without the penalties.

    rho_n is the share of 20-grams that repeat an earlier one (``repetition =
    "duplicates"``, the default), so k copies cost 1 - 1/k. The release divides the
    number of *distinct* repeated 20-grams by all 20-grams (``repetition = "released"``,
    for reproducing the paper): three copies cost about 1/3 there but thirty cost
    1/30, so a completion that loops scores almost as if it did not. Any added text
    that repeats nothing lowers either share (it is a share), and any added phrase
    raises k: this reward pays for reasoning *words*, which ``rewardlab audit`` shows;
    see docs/audit.md for pairing it.
    """

    name = "text.reasoning_pattern"
    reads = ("completion",)
    Params = PatternParams

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        p = self.params
        text = sample.completion_text.lower()
        count = sum(1 for phrase in dict.fromkeys(ph.lower() for ph in p.phrases) if phrase in text)
        capped = min(count, p.cap)
        if not p.normalize:
            return Score.ok(float(capped), count=count)
        repetition = ngram_repetition_ratio(text, p.ngram, p.repetition) if p.ngram else 0.0
        penalty = sum(text.count(ph.lower()) for ph in p.penalty_phrases)
        value = max(0.0, capped / p.cap - repetition - penalty)
        return Score.ok(value, count=count, repetition=round(repetition, 4), penalty=penalty)

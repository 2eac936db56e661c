"""The ``math`` reward: final-answer correctness against a reference answer."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.core import BaseReward, CostClass, Deps, Sample, Score, Status
from rewardlab.registry import register
from rewardlab.rewards.math.equivalence import (
    Parsed,
    Tolerance,
    Verdict,
    analyze,
    compare,
    warm_up,
)
from rewardlab.rewards.math.extract import DEFAULT_ORDER, Method, extract_answer


class MathParams(BaseModel):
    """Parameters of the ``math`` reward (all optional)."""

    model_config = ConfigDict(extra="forbid")

    extract: list[Method] = Field(
        default_factory=lambda: list(DEFAULT_ORDER),
        description="Answer extractors, in order of preference: boxed (last \\boxed{}), "
        "answer_tag (<answer>…</answer>), final_answer ('final answer is …', 'Answer: …'), "
        "gsm8k ('#### N'), last_number, last_expression (math-verify's extraction).",
    )
    lenient: bool = Field(
        False,
        description="Lenient extraction: when no marker is found, take the last mathematical "
        "expression of the completion, as math-verify does (off: an unmarked completion is "
        "no_answer; on, stray expressions in the reasoning can be taken as the answer).",
    )
    last_number_fallback: bool = Field(
        False, description="Fall back to the last number in the completion (off: it rewards guessing)."
    )
    correct_value: float = Field(1.0, description="Value of a correct answer.")
    incorrect_value: float = Field(0.0, description="Value of a wrong answer.")
    failure_value: float = Field(
        0.0, description="Value when no answer can be extracted (status no_answer)."
    )
    rel_tol: float = Field(
        1e-6, ge=0.0, le=0.1,
        description="Relative tolerance, used only when either side is a decimal.",
    )
    percent: Literal["both", "strict"] = Field(
        "both",
        description="both: 50% matches 50 and 0.5; strict: a percent sign must be on both sides.",
    )
    max_completion_chars: int | None = Field(
        None, gt=0,
        description="Search only the last this-many characters of a completion (None: all; "
        "extraction is linear-time, so long completions are safe).",
    )


def _reference_texts(reference: Any) -> list[str] | None:
    """The reference as one or more acceptable answer texts, or ``None`` if unusable."""
    if isinstance(reference, Mapping):
        reference = reference.get("answer", reference.get("solution"))
    if isinstance(reference, bool) or reference is None:
        return None
    if isinstance(reference, float):
        return [repr(reference)] if math.isfinite(reference) else None  # NaN: a missing value
    if isinstance(reference, int):
        return [str(reference)]
    if isinstance(reference, str):
        return [reference] if reference.strip() else None
    if isinstance(reference, (list, tuple)) and reference:
        texts = [_reference_texts(r) for r in reference]
        if any(t is None for t in texts):
            return None
        return [x for t in texts if t for x in t]
    return None


def parse_reference(reference: Any) -> tuple[list[Parsed], str]:
    """Parse a reference; returns the parsed alternatives, or ``[]`` and why it is invalid."""
    texts = _reference_texts(reference)
    if texts is None:
        if reference is None or isinstance(reference, (str, list, tuple)):
            return [], "reference is missing or empty"
        return [], f"reference of unsupported type {type(reference).__name__}"
    parsed = [analyze(t, "gold") for t in texts]
    for t, p in zip(texts, parsed, strict=True):
        if p.kind not in ("number", "expr", "choice", "text"):
            why = f": {' '.join(p.reason.split())}" if p.reason else ""
            return [], f"reference {t[:80]!r} is {p.kind}{why}"
    return parsed, ""


@register("reward", "math")
class MathReward(BaseReward):
    """Final-answer correctness for math (extraction, reference parsing, equivalence)."""

    name: ClassVar[str] = "math"
    description: ClassVar[str] = "Final-answer correctness for math, built on math-verify."
    cost: ClassVar[CostClass] = CostClass.CPU
    reads: ClassVar[tuple[str, ...]] = ("completion", "reference")
    needs_reference: ClassVar[bool] = True
    Params: ClassVar[type[BaseModel]] = MathParams

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled in a pool worker: also warm the LaTeX parser there (once per worker)."""
        self.__dict__.update(state)
        warm_up()

    def check(self, sample: Sample) -> str | None:
        """Why this sample's reference cannot be scored, or ``None``."""
        _, why = parse_reference(sample.reference)
        return why or None

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        p: MathParams = self.params
        golds, why = parse_reference(sample.reference)
        if not golds:
            return Score.unscorable(Status.INVALID_REFERENCE, why)
        gold_detail = " | ".join(g.describe() for g in golds)
        text = sample.completion_text
        if p.max_completion_chars is not None:
            text = text[-p.max_completion_chars :]
        found = extract_answer(text, p.extract, p.last_number_fallback, p.lenient)
        if found.answer is None:
            return Score.no_answer(p.failure_value, reason=found.reason, reference=gold_detail)
        pred = analyze(found.answer, "pred")
        tol = Tolerance(p.rel_tol, p.percent)
        verdicts = [compare(g, pred, tol) for g in golds]
        verdict = next((v for v in verdicts if v.correct), verdicts[0])
        detail = {
            "extracted": found.answer[:200],
            "method": found.method,
            "answer": pred.describe(),
            "reference": gold_detail,
            "decided_by": verdict.decided_by,
        }
        if _is_no_answer(pred, verdict):
            return Score.no_answer(p.failure_value, **detail)
        return Score.ok(p.correct_value if verdict.correct else p.incorrect_value, **detail)


def _is_no_answer(pred: Parsed, verdict: Verdict) -> bool:
    """An empty or placeholder answer that did not match: the model produced nothing usable."""
    return not verdict.correct and pred.kind in ("empty", "placeholder")

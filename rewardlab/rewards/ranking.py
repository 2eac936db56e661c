"""Ranking rewards: ``rank.ndcg`` and ``rank.recall_at_k`` (GroupRank's ranking metrics, seed row 172).

The completion is a ranking of item ids: the last ``<answer>`` block (else the whole text) read as
a JSON list, else as ids separated by ``>``, commas or new lines (``[3] > [1] > [2]`` as RankGPT
writes them: brackets are stripped). A repeated id counts at its first position only; ids the
reference does not know have gain 0. The reference is ``{"relevance": {id: gain}}`` or a list of
the relevant ids (gain 1 each).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.registry import register
from rewardlab.rewards.answer import answer_region

_SPLIT = re.compile(r"\s*(?:>|,|\n)\s*")
MAX_ITEMS = 10_000


def ranking(text: str) -> list[str]:
    """The ranked ids in a completion, first occurrence of each kept."""
    region = answer_region(text).strip()
    try:
        parsed = json.loads(region)
        items = [str(v) for v in parsed] if isinstance(parsed, list) else None
    except (json.JSONDecodeError, ValueError, RecursionError):
        items = None
    if items is None:
        items = [p.strip().strip("[]()").strip() for p in _SPLIT.split(region)]
    seen: dict[str, None] = {}
    for item in items[:MAX_ITEMS]:
        if item:
            seen.setdefault(item, None)
    return list(seen)


def gains(reference: Any) -> dict[str, float] | None:
    """Each id's relevance gain, or None for a malformed reference."""
    if isinstance(reference, dict):
        reference = reference.get("relevance")
    if isinstance(reference, list) and reference and all(isinstance(r, (str, int)) for r in reference):
        return {str(r): 1.0 for r in reference}
    if isinstance(reference, dict) and reference and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in reference.values()
    ):
        return {str(k): float(v) for k, v in reference.items()}
    return None


class RankParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int | None = Field(10, ge=1, description="cut-off; None ranks the whole list")
    gain: Literal["linear", "exponential"] = Field(
        "linear", description="linear: rel / log2(i + 1) (trec_eval, scikit-learn); exponential: (2^rel - 1)"
    )


def dcg(values: list[float], exponential: bool) -> float:
    """Discounted cumulative gain, position i (from 1) discounted by log2(i + 1) (Järvelin & Kekäläinen 2002)."""
    return sum(((2**g - 1) if exponential else g) / math.log2(i + 2) for i, g in enumerate(values))


class _Ranking(BaseReward):
    needs_reference = True
    Params = RankParams

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        relevance = gains(sample.reference)
        if relevance is None or not any(relevance.values()):
            return Score.unscorable(Status.INVALID_REFERENCE, self.check(sample) or "no relevant item")
        ranked = ranking(sample.completion_text)
        if not ranked:
            return Score.no_answer(0.0, reason="no ranking in the answer")
        return self.metric(ranked, relevance)

    def metric(self, ranked: list[str], relevance: dict[str, float]) -> Score:
        raise NotImplementedError

    def check(self, sample: Sample) -> str | None:
        relevance = gains(sample.reference)
        if relevance is None or not any(relevance.values()):
            return "reference must be {'relevance': {id: gain >= 0}} or a list of relevant ids, with one gain > 0"
        return None


@register("reward", "rank.ndcg")
class NDCG(_Ranking):
    """nDCG@k of the completion's ranking against graded relevance."""

    name = "rank.ndcg"

    def metric(self, ranked: list[str], relevance: dict[str, float]) -> Score:
        k = self.params.k or max(len(ranked), len(relevance))
        exponential = self.params.gain == "exponential"
        got = dcg([relevance.get(r, 0.0) for r in ranked[:k]], exponential)
        ideal = dcg(sorted(relevance.values(), reverse=True)[:k], exponential)
        return Score.ok(got / ideal, dcg=got, ideal_dcg=ideal, ranked=len(ranked))


@register("reward", "rank.recall_at_k")
class RecallAtK(_Ranking):
    """Share of the relevant ids (gain > 0) among the first k of the ranking."""

    name = "rank.recall_at_k"

    def metric(self, ranked: list[str], relevance: dict[str, float]) -> Score:
        relevant = {r for r, g in relevance.items() if g > 0}
        top = ranked[: self.params.k] if self.params.k else ranked
        hits = len(relevant.intersection(top))
        return Score.ok(hits / len(relevant), hits=hits, relevant=len(relevant))

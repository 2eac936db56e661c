"""``judge.pairwise``: the completion against the reference or against its group, both orders.

Each comparison is two games, the candidate shown first and then second (JudgeBench's
two games, Tan et al. 2024, arXiv 2410.12784), so a judge that prefers a position
cannot favour either answer. A game gives the candidate 1 (better), 0.5 (tie) or 0
(worse); the pair's value is the mean of the two games, so a judge that picks the same
position twice gives 0.5, reported as ``inconsistent``. A pair whose games cannot both
be read is unreadable; it is not counted as a tie.

``opponent = "reference"`` compares with the reference answer: 2 requests a sample.
``opponent = "group"`` is a round robin within each group: every pair of distinct,
non-empty completions once, so a group of k costs k(k-1) requests (2 per pair), and a
member's value is its mean over its opponents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from rewardlab.core import Deps, Sample, Score, Status
from rewardlab.judges import JudgeError, Reply
from rewardlab.judges.loop import run_sync
from rewardlab.judges.parse import parse_winner, tail
from rewardlab.judges.templates import render
from rewardlab.registry import register
from rewardlab.rewards.judge import JudgeParams, JudgeReward, reference_text, usage_of

_POINTS = {"A": 1.0, "B": 0.0, "tie": 0.5}  # the first-shown answer's points


class PairwiseParams(JudgeParams):
    opponent: Literal["reference", "group"] = Field(
        "reference", description="compare with the reference answer, or round robin within the group")


@dataclass
class Pair:
    """Both games of one comparison, from the candidate's side (``None``: unreadable)."""

    first: float | None = None  # the candidate shown as A
    second: float | None = None  # the candidate shown as B
    usage: dict[str, int] = field(default_factory=dict)
    problem: str = ""
    reply_tail: str = ""
    error: JudgeError | None = None

    @property
    def value(self) -> float | None:
        if self.first is None or self.second is None:
            return None
        return (self.first + self.second) / 2

    @property
    def inconsistent(self) -> bool:
        """One game says the candidate is better, the other worse: the judge picked a position."""
        if self.first is None or self.second is None:
            return False
        return (self.first - 0.5) * (self.second - 0.5) < 0

    def flipped(self) -> Pair:
        """The same pair from the opponent's side."""
        return Pair(_flip(self.second), _flip(self.first), {}, self.problem, self.reply_tail, self.error)


def _flip(points: float | None) -> float | None:
    return None if points is None else 1.0 - points


@register("reward", "judge.pairwise")
class PairwiseJudge(JudgeReward):
    """The completion against the reference or its group, both orders (position-debiased)."""

    name: ClassVar[str] = "judge.pairwise"
    Params: ClassVar[type[BaseModel]] = PairwiseParams
    builtin: ClassVar[str] = "pairwise"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.group_level = self.params.opponent == "group"  # type: ignore[misc]
        self.needs_reference = self.params.opponent == "reference"  # type: ignore[misc]

    def _game_points(self, replies: Sequence[Reply], candidate_first: bool) -> tuple[float | None, str, str]:
        points, problem, text = [], "", ""
        for reply in replies:
            for text in reply.texts:
                winner, why = parse_winner(text)
                if winner is None:
                    problem = why
                    continue
                p = _POINTS[winner]
                points.append(p if candidate_first else 1.0 - p)
        return (sum(points) / len(points) if points else None), problem, text

    async def pair(self, sample: Sample, candidate: str, other: str) -> Pair:
        """Both games of ``candidate`` against ``other`` (same question)."""
        def ask(a: str, b: str) -> Any:
            return self.ask(self.messages(render(self.template, sample, answer_a=a, answer_b=b)))

        try:
            first, second = await asyncio.gather(ask(candidate, other), ask(other, candidate))
        except JudgeError as exc:
            return Pair(error=exc, problem=exc.reason)
        out = Pair(usage=usage_of([*first, *second]))
        out.first, why1, tail1 = self._game_points(first, True)
        out.second, why2, tail2 = self._game_points(second, False)
        if out.value is None:
            out.problem, out.reply_tail = (why1, tail1) if out.first is None else (why2, tail2)
        return out

    async def ascore_one(self, sample: Sample, deps: Deps) -> Score:
        reference = reference_text(sample.reference)
        if reference is None:
            return Score.unscorable(Status.INVALID_REFERENCE, "missing or empty reference")
        if not sample.completion_text.strip():
            return Score.no_answer(0.0, reason="empty completion (no judge request sent)")
        return _member_score([await self.pair(sample, sample.completion_text, reference)])

    def score_group(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        if len(samples) < 2:
            return [Score.unscorable(Status.MISSING, "a round robin needs another member in the group")]
        return run_sync(self._round_robin(samples))

    async def _round_robin(self, samples: Sequence[Sample]) -> list[Score]:
        texts = [s.completion_text for s in samples]
        n = len(samples)
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        asked = [(i, j) for i, j in pairs if texts[i].strip() and texts[j].strip() and texts[i] != texts[j]]
        results = dict(zip(asked, await asyncio.gather(
            *(self.pair(samples[i], texts[i], texts[j]) for i, j in asked)), strict=True))
        outcomes: list[list[Pair]] = [[] for _ in range(n)]
        for i, j in pairs:
            pair = results.get((i, j)) or _unasked(texts[i], texts[j])
            outcomes[i].append(pair)
            outcomes[j].append(pair.flipped())  # usage stays with i: summed once over the group
        return [Score.no_answer(0.0, reason="empty completion") if not texts[k].strip()
                else _member_score(outcomes[k]) for k in range(n)]


def _unasked(a: str, b: str) -> Pair:
    """A pair decided without a request: identical answers tie; a blank answer loses."""
    if a == b or not (a.strip() or b.strip()):
        return Pair(0.5, 0.5)
    return Pair(1.0, 1.0) if a.strip() else Pair(0.0, 0.0)


def _member_score(pairs: Sequence[Pair]) -> Score:
    readable = [p for p in pairs if p.value is not None]
    usage: dict[str, int] = {}
    for p in pairs:
        for k, v in p.usage.items():
            usage[k] = usage.get(k, 0) + v
    if not readable:
        last = pairs[-1]
        if last.error is not None:
            return Score.unscorable(last.error.status, last.error.reason, usage=usage)
        return Score.unscorable(Status.JUDGE_PARSE_ERROR, last.problem, reply_tail=tail(last.reply_tail),
                                usage=usage)
    values = [p.value for p in readable if p.value is not None]
    return Score.ok(
        sum(values) / len(values), opponents=len(readable), wins=sum(v > 0.5 for v in values),
        losses=sum(v < 0.5 for v in values), ties=sum(v == 0.5 for v in values),
        inconsistent=sum(p.inconsistent for p in readable), unreadable=len(pairs) - len(readable),
        usage=usage)

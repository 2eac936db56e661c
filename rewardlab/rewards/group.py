"""Label-free group rewards: TTRL's majority vote and Co-Reward's cross-question agreement.

Both take the place of a reference answer with the group's own consensus. Answers are
found with the ``math`` reward's extraction and grouped with its equivalence (so
``1/2``, ``0.5`` and ``\\frac12`` are one vote), never by string equality.

Statuses, per member: a member with no extractable answer is a scored failure
(``no_answer``, 0.0: it would be wrong against any label). When the group has no
consensus (no member has an answer, the top answers tie, or the majority's share is
below ``min_share``), the other members are unscorable (``no_consensus``, ``None``):
there is no label to score them against, and a made-up 0 would punish a right answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.registry import register
from rewardlab.rewards.math import Parsed, Tolerance, analyze, compare, extract_answer
from rewardlab.rewards.math.extract import DEFAULT_ORDER, Method


class MajorityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    extract: list[Method] = Field(default_factory=lambda: list(DEFAULT_ORDER),
                                  description="answer extractors, as in the math reward")
    last_number_fallback: bool = False
    rel_tol: float = Field(1e-6, ge=0.0, le=0.1)
    percent: Literal["both", "strict"] = "both"
    min_share: float = Field(0.0, ge=0.0, le=1.0,
                             description="the majority needs at least this share of the group's members")
    correct_value: float = 1.0
    incorrect_value: float = 0.0


@dataclass(frozen=True)
class Vote:
    """A group's answers clustered by equivalence, and its majority (``label`` None: none)."""

    answers: list[str | None]  # each member's extracted answer
    cluster: list[int | None]  # each member's cluster (None: no answer)
    label: int | None  # the majority cluster
    why: str  # why there is no label
    share: float  # the majority's votes / members

    def describe(self, k: int | None) -> str | None:
        return None if k is None else next(a for a, c in zip(self.answers, self.cluster, strict=True)
                                           if c == k)


def _parsed(answer: str) -> Parsed | None:
    parsed = analyze(answer, "pred")
    return None if parsed.kind in ("empty", "placeholder") else parsed


def vote(samples: Sequence[Sample], p: MajorityParams) -> Vote:
    """Extract, cluster by the math reward's equivalence, and find the majority (TTRL)."""
    tol = Tolerance(p.rel_tol, p.percent)
    answers: list[str | None] = []
    cluster: list[int | None] = []
    reps: list[str] = []  # each cluster's first answer, compared as the "gold" side
    for sample in samples:
        found = extract_answer(sample.completion_text, p.extract, p.last_number_fallback).answer
        parsed = _parsed(found) if found is not None else None
        if found is None or parsed is None:
            answers.append(None)
            cluster.append(None)
            continue
        answers.append(found)
        match = next((k for k, rep in enumerate(reps) if compare(analyze(rep, "gold"), parsed, tol).correct),
                     None)
        if match is None:
            reps.append(found)
            match = len(reps) - 1
        cluster.append(match)
    counts = [cluster.count(k) for k in range(len(reps))]
    if not counts:
        return Vote(answers, cluster, None, "no member of the group has an extractable answer", 0.0)
    top = max(counts)
    share = top / len(samples)
    leaders = [k for k, c in enumerate(counts) if c == top]
    if len(leaders) > 1:
        tied = ", ".join(repr(reps[k][:40]) for k in leaders)
        return Vote(answers, cluster, None, f"the top answers tie with {top} votes each ({tied})", share)
    if share < p.min_share:
        return Vote(answers, cluster, None,
                    f"the majority holds {share:.0%} of the group, below min_share {p.min_share:.0%}", share)
    return Vote(answers, cluster, leaders[0], "", share)


def _scores(own: Vote, label: str | None, why: str, share: float, p: MajorityParams) -> list[Score]:
    """Each member against ``label`` (an answer text; None: no consensus, see the module)."""
    tol = Tolerance(p.rel_tol, p.percent)
    gold = analyze(label, "gold") if label is not None else None
    out = []
    for answer in own.answers:
        if answer is None:
            out.append(Score.no_answer(0.0, reason="no extractable answer"))
        elif gold is None or label is None:
            out.append(Score.unscorable(Status.NO_CONSENSUS, why, extracted=answer[:200]))
        else:
            pred = analyze(answer, "pred")
            agrees = compare(gold, pred, tol).correct
            out.append(Score.ok(p.correct_value if agrees else p.incorrect_value, extracted=answer[:200],
                                majority=label[:200], majority_share=round(share, 4)))
    return out


@register("reward", "group.majority")
class MajorityVote(BaseReward):
    """TTRL (Zuo et al. 2025, arXiv 2504.16084): 1 for members agreeing with the group's majority answer."""

    name: ClassVar[str] = "group.majority"
    reads: ClassVar[tuple[str, ...]] = ("completion",)
    group_level: ClassVar[bool] = True
    Params: ClassVar[type[BaseModel]] = MajorityParams

    def score_group(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        v = vote(samples, self.params)
        return _scores(v, v.describe(v.label), v.why, v.share, self.params)


class CoRewardParams(MajorityParams):
    pair_key: str = Field("pair", description="meta key shared by a question's group and its paraphrase's")


@register("reward", "group.co_reward")
class CoReward(BaseReward):
    """Co-Reward (Zhang et al. 2025, arXiv 2508.00410): agreement with the paraphrase's majority answer.

    A question's group and its paraphrase's group share ``meta[pair_key]``. Each
    member of one group is scored against the majority answer of the *other* group
    (the cross-referenced pseudo-label), so agreeing with oneself earns nothing.
    """

    name: ClassVar[str] = "group.co_reward"
    reads: ClassVar[tuple[str, ...]] = ("completion", "meta")
    group_level: ClassVar[bool] = True
    Params: ClassVar[type[BaseModel]] = CoRewardParams

    def group_key(self, sample: Sample) -> Any:
        """The engine hands both groups of a pair at once."""
        pair = sample.meta.get(self.params.pair_key)
        return None if pair is None else f"{self.params.pair_key}={pair}"

    def score_group(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        p = self.params
        groups: dict[str | None, list[int]] = {}
        for i, s in enumerate(samples):
            groups.setdefault(s.group, []).append(i)
        if samples[0].meta.get(p.pair_key) is None or len(groups) != 2 or None in groups:
            why = (f"Co-Reward pairs two groups (a question and its paraphrase) through meta.{p.pair_key}; "
                   f"this sample's pair has {len(groups)} group(s)")
            return [Score.unscorable(Status.MISSING, why) for _ in samples]
        out: list[Score | None] = [None] * len(samples)
        (ga, ia), (gb, ib) = groups.items()
        votes = {ga: vote([samples[i] for i in ia], p), gb: vote([samples[i] for i in ib], p)}
        for mine, other, idxs in ((ga, gb, ia), (gb, ga, ib)):
            theirs = votes[other]
            why = f"the paraphrase's group has no consensus: {theirs.why}"
            scores = _scores(votes[mine], theirs.describe(theirs.label), why, theirs.share, p)
            for i, score in zip(idxs, scores, strict=True):
                out[i] = score
        return [s for s in out if s is not None]

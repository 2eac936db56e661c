"""LLM-judge rewards: rubric, principle, checklist and reference judges (docs/judges.md).

Each asks the endpoint of its parameters through the one judge client
(:class:`rewardlab.judges.JudgeClient`: concurrency, rate limits, retries, cache) and
reads the reply with :mod:`rewardlab.judges.parse`. A reply that cannot be read is
unscorable (``judge_parse_error``, the reply's tail in ``detail``), never 0.0; a
request that fails after its retries is ``error`` or ``timeout``. An empty completion
is a scored failure (``no_answer``) and costs no request. ``samples = k`` asks k times
(``n_in_request = true``: one request with ``n = k``) and aggregates the readable
answers by mean or majority, reporting their spread.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rewardlab.core import BaseReward, CostClass, Deps, Sample, Score, Status
from rewardlab.judges import EndpointConfig, JudgeClient, JudgeError, Reply
from rewardlab.judges.client import require_judge_deps
from rewardlab.judges.parse import (
    expected_score,
    parse_checklist,
    parse_correct,
    parse_items,
    parse_score,
    tail,
)
from rewardlab.judges.templates import load_template, render
from rewardlab.registry import register


class JudgeParams(EndpointConfig):
    """The endpoint (see :class:`EndpointConfig`) plus how to ask."""

    template: str | None = Field(None, description="path of a Jinja2 template file (None: built in)")
    system: str | None = Field(None, description="system message sent before the template's text")
    samples: int = Field(1, ge=1, le=64, description="ask this many times and aggregate")
    n_in_request: bool = Field(False, description="ask for all samples in one request (n = samples)")
    aggregate: Literal["mean", "majority"] = "mean"


def aggregate(values: Sequence[float], how: str) -> tuple[float, dict[str, Any]]:
    """Mean or majority of the draws' values, and their spread for ``detail``.

    Majority takes the most frequent value; tied values are averaged (``tie: true``).
    """
    if len(values) == 1:
        return values[0], {}
    spread: dict[str, Any] = {"draws": list(values), "spread": max(values) - min(values),
                              "std": statistics.pstdev(values)}
    if how == "mean":
        return statistics.fmean(values), spread
    counts = Counter(values).most_common()
    top = [v for v, c in counts if c == counts[0][1]]
    if len(top) > 1:
        spread["tie"] = True
    return statistics.fmean(top), spread


def usage_of(replies: Sequence[Reply]) -> dict[str, int]:
    """Tokens, requests and cache hits of several replies, summed (``detail['usage']``)."""
    total: Counter[str] = Counter()
    for reply in replies:
        total.update(reply.usage())
    return dict(total)


def _is_blank(text: str) -> bool:
    return not text.strip()


class JudgeReward(BaseReward):
    """Base of the judge rewards: render, ask (k draws), read each reply, aggregate."""

    cost: ClassVar[CostClass] = CostClass.IO
    reads: ClassVar[tuple[str, ...]] = ("prompt", "completion", "reference", "meta")
    Params: ClassVar[type[BaseModel]] = JudgeParams
    builtin: ClassVar[str] = "rubric"  # the built-in template's name

    def __init__(self, **params: Any) -> None:
        require_judge_deps()
        super().__init__(**params)
        self.top_logprobs: int | None = None  # ask for log-probabilities (G-Eval)
        self.params.api_key()  # an unset api_key_env is a spec error, now, not 1,000 failed rows
        load_template(self.params.template, self.builtin)  # a missing or broken file too

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("client", None)  # rebuilt where unpickled: sockets and SQLite stay local
        state.pop("template", None)
        state.pop("constraints_template", None)
        return state

    @property
    def default_timeout(self) -> float:
        """The engine's per-sample deadline unless the spec sets ``timeout``: every attempt and backoff.

        (``request_timeout`` x attempts + ``backoff_max`` x retries + 1 s per attempt for queueing),
        so a slow judge is not cut at the engine's generic 10 s default.
        """
        p = self.params
        attempts = p.max_retries + 1
        return p.request_timeout * attempts + p.backoff_max * p.max_retries + attempts * 1.0

    @cached_property
    def client(self) -> JudgeClient:
        return JudgeClient.shared(self.params)

    @cached_property
    def template(self) -> Any:
        return load_template(self.params.template, self.builtin)

    # --- what subclasses implement ---------------------------------------------------
    def variables(self, sample: Sample) -> dict[str, Any] | Score:
        """The template's own variables for this sample, or the unscorable :class:`Score`."""
        return {}

    def read(self, reply: str, variables: Mapping[str, Any],
             logprobs: Sequence[dict[str, Any]] | None) -> tuple[float | None, str, dict[str, Any]]:
        """One reply's value (``None`` + why when unreadable) and its detail."""
        raise NotImplementedError

    def empty_value(self) -> float:
        """The value of an empty completion (a scored failure)."""
        return 0.0

    # --- the flow ---------------------------------------------------------------------
    def check(self, sample: Sample) -> str | None:
        problem = super().check(sample)
        if problem:
            return problem
        found = self.variables(sample)
        return str(found.detail.get("reason")) if isinstance(found, Score) else None

    def messages(self, text: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.params.system}] if self.params.system else []
        return [*system, {"role": "user", "content": text}]

    async def ask(self, messages: list[dict[str, str]]) -> list[Reply]:
        """``samples`` replies: k requests (draws 0..k-1), or one request with ``n = k``."""
        k, chat = self.params.samples, self.client.chat
        if k == 1 or self.params.n_in_request:
            return [await chat(messages, n=k, top_logprobs=self.top_logprobs)]
        return list(await asyncio.gather(*(chat(messages, draw=i, top_logprobs=self.top_logprobs)
                                           for i in range(k))))

    async def ascore_one(self, sample: Sample, deps: Deps) -> Score:
        if _is_blank(sample.completion_text):
            return Score.no_answer(self.empty_value(), reason="empty completion (no judge request sent)")
        try:
            variables = await self.avariables(sample)
            if isinstance(variables, Score):
                return variables
            replies = await self.ask(self.messages(render(self.template, sample, **variables)))
        except JudgeError as exc:
            return Score.unscorable(exc.status, exc.reason, **exc.detail)
        return self.combine([*variables.get("prior_replies", ()), *replies], variables)

    async def avariables(self, sample: Sample) -> dict[str, Any] | Score:
        """:meth:`variables`, for a judge that must ask something first (``prior_replies``)."""
        return self.variables(sample)

    def combine(self, replies: Sequence[Reply], variables: Mapping[str, Any]) -> Score:
        """Read every choice of every reply; aggregate the readable ones."""
        values: list[float] = []
        details: list[dict[str, Any]] = []
        last_problem, last_text = "", ""
        prior = len(variables.get("prior_replies", ()))
        for reply in replies[prior:]:
            for j, text in enumerate(reply.texts):
                value, why, detail = self.read(text, variables, reply.logprobs if j == 0 else None)
                if value is None:
                    last_problem, last_text = why, text
                else:
                    values.append(value)
                    details.append(detail)
        usage = usage_of(replies)
        if not values:
            return Score.unscorable(Status.JUDGE_PARSE_ERROR, last_problem, reply_tail=tail(last_text),
                                    usage=usage)
        value, spread = aggregate(values, self.params.aggregate)
        unread = sum(len(r.texts) for r in replies[prior:]) - len(values)
        extra = {"unreadable_draws": unread, "last_problem": last_problem} if unread else {}
        return Score.ok(value, **details[-1], **spread, **extra, usage=usage)


def _per_sample(sample: Sample, key: str) -> Any:
    """``meta[key]``, else the reference's ``key`` when the reference is a mapping."""
    if key in sample.meta:
        return sample.meta[key]
    if isinstance(sample.reference, Mapping):
        return sample.reference.get(key)
    return None


class ScaleParams(JudgeParams):
    score_min: float = 1.0
    score_max: float = 10.0
    raw: bool = Field(False, description="report the judge's score as is, not mapped to [0, 1]")
    expected_score: bool = Field(
        False, description="G-Eval: the probability-weighted score from the score token's top "
        "log-probabilities, when the endpoint returns them")

    @model_validator(mode="after")
    def _scale(self) -> ScaleParams:
        if not self.score_min < self.score_max:
            raise ValueError(f"score_min ({self.score_min:g}) must be below score_max ({self.score_max:g})")
        return self


class ScaleJudge(JudgeReward):
    """A score on ``[score_min, score_max]`` for a criterion (rubric or principle)."""

    criterion: ClassVar[str] = "rubric"  # the template variable, the parameter, the meta key

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.params.expected_score:
            self.top_logprobs = 20

    def variables(self, sample: Sample) -> dict[str, Any] | Score:
        p = self.params
        text = _per_sample(sample, getattr(p, f"{self.criterion}_key")) or getattr(p, self.criterion)
        if not isinstance(text, str) or not text.strip():
            return Score.unscorable(
                Status.INVALID_REFERENCE,
                f"no {self.criterion}: set {self.criterion!r} in the spec, or "
                f"meta.{getattr(p, f'{self.criterion}_key')} on the sample")
        return {self.criterion: text, "score_min": _fmt(p.score_min), "score_max": _fmt(p.score_max)}

    def empty_value(self) -> float:
        return self.params.score_min if self.params.raw else 0.0

    def read(self, reply: str, variables: Mapping[str, Any],
             logprobs: Sequence[dict[str, Any]] | None) -> tuple[float | None, str, dict[str, Any]]:
        p = self.params
        score, why = parse_score(reply, p.score_min, p.score_max)
        if score is None:
            return None, why, {}
        detail: dict[str, Any] = {"judge_score": score}
        if p.expected_score:
            expected = expected_score(logprobs, p.score_min, p.score_max, score)
            detail["expected_score"] = expected
            score = expected if expected is not None else score
        value = score if p.raw else (score - p.score_min) / (p.score_max - p.score_min)
        return value, "", detail


def _fmt(x: float) -> str:
    return f"{x:g}"


class RubricParams(ScaleParams):
    rubric: str | None = Field(None, description="the rubric (a sample's meta.rubric overrides it)")
    rubric_key: str = "rubric"


@register("reward", "judge.rubric")
class RubricJudge(ScaleJudge):
    """An LLM judge's score on a stated scale from a rubric, mapped to [0, 1]."""

    name: ClassVar[str] = "judge.rubric"
    Params: ClassVar[type[BaseModel]] = RubricParams
    builtin: ClassVar[str] = "rubric"
    criterion: ClassVar[str] = "rubric"


class PrincipleParams(ScaleParams):
    principle: str | None = Field(None, description="the principle (a sample's meta.principle overrides it)")
    principle_key: str = "principle"


@register("reward", "judge.principles")
class PrincipleJudge(ScaleJudge):
    """How well a response follows a stated principle (RewardAnything, arXiv 2506.03637), pointwise."""

    name: ClassVar[str] = "judge.principles"
    Params: ClassVar[type[BaseModel]] = PrincipleParams
    builtin: ClassVar[str] = "principle"
    criterion: ClassVar[str] = "principle"


class ChecklistItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(..., min_length=1)
    weight: float = Field(1.0, gt=0)


class ChecklistParams(JudgeParams):
    items: list[str | ChecklistItem] | None = Field(
        None, description="the requirements (a sample's meta.checklist overrides them)")
    items_key: str = "checklist"
    adaptive: bool = Field(
        False, description="ACE-RL: without items, the judge first derives the constraints from the prompt")
    max_items: int = Field(10, ge=1, le=50, description="at most this many derived constraints")


def _items(raw: Any) -> list[ChecklistItem] | None:
    if not isinstance(raw, list) or not raw:
        return None
    try:
        return [ChecklistItem.model_validate({"text": i} if isinstance(i, str) else i) for i in raw]
    except (ValueError, TypeError):
        return None


@register("reward", "judge.checklist")
class ChecklistJudge(JudgeReward):
    """Binary yes/no verdicts per requirement; value = weighted fraction satisfied (RLBFF, ACE-RL)."""

    name: ClassVar[str] = "judge.checklist"
    Params: ClassVar[type[BaseModel]] = ChecklistParams
    builtin: ClassVar[str] = "checklist"

    def variables(self, sample: Sample) -> dict[str, Any] | Score:
        p = self.params
        raw = _per_sample(sample, p.items_key)
        items = _items(raw if raw is not None else [i if isinstance(i, str) else i.model_dump()
                                                     for i in p.items or []])
        if items is not None:
            return {"items": [i.text for i in items], "weights": [i.weight for i in items]}
        if p.adaptive:
            return {}  # derived by the judge in avariables
        return Score.unscorable(
            Status.INVALID_REFERENCE,
            f"no checklist: set 'items' in the spec, or meta.{p.items_key} on the sample "
            "(a list of texts or {text, weight} objects), or adaptive = true")

    async def avariables(self, sample: Sample) -> dict[str, Any] | Score:
        """The checklist; with ``adaptive`` and none given, the constraints the judge derives
        from the prompt (ACE-RL, arXiv 2509.04903): one request per prompt, shared by its group."""
        found = self.variables(sample)
        if isinstance(found, Score) or found:
            return found
        text = render(self.constraints_template, sample, max_items=self.params.max_items)
        reply = await self.client.chat(self.messages(text))
        items, why = parse_items(reply.text, self.params.max_items)
        if items is None:
            return Score.unscorable(Status.JUDGE_PARSE_ERROR, f"deriving the constraints: {why}",
                                    reply_tail=tail(reply.text), usage=usage_of([reply]))
        return {"items": items, "weights": [1.0] * len(items), "prior_replies": [reply]}

    @cached_property
    def constraints_template(self) -> Any:
        return load_template(None, "constraints")

    def read(self, reply: str, variables: Mapping[str, Any],
             logprobs: Sequence[dict[str, Any]] | None) -> tuple[float | None, str, dict[str, Any]]:
        verdicts, why = parse_checklist(reply, len(variables["items"]))
        if verdicts is None:
            return None, why, {}
        weights = variables["weights"]
        value = sum(w for w, ok in zip(weights, verdicts, strict=True) if ok) / sum(weights)
        detail = {"verdicts": [{"item": t[:120], "weight": w, "satisfied": ok}
                               for t, w, ok in zip(variables["items"], weights, verdicts, strict=True)]}
        return value, "", detail


class ReferenceParams(JudgeParams):
    correct_value: float = 1.0
    incorrect_value: float = 0.0


def reference_text(reference: Any) -> str | None:
    """The reference answer a judge compares with (``answer``, else ``solution`` of a table); None
    when it is missing or blank."""
    if isinstance(reference, Mapping):
        reference = reference.get("answer", reference.get("solution"))
    if reference is None or (isinstance(reference, str) and not reference.strip()):
        return None
    return str(reference)


@register("reward", "judge.reference")
class ReferenceJudge(JudgeReward):
    """Correctness against the reference answer, decided by an LLM (a generative verifier)."""

    name: ClassVar[str] = "judge.reference"
    Params: ClassVar[type[BaseModel]] = ReferenceParams
    builtin: ClassVar[str] = "reference"
    needs_reference: ClassVar[bool] = True

    def variables(self, sample: Sample) -> dict[str, Any] | Score:
        ref = reference_text(sample.reference)
        if ref is None:
            return Score.unscorable(Status.INVALID_REFERENCE, "missing or empty reference")
        return {"reference": ref}

    def empty_value(self) -> float:
        return self.params.incorrect_value

    def read(self, reply: str, variables: Mapping[str, Any],
             logprobs: Sequence[dict[str, Any]] | None) -> tuple[float | None, str, dict[str, Any]]:
        correct, why = parse_correct(reply)
        if correct is None:
            return None, why, {}
        p = self.params
        return (p.correct_value if correct else p.incorrect_value), "", {"judge_correct": correct}

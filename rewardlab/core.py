"""Core data model: :class:`Sample`, :class:`Score`, :class:`Status`, the reward protocol.

A reward turns a batch of samples into a batch of scores, same length, same order.
Every score carries a status, and ``value is None`` means *unscorable* (timeout,
error, invalid reference): never a silent ``0.0``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from rewardlab.errors import InputError

Messages = list[dict[str, Any]]


class Status(str, Enum):
    """Outcome of scoring one sample.

    ``ok`` and ``no_answer`` are *scored* outcomes (``no_answer`` is a scored failure:
    the model produced nothing usable). All others are *unscorable*: the value is
    ``None`` unless a spec maps it with ``on_unscorable``.
    """

    OK = "ok"
    NO_ANSWER = "no_answer"
    INVALID_REFERENCE = "invalid_reference"
    TIMEOUT = "timeout"
    ERROR = "error"
    SANDBOX_UNAVAILABLE = "sandbox_unavailable"
    MISSING = "missing"  # a dependency (another component, a precomputed reward) is absent
    MISSING_INPUT = "missing_input"  # the row has no completion (missing key or null): not an empty answer
    JUDGE_PARSE_ERROR = "judge_parse_error"  # the judge replied, but not in a form that can be read
    NO_CONSENSUS = "no_consensus"  # a label-free group reward found no majority answer to vote on

    @property
    def scored(self) -> bool:
        """Whether this status means the sample was actually scored."""
        return self in (Status.OK, Status.NO_ANSWER)


class CostClass(str, Enum):
    """Where the engine runs a reward."""

    INLINE = "inline"  # cheap pure Python, in the caller's process
    CPU = "cpu"  # CPU-heavy: warm process pool with hard-kill per-sample timeouts
    SANDBOX = "sandbox"  # runs untrusted code; the reward manages its own sandbox pool
    IO = "io"  # I/O bound (HTTP judges, databases): concurrent asyncio
    MODEL = "model"  # batched model inference (a dedicated model worker or the caller's process)


@dataclass(frozen=True, slots=True)
class Score:
    """The score of one sample by one reward.

    >>> Score.ok(1.0, extracted="42").value
    1.0
    >>> Score.unscorable(Status.TIMEOUT, "exceeded 5.0 s").value is None
    True
    """

    value: float | None
    status: Status = Status.OK
    detail: Mapping[str, Any] = field(default_factory=dict)
    elapsed: float = 0.0  # seconds spent computing this score

    def __post_init__(self) -> None:
        if self.value is None:
            if self.status.scored:
                raise ValueError(f"a score with status {self.status.value!r} needs a value")
        elif isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise TypeError(f"score value must be a float or None, got {type(self.value).__name__}")
        elif not math.isfinite(self.value):
            raise ValueError(f"score value must be finite, got {self.value!r}; use None + a status")

    @classmethod
    def ok(cls, value: float, **detail: Any) -> Score:
        return cls(float(value), Status.OK, detail)

    @classmethod
    def no_answer(cls, value: float = 0.0, **detail: Any) -> Score:
        return cls(float(value), Status.NO_ANSWER, detail)

    @classmethod
    def unscorable(cls, status: Status, reason: str, **detail: Any) -> Score:
        return cls(None, status, {"reason": reason, **detail})

    def with_elapsed(self, elapsed: float) -> Score:
        return Score(self.value, self.status, self.detail, elapsed)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the constructor's arguments: the pool sends one Score per sample, and a slots
        dataclass's own pickling goes through ``dataclasses.fields`` on every load (~2x the cost)."""
        return (type(self), (self.value, self.status, self.detail, self.elapsed))

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "status": self.status.value, "detail": dict(self.detail)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Score:
        return cls(d.get("value"), Status(d.get("status", "ok")), d.get("detail") or {})


SAMPLE_FIELDS = ("id", "prompt", "completion", "reference", "group", "meta")


@dataclass(slots=True)
class Sample:
    """One rollout to score.

    ``prompt`` and ``completion`` are text or chat messages; ``reference`` is the
    task's ground truth; ``group`` ties rollouts of the same prompt together.
    ``completion=None`` means the row has none (a missing input, unscorable by every
    reward that reads it); ``""`` is an empty answer, scored as such.
    """

    id: str
    prompt: str | Messages = ""
    completion: str | Messages | None = ""
    reference: Any = None
    group: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def completion_text(self) -> str:
        """The completion as text: the last assistant message for chat completions."""
        return as_text(self.completion)

    @property
    def prompt_text(self) -> str:
        """The prompt as text: a chat prompt's one non-system message, or its turns labelled
        ``role: content`` (the system message kept) when it has several."""
        return _prompt_as_text(self.prompt)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SAMPLE_FIELDS}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the constructor's arguments, as :class:`Score` is (the pool sends every sample)."""
        return (type(self), (self.id, self.prompt, self.completion, self.reference, self.group, self.meta))

    @classmethod
    def coerce(cls, obj: Sample | Mapping[str, Any], index: int = 0) -> Sample:
        """Accept a :class:`Sample` or a plain dict with the same fields.

        A dict without ``id`` gets its position as id. Unknown keys other than
        ``reward`` and ``rewards`` (precomputed scores) go into ``meta``. A missing or
        null ``completion`` stays ``None`` (see :func:`rewardlab.engine.inputs.missing_input`).
        """
        if isinstance(obj, Sample):
            return obj
        if not isinstance(obj, Mapping):
            raise InputError(
                f"sample #{index}: expected a Sample or a dict, got {type(obj).__name__}"
            )
        meta = obj.get("meta") or {}
        if not isinstance(meta, Mapping):
            raise InputError(f"sample #{index}: 'meta' must be an object, got {type(meta).__name__}")
        meta = dict(meta)
        for key, value in obj.items():
            if key not in SAMPLE_FIELDS:
                meta.setdefault(key, value)
        completion = obj.get("completion")
        if completion is not None and not isinstance(completion, (str, list)):
            raise InputError(
                f"sample #{index}: 'completion' must be text or a list of chat messages, "
                f"got {type(completion).__name__}"
            )
        prompt = obj.get("prompt", "")
        if prompt is None:
            prompt = ""
        group = obj.get("group")
        sid = obj.get("id")
        return cls(
            id=str(index) if sid is None else str(sid),
            prompt=prompt,
            completion=completion,
            reference=obj.get("reference"),
            group=None if group is None else str(group),
            meta=meta,
        )


def _content(message: Any) -> str:
    """A chat message's text; multimodal content parts contribute their ``text`` parts."""
    content = message.get("content", "") if isinstance(message, Mapping) else ""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return str(content or "")


def as_text(value: str | Messages | None) -> str:
    """A completion as text: a string as it is, else the last assistant message's text ("" for none)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    for message in reversed(value):
        if isinstance(message, Mapping) and message.get("role", "assistant") == "assistant":
            return _content(message)
    return ""


def _prompt_as_text(prompt: str | Messages | None) -> str:
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    turns = [m for m in prompt if isinstance(m, Mapping) and m.get("role") != "system"]
    if len(turns) == 1:
        return _content(turns[0])
    return "\n\n".join(f"{m.get('role', 'user')}: {_content(m)}" for m in prompt if isinstance(m, Mapping))


def coerce_samples(samples: Sequence[Sample | Mapping[str, Any]]) -> list[Sample]:
    """Coerce a batch, with errors that name the offending row."""
    return [Sample.coerce(s, i) for i, s in enumerate(samples)]


_HASH_ENCODER = json.JSONEncoder(sort_keys=True, default=repr, ensure_ascii=False)  # json.dumps builds one per call


def content_hash(*parts: Any) -> str:
    """Stable hash of JSON-able parts (sorted keys), for caching and deduplication."""
    payload = _HASH_ENCODER.encode(parts)
    # surrogatepass: input text may hold lone surrogates (a JSON "\ud800" escape); hash it, don't fail the batch
    return hashlib.blake2b(payload.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@runtime_checkable
class Reward(Protocol):
    """What the engine and the pipeline need of a reward: batch in, batch out, same order."""

    name: str
    cost: CostClass

    def score(self, samples: Sequence[Sample | Mapping[str, Any]]) -> list[Score]: ...


Deps = Mapping[str, Score]  # scores of the components a reward depends on, for one sample


class BaseReward:
    """Base class for built-in and plugin rewards.

    Subclasses set ``name``, ``cost``, ``reads`` (the sample fields they look at, for
    caching and deduplication), a pydantic ``Params`` model, and implement one of
    :meth:`score_one` (per sample), :meth:`ascore_one` (I/O), :meth:`score_batch`
    (model) or :meth:`score_group` (group-level). The engine decides where that runs.
    """

    name: ClassVar[str] = "base"
    description: ClassVar[str] = ""
    cost: ClassVar[CostClass] = CostClass.INLINE
    reads: ClassVar[tuple[str, ...]] = ("completion", "reference")
    group_level: ClassVar[bool] = False
    needs_reference: ClassVar[bool] = False
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, **params: Any) -> None:
        from rewardlab.errors import validate_params

        self.params: Any = validate_params(self.Params, params, f"reward {self.name!r}")
        self._config_hash = content_hash(self.name, self.params.model_dump(mode="json"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    @property
    def config_hash(self) -> str:
        """Hash of the reward's name and parameters: part of every cache key."""
        return self._config_hash

    def requires(self) -> tuple[str, ...]:
        """Names of other components this reward needs (e.g. a correctness component)."""
        return ()

    def key(self, sample: Sample) -> str:
        """Content key of the work for one sample: equal keys give equal scores."""
        return content_hash(self._config_hash, [getattr(sample, f) for f in self.reads])

    # --- what subclasses implement -------------------------------------------------
    def score_one(self, sample: Sample, deps: Deps) -> Score:
        raise NotImplementedError(f"{type(self).__name__} implements no per-sample scoring")

    async def ascore_one(self, sample: Sample, deps: Deps) -> Score:
        return self.score_one(sample, deps)

    def score_batch(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        return [self.score_one(s, d) for s, d in zip(samples, deps, strict=True)]

    def score_group(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        raise NotImplementedError(f"{type(self).__name__} implements no group scoring")

    def check(self, sample: Sample) -> str | None:
        """A problem with this sample's reference that makes it unscorable, or None."""
        if self.needs_reference and _is_empty(sample.reference):
            return "missing or empty reference"
        return None

    # --- the public batch entry point ----------------------------------------------
    def score(
        self,
        samples: Sequence[Sample | Mapping[str, Any]],
        deps: Sequence[Deps] | None = None,
    ) -> list[Score]:
        """Score a batch on the default engine (see :mod:`rewardlab.engine`)."""
        from rewardlab.engine import default_engine

        return default_engine().run(self, coerce_samples(samples), deps)


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, dict, tuple)):
        return len(value) == 0
    return False

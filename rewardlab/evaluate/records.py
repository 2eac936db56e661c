"""What the eval benchmarks share: the candidates they ask to score, the scores, and a benchmark's result.

A benchmark turns its rows into :class:`Candidate` s (one per text the reward must score);
``rewardlab eval`` scores every distinct candidate once through the spec (the runner's
dedup, cache, resume and progress bar) and hands the benchmark a :class:`Scores` to look
values up by candidate. Candidates are identified by their content, so the same text met
again (in the swap check, or in two examples) is the same scored candidate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rewardlab.core import as_text, content_hash
from rewardlab.errors import InputError

UNSCORABLE_POLICY = ("an example with an unscorable candidate it needs is left out of every score "
                     "(neither a win nor a loss) and counted here")


@dataclass(frozen=True)
class Candidate:
    """One text to score: a ``Sample``'s fields, keyed by content (``key``, set when it is made: every
    candidate is looked up by it, and a lazy ``cached_property`` cost 2.4 us on first use against 0.8)."""

    prompt: Any
    completion: Any
    reference: Any = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _key(self.prompt, self.completion, self.reference, self.meta))

    @property
    def length(self) -> int:
        """Characters of the completion (its text; chat messages' contents joined)."""
        return len(as_text(self.completion))

    def row(self, group: str) -> dict[str, Any]:
        """The runner's input row: ``id`` is the content key, ``group`` the first example that asked for it."""
        return {"id": self.key, "prompt": self.prompt, "completion": self.completion,
                "reference": self.reference, "group": group, "meta": dict(self.meta)}


def distinct(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Each candidate once (by :attr:`Candidate.key`): the first met, in the order first met."""
    unique: dict[str, Candidate] = {}
    for c in candidates:
        unique.setdefault(c.key, c)
    return list(unique.values())


_TEXT = (str, type(None))


def _key(prompt: Any, completion: Any, reference: Any, meta: Mapping[str, Any]) -> str:
    if not meta and isinstance(prompt, _TEXT) and isinstance(completion, _TEXT) and isinstance(reference, _TEXT):
        return _text_key(prompt, completion, reference)
    return content_hash(prompt, completion, reference, dict(meta))


@lru_cache(maxsize=1 << 17)
def _text_key(prompt: str | None, completion: str | None, reference: str | None) -> str:
    """:attr:`Candidate.key` of plain-text candidates, memoised: a benchmark meets each candidate in
    several passes (scoring, the swap check, the diagnostics), each building it anew from its row."""
    return content_hash(prompt, completion, reference, {})


@dataclass(frozen=True)
class Scored:
    """A candidate's combined reward (``None``: unscorable), status and per-component values."""

    value: float | None
    status: str
    components: Mapping[str, float | None] = field(default_factory=dict)
    detail: Mapping[str, Any] = field(default_factory=dict)


class Scores:
    """Scored candidates by content key."""

    def __init__(self, by_key: Mapping[str, Scored]) -> None:
        self.by_key = dict(by_key)

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> Scores:
        """From the runner's output rows (``id`` = candidate key)."""
        return cls({str(r["id"]): Scored(r.get("reward"), str(r.get("status")), {n: r.get(n) for n in names},
                                         r.get("detail") or {}) for r in rows})

    def of(self, candidate: Candidate) -> Scored:
        try:
            return self.by_key[candidate.key]
        except KeyError:
            raise KeyError(f"candidate {candidate.key} was not scored") from None

    def value(self, candidate: Candidate) -> float | None:
        return self.of(candidate).value

    def values(self, candidates: Sequence[Candidate]) -> list[float] | None:
        """All values, or ``None`` when any candidate is unscorable."""
        out = [self.value(c) for c in candidates]
        return None if any(v is None for v in out) else [v for v in out if v is not None]


@dataclass
class BenchmarkScore:
    """A benchmark's numbers, named as the benchmark names them (the eval JSON's keys)."""

    overall: float | None
    overall_definition: str
    sections: dict[str, float | None] = field(default_factory=dict)
    subsets: dict[str, float | None] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    unscorable_examples: int = 0
    policy: str = UNSCORABLE_POLICY


@dataclass
class Views:
    """What the diagnostics read: candidates with a gold label (1 good, 0 bad), (chosen, rejected)
    pairs, and for best-of-n data the [prompt][candidate] grid with correctness and optional gold scores."""

    labelled: list[tuple[Candidate, int]] = field(default_factory=list)
    pairs: list[tuple[Candidate, Candidate]] = field(default_factory=list)
    grid: list[list[Candidate]] | None = None
    correct: list[list[int]] | None = None
    gold: list[list[float]] | None = None


def require_columns(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], benchmark: str) -> None:
    """Refuse rows that lack a column the benchmark's layout needs, naming the row and the columns."""
    if not rows:
        raise InputError(f"{benchmark}: the data has no rows")
    for i, row in enumerate(rows):
        missing = [c for c in columns if row.get(c) is None]
        if missing:
            raise InputError(f"{benchmark}: row {i} has no {', '.join(repr(c) for c in missing)} "
                             f"(the {benchmark} layout needs columns {', '.join(columns)}; see docs/eval.md)")


def require_list(row: Mapping[str, Any], column: str, benchmark: str, index: int, size: int | None = None) -> list[Any]:
    """``row[column]`` as a non-empty list (of ``size`` items when given), else a one-line InputError."""
    value = row.get(column)
    if not isinstance(value, (list, tuple)) or not value or (size is not None and len(value) != size):
        want = f"a list of {size}" if size is not None else "a non-empty list"
        raise InputError(f"{benchmark}: row {index} column {column!r} must be {want}, got {type(value).__name__}"
                         f"{'' if not isinstance(value, (list, tuple)) else f' of {len(value)}'}")
    return list(value)


def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean, ``None`` for no values (a score over nothing is undefined, not 0)."""
    return sum(values) / len(values) if values else None


def mean_of_all(scores: Mapping[str, float | None]) -> float | None:
    """The unweighted mean of named scores; ``None`` when there are none or one is undefined
    (a mean that silently skipped a section would be another benchmark's number)."""
    values = list(scores.values())
    if not values or any(v is None for v in values):
        return None
    return sum(float(v or 0.0) for v in values) / len(values)

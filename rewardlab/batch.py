"""The batch view that transforms, combiners and advantage estimators work on.

Rewards become float arrays with ``NaN`` for unscorable (``None``) values, and groups
become integer codes, so every stage is vectorised over the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardlab.core import Sample, Score

LENGTH_META_KEYS = ("completion_tokens", "num_tokens", "response_length", "length")


TOKEN_ESTIMATE = "max(words, ceil(chars / 4))"


def estimate_tokens(text: str) -> int:
    """A tokenizer-free token count: ``max(words, ceil(chars / 4))``.

    About four characters per token is the usual rule for BPE tokenizers on English
    text; the word count keeps text of very short words from being under-counted, and
    the character count keeps a long run without spaces (a hash, a repeated symbol)
    from passing for one word.

    >>> estimate_tokens("a b c"), estimate_tokens("x" * 4000)
    (3, 1000)
    """
    return max(len(text.split()), -(-len(text) // 4))


def meta_token_count(sample: Sample) -> int | None:
    """The trainer's token count from ``meta`` (see ``LENGTH_META_KEYS``), if it gave one."""
    for key in LENGTH_META_KEYS:
        value = sample.meta.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    return None


def completion_length(sample: Sample, unit: str = "auto") -> int:
    """Length of a completion.

    ``auto`` takes a token count from ``meta`` (``completion_tokens``, ``num_tokens``,
    ``response_length`` or ``length``) when the trainer supplied one, else the
    tokenizer-free estimate :func:`estimate_tokens`; ``words`` and ``chars`` force those units.
    """
    if unit in ("auto", "tokens"):
        count = meta_token_count(sample)
        if count is not None:
            return count
        if unit == "tokens":
            raise ValueError(
                f"sample {sample.id!r}: length unit 'tokens' needs a token count in meta "
                f"(one of {', '.join(LENGTH_META_KEYS)})"
            )
        return estimate_tokens(sample.completion_text)
    if unit == "words":
        return len(sample.completion_text.split())
    if unit == "chars":
        return len(sample.completion_text)
    raise ValueError(f"unknown length unit {unit!r} (allowed: 'auto', 'tokens', 'words', 'chars')")


def scores_to_array(scores: Sequence[Score]) -> np.ndarray:
    """Score values as float64, ``NaN`` where unscorable."""
    return np.array([np.nan if s.value is None else s.value for s in scores], dtype=np.float64)


def group_members(groups: Sequence[str | None]) -> list[list[int]]:
    """Indices of each group's members, groups in order of first appearance.

    A sample with no group is a group of its own (as in :func:`group_codes`).
    """
    codes, n = group_codes(groups)
    members: list[list[int]] = [[] for _ in range(n)]
    for i, code in enumerate(codes.tolist()):
        members[code].append(i)
    return members


def group_codes(groups: Sequence[str | None]) -> tuple[np.ndarray, int]:
    """Integer group code per sample; a sample with no group is a group of its own."""
    codes = np.empty(len(groups), dtype=np.int64)
    seen: dict[str, int] = {}
    n = 0
    for i, g in enumerate(groups):
        if g is None:
            codes[i] = n
            n += 1
            continue
        code = seen.get(g)
        if code is None:
            code = seen[g] = n
            n += 1
        codes[i] = code
    return codes, n


@dataclass
class BatchContext:
    """Per-batch facts the algebra stages may need (groups, lengths, meta columns)."""

    samples: Sequence[Sample]
    group_index: np.ndarray
    n_groups: int
    length_unit: str = "auto"
    _lengths: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_samples(cls, samples: Sequence[Sample], length_unit: str = "auto") -> BatchContext:
        codes, n = group_codes([s.group for s in samples])
        return cls(samples, codes, n, length_unit)

    @classmethod
    def from_groups(cls, group_index: np.ndarray) -> BatchContext:
        """A context from group codes alone (no samples), e.g. for benchmarks."""
        codes = np.asarray(group_index, dtype=np.int64)
        return cls((), codes, int(codes.max()) + 1 if codes.size else 0)

    def __len__(self) -> int:
        return len(self.group_index)

    def lengths(self) -> np.ndarray:
        """Completion lengths (see :func:`completion_length`), as float64."""
        if self._lengths is None:
            self._lengths = np.array(
                [completion_length(s, self.length_unit) for s in self.samples], dtype=np.float64
            )
        return self._lengths

    def meta_column(self, key: str, default: Any = None) -> list[Any]:
        return [s.meta.get(key, default) for s in self.samples]


def zero_variance_fraction(values: np.ndarray, ctx: BatchContext) -> float | None:
    """Fraction of groups (>= 2 scorable members) whose scorable values are all equal.

    Such groups give no learning signal under group-relative advantages.
    """
    ok = ~np.isnan(values)
    eligible = int((np.bincount(ctx.group_index[ok], minlength=ctx.n_groups) >= 2).sum())
    return float(tied_groups(values, ctx).sum() / eligible) if eligible else None


def tied_groups(values: np.ndarray, ctx: BatchContext) -> np.ndarray:
    """Per group: it has >= 2 scorable values and they are all equal (exact comparison)."""
    ok = ~np.isnan(values)
    idx = ctx.group_index
    first = np.full(ctx.n_groups, np.nan)
    first[idx[ok]] = values[ok]  # one scorable member per group
    varied = np.bincount(idx, weights=ok & (values != first[idx]), minlength=ctx.n_groups) > 0
    return np.asarray((np.bincount(idx[ok], minlength=ctx.n_groups) >= 2) & ~varied)

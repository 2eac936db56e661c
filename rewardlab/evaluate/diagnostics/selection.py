"""Best-of-n selection, computed exactly over all size-n subsets.

From N candidates per prompt, best-of-n draws n of them uniformly without
replacement and keeps the one the reward scores highest. Its expected outcome is
an average over all C(N, n) subsets, which :class:`TopPick` computes in
closed form (the combinatorial estimator of Gao et al., arXiv 2210.10760,
section 2; FORMULAS.md "Evaluation") instead of by sampling, with two additions:

- ties: the pick among candidates tied at the top score is uniformly random, so
  the outcome is the mean over the tied set;
- unscorable candidates (score ``NaN``) rank below every scored candidate and tie
  with each other: the reward picks one only when the subset holds nothing else,
  and then at random. They are counted in ``unscorable``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardlab.errors import InputError

UNSCORABLE_POLICY = ("an unscorable candidate (NaN score) ranks below every scored one; a subset of "
                     "only unscorable candidates picks one of them at random")


@dataclass(frozen=True)
class BestOfN:
    """Accuracy of the reward's pick, the oracle's (any correct among n) and random, per n."""

    n: tuple[int, ...]
    reward: tuple[float, ...]
    oracle: tuple[float, ...]
    random: tuple[float, ...]
    prompts: int
    candidates: int
    unscorable: int

    def to_json(self) -> dict[str, Any]:
        return {"n": list(self.n), "reward": list(self.reward), "oracle": list(self.oracle),
                "random": list(self.random), "prompts": self.prompts, "candidates": self.candidates,
                "unscorable": self.unscorable, "unscorable_policy": UNSCORABLE_POLICY}


@dataclass(frozen=True)
class OverOptimisation:
    """Expected gold and proxy reward of best-of-n by proxy, against KL_bon = log n - (n - 1) / n."""

    n: tuple[int, ...]
    kl: tuple[float, ...]
    gold: tuple[float, ...]
    proxy: tuple[float, ...]
    prompts: int
    excluded_prompts: int

    def to_json(self) -> dict[str, Any]:
        return {"n": list(self.n), "kl": list(self.kl), "gold": list(self.gold), "proxy": list(self.proxy),
                "prompts": self.prompts, "excluded_prompts": self.excluded_prompts}


def subset_max_ratio(total: int, n: int) -> np.ndarray:
    """r[k] = C(k, n) / C(total, n) for k = 0..total: the probability that a uniform size-n subset of
    ``total`` ranked items lies within the k lowest. As the product prod_{j=k+1..total} (j - n) / j,
    every factor at most 1, so it neither overflows nor loses precision for large ``total``."""
    j = np.arange(1, total + 1, dtype=np.float64)
    factors = (j - n) / j
    return np.concatenate([np.cumprod(factors[::-1])[::-1], [1.0]])


class TopPick:
    """E[value of the highest-key candidate of a uniform size-n subset], per row of ``keys`` [P, N].

    Gao et al. (arXiv 2210.10760, section 2): with candidates sorted by key ascending,
    E = sum_{i=n..N} C(i-1, n-1) / C(N, n) value_(i). With ties, the top of the subset lies in tie
    group g (L_g candidates below it, m_g in it) with probability (C(L_g + m_g, n) - C(L_g, n)) / C(N, n),
    and the pick is then uniform over the group's members in the subset, whose expected value is the
    group's mean value by symmetry. ``NaN`` keys form the lowest group (module docstring). The sort and
    the tie groups are computed once; :meth:`expected` is then one gather per n.
    """

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        self.total = keys.shape[1]
        scored = ~np.isnan(keys)
        filled = np.where(scored, keys, 0.0)
        order = np.lexsort((filled, scored), axis=-1)
        k = np.take_along_axis(filled, order, axis=1)
        s = np.take_along_axis(scored, order, axis=1)
        same = (k[:, 1:] == k[:, :-1]) & (s[:, 1:] == s[:, :-1])  # j and j+1 in one tie group
        idx = np.arange(self.total)
        edge = np.ones((len(k), 1), bool)
        self.lo = np.maximum.accumulate(np.where(np.concatenate([edge, ~same], axis=1), idx, 0), axis=1)
        ends = np.where(np.concatenate([~same, edge], axis=1), idx + 1, self.total)
        self.hi = np.minimum.accumulate(ends[:, ::-1], axis=1)[:, ::-1]
        self.share = np.take_along_axis(values, order, axis=1) / (self.hi - self.lo)

    def expected(self, n: int) -> np.ndarray:
        """The expectation for subsets of size ``n``, one per row."""
        r = subset_max_ratio(self.total, n)
        return (self.share * (r[self.hi] - r[self.lo])).sum(axis=1)


def _ns(ns: Iterable[int] | None, total: int, what: str) -> tuple[int, ...]:
    """1, 2, 4, ... up to ``total`` (and ``total`` itself) unless given; each checked in [1, total]."""
    if ns is None:
        out = [1 << i for i in range(total.bit_length()) if 1 << i <= total]
        return tuple(out if out[-1] == total else [*out, total])
    chosen = sorted({int(x) for x in ns})
    if not chosen or chosen[0] < 1 or chosen[-1] > total:
        raise InputError(f"{what}: ns must be integers between 1 and the smallest prompt's number of candidates "
                         f"({total}), got {list(ns)}")
    return tuple(chosen)


def _rows(values: Any, what: str) -> np.ndarray | list[np.ndarray]:
    """A [P, N] array (a 1-D array is one prompt), or, for prompts with different numbers of
    candidates, one 1-D array per prompt."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except ValueError:  # ragged: one sequence per prompt
        rows = [np.asarray(r, dtype=np.float64) for r in values]
        if any(r.ndim != 1 or r.size == 0 for r in rows):
            raise InputError(f"{what}: each prompt needs a flat, non-empty list of candidates") from None
        return rows
    arr = arr[None, :] if arr.ndim == 1 else arr
    if arr.ndim != 2 or 0 in arr.shape:
        raise InputError(f"{what}: expected a [prompts, candidates] array, got shape {arr.shape}")
    return arr


def _blocks(keys: Any, values: Any, what: str, names: tuple[str, str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``keys`` and ``values`` as aligned [P_k, N_k] blocks, one per number of candidates per prompt."""
    a, b = _rows(keys, f"{what}: {names[0]}"), _rows(values, f"{what}: {names[1]}")
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape:
        return [(a, b)]
    ra, rb = list(a), list(b)
    if len(ra) != len(rb) or any(len(x) != len(y) for x, y in zip(ra, rb, strict=True)):
        raise InputError(f"{what}: {names[1]} and {names[0]} differ in shape; pass one per candidate")
    by_size: dict[int, list[int]] = {}
    for i, row in enumerate(ra):
        by_size.setdefault(len(row), []).append(i)
    return [(np.stack([ra[i] for i in idx]), np.stack([rb[i] for i in idx])) for idx in by_size.values()]


def _mean(picks: list[TopPick], n: int, prompts: int) -> float:
    """The mean over all prompts of the expectation at subset size ``n``."""
    return float(sum(float(p.expected(n).sum()) for p in picks) / prompts)


def best_of_n(scores: Any, correct: Any, ns: Iterable[int] | None = None) -> BestOfN:
    """Best-of-n accuracy of a reward on [P, N] candidates (or a list of P lists of any lengths) with
    gold correctness in [0, 1].

    reward: E[correct of the reward's pick] (:class:`TopPick`, ties averaged, unscorable
    lowest). oracle: E[max correct of the subset] = 1 - C(N - c, n) / C(N, n) for c correct
    candidates (the same estimator with correctness as the key). random: mean correct (any n).
    Each is a mean over prompts; n runs up to the smallest prompt's number of candidates.
    """
    blocks = _blocks(scores, correct, "best_of_n", ("scores", "correct"))
    for s, y in blocks:
        if np.isnan(y).any() or (y < 0).any() or (y > 1).any():
            raise InputError("best_of_n: correct must be gold labels in [0, 1] (0/1 or booleans) with none missing")
        if np.isinf(s).any():
            raise InputError("best_of_n: scores must be finite or NaN (unscorable); got an infinite score")
    prompts = sum(len(s) for s, _ in blocks)
    sizes = _ns(ns, min(s.shape[1] for s, _ in blocks), "best_of_n")
    by_reward = [TopPick(s, y) for s, y in blocks]
    by_gold = [TopPick(y, y) for _, y in blocks]
    random = float(sum(float(y.mean(axis=1).sum()) for _, y in blocks) / prompts)
    return BestOfN(n=sizes, reward=tuple(_mean(by_reward, n, prompts) for n in sizes),
                   oracle=tuple(_mean(by_gold, n, prompts) for n in sizes), random=tuple(random for _ in sizes),
                   prompts=prompts, candidates=sum(s.size for s, _ in blocks),
                   unscorable=sum(int(np.isnan(s).sum()) for s, _ in blocks))


def kl_bon(n: int) -> float:
    """KL divergence of best-of-n from the base policy, log n - (n - 1) / n (Gao et al., arXiv 2210.10760,
    section 2; Stiennon et al. 2020, appendix G.3)."""
    return float(np.log(n) - (n - 1) / n)


def overoptimisation(proxy: Any, gold: Any, ns: Iterable[int] | None = None) -> OverOptimisation:
    """The best-of-n over-optimisation curve of Gao et al. (arXiv 2210.10760): E[gold] and E[proxy] of
    the candidate the proxy picks from n, per n (:class:`TopPick`), against KL_bon. Shapes as in
    :func:`best_of_n`.

    A prompt with any unscorable proxy score is excluded (counted in ``excluded_prompts``): the proxy
    value of an unscorable pick is undefined. Gold must be complete.
    """
    blocks = _blocks(proxy, gold, "overoptimisation", ("proxy", "gold"))
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    excluded = 0
    for p, g in blocks:
        if not np.isfinite(g).all():
            raise InputError("overoptimisation: gold rewards must all be finite; drop the prompts lacking one")
        if np.isinf(p).any():
            raise InputError("overoptimisation: proxy scores must be finite or NaN (unscorable)")
        keep = ~np.isnan(p).any(axis=1)
        excluded += int((~keep).sum())
        if keep.any():
            kept.append((p[keep], g[keep]))
    if not kept:
        raise InputError("overoptimisation: every prompt has an unscorable proxy score; nothing to measure")
    prompts = sum(len(p) for p, _ in kept)
    sizes = _ns(ns, min(p.shape[1] for p, _ in kept), "overoptimisation")
    gold_pick = [TopPick(p, g) for p, g in kept]
    proxy_pick = [TopPick(p, p) for p, _ in kept]
    return OverOptimisation(n=sizes, kl=tuple(kl_bon(n) for n in sizes),
                            gold=tuple(_mean(gold_pick, n, prompts) for n in sizes),
                            proxy=tuple(_mean(proxy_pick, n, prompts) for n in sizes),
                            prompts=prompts, excluded_prompts=excluded)

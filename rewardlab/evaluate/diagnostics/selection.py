"""Best-of-n selection, computed exactly over all size-n subsets.

From N candidates per prompt, best-of-n draws n of them uniformly without
replacement and keeps the one the reward scores highest. Its expected outcome is
an average over all C(N, n) subsets, which :func:`expected_pick` computes in
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


def expected_pick(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per row of ``keys`` [P, N]: E[value of the highest-key candidate of a uniform size-n subset].

    Gao et al. (arXiv 2210.10760, section 2): with candidates sorted by key ascending,
    E = sum_{i=n..N} C(i-1, n-1) / C(N, n) value_(i). With ties, the top of the subset lies in tie
    group g (L_g candidates below it, m_g in it) with probability (C(L_g + m_g, n) - C(L_g, n)) / C(N, n),
    and the pick is then uniform over the group's members in the subset, whose expected value is the
    group's mean value by symmetry. ``NaN`` keys form the lowest group (module docstring).
    """
    total = keys.shape[1]
    scored = ~np.isnan(keys)
    order = np.lexsort((np.where(scored, keys, 0.0), scored), axis=-1)
    k = np.take_along_axis(np.where(scored, keys, 0.0), order, axis=1)
    s = np.take_along_axis(scored, order, axis=1)
    v = np.take_along_axis(values, order, axis=1)
    same = (k[:, 1:] == k[:, :-1]) & (s[:, 1:] == s[:, :-1])  # j and j+1 in one tie group
    idx = np.arange(total)
    starts = np.where(np.concatenate([np.ones((len(k), 1), bool), ~same], axis=1), idx, 0)
    lo = np.maximum.accumulate(starts, axis=1)
    ends = np.where(np.concatenate([~same, np.ones((len(k), 1), bool)], axis=1), idx + 1, total)
    hi = np.minimum.accumulate(ends[:, ::-1], axis=1)[:, ::-1]
    r = subset_max_ratio(total, n)
    return (v * (r[hi] - r[lo]) / (hi - lo)).sum(axis=1)


def _ns(ns: Iterable[int] | None, total: int, what: str) -> tuple[int, ...]:
    """1, 2, 4, ... up to ``total`` (and ``total`` itself) unless given; each checked in [1, total]."""
    if ns is None:
        out = [1 << i for i in range(total.bit_length()) if 1 << i <= total]
        return tuple(out if out[-1] == total else [*out, total])
    chosen = sorted({int(x) for x in ns})
    if not chosen or chosen[0] < 1 or chosen[-1] > total:
        raise InputError(f"{what}: ns must be integers between 1 and N = {total}, got {list(ns)}")
    return tuple(chosen)


def _grid(values: Any, what: str) -> np.ndarray:
    """A [P, N] float array (a 1-D array is one prompt)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[None, :] if arr.ndim == 1 else arr
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InputError(f"{what}: expected a [prompts, candidates] array, got shape {arr.shape}")
    return arr


def best_of_n(scores: Any, correct: Any, ns: Iterable[int] | None = None) -> BestOfN:
    """Best-of-n accuracy of a reward on [P, N] candidates with gold correctness in [0, 1].

    reward: E[correct of the reward's pick] (:func:`expected_pick`, ties averaged, unscorable
    lowest). oracle: E[max correct of the subset] = 1 - C(N - c, n) / C(N, n) for c correct
    candidates (the same estimator with correctness as the key). random: mean correct (any n).
    Each averaged over prompts.
    """
    s = _grid(scores, "best_of_n: scores")
    y = _grid(correct, "best_of_n: correct")
    if y.shape != s.shape:
        raise InputError(f"best_of_n: correct has shape {y.shape}, scores {s.shape}; pass one label per candidate")
    if np.isnan(y).any() or (y < 0).any() or (y > 1).any():
        raise InputError("best_of_n: correct must be gold labels in [0, 1] (0/1 or booleans) with none missing")
    if np.isinf(s).any():
        raise InputError("best_of_n: scores must be finite or NaN (unscorable); got an infinite score")
    sizes = _ns(ns, s.shape[1], "best_of_n")
    return BestOfN(n=sizes,
                   reward=tuple(float(expected_pick(s, y, n).mean()) for n in sizes),
                   oracle=tuple(float(expected_pick(y, y, n).mean()) for n in sizes),
                   random=tuple(float(y.mean()) for _ in sizes),
                   prompts=s.shape[0], candidates=s.size, unscorable=int(np.isnan(s).sum()))


def kl_bon(n: int) -> float:
    """KL divergence of best-of-n from the base policy, log n - (n - 1) / n (Gao et al., arXiv 2210.10760,
    section 2; Stiennon et al. 2020, appendix G.3)."""
    return float(np.log(n) - (n - 1) / n)


def overoptimisation(proxy: Any, gold: Any, ns: Iterable[int] | None = None) -> OverOptimisation:
    """The best-of-n over-optimisation curve of Gao et al. (arXiv 2210.10760): E[gold] and E[proxy] of
    the candidate the proxy picks from n, per n (:func:`expected_pick`), against KL_bon.

    A prompt with any unscorable proxy score is excluded (counted in ``excluded_prompts``): the proxy
    value of an unscorable pick is undefined. Gold must be complete.
    """
    p = _grid(proxy, "overoptimisation: proxy")
    g = _grid(gold, "overoptimisation: gold")
    if g.shape != p.shape:
        raise InputError(f"overoptimisation: gold has shape {g.shape}, proxy {p.shape}; pass one per candidate")
    if not np.isfinite(g).all():
        raise InputError("overoptimisation: gold rewards must all be finite; drop the prompts lacking one")
    if np.isinf(p).any():
        raise InputError("overoptimisation: proxy scores must be finite or NaN (unscorable)")
    keep = ~np.isnan(p).any(axis=1)
    p, g = p[keep], g[keep]
    sizes = _ns(ns, p.shape[1], "overoptimisation")
    if not len(p):
        raise InputError("overoptimisation: every prompt has an unscorable proxy score; nothing to measure")
    return OverOptimisation(n=sizes, kl=tuple(kl_bon(n) for n in sizes),
                            gold=tuple(float(expected_pick(p, g, n).mean()) for n in sizes),
                            proxy=tuple(float(expected_pick(p, p, n).mean()) for n in sizes),
                            prompts=len(p), excluded_prompts=int((~keep).sum()))

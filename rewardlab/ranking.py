"""Ranks within groups, vectorised over the whole batch, and the normal quantile function.

Used by the rank-based estimators and filters (``gaussian_rank``, ``prof``) and the
quantile transforms. Everything runs on flat arrays with integer group codes: one
sort of the batch, no Python loop per group.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Wichura (1988), "Algorithm AS241: The Percentage Points of the Normal
# Distribution", Applied Statistics 37(3): 477-484 (PPND16, about 1e-16 relative
# error); the same coefficients as CPython's ``statistics.NormalDist.inv_cdf``.
# Hand-written because numpy has no inverse normal CDF and scipy is not a
# dependency; highest power first, for ``np.polyval``.
_CENTRAL_NUM = [2.5090809287301226727e3, 3.3430575583588128105e4, 6.7265770927008700853e4,
                4.5921953931549871457e4, 1.3731693765509461125e4, 1.9715909503065514427e3,
                1.3314166789178437745e2, 3.3871328727963666080e0]
_CENTRAL_DEN = [5.2264952788528545610e3, 2.8729085735721942674e4, 3.9307895800092710610e4,
                2.1213794301586595867e4, 5.3941960214247511077e3, 6.8718700749205790830e2,
                4.2313330701600911252e1, 1.0]
_MID_NUM = [7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
            1.27045825245236838258e0, 3.64784832476320460504e0, 5.76949722146069140550e0,
            4.63033784615654529590e0, 1.42343711074968357734e0]
_MID_DEN = [1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
            1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e0,
            2.05319162663775882187e0, 1.0]
_TAIL_NUM = [2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
             2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e0,
             5.46378491116411436990e0, 6.65790464350110377720e0]
_TAIL_DEN = [2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
             7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
             5.99832206555887937690e-1, 1.0]


def normal_ppf(p: np.ndarray) -> np.ndarray:
    """Phi^-1(p), the standard normal quantile, elementwise for p in (0, 1) (AS241)."""
    p = np.asarray(p, dtype=np.float64)
    q = p - 0.5
    out = np.empty_like(p)
    central = np.abs(q) <= 0.425
    qc = q[central]
    r = 0.180625 - qc * qc
    out[central] = qc * np.polyval(_CENTRAL_NUM, r) / np.polyval(_CENTRAL_DEN, r)
    qt = q[~central]
    with np.errstate(divide="ignore", invalid="ignore"):
        rt = np.sqrt(-np.log(np.where(qt < 0.0, p[~central], 1.0 - p[~central])))
    mid = rt <= 5.0
    x = np.where(
        mid,
        np.polyval(_MID_NUM, rt - 1.6) / np.polyval(_MID_DEN, rt - 1.6),
        np.polyval(_TAIL_NUM, rt - 5.0) / np.polyval(_TAIL_DEN, rt - 5.0),
    )
    out[~central] = np.where(qt < 0.0, -x, x)
    return out


def sorted_within_groups(
    values: np.ndarray, group: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions ordered by (group, value), ties in their original order; and, in that
    order, each position's group and whether its (group, value) differs from the
    previous position's.

    ``np.lexsort`` gives this order but is slow (about 0.2 s for a million
    rollouts), and so is ``argsort``; ``np.sort`` of int64 is many times faster.
    So when the values take at most 65,536 distinct values (rewards usually take
    few) each sample becomes one int64, (group, value code, position) packed in
    bits, sorted with ``np.sort``; the position bits make it stable and give the
    order back, the high bits the keys. Otherwise: one stable argsort of the
    values, then a stable radix pass per 16 bits of the group code (numpy sorts
    16-bit integers by radix).
    """
    n = len(values)
    distinct = np.unique(values)
    pos_bits = max(n - 1, 1).bit_length()
    key_bits = max(max(n_groups, 1) * len(distinct) - 1, 1).bit_length()
    new = np.ones(n, dtype=bool)
    if len(distinct) <= 1 << 16 and pos_bits + key_bits <= 63:
        code = value_codes(values, distinct)
        packed = np.sort(((group * len(distinct) + code) << pos_bits) | np.arange(n))
        key = packed >> pos_bits
        new[1:] = key[1:] != key[:-1]
        return packed & ((1 << pos_bits) - 1), key // len(distinct), new
    order = np.argsort(values, kind="stable")
    g = group[order]
    shift = 0
    while (max(n_groups, 1) - 1) >> shift:
        digit = ((g >> shift) & 0xFFFF).astype(np.uint16)
        o = np.argsort(digit, kind="stable")
        order, g = order[o], g[o]
        shift += 16
    v = values[order]
    new[1:] = (g[1:] != g[:-1]) | (v[1:] != v[:-1])
    return order, g, new


def value_codes(values: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """Index of each value in the sorted array ``distinct`` (which holds every value).

    For up to 64 distinct values a chain of comparisons on int8 counters, several
    times faster than ``np.searchsorted`` on a million unsorted floats (measured
    2 vs 56 ms for six values); beyond that ``np.searchsorted``.
    """
    if len(distinct) > 64:
        return np.searchsorted(distinct, values)
    code = np.zeros(len(values), dtype=np.int8)
    for edge in distinct[1:]:  # one pass per distinct value, at most 63
        code += values >= edge
    return code.astype(np.int64)


def sort_within_groups(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Positions ordered by (group, value), ties in their original order."""
    return sorted_within_groups(values, group, n_groups)[0]


@dataclass
class TieBlocks:
    """Runs of equal values within a group, in (group, value) order.

    ``order``: the positions in that order; per block: ``length`` (members),
    ``low`` (0-based rank of its first member within the group; it covers ranks
    [low, low + length)) and ``size`` (its group's member count).
    """

    order: np.ndarray
    length: np.ndarray
    low: np.ndarray
    size: np.ndarray


def tie_blocks(values: np.ndarray, group: np.ndarray, n_groups: int) -> TieBlocks:
    """Tie blocks of ``values`` (no NaN) within groups, see :class:`TieBlocks`.

    Work per sample is a few vectorised passes; everything after that is per block.
    """
    order, g, new_block = sorted_within_groups(values, group, n_groups)
    n = len(order)
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = g[1:] != g[:-1]
    starts = np.flatnonzero(new_block)
    group_starts = np.flatnonzero(new_group)
    group_of_block = np.cumsum(new_group)[starts] - 1
    first = group_starts[group_of_block]
    sizes = np.diff(np.append(group_starts, n))
    return TieBlocks(order, np.diff(np.append(starts, n)), starts - first, sizes[group_of_block])


@lru_cache(maxsize=64)
def _size_table(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(quantile, total) of :func:`rank_quantile_sums` for one size n (cached: a
    trainer's batch and group sizes repeat, and a batch-wide pass over a million
    samples needs half a million quantiles)."""
    j = np.arange(n + 1)
    lower = np.arange(1, (n + 1) // 2 + 1)  # ranks up to the middle
    quantile = np.zeros(n + 1)
    quantile[lower] = normal_ppf((2 * lower - 1) / (2.0 * n))
    upper = j[2 * j > n + 1]  # mirror rank n + 1 - j: the negated quantile
    quantile[upper] = -quantile[n + 1 - upper]
    cum = np.concatenate([[0.0], np.cumsum(quantile[1 : n // 2 + 1])])
    total = cum[np.minimum(j, n - j)]
    quantile.flags.writeable = False
    total.flags.writeable = False
    return quantile, total


def rank_quantile_sums(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantiles Phi^-1((k - 1/2) / n) and their sums over the first j ranks, per distinct n.

    Returns ``(quantile, total, offset)``: ``quantile[offset[n] + k]`` for k = 1..n
    and ``total[offset[n] + j]``, the sum over ranks 1..j, for j = 0..n. The
    quantiles are antisymmetric, so that sum equals the sum over the first
    min(j, n - j) ranks; it is computed that way, so ``total[n - j] == total[j]``
    exactly: a block of ranks symmetric about the middle (a tied group) has mean
    exactly 0, and equal values stay equal for a later ranking. (An untied rank
    takes its quantile itself, which depends only on the rational (k - 1/2) / n.)
    """
    distinct = np.flatnonzero(np.bincount(sizes)) if sizes.size else np.zeros(0, dtype=np.int64)
    offset = np.zeros(int(distinct.max(initial=0)) + 1, dtype=np.int64)
    lengths = distinct + 1
    offset[distinct] = np.cumsum(lengths) - lengths
    tables = [_size_table(int(n)) for n in distinct]  # one per distinct size, not per group
    if not tables:
        return np.zeros(0), np.zeros(0), offset
    return np.concatenate([q for q, _ in tables]), np.concatenate([t for _, t in tables]), offset


def _block_means(size: np.ndarray, low: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Mean of Phi^-1((k - 1/2) / n) over ranks k in (low, low + length] of a group of n."""
    quantile, total, offset = rank_quantile_sums(size)
    base = offset[size]
    high = low + length
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(length == 1, quantile[base + high], (total[base + high] - total[base + low]) / length)


def gaussian_rank(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Each group's values mapped to N(0, 1) by rank (1-D optimal transport), NaN kept.

    The member of rank k (1-based, ascending) of a group of n scorable members gets
    Phi^-1((k - 1/2) / n); tied members get the mean of their ranks' quantiles.
    A group's outputs sum to 0; a group with one scorable member gets 0.

    Rewards usually take few distinct values: then (groups x distinct values) is
    small and the ranks come from counting, with no sort (a ``bincount`` of
    (group, value code) cells, cumulated along the values); otherwise from
    :func:`tie_blocks`.
    """
    ok = ~np.isnan(values)
    if not ok.any():
        return np.full(len(values), np.nan)
    all_ok = bool(ok.all())
    v, g = (values, group) if all_ok else (values[ok], group[ok])
    distinct = np.unique(v)
    u = len(distinct)
    if n_groups * u <= 2 * len(v) + 1024:
        cell = g * u + value_codes(v, distinct)
        count = np.bincount(cell, minlength=n_groups * u).reshape(n_groups, u)
        high = np.cumsum(count, axis=1)
        used = np.flatnonzero(count)
        rows = used // u
        means = np.zeros(n_groups * u)
        means[used] = _block_means(high[:, -1][rows], (high - count).ravel()[used], count.ravel()[used])
        sub = means[cell]
    else:
        blocks = tie_blocks(v, g, n_groups)
        sub = np.empty(len(v))
        sub[blocks.order] = np.repeat(_block_means(blocks.size, blocks.low, blocks.length), blocks.length)
    if all_ok:
        return sub
    out = np.full(len(values), np.nan)
    out[ok] = sub
    return out

"""Rank statistics of rewards: length bias and agreement between two rewards.

Pairs where either value is ``NaN`` (unscorable) are left out and counted in
``unscorable``. Rank correlations: Spearman's rho from numpy average ranks (the
same value as scipy's ``spearmanr``), Kendall's tau-b (which corrects for ties)
scipy's; ``None`` where undefined (fewer than two points, or a constant input).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardlab.errors import InputError, import_extra
from rewardlab.evaluate.diagnostics._common import EXTRA, finite, point_sample, scores_1d, spearman


@dataclass(frozen=True)
class LengthBias:
    """Spearman correlation of reward with length, and points [[length, reward], ...] to plot."""

    spearman: float | None
    n: int
    unscorable: int
    points: tuple[tuple[float, float], ...]

    def to_json(self) -> dict[str, Any]:
        return {"spearman": self.spearman, "n": self.n, "unscorable": self.unscorable,
                "points": [list(p) for p in self.points]}


@dataclass(frozen=True)
class PairLengthBias:
    """Preference accuracy split by which side of the pair is longer (strict ``>``; a tie is 0)."""

    longer_rejected_accuracy: float | None
    longer_rejected: int
    longer_chosen_accuracy: float | None
    longer_chosen: int
    equal_length_accuracy: float | None
    equal_length: int
    ties: int
    unscorable: int
    points: tuple[tuple[float, float], ...]

    def to_json(self) -> dict[str, Any]:
        return {"longer_rejected_accuracy": self.longer_rejected_accuracy, "longer_rejected": self.longer_rejected,
                "longer_chosen_accuracy": self.longer_chosen_accuracy, "longer_chosen": self.longer_chosen,
                "equal_length_accuracy": self.equal_length_accuracy, "equal_length": self.equal_length,
                "n": self.longer_rejected + self.longer_chosen + self.equal_length, "ties": self.ties,
                "unscorable": self.unscorable, "points": [list(p) for p in self.points]}


@dataclass(frozen=True)
class Agreement:
    """Cohen's kappa on binarised rewards, Spearman and Kendall rank correlations."""

    kappa: float | None
    spearman: float | None
    kendall: float | None
    threshold_a: float | None
    threshold_b: float | None
    n: int
    unscorable: int

    def to_json(self) -> dict[str, Any]:
        return {"kappa": self.kappa, "spearman": self.spearman, "kendall": self.kendall,
                "threshold_a": self.threshold_a, "threshold_b": self.threshold_b,
                "n": self.n, "unscorable": self.unscorable}


def _both_scored(*arrays: np.ndarray) -> tuple[np.ndarray, int]:
    """Mask of rows where every array has a value; the count of the others."""
    keep = np.logical_and.reduce([~np.isnan(a) for a in arrays])
    return keep, int((~keep).sum())


def _rank_corr(kind: str, x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rho (Spearman 1904; :func:`spearman`) or Kendall's tau-b (Kendall 1945); None if undefined."""
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    if kind == "spearman":
        return finite(spearman(x, y))
    # Kendall's tau-b needs O(n log n) discordant-pair counting with tie corrections (Knight 1966),
    # which scipy does in compiled code; only the agreement of two rewards asks for it, so scipy.stats
    # (1-2 s to import) is loaded here and nowhere on the default single-reward path.
    stats = import_extra("scipy.stats", EXTRA, "Kendall's tau")
    return finite(stats.kendalltau(x, y).statistic)


def length_bias(rewards: Any, lengths: Any) -> LengthBias:
    """Spearman's rank correlation of reward with completion length (positive: longer is paid more)."""
    r = scores_1d(rewards, "length_bias: rewards")
    n_len = scores_1d(lengths, "length_bias: lengths", len(r))
    if np.isnan(n_len).any():
        raise InputError("length_bias: a length is missing (NaN); pass every completion's length")
    keep, unscorable = _both_scored(r)
    x, y = n_len[keep], r[keep]
    return LengthBias(spearman=_rank_corr("spearman", x, y), n=len(x), unscorable=unscorable,
                      points=point_sample(x, y))


def _accuracy(wins: np.ndarray, mask: np.ndarray) -> tuple[float | None, int]:
    count = int(mask.sum())
    return (float(wins[mask].mean()) if count else None), count


def pair_length_bias(chosen: Any, rejected: Any, chosen_len: Any, rejected_len: Any) -> PairLengthBias:
    """Preference accuracy (chosen scored strictly above rejected) on the pairs whose longer answer is
    the rejected one, the chosen one, or neither. A reward that prefers length wins the second
    group and loses the first: the gap between the two accuracies is its length bias.
    ``points`` are ``[len_chosen - len_rejected, r_chosen - r_rejected]``."""
    c = scores_1d(chosen, "pair_length_bias: chosen")
    r = scores_1d(rejected, "pair_length_bias: rejected", len(c))
    lc = scores_1d(chosen_len, "pair_length_bias: chosen_len", len(c))
    lr = scores_1d(rejected_len, "pair_length_bias: rejected_len", len(c))
    if np.isnan(lc).any() or np.isnan(lr).any():
        raise InputError("pair_length_bias: a length is missing (NaN); pass every answer's length")
    keep, unscorable = _both_scored(c, r)
    c, r, lc, lr = c[keep], r[keep], lc[keep], lr[keep]
    wins = (c > r).astype(np.float64)
    lr_acc, lr_n = _accuracy(wins, lr > lc)
    lc_acc, lc_n = _accuracy(wins, lc > lr)
    eq_acc, eq_n = _accuracy(wins, lc == lr)
    return PairLengthBias(longer_rejected_accuracy=lr_acc, longer_rejected=lr_n,
                          longer_chosen_accuracy=lc_acc, longer_chosen=lc_n,
                          equal_length_accuracy=eq_acc, equal_length=eq_n, ties=int((c == r).sum()),
                          unscorable=unscorable,
                          points=point_sample(lc - lr, c - r))


def cohen_kappa(x: np.ndarray, y: np.ndarray) -> float | None:
    """Cohen's kappa (Cohen 1960): (p_o - p_e) / (1 - p_e) for two 0/1 labelings, p_o the observed
    agreement and p_e = P(x=1)P(y=1) + P(x=0)P(y=0) the chance agreement; None when p_e = 1."""
    if len(x) == 0:
        return None
    p_o = float((x == y).mean())
    px, py = float(x.mean()), float(y.mean())
    p_e = px * py + (1 - px) * (1 - py)
    return None if p_e == 1.0 else (p_o - p_e) / (1 - p_e)


def agreement(a: Any, b: Any, threshold: float | tuple[float, float] | None = None) -> Agreement:
    """How far two rewards agree on the same candidates.

    kappa: Cohen's kappa of the labels ``value >= threshold`` (one threshold for both, a pair
    ``(t_a, t_b)``, or ``None``: each reward's own median). Spearman's rho and Kendall's tau-b on
    the raw values.
    """
    x = scores_1d(a, "agreement: a")
    y = scores_1d(b, "agreement: b", len(x))
    keep, unscorable = _both_scored(x, y)
    x, y = x[keep], y[keep]
    if threshold is None:
        ta, tb = (float(np.median(x)), float(np.median(y))) if len(x) else (None, None)
    elif isinstance(threshold, tuple):
        ta, tb = float(threshold[0]), float(threshold[1])
    else:
        ta = tb = float(threshold)
    kappa = None if ta is None or tb is None else cohen_kappa(x >= ta, y >= tb)
    return Agreement(kappa=kappa, spearman=_rank_corr("spearman", x, y), kendall=_rank_corr("kendall", x, y),
                     threshold_a=ta, threshold_b=tb, n=len(x), unscorable=unscorable)

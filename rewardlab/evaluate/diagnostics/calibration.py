"""Calibration and classification of a verifier's scores against gold 0/1 labels.

Two of SWE-RM's three views of a verifier (SEEDS.md row 7: best-of-N,
classification accuracy, calibration; best-of-N is in
:mod:`rewardlab.evaluate.diagnostics.selection`). Unscorable candidates (score
``NaN``) are left out of every statistic and counted in ``unscorable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rewardlab.errors import InputError, import_extra
from rewardlab.evaluate.diagnostics._common import EXTRA, average_ranks, finite, labels_01, scores_1d

Probability = Literal["auto", "identity", "sigmoid"]
BINNING = ("equal-width bins [k/B, (k+1)/B) on [0, 1], edges computed as k/B; a value on an edge "
           "falls in the bin above it; the last bin [(B-1)/B, 1] is closed")


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of the reliability curve: mean predicted probability and fraction positive."""

    lo: float
    hi: float
    count: int
    confidence: float | None
    accuracy: float | None

    def to_json(self) -> dict[str, Any]:
        return {"lo": self.lo, "hi": self.hi, "count": self.count,
                "confidence": self.confidence, "accuracy": self.accuracy}


@dataclass(frozen=True)
class Calibration:
    """ECE, Brier score, ROC-AUC and the reliability curve of scores against 0/1 labels."""

    ece: float | None
    brier: float | None
    roc_auc: float | None
    n: int
    unscorable: int
    bins: int
    probability: str
    curve: tuple[ReliabilityBin, ...]

    def to_json(self) -> dict[str, Any]:
        return {"ece": self.ece, "brier": self.brier, "roc_auc": self.roc_auc, "n": self.n,
                "unscorable": self.unscorable, "bins": self.bins, "binning": BINNING,
                "probability": self.probability, "curve": [b.to_json() for b in self.curve]}


@dataclass(frozen=True)
class Classification:
    """Accuracy, precision, recall and F1 of ``score >= threshold`` against 0/1 labels."""

    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    unscorable: int

    def to_json(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "precision": self.precision, "recall": self.recall, "f1": self.f1,
                "threshold": self.threshold, "n": self.tp + self.fp + self.tn + self.fn,
                "tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn, "unscorable": self.unscorable}


def _scored(scores: Any, labels: Any, what: str) -> tuple[np.ndarray, np.ndarray, int]:
    """The scored candidates' scores and labels, and how many were unscorable (NaN score)."""
    s = scores_1d(scores, f"{what}: scores")
    y = labels_01(labels, f"{what}: labels", s.shape)
    keep = ~np.isnan(s)
    if np.isinf(s[keep]).any():
        raise InputError(f"{what}: scores must be finite or NaN (unscorable); got an infinite score")
    return s[keep], y[keep], int((~keep).sum())


def to_probability(scores: np.ndarray, probability: Probability) -> tuple[np.ndarray, str]:
    """Scores as probabilities of label 1, and the mapping used: ``identity`` (scores already in
    [0, 1]), ``sigmoid`` (logits: p = 1 / (1 + e^-s)), or ``auto`` (identity when every score is
    in [0, 1], else sigmoid)."""
    in_unit = bool(((scores >= 0.0) & (scores <= 1.0)).all())
    if probability == "auto":
        probability = "identity" if in_unit else "sigmoid"
    if probability == "identity":
        if not in_unit:
            raise InputError("calibration: probability='identity' needs scores in [0, 1]; "
                             "pass probability='sigmoid' for logits")
        return scores, "identity"
    if probability == "sigmoid":
        special = import_extra("scipy.special", EXTRA, "calibration")
        return np.asarray(special.expit(scores), dtype=np.float64), "sigmoid"
    raise InputError(f"calibration: probability must be 'auto', 'identity' or 'sigmoid', not {probability!r}")


def bin_index(p: np.ndarray, bins: int) -> np.ndarray:
    """The reliability bin of each probability (see ``BINNING``). Edges are ``k / bins``, the
    correctly rounded k/B, so the literal 0.3 is the edge itself (``np.linspace`` gives
    0.30000000000000004 there and would put 0.3 one bin lower)."""
    edges = np.arange(bins + 1, dtype=np.float64) / bins
    return np.minimum(np.searchsorted(edges, p, side="right") - 1, bins - 1)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """ROC-AUC as the Mann-Whitney statistic (Hanley & McNeil 1982, Radiology 143:29, the
    area equals the Wilcoxon-Mann-Whitney statistic):
    AUC = (R_1 - n_1 (n_1 + 1) / 2) / (n_1 n_0), R_1 the sum of the positives' average ranks,
    i.e. P(s_pos > s_neg) + 0.5 P(s_pos = s_neg). Written from average ranks because
    scikit-learn is not a dependency; ties get half credit through the average ranks. Computed
    on the raw scores: a sigmoid would saturate distinct large logits into false ties.
    ``None`` with only one class."""
    n1 = int(labels.sum())
    n0 = len(labels) - n1
    if n1 == 0 or n0 == 0:
        return None
    ranks = average_ranks(scores)
    return float((ranks[labels == 1.0].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def reliability(p: np.ndarray, y: np.ndarray, bins: int) -> tuple[ReliabilityBin, ...]:
    """Per bin: count, mean probability (confidence) and fraction of label 1 (accuracy)."""
    idx = bin_index(p, bins)
    count = np.bincount(idx, minlength=bins)
    conf = np.bincount(idx, weights=p, minlength=bins)
    acc = np.bincount(idx, weights=y, minlength=bins)
    return tuple(
        ReliabilityBin(lo=k / bins, hi=(k + 1) / bins, count=int(count[k]),
                       confidence=float(conf[k] / count[k]) if count[k] else None,
                       accuracy=float(acc[k] / count[k]) if count[k] else None)
        for k in range(bins))


def calibration(scores: Any, labels: Any, bins: int = 10, probability: Probability = "auto") -> Calibration:
    """Calibration of scores against 0/1 labels.

    ECE = sum_b (|B_b| / N) |acc(B_b) - conf(B_b)| (Guo et al. 2017, arXiv 1706.04599, section 2,
    "Expected Calibration Error"; Naeini et al. 2015), with conf the mean predicted probability of
    label 1 in the bin and acc the fraction of label 1 (the binary reliability diagram, not
    top-label confidence); binning in ``BINNING``. Brier = mean (p - y)^2 (Brier 1950). ROC-AUC: :func:`roc_auc`.
    """
    if not isinstance(bins, int) or bins < 1:
        raise InputError(f"calibration: bins must be a positive integer, not {bins!r}")
    s, y, unscorable = _scored(scores, labels, "calibration")
    p, used = to_probability(s, probability)
    curve = reliability(p, y, bins)
    n = len(p)
    ece = sum(b.count / n * abs(b.accuracy - b.confidence) for b in curve
              if b.accuracy is not None and b.confidence is not None) if n else None
    return Calibration(ece=finite(ece) if ece is not None else None,
                       brier=finite(np.mean((p - y) ** 2)) if n else None,
                       roc_auc=roc_auc(s, y), n=n, unscorable=unscorable, bins=bins, probability=used,
                       curve=curve)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def classification(scores: Any, labels: Any, threshold: float | Literal["auto"] = 0.5) -> Classification:
    """SWE-RM's classification view: predict 1 where ``score >= threshold``.

    ``threshold="auto"`` is 0.5 when every score is in [0, 1] and 0.0 (logit of 0.5) otherwise,
    as ``calibration``'s ``probability="auto"`` reads them. Precision = tp / (tp + fp),
    recall = tp / (tp + fn), F1 = 2 P R / (P + R) (van Rijsbergen 1979); each ``None`` where its
    denominator is 0 (F1 is 0.0 when P and R are both 0).
    """
    s, y, unscorable = _scored(scores, labels, "classification")
    if threshold == "auto":
        threshold = 0.5 if bool(((s >= 0.0) & (s <= 1.0)).all()) else 0.0
    if isinstance(threshold, str) or not np.isfinite(threshold):
        raise InputError(f"classification: threshold must be a finite number or 'auto', not {threshold!r}")
    pred = s >= threshold
    pos = y == 1.0
    tp, fp = int((pred & pos).sum()), int((pred & ~pos).sum())
    tn, fn = int((~pred & ~pos).sum()), int((~pred & pos).sum())
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = None if precision is None or recall is None else (
        0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
    return Classification(accuracy=_ratio(tp + tn, len(s)), precision=precision, recall=recall, f1=f1,
                          threshold=float(threshold), tp=tp, fp=fp, tn=tn, fn=fn, unscorable=unscorable)

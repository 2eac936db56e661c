"""Diagnostics: calibration, classification, length bias, agreement (hand-computed values and
scikit-learn as an oracle; scikit-learn is a dev dependency only)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import (
    brier_score_loss,
    cohen_kappa_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from rewardlab.errors import InputError
from rewardlab.evaluate.diagnostics import (
    agreement,
    calibration,
    classification,
    length_bias,
    pair_length_bias,
)
from rewardlab.evaluate.diagnostics.calibration import bin_index


def _dumps(obj: dict) -> str:
    return json.dumps(obj, allow_nan=False)


def test_calibration_hand_computed() -> None:
    # bins: 0.1 -> [0.1, 0.2) label 0; 0.3 -> [0.3, 0.4) label 1; 0.9, 1.0 -> [0.9, 1] labels 1, 1
    cal = calibration([0.1, 0.3, 0.9, 1.0, np.nan], [0, 1, 1, 1, 0])
    assert cal.n == 4 and cal.unscorable == 1 and cal.probability == "identity"
    assert cal.ece == pytest.approx(0.25 * 0.1 + 0.25 * 0.7 + 0.5 * 0.05)
    assert cal.brier == pytest.approx((0.01 + 0.49 + 0.01 + 0.0) / 4)
    assert cal.roc_auc == 1.0
    counts = [b.count for b in cal.curve]
    assert counts == [0, 1, 0, 1, 0, 0, 0, 0, 0, 2]
    last = cal.curve[-1]
    assert (last.lo, last.hi, last.confidence, last.accuracy) == (0.9, 1.0, pytest.approx(0.95), 1.0)
    out = cal.to_json()
    assert set(out) >= {"ece", "brier", "roc_auc", "n", "bins", "binning", "probability", "curve"}
    assert set(out["curve"][0]) == {"lo", "hi", "count", "confidence", "accuracy"}
    _dumps(out)


def test_bin_edges_fall_in_the_bin_above_and_one_in_the_last() -> None:
    # 0.3, 0.6 and 0.7 are where np.linspace's edges (0.30000000000000004, ...) would misplace them
    p = np.array([0.0, 0.1, 0.3, 0.6, 0.7, 0.99999, 1.0, 0.2999999])
    assert bin_index(p, 10).tolist() == [0, 1, 3, 6, 7, 9, 9, 2]
    assert bin_index(np.array([0.5, 1.0]), 2).tolist() == [1, 1]


def test_calibration_sigmoid_for_logits_and_auc_on_raw_scores() -> None:
    logits = np.array([-2.0, 0.0, 3.0, 40.0, 50.0])
    labels = np.array([0, 1, 0, 1, 1])
    cal = calibration(logits, labels)
    assert cal.probability == "sigmoid"
    p = 1 / (1 + np.exp(-logits))
    assert cal.brier == pytest.approx(brier_score_loss(labels, p))
    # 40 and 50 both saturate to p = 1.0 but are distinct scores: AUC ranks the raw scores
    assert cal.roc_auc == pytest.approx(roc_auc_score(labels, logits))
    with pytest.raises(InputError, match="identity"):
        calibration(logits, labels, probability="identity")


def test_roc_auc_and_brier_against_sklearn_with_ties() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        scores = rng.integers(0, 5, 40) / 4.0  # many ties
        labels = rng.integers(0, 2, 40)
        cal = calibration(scores, labels)
        if labels.min() == labels.max():
            assert cal.roc_auc is None
            continue
        assert cal.roc_auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        assert cal.brier == pytest.approx(brier_score_loss(labels, scores), abs=1e-12)


def test_calibration_undefined_and_bad_inputs() -> None:
    assert calibration([0.2, 0.8], [1, 1]).roc_auc is None
    empty = calibration([np.nan], [1])
    assert (empty.ece, empty.brier, empty.n, empty.unscorable) == (None, None, 0, 1)
    with pytest.raises(InputError, match="gold labels"):
        calibration([0.2, 0.8], [1, np.nan])
    with pytest.raises(InputError, match="gold labels"):
        calibration([0.2, 0.8], [1, 2])
    with pytest.raises(InputError, match="shape"):
        calibration([0.2, 0.8], [1])


def test_classification_against_sklearn() -> None:
    rng = np.random.default_rng(3)
    scores = rng.random(50)
    scores[[4, 9]] = 0.5  # on the threshold: predicted positive
    labels = rng.integers(0, 2, 50)
    c = classification(scores, labels)
    pred = scores >= 0.5
    assert c.accuracy == pytest.approx(float((pred == labels).mean()))
    assert c.precision == pytest.approx(precision_score(labels, pred))
    assert c.recall == pytest.approx(recall_score(labels, pred))
    assert c.f1 == pytest.approx(f1_score(labels, pred))
    _dumps(c.to_json())


def test_classification_auto_threshold_and_undefined() -> None:
    c = classification([-1.0, 2.0, np.nan], [0, 1, 1], threshold="auto")
    assert (c.threshold, c.accuracy, c.unscorable) == (0.0, 1.0, 1)
    none_predicted = classification([0.1, 0.2], [1, 0])
    assert none_predicted.precision is None and none_predicted.recall == 0.0 and none_predicted.f1 is None
    assert classification([0.9, 0.2], [0, 1]).f1 == 0.0


def test_length_bias() -> None:
    lb = length_bias([1.0, 2.0, 3.0, np.nan, 5.0], [10, 20, 30, 40, 50])
    assert (lb.spearman, lb.n, lb.unscorable) == (pytest.approx(1.0), 4, 1)
    assert lb.to_json()["points"][0] == [10.0, 1.0]
    assert length_bias([1.0, 1.0], [1, 2]).spearman is None  # constant reward
    big = length_bias(np.arange(5000.0), np.arange(5000.0))
    pts = big.to_json()["points"]
    assert len(pts) == 2000 and pts[0] == [0.0, 0.0] and pts[-1] == [4999.0, 4999.0]


def test_pair_length_bias_hand_computed() -> None:
    chosen = [1.0, 2.0, 3.0, 0.0, 5.0, np.nan]
    rejected = [0.0, 3.0, 3.0, 1.0, 1.0, 0.0]
    c_len = [5, 1, 2, 1, 9, 3]
    r_len = [1, 5, 2, 8, 2, 3]
    pb = pair_length_bias(chosen, rejected, c_len, r_len)
    # longer rejected: pairs 1 (2 < 3, loss) and 3 (0 < 1, loss); longer chosen: pairs 0 and 4 (wins)
    assert (pb.longer_rejected, pb.longer_rejected_accuracy) == (2, 0.0)
    assert (pb.longer_chosen, pb.longer_chosen_accuracy) == (2, 1.0)
    assert (pb.equal_length, pb.equal_length_accuracy, pb.ties, pb.unscorable) == (1, 0.0, 1, 1)
    _dumps(pb.to_json())


def test_agreement_against_sklearn_kappa() -> None:
    rng = np.random.default_rng(11)
    a = rng.normal(size=60)
    b = a + rng.normal(size=60)
    ag = agreement(a, b)
    expected = cohen_kappa_score(a >= np.median(a), b >= np.median(b))
    assert ag.kappa == pytest.approx(expected)
    assert ag.threshold_a == pytest.approx(np.median(a))
    fixed = agreement(a, b, threshold=0.0)
    assert fixed.kappa == pytest.approx(cohen_kappa_score(a >= 0, b >= 0))
    assert agreement(a, -a).spearman == pytest.approx(-1.0)
    assert agreement(a, -a).kendall == pytest.approx(-1.0)


def test_agreement_kendall_tau_b_with_ties_hand_computed() -> None:
    # x = [1, 2, 2, 3], y = [1, 1, 2, 3]: concordant 4, discordant 0, ties only in x 1, only in y 1
    # tau_b = (4 - 0) / sqrt((4 + 0 + 1) * (4 + 0 + 1)) = 0.8
    ag = agreement([1, 2, 2, 3, np.nan], [1, 1, 2, 3, 7], threshold=(2, 2))
    assert ag.kendall == pytest.approx(0.8)
    assert (ag.n, ag.unscorable) == (4, 1)
    # labels >= 2: x -> [0, 1, 1, 1], y -> [0, 0, 1, 1]: p_o = 3/4, p_e = 3/4 * 1/2 + 1/4 * 1/2 = 1/2
    assert ag.kappa == pytest.approx(0.5)
    assert agreement([1, 1], [1, 1], threshold=0).kappa is None


def test_average_ranks_and_spearman_are_scipys_value_for_value() -> None:
    from scipy.stats import rankdata, spearmanr

    from rewardlab.evaluate.diagnostics._common import average_ranks, spearman

    rng = np.random.default_rng(5)
    for trial in range(200):
        n = int(rng.integers(2, 40))
        x = rng.integers(0, 4, n).astype(float) if trial % 2 else rng.normal(size=n)  # many ties, or none
        y = rng.integers(0, 3, n).astype(float) if trial % 3 else rng.normal(size=n)
        assert np.array_equal(average_ranks(x), rankdata(x, method="average"))
        if np.ptp(x) > 0 and np.ptp(y) > 0:
            assert spearman(x, y) == spearmanr(x, y).statistic  # exactly, not approximately
    assert average_ranks(np.array([3.0, -0.0, 0.0, 2.0, 2.0])).tolist() == [5.0, 1.5, 1.5, 3.5, 3.5]


def test_one_rewards_diagnostics_do_not_import_scipy_stats() -> None:
    """Importing scipy.stats costs 1-2 s, most of a cheap reward's eval: only Kendall's tau (two rewards) needs it."""
    import subprocess
    import sys

    code = """
import sys
from rewardlab.evaluate.diagnostics import (best_of_n, calibration, classification, length_bias,
                                            overoptimisation, pair_length_bias, agreement)
s, y = [0.1, 0.9, 0.4, 0.8, 0.2, 0.7], [0, 1, 0, 1, 1, 0]
calibration(s, y); classification(s, y, threshold="auto"); length_bias(s, [3, 1, 4, 1, 5, 9])
pair_length_bias(s[:3], s[3:], [1, 2, 3], [3, 2, 1])
best_of_n([s[:3], s[3:]], [y[:3], y[3:]]); overoptimisation([s[:3], s[3:]], [s[3:], s[:3]])
assert "scipy.stats" not in sys.modules, "a one-reward diagnostic imported scipy.stats"
assert agreement(s, y).kendall is not None and "scipy.stats" in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

"""lexicographic and pareto(scope="batch") against per-group / per-pair loops."""

from __future__ import annotations

import numpy as np
import pytest

from rewardlab.combine import Lexicographic, Pareto, batch_fronts, pareto_fronts
from rewardlab.errors import SpecError
from tests.algebra_helpers import assert_close, make_ctx, random_groups, random_rewards
from tests.test_combine import pareto_loop


def heron_prefer(a, b, margins):
    """HERON's decision tree for one pair: +1 if a is preferred, -1 if b, 0 if no factor decides."""
    for x, y, m in zip(a, b, margins, strict=True):
        if abs(x - y) > m:
            return 1.0 if x > y else -1.0
    return 0.0


def lexicographic_loop(matrix, groups, margins):
    n = len(groups)
    out = np.full(n, np.nan)
    for g in np.unique(groups):
        members = [i for i in range(n) if groups[i] == g and not np.isnan(matrix[i]).any()]
        for i in members:
            wins = sum(heron_prefer(matrix[i], matrix[j], margins) for j in members if j != i)
            out[i] = wins / (len(members) - 1) if len(members) > 1 else 0.0
    return out


@pytest.mark.parametrize("seed", range(10))
def test_lexicographic_matches_loop(seed):
    rng = np.random.default_rng(seed)
    groups = random_groups(rng, 25, sizes=(1, 2, 3, 8))
    n = len(groups)
    comps = {
        "safety": rng.integers(0, 2, n).astype(float),
        "accuracy": random_rewards(rng, n, 0.1, "mixed"),
        "length": rng.integers(10, 40, n).astype(float),
    }
    order = ["safety", "accuracy", "length"]
    margins = {"accuracy": 0.3, "length": 5.0}
    w = {"length": -1.0}  # shorter is better
    matrix = np.column_stack([comps["safety"], comps["accuracy"], -comps["length"]])
    got = Lexicographic(order=order, margins=margins)(comps, w, make_ctx(groups))
    assert_close(got, lexicographic_loop(matrix, groups, [0.0, 0.3, 5.0]))
    assert np.nanmax(np.abs(got)) <= 1.0


def test_lexicographic_first_factor_dominates_and_errors():
    ctx = make_ctx(np.zeros(3, dtype=int))
    comps = {"a": np.array([1.0, 0.0, 1.0]), "b": np.array([0.0, 9.0, 5.0])}
    got = Lexicographic(order=["a", "b"])(comps, {}, ctx)
    assert_close(got, [0.0, -1.0, 1.0])  # a decides first; b breaks the tie between 0 and 2
    with pytest.raises(SpecError, match="unknown component"):
        Lexicographic(order=["a", "c"])(comps, {}, ctx)


@pytest.mark.parametrize("seed", range(8))
def test_pareto_batch_scope_matches_naive_sort(seed):
    rng = np.random.default_rng(seed)
    groups = random_groups(rng, 10)
    n = len(groups)
    comps = {"a": random_rewards(rng, n, 0.1, "ties"), "b": random_rewards(rng, n, 0.1, "ties")}
    matrix = np.column_stack([comps["a"], -comps["b"]])
    got = Pareto(scope="batch")(comps, {"b": -1.0}, make_ctx(groups))
    assert_close(got, pareto_loop(matrix, np.zeros(n, dtype=int)))


@pytest.mark.parametrize("chunk", [1, 3, 1024])
def test_batch_fronts_chunking_matches_pair_list(chunk):
    rng = np.random.default_rng(chunk)
    values = rng.integers(0, 4, (60, 3)).astype(float)
    expected = pareto_fronts(values, np.zeros(60, dtype=np.int64))
    np.testing.assert_array_equal(batch_fronts(values, chunk=chunk), expected)


# --------------------------------------------------------------------------- trust (SophiaVL-R1)


def released_trust_group(answers, process, discount):
    """SophiaVL-R1's released reward manager for one group (custom.py), its discount given."""
    answers, process = np.array(answers), np.array(process, dtype=float)
    if (answers >= 0.9).all() or (answers <= 0.1).all():
        return list(answers)  # process zeroed, discount 0
    process = np.where(answers >= 0.2, process, 0.0)  # the thinking RM is asked only from 0.2
    correct = answers >= 0.5
    correct_avg = process[correct].mean() if correct.any() else 0
    incorrect_avg = process[~correct].mean() if (~correct).any() else 0
    if correct_avg < incorrect_avg and correct.any():
        discount *= np.exp(correct_avg - incorrect_avg)
    return list(answers + discount * process)


@pytest.mark.parametrize("seed", range(10))
def test_trust_matches_released_reward_manager(seed):
    from rewardlab.combine import Trust

    rng = np.random.default_rng(seed)
    groups = random_groups(rng, 30, sizes=(1, 2, 4, 8))
    n = len(groups)
    answers = rng.choice([0.0, 0.15, 0.5, 1.0], n)
    answers[groups % 5 == 0] = 1.0  # some all-correct groups
    thinking = rng.uniform(size=n)
    comps = {"acc": answers, "think": thinking}
    got = Trust(outcome="acc", thinking="think")(comps, {"think": 0.3}, make_ctx(groups))
    expected = np.empty(n)
    for g in np.unique(groups):
        m = np.flatnonzero(groups == g)
        expected[m] = released_trust_group(answers[m], thinking[m], 0.3)
    assert_close(got, expected)


def test_trust_unscorable_members():
    from rewardlab.combine import Trust

    comps = {"acc": np.array([1.0, 0.0, np.nan]), "think": np.array([0.2, 0.9, 0.5])}
    got = Trust(outcome="acc", thinking="think")(comps, {}, make_ctx(np.zeros(3, dtype=int)))
    assert np.isnan(got[2])
    # the wrong answer's 0.9 is not asked (outcome < 0.2), so mu_w = 0 <= mu_c: full trust
    assert_close(got[:2], [1.0 + 0.2, 0.0])
    comps["acc"] = np.array([1.0, 0.3, 1.0])  # now the wrong answer's 0.9 counts: mu_c 0.35 < 0.9
    got = Trust(outcome="acc", thinking="think")(comps, {}, make_ctx(np.zeros(3, dtype=int)))
    gamma = np.exp(0.35 - 0.9)
    assert_close(got, [1.0 + gamma * 0.2, 0.3 + gamma * 0.9, 1.0 + gamma * 0.5])

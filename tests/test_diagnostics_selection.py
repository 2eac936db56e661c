"""Best-of-n and over-optimisation: the closed-form expectation over all size-n subsets checked
against brute-force enumeration of the subsets, with ties and unscorable candidates."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rewardlab.errors import InputError
from rewardlab.evaluate.diagnostics import best_of_n, overoptimisation
from rewardlab.evaluate.diagnostics.selection import subset_max_ratio


def _pick_value(scores: np.ndarray, values: np.ndarray, subset: tuple[int, ...]) -> float:
    """The expected value of the highest-scored member of ``subset``: uniform over ties at the top;
    NaN scores below every number (only picked, at random, when nothing else is there)."""
    scored = [i for i in subset if not np.isnan(scores[i])]
    pool = scored or list(subset)
    if scored:
        top = max(scores[i] for i in scored)
        pool = [i for i in scored if scores[i] == top]
    return float(np.mean([values[i] for i in pool]))


def _brute(scores: np.ndarray, values: np.ndarray, n: int) -> float:
    per_prompt = [np.mean([_pick_value(s, v, sub) for sub in itertools.combinations(range(len(s)), n)])
                  for s, v in zip(scores, values, strict=True)]
    return float(np.mean(per_prompt))


def _brute_max(values: np.ndarray, n: int) -> float:
    return float(np.mean([np.mean([max(v[i] for i in sub) for sub in itertools.combinations(range(len(v)), n)])
                          for v in values]))


@st.composite
def _grids(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    p = draw(st.integers(1, 3))
    n = draw(st.integers(1, 7))
    # few distinct values so that ties are common; NaN = unscorable
    scores = draw(arrays(np.float64, (p, n), elements=st.sampled_from([0.0, 0.5, 1.0, 2.0, np.nan])))
    correct = draw(arrays(np.float64, (p, n), elements=st.sampled_from([0.0, 1.0])))
    return scores, correct


@given(_grids())
@settings(max_examples=150, deadline=None)
def test_best_of_n_matches_brute_force_over_subsets(grid: tuple[np.ndarray, np.ndarray]) -> None:
    scores, correct = grid
    total = scores.shape[1]
    bon = best_of_n(scores, correct, ns=range(1, total + 1))
    assert bon.n == tuple(range(1, total + 1))
    for i, n in enumerate(bon.n):
        assert bon.reward[i] == pytest.approx(_brute(scores, correct, n), abs=1e-12)
        assert bon.oracle[i] == pytest.approx(_brute_max(correct, n), abs=1e-12)
        assert bon.random[i] == pytest.approx(correct.mean(), abs=1e-12)
    assert bon.unscorable == int(np.isnan(scores).sum())


@given(_grids(), st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_overoptimisation_matches_brute_force(grid: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    proxy, _ = grid
    gold = np.random.default_rng(seed).normal(size=proxy.shape)
    keep = ~np.isnan(proxy).any(axis=1)
    if not keep.any():
        with pytest.raises(InputError, match="every prompt"):
            overoptimisation(proxy, gold)
        return
    curve = overoptimisation(proxy, gold, ns=range(1, proxy.shape[1] + 1))
    assert (curve.prompts, curve.excluded_prompts) == (int(keep.sum()), int((~keep).sum()))
    for i, n in enumerate(curve.n):
        assert curve.gold[i] == pytest.approx(_brute(proxy[keep], gold[keep], n), abs=1e-12)
        assert curve.proxy[i] == pytest.approx(_brute(proxy[keep], proxy[keep], n), abs=1e-12)
        assert curve.kl[i] == pytest.approx(math.log(n) - (n - 1) / n)


def test_gao_formula_without_ties() -> None:
    # FORMULAS.md: sorted by proxy ascending, E[gold of best-of-n] = sum_{i=n..N} C(i-1, n-1) / C(N, n) gold_(i)
    rng = np.random.default_rng(5)
    proxy, gold = rng.normal(size=12), rng.normal(size=12)
    g = gold[np.argsort(proxy)]
    for n in (1, 3, 12):
        expected = sum(math.comb(i - 1, n - 1) / math.comb(12, n) * g[i - 1] for i in range(n, 13))
        assert overoptimisation(proxy, gold, ns=[n]).gold[0] == pytest.approx(expected, abs=1e-12)


def test_subset_max_ratio_is_exact_for_large_n_without_overflow() -> None:
    r = subset_max_ratio(2000, 700)
    assert r[-1] == 1.0 and r[699] == 0.0
    assert r[1500] == pytest.approx(math.comb(1500, 700) / math.comb(2000, 700), rel=1e-9)
    assert np.all(np.diff(r) >= 0)


def test_default_ns_and_json() -> None:
    bon = best_of_n(np.zeros((2, 6)), np.ones((2, 6)))
    out = bon.to_json()
    assert out["n"] == [1, 2, 4, 6]
    assert {"n", "reward", "oracle", "random"} <= set(out)
    assert best_of_n(np.zeros(8), np.ones(8)).n == (1, 2, 4, 8)
    oo = overoptimisation(np.arange(4.0), np.arange(4.0)).to_json()
    assert {"n", "kl", "gold", "proxy"} <= set(oo) and oo["gold"][-1] == 3.0
    json.dumps(out, allow_nan=False)
    json.dumps(oo, allow_nan=False)


def test_all_tied_reward_is_random_and_bad_inputs() -> None:
    correct = np.array([[1, 0, 0, 0], [1, 1, 0, 0]])
    bon = best_of_n(np.ones((2, 4)), correct)
    assert bon.reward == pytest.approx(bon.random)
    with pytest.raises(InputError, match="gold labels"):
        best_of_n(np.ones((1, 2)), [[1, np.nan]])
    with pytest.raises(InputError, match="shape"):
        best_of_n(np.ones((1, 2)), [[1, 0, 1]])
    with pytest.raises(InputError, match="ns must be"):
        best_of_n(np.ones((1, 2)), [[1, 0]], ns=[3])
    with pytest.raises(InputError, match="finite"):
        overoptimisation([[1.0, 2.0]], [[1.0, np.nan]])


@st.composite
def _ragged(draw: st.DrawFn) -> tuple[list[np.ndarray], list[np.ndarray]]:
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=4))
    scores = [draw(arrays(np.float64, (n,), elements=st.sampled_from([0.0, 1.0, 2.0, np.nan]))) for n in sizes]
    correct = [draw(arrays(np.float64, (n,), elements=st.sampled_from([0.0, 1.0]))) for n in sizes]
    return scores, correct


@given(_ragged())
@settings(max_examples=80, deadline=None)
def test_prompts_with_different_numbers_of_candidates(rows: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    scores, correct = rows
    smallest = min(len(s) for s in scores)
    bon = best_of_n([s.tolist() for s in scores], [c.tolist() for c in correct])
    assert bon.n[-1] == smallest and bon.prompts == len(scores)
    for i, n in enumerate(bon.n):
        per_prompt = [_brute(s[None], c[None], n) for s, c in zip(scores, correct, strict=True)]
        assert bon.reward[i] == pytest.approx(np.mean(per_prompt), abs=1e-12)
        assert bon.random[i] == pytest.approx(np.mean([c.mean() for c in correct]), abs=1e-12)
    gold = [np.arange(len(s), dtype=float) for s in scores]
    kept = [i for i, s in enumerate(scores) if not np.isnan(s).any()]
    if not kept:
        return
    curve = overoptimisation(scores, gold)
    assert (curve.prompts, curve.excluded_prompts) == (len(kept), len(scores) - len(kept))
    for i, n in enumerate(curve.n):
        expected = np.mean([_brute(scores[k][None], gold[k][None], n) for k in kept])
        assert curve.gold[i] == pytest.approx(expected, abs=1e-12)


def test_ragged_rows_must_line_up() -> None:
    with pytest.raises(InputError, match="differ in shape"):
        best_of_n([[1.0, 2.0], [1.0]], [[1, 0], [1, 0]])
    with pytest.raises(InputError, match="flat, non-empty"):
        best_of_n([[1.0, 2.0], []], [[1, 0], []])

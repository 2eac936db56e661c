"""Combiners against their formulas, written as per-sample / per-group loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardlab.batch import BatchContext
from rewardlab.combine import (
    Ensemble,
    Gated,
    LogSigmoidAnd,
    Pareto,
    Product,
    WeightedSum,
    group_pairs,
)
from rewardlab.errors import InputError, SpecError
from rewardlab.registry import _entries
from tests.algebra_helpers import assert_close, make_ctx, random_groups, random_rewards


def plain_ctx(n: int) -> BatchContext:
    return BatchContext.from_groups(np.arange(n))


def comps_batch(seed: int, k: int = 3, n: int = 40, p_none: float = 0.1):
    rng = np.random.default_rng(seed)
    comps = {f"c{i}": random_rewards(rng, n, p_none, "mixed") for i in range(k)}
    return rng, comps


def test_registered_names():
    assert {
        "weighted_sum",
        "gated",
        "product",
        "logsigmoid_and",
        "ensemble",
        "mean",
        "median",
        "min",
        "mean_minus_std",
        "mean_minus_var",
        "pareto",
    } <= set(_entries["combiner"])


@pytest.mark.parametrize("seed", range(6))
def test_weighted_sum(seed):
    _, comps = comps_batch(seed)
    w = {"c0": 2.0, "c1": -0.5}
    expected = 2.0 * comps["c0"] - 0.5 * comps["c1"] + comps["c2"]
    assert_close(WeightedSum()(comps, w, plain_ctx(40)), expected)


# --------------------------------------------------------------------------- gated


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("include_gate", [True, False])
@pytest.mark.parametrize("fail_value", [None, -1.0])
@pytest.mark.parametrize("strict", [False, True])
def test_gated_loop(seed, include_gate, fail_value, strict):
    rng, comps = comps_batch(seed)
    comps["fmt"] = random_rewards(rng, 40, 0.1, "binary")
    w = {"fmt": 0.5, "c0": 2.0}
    t = 0.0 if strict else 1.0
    got = Gated(
        gate="fmt", threshold=t, strict=strict, include_gate=include_gate, fail_value=fail_value
    )(comps, w, plain_ctx(40))
    for i in range(40):
        g = comps["fmt"][i]
        others = 2.0 * comps["c0"][i] + comps["c1"][i] + comps["c2"][i]
        gate_term = 0.5 * g
        if math.isnan(g):
            exp = math.nan
        elif (g > t) if strict else (g >= t):
            exp = others + (gate_term if include_gate else 0.0)
        else:
            exp = fail_value if fail_value is not None else (gate_term if include_gate else 0.0)
        if math.isnan(exp):
            assert math.isnan(got[i])
        else:
            assert got[i] == pytest.approx(exp, abs=1e-12)


def test_gated_several_gates_and_unknown_gate():
    comps = {
        "a": np.array([1.0, 1.0, 0.0]),
        "b": np.array([1.0, 0.0, 1.0]),
        "x": np.array([5.0, 5.0, np.nan]),
    }
    got = Gated(gate=["a", "b"], include_gate=False)(comps, {}, plain_ctx(3))
    assert_close(got, np.array([5.0, 0.0, 0.0]))  # a failed gate makes x irrelevant
    with pytest.raises(SpecError, match="nope"):
        Gated(gate="nope")(comps, {}, plain_ctx(3))


# --------------------------------------------------------------------------- product


def test_product_is_carl_style_penalty_product():
    comps = {
        "progress": np.array([0.8, 1.0, np.nan, 0.5]),
        "comfort": np.array([1.0, 0.5, 1.0, 0.0]),
        "ttc": np.array([0.9, 1.0, 1.0, 1.0]),
    }
    assert_close(Product()(comps, {}, plain_ctx(4)), np.array([0.72, 0.5, np.nan, 0.0]))
    w = {"comfort": 2.0}
    assert_close(Product()(comps, w, plain_ctx(4)), np.array([0.72, 0.25, np.nan, 0.0]))
    with pytest.raises(InputError, match="negative"):
        Product()({"a": np.array([-1.0])}, {"a": 0.5}, plain_ctx(1))


# --------------------------------------------------------------------------- logsigmoid_and


def ls(x: float) -> float:
    return -math.log1p(math.exp(-x))


@pytest.mark.parametrize("seed", range(6))
def test_logsigmoid_and_loop(seed):
    rng, comps = comps_batch(seed, k=2, n=20)
    metas = [
        {
            "ref_rewards": {
                "c0": rng.normal(size=int(rng.integers(1, 8))).tolist(),
                "c1": float(rng.normal()),
            }
        }
        for _ in range(20)
    ]
    ctx = make_ctx(np.arange(20), metas)
    w = {"c0": 1.0, "c1": 0.5}
    got = LogSigmoidAnd(quantile=0.85)(comps, w, ctx)
    fixed = LogSigmoidAnd(refs={"c0": 0.2, "c1": -0.1})(comps, w, ctx)
    for i in range(20):
        a, b = comps["c0"][i], comps["c1"][i]
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(got[i]) and math.isnan(fixed[i])
            continue
        r0 = np.quantile(metas[i]["ref_rewards"]["c0"], 0.85)
        r1 = metas[i]["ref_rewards"]["c1"]
        assert got[i] == pytest.approx(ls(a - r0) + 0.5 * ls(b - r1), abs=1e-12)
        assert fixed[i] == pytest.approx(ls(a - 0.2) + 0.5 * ls(b + 0.1), abs=1e-12)
    with pytest.raises(InputError, match="c0"):
        LogSigmoidAnd()(comps, w, make_ctx(np.arange(20)))


# --------------------------------------------------------------------------- ensembles


def ensemble_loop(comps, reduction, lam, standardize, require_all):
    names = list(comps)
    z = {}
    for name in names:
        v = comps[name]
        ok = v[~np.isnan(v)]
        z[name] = (v - ok.mean()) / (ok.std() + 1e-6) if standardize else v
    n = len(comps[names[0]])
    out = np.full(n, np.nan)
    for i in range(n):
        vals = [z[name][i] for name in names]
        present = [x for x in vals if not math.isnan(x)]
        if (require_all and len(present) < len(vals)) or not present:
            continue
        m = sum(present) / len(present)
        var = sum((x - m) ** 2 for x in present) / len(present)
        out[i] = {
            "mean": m,
            "median": float(np.median(present)),
            "min": min(present),
            "mean_minus_std": m - lam * math.sqrt(var),
            "mean_minus_var": m - lam * var,
        }[reduction]
    return out


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("reduction", ["mean", "median", "min", "mean_minus_std", "mean_minus_var"])
@pytest.mark.parametrize("require_all", [True, False])
@pytest.mark.parametrize("standardize", [True, False])
def test_ensemble_loop(seed, reduction, require_all, standardize):
    _, comps = comps_batch(seed, k=4, p_none=0.2)
    got = Ensemble(reduction=reduction, lam=0.7, require_all=require_all, standardize=standardize)(
        comps, {}, plain_ctx(40)
    )
    expected = ensemble_loop(comps, reduction, 0.7, standardize, require_all)
    assert_close(got, expected, atol=1e-9)


def test_ensemble_aliases_and_weights():
    _, comps = comps_batch(1, k=3)
    ctx = plain_ctx(40)
    for name, cls in _entries["combiner"].items():
        if name in ("mean", "median", "min", "mean_minus_std", "mean_minus_var"):
            assert_close(cls.factory()(comps, {}, ctx), Ensemble(reduction=name)(comps, {}, ctx))
    with pytest.raises(SpecError, match="weights"):
        Ensemble()(comps, {"c0": 2.0}, ctx)
    with pytest.raises(SpecError, match="fixed"):
        _entries["combiner"]["min"].factory(reduction="mean")


# --------------------------------------------------------------------------- pareto


def pareto_loop(matrix: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Naive non-dominated sorting per group."""
    n = matrix.shape[0]
    out = np.full(n, np.nan)
    for g in np.unique(groups):
        members = [i for i in range(n) if groups[i] == g and not np.isnan(matrix[i]).any()]
        level = 0
        left = set(members)
        while left:
            front = [
                i
                for i in left
                if not any(
                    np.all(matrix[j] >= matrix[i]) and np.any(matrix[j] > matrix[i])
                    for j in left
                    if j != i
                )
            ]
            for i in front:
                out[i] = -level
            left -= set(front)
            level += 1
    return out


@pytest.mark.parametrize("seed", range(10))
def test_pareto_matches_naive_sort(seed):
    rng = np.random.default_rng(seed)
    groups = random_groups(rng, 25, sizes=(1, 2, 3, 8, 12))
    n = len(groups)
    comps = {
        "a": random_rewards(rng, n, 0.1, "ties"),
        "b": random_rewards(rng, n, 0.1, "ties"),
        "c": rng.integers(0, 2, n).astype(float),
    }
    w = {"b": -1.0}  # minimise b
    ctx = make_ctx(groups)
    matrix = np.column_stack([comps["a"], -comps["b"], comps["c"]])
    assert_close(Pareto()(comps, w, ctx), pareto_loop(matrix, groups))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=30
    )
)
def test_pareto_property(rows):
    groups = np.array([r[0] for r in rows])
    comps = {"x": np.array([float(r[1]) for r in rows]), "y": np.array([float(r[2]) for r in rows])}
    got = Pareto()(comps, {}, make_ctx(groups))
    assert_close(got, pareto_loop(np.column_stack([comps["x"], comps["y"]]), groups))
    assert np.all(got <= 0)


def test_group_pairs_enumerates_each_group_square():
    groups = np.array([2, 0, 2, 1, 2])
    i, j = group_pairs(groups)
    pairs = set(zip(i.tolist(), j.tolist(), strict=True))
    expected = {(a, b) for a in range(5) for b in range(5) if groups[a] == groups[b]}
    assert pairs == expected and len(i) == len(expected)


@pytest.mark.parametrize("n", [0, 1, 4])
def test_empty_all_none_and_single_batches(n):
    ctx = make_ctx(np.zeros(n, dtype=int))
    for values in (np.full(n, np.nan), np.ones(n)):
        comps = {"a": values, "b": values}
        for c in (
            WeightedSum(),
            Gated(gate="a"),
            Product(),
            Ensemble(),
            Pareto(),
            LogSigmoidAnd(refs={"a": 0.0, "b": 0.0}),
        ):
            out = c(comps, {}, ctx)
            assert out.shape == (n,)
            assert np.isnan(out).all() == bool(np.isnan(values).all()) or n == 0
    with pytest.raises(SpecError, match="no components"):
        WeightedSum()({}, {}, ctx)


def test_ensemble_fixed_member_stats():
    comps = {"rm1": np.array([2.0]), "rm2": np.array([10.0])}
    ens = Ensemble(stats={"rm1": (1.0, 2.0), "rm2": (10.0, 5.0)}, reduction="mean")
    z1, z2 = (2.0 - 1.0) / (2.0 + 1e-6), 0.0
    assert_close(ens(comps, {}, plain_ctx(1)), np.array([(z1 + z2) / 2]))

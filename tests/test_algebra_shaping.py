"""bucket, discount (transforms) and coupled (combiner) against per-sample loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewardlab.combine import Coupled
from rewardlab.errors import InputError, SpecError
from rewardlab.pipeline import Pipeline
from rewardlab.transforms import Bucket, Discount
from tests.algebra_helpers import assert_close, make_ctx

SEEDS = range(8)


def ref_bucket_uniform(x, k, low, high, levels):
    if math.isnan(x):
        return math.nan
    u = min(max((x - low) / (high - low), 0.0), 1.0)
    return levels[min(math.floor(u * k), k - 1)]


def ref_bucket_gaussian(d, k, sigma, levels):
    if math.isnan(d):
        return math.nan
    return levels[k - 1 - min(int(d // sigma), k - 1)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 4, 5])
def test_bucket_uniform_matches_loop(seed, k):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.2, 1.2, 200)
    x[rng.random(200) < 0.1] = np.nan
    x[:k + 1] = np.linspace(0, 1, k + 1)  # the zone edges themselves
    levels = [i / (k - 1) for i in range(k)]
    ctx = make_ctx(np.arange(200))
    assert_close(Bucket(k=k)(x, ctx), [ref_bucket_uniform(v, k, 0.0, 1.0, levels) for v in x])
    custom = sorted(rng.normal(size=k).tolist())
    out = Bucket(k=k, low=-1.0, high=2.0, levels=custom)(x, ctx)
    assert_close(out, [ref_bucket_uniform(v, k, -1.0, 2.0, custom) for v in x])


@pytest.mark.parametrize("seed", SEEDS)
def test_bucket_gaussian_matches_loop(seed):
    rng = np.random.default_rng(seed)
    d = np.abs(rng.normal(0, 30, 200))
    d[rng.random(200) < 0.1] = np.nan
    d[:4] = [0.0, 12.0, 24.0, 36.0]  # the edges: one zone per sigma
    levels = [0.0, 1 / 3, 2 / 3, 1.0]
    out = Bucket(zones="gaussian", sigma=12.0)(d, make_ctx(np.arange(200)))
    assert_close(out, [ref_bucket_gaussian(v, 4, 12.0, levels) for v in d])
    assert out[0] == 1.0 and out[3] == 0.0


def test_bucket_errors():
    with pytest.raises(InputError, match="distances must be >= 0"):
        Bucket(zones="gaussian")(np.array([-1.0]), make_ctx(np.arange(1)))
    with pytest.raises(SpecError, match="levels"):
        Pipeline.from_spec({"transforms": [{"type": "bucket", "k": 3, "levels": [0, 1]}]})


@pytest.mark.parametrize("seed", SEEDS)
def test_discount_matches_loop(seed):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=50)
    rewards[rng.random(50) < 0.2] = np.nan
    rounds = rng.integers(0, 20, 50)
    metas = [{"rounds": int(r)} if not np.isnan(v) or i % 2 else {}
             for i, (r, v) in enumerate(zip(rounds, rewards, strict=True))]
    out = Discount(gamma=0.9)(rewards, make_ctx(np.arange(50), metas))
    assert_close(out, [v * 0.9 ** r for v, r in zip(rewards, rounds, strict=True)])


def test_discount_missing_or_bad_rounds_is_an_error():
    ctx = make_ctx(np.arange(2), [{"rounds": 2}, {}])
    with pytest.raises(InputError, match="needs meta\\['rounds'\\]"):
        Discount(gamma=0.5)(np.array([1.0, 1.0]), ctx)
    bad = make_ctx(np.arange(1), [{"steps_taken": -1}])
    with pytest.raises(InputError, match="steps_taken"):
        Discount(gamma=0.5, key="steps_taken")(np.array([1.0]), bad)


@pytest.mark.parametrize("seed", SEEDS)
def test_coupled_matches_loop(seed):
    rng = np.random.default_rng(seed)
    o = rng.integers(0, 2, 60).astype(float)
    c = rng.uniform(size=60)
    f = rng.integers(0, 2, 60).astype(float)
    o[rng.random(60) < 0.1] = np.nan
    c[rng.random(60) < 0.1] = np.nan
    w = {"acc": 1.0, "concise": 0.5, "fmt": 0.1}
    out = Coupled(outcome="acc", term="concise")({"acc": o, "concise": c, "fmt": f}, w, make_ctx(np.arange(60)))
    expected = [1.0 * a + 0.5 * a * b + 0.1 * x for a, b, x in zip(o, c, f, strict=True)]
    assert_close(out, expected)
    assert np.all(out[(o == 0) & ~np.isnan(c)] == 0.1 * f[(o == 0) & ~np.isnan(c)])  # wrong: no conciseness


def test_coupled_unknown_component():
    with pytest.raises(SpecError, match="unknown component"):
        Coupled(outcome="acc", term="nope")({"acc": np.zeros(1)}, {}, make_ctx(np.arange(1)))


# --------------------------------------------------------------------------- noise, group scope


def released_group_flip(scores, rollout_n, draws):
    """The released reward manager: one draw per rollout_n consecutive responses."""
    out, do_flip = [], False
    for i, s in enumerate(scores):
        if i % rollout_n == 0:
            do_flip = draws[i // rollout_n]
        out.append(1 - s if do_flip else s)
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_group_scope_flips_whole_groups(seed):
    from rewardlab.transforms import Noise

    rng = np.random.default_rng(seed)
    n_groups, g = 50, 8
    rewards = rng.integers(0, 2, n_groups * g).astype(float)
    rewards[rng.random(rewards.size) < 0.05] = np.nan
    ctx = make_ctx(np.repeat(np.arange(n_groups), g))
    out = Noise(p=0.4, scope="group", seed=seed)(rewards, ctx)
    draws = np.random.default_rng([seed, 0]).random(n_groups) < 0.4
    expected = released_group_flip(rewards.tolist(), g, draws.tolist())
    assert_close(out, expected)
    flipped = (out != rewards) & ~np.isnan(rewards)
    per_group = np.bincount(ctx.group_index, weights=flipped)
    sizes = np.bincount(ctx.group_index, weights=~np.isnan(rewards))
    assert np.all((per_group == 0) | (per_group == sizes))  # all or none of a group

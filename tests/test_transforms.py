"""Transforms against their formulas, written as per-sample loops, on random inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardlab.batch import BatchContext
from rewardlab.errors import InputError, SpecError
from rewardlab.registry import _entries
from rewardlab.transforms import (
    PAR,
    Affine,
    Clip,
    LengthDebias,
    LogSigmoid,
    Noise,
    Normalize,
    PrmClip,
    PrmDelta,
    flatten_steps,
    read_steps,
    unflatten_steps,
)
from tests.algebra_helpers import assert_close, make_ctx, random_groups, random_rewards


def plain_ctx(n: int) -> BatchContext:
    return BatchContext.from_groups(np.arange(n))


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_registered_names():
    names = set(_entries["transform"])
    assert {
        "clip",
        "affine",
        "normalize",
        "par",
        "logsigmoid",
        "prm_clip",
        "prm_delta",
        "length_debias",
        "noise",
    } <= names


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), max_size=30),
    st.floats(-10, 10),
    st.floats(-10, 10),
)
def test_clip_and_affine(values, a, b):
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    ctx = plain_ctx(len(v))
    lo, hi = min(a, b), max(a, b)
    assert_close(Clip(low=lo, high=hi)(v, ctx), np.clip(v, lo, hi))
    assert_close(Affine(scale=a, shift=b)(v, ctx), a * v + b)


def test_call_does_not_modify_input_and_keeps_nan():
    v = np.array([1.0, np.nan, 3.0])
    out = Affine(scale=2.0)(v, plain_ctx(3))
    assert np.isnan(out[1]) and v[0] == 1.0


def test_param_errors_name_the_key():
    with pytest.raises(SpecError, match="scal"):
        Affine(scal=2.0)
    with pytest.raises(SpecError, match="mode"):
        Noise(mode="uniform")
    with pytest.raises(SpecError, match="eta"):
        PrmClip()


# --------------------------------------------------------------------------- normalize


def batches(seed: int, k: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [random_rewards(rng, int(rng.integers(1, 40)), 0.2) for _ in range(k)]


@pytest.mark.parametrize("seed", range(8))
def test_normalize_cumulative_equals_stats_of_everything_seen(seed):
    t = Normalize()
    seen: list[float] = []
    for b in batches(seed):
        seen += b[~np.isnan(b)].tolist()
        out = t(b, plain_ctx(len(b)))
        if not seen:
            assert np.isnan(out).all()
            continue
        mean, std = np.mean(seen), np.std(seen)
        assert_close(out, (b - mean) / (std + 1e-8), atol=1e-6)
        assert t.count == len(seen)


@pytest.mark.parametrize("seed", range(8))
def test_normalize_ema_loop(seed):
    m = 0.1
    t = Normalize(momentum=m, center=False, clip=3.0)
    mean = var = None
    for b in batches(seed):
        v = b[~np.isnan(b)]
        if v.size:
            if mean is None:
                mean, var = v.mean(), v.var()
            else:
                d = v.mean() - mean
                mean = mean + m * d
                var = (1 - m) * (var + m * d * d) + m * v.var()
        out = t(b, plain_ctx(len(b)))
        if mean is not None and var is not None:
            assert_close(out, np.clip(b / (math.sqrt(var) + 1e-8), -3, 3), atol=1e-6)


def test_normalize_freeze_state_roundtrip():
    t = Normalize()
    t(np.array([1.0, 2.0, 3.0, np.nan]), plain_ctx(4))
    state = t.state_dict()
    t.freeze()
    before = t(np.array([10.0]), plain_ctx(1))
    assert t.state_dict() == state  # frozen: no update
    u = Normalize()
    u.load_state_dict(state)
    u.freeze()
    assert_close(u(np.array([10.0]), plain_ctx(1)), before)
    empty = Normalize()
    empty.freeze()
    with pytest.raises(ValueError, match="no statistics"):
        empty(np.array([1.0]), plain_ctx(1))


# --------------------------------------------------------------------------- PAR, logsigmoid


def ref_batch(seed: int):
    rng = np.random.default_rng(seed)
    n = 30
    values = random_rewards(rng, n, 0.1)
    refs = []
    for _ in range(n):
        k = int(rng.integers(1, 15))
        row = rng.normal(size=k).round(1).tolist()
        if rng.random() < 0.3 and k >= 2:
            row[0] = None
        if rng.random() < 0.1:
            row = float(rng.normal())
        refs.append(row)
    return values, refs, make_ctx(np.arange(n), [{"ref_rewards": r} for r in refs])


def clean(row):
    if isinstance(row, float):
        return [row]
    return [x for x in row if x is not None]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("k", [1.0, 2.5])
def test_par_loop(seed, k):
    values, refs, ctx = ref_batch(seed)
    expected = []
    for r, row in zip(values, refs, strict=True):
        row = clean(row if isinstance(row, float) else row[:10])
        expected.append(
            np.nan if np.isnan(r) or not row else sum(sig(k * (r - x)) for x in row) / len(row)
        )
    got = PAR(k=k)(values, ctx)
    assert_close(got, np.array(expected), atol=1e-12)
    assert np.all((got[~np.isnan(got)] > 0) & (got[~np.isnan(got)] < 1))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("q", [0.5, 0.85, 1.0])
def test_logsigmoid_loop(seed, q):
    values, refs, ctx = ref_batch(seed)
    expected = []
    for r, row in zip(values, refs, strict=True):
        ref = np.quantile(clean(row), q)
        expected.append(np.nan if np.isnan(r) else math.log(sig(r - ref)))
    assert_close(LogSigmoid(quantile=q)(values, ctx), np.array(expected), atol=1e-12)


def test_missing_references_are_an_error_not_a_zero():
    ctx = make_ctx(np.arange(3), [{"ref_rewards": [0.1]}, {}, {"ref_rewards": [None]}])
    with pytest.raises(InputError, match="s1"):
        PAR()(np.array([1.0, 1.0, np.nan]), ctx)
    # an unscorable sample needs no reference
    out = LogSigmoid()(np.array([1.0, np.nan, np.nan]), ctx)
    assert np.isnan(out[1:]).all() and out[0] == pytest.approx(math.log(sig(0.9)))


# --------------------------------------------------------------------------- length debias


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("degree", [0, 1, 2])
def test_length_debias_matches_polyfit(seed, degree):
    rng = np.random.default_rng(seed)
    n = 60
    lengths = rng.integers(5, 500, n)
    values = 0.01 * lengths + rng.normal(size=n)
    values[rng.random(n) < 0.1] = np.nan
    ctx = make_ctx(np.arange(n), [{"completion_tokens": int(x)} for x in lengths])
    ok = ~np.isnan(values)
    coef = np.polyfit(lengths[ok].astype(float), values[ok], degree)
    fitted = np.polyval(coef, lengths.astype(float))
    t = LengthDebias(degree=degree)
    assert_close(t(values, ctx), values - fitted, atol=1e-8)
    kept = LengthDebias(degree=degree, keep_mean=True)(values, ctx)
    assert_close(kept, values - fitted + fitted[ok].mean(), atol=1e-8)
    if degree == 1:  # residuals carry no linear length relation
        out = t(values, ctx)
        assert abs(np.corrcoef(lengths[ok], out[ok])[0, 1]) < 1e-8


def test_length_debias_saved_fit():
    lengths = np.array([10, 20, 30, 40])
    ctx = make_ctx(np.arange(4), [{"completion_tokens": int(x)} for x in lengths])
    t = LengthDebias(fit="once")
    t(np.array([1.0, 2.0, 3.0, 4.0]), ctx)
    state = t.state_dict()
    out2 = t(np.array([0.0, 0.0, 0.0, 0.0]), ctx)  # fit kept from the first batch
    assert_close(out2, -0.1 * lengths.astype(float), atol=1e-12)
    u = LengthDebias()
    u.load_state_dict(state)
    assert_close(u(np.zeros(4), ctx), out2)
    frozen = LengthDebias()
    frozen.freeze()
    with pytest.raises(ValueError, match="no fit"):
        frozen(np.zeros(4), ctx)
    with pytest.raises(ValueError, match="distinct lengths"):
        LengthDebias(degree=2)(np.zeros(2), make_ctx(np.arange(2), [{"length": 3}] * 2))


# --------------------------------------------------------------------------- noise


def test_noise_flip_is_seeded_and_bernoulli():
    rng = np.random.default_rng(0)
    v = rng.integers(0, 2, 20000).astype(float)
    v[:100] = np.nan
    ctx = plain_ctx(len(v))
    a = Noise(p=0.2, seed=7)(v, ctx)
    b = Noise(p=0.2, seed=7)(v, ctx)
    assert_close(a, b)
    assert np.isnan(a[:100]).all()
    flipped = (a != v)[100:]
    assert 0.18 < flipped.mean() < 0.22
    assert set(np.unique(a[100:])) <= {0.0, 1.0}
    # the same draw as numpy's generator for call 0
    draws = np.random.default_rng([7, 0]).random(len(v)) < 0.2
    assert_close(a, np.where(draws, 1 - v, v))
    assert_close(Noise(p=1.0)(v, ctx), 1 - v)
    assert_close(Noise(p=0.0)(v, ctx), v)


def test_noise_state_and_freeze():
    v = np.zeros(100)
    ctx = plain_ctx(100)
    t = Noise(mode="gaussian", sigma=0.5, seed=3)
    first, second = t(v, ctx), t(v, ctx)
    assert not np.allclose(first, second)
    assert t.state_dict() == {"calls": 2}
    u = Noise(mode="gaussian", sigma=0.5, seed=3)
    u.load_state_dict({"calls": 1})
    assert_close(u(v, ctx), second)
    u.freeze()
    assert_close(u(v, ctx), u(v, ctx))
    with pytest.raises(InputError, match="flip"):
        Noise(p=0.5)(np.array([0.5]), plain_ctx(1))


# --------------------------------------------------------------------------- step level


def random_steps(seed: int) -> tuple[list[np.ndarray | None], np.ndarray]:
    rng = np.random.default_rng(seed)
    steps: list[np.ndarray | None] = []
    for _ in range(25):
        r = rng.random()
        if r < 0.1:
            steps.append(None)
        elif r < 0.15:
            steps.append(np.array([]))
        else:
            s = rng.random(int(rng.integers(1, 7)))
            if rng.random() < 0.1:
                s[0] = np.nan
            steps.append(s)
    outcome = rng.integers(0, 2, 25).astype(float)
    outcome[rng.random(25) < 0.1] = np.nan
    return steps, outcome


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("with_outcome", [False, True])
def test_prm_clip_and_delta_loops(seed, with_outcome):
    steps, outcome = random_steps(seed)
    ctx = plain_ctx(len(steps))
    oc = outcome if with_outcome else None
    clip = PrmClip(eta=0.6, alpha=0.5)(steps, ctx, oc)
    delta = PrmDelta(alpha=2.0)(steps, ctx, oc)
    for i, s in enumerate(steps):
        bad = (
            s is None or len(s) == 0 or np.isnan(s).any() or (with_outcome and np.isnan(outcome[i]))
        )
        if bad:
            assert clip[i] is None and delta[i] is None
            continue
        assert s is not None
        k = len(s)
        add = [0.0] * (k - 1) + [outcome[i] if with_outcome else 0.0]
        exp_clip = [0.5 * min(s[t] - 0.6, 0.0) + add[t] for t in range(k)]
        exp_delta = [2.0 * ((s[t] - s[t + 1]) if t < k - 1 else 0.0) + add[t] for t in range(k)]
        assert_close(clip[i], np.array(exp_clip))
        assert_close(delta[i], np.array(exp_delta))


def test_step_helpers_roundtrip_and_meta():
    ctx = make_ctx(np.arange(3), [{"step_rewards": [0.1, None]}, {}, {"step_rewards": [1]}])
    steps = read_steps(ctx)
    assert steps[0] is not None and steps[2] is not None
    assert steps[1] is None and np.isnan(steps[0][1]) and steps[2].tolist() == [1.0]
    flat, counts, ok = flatten_steps(steps)
    assert counts.tolist() == [2, 0, 1] and ok.tolist() == [False, False, True]
    back = unflatten_steps(flat, counts, ok)
    assert back[0] is None and back[2] is not None and back[2].tolist() == [1.0]
    assert PrmClip.step_level and not Clip.step_level
    with pytest.raises(TypeError, match="step-level"):
        PrmClip(eta=0.5).apply(np.zeros(2), ctx)
    with pytest.raises(TypeError, match="step-level"):
        PrmDelta()(np.zeros(3), ctx)  # type: ignore[arg-type]  # what a sample-level pipeline stage would pass


def test_random_groups_helper_has_singletons():
    groups = random_groups(np.random.default_rng(0), 50)
    assert (np.bincount(groups) == 1).any()


@pytest.mark.parametrize("n", [0, 3])
def test_empty_and_all_none_batches(n):
    ctx = make_ctx(np.arange(n), [{"completion_tokens": 3, "ref_rewards": [0.0]}] * n)
    v = np.full(n, np.nan)
    for t in (Normalize(), PAR(), LogSigmoid(), LengthDebias(), Noise(), Affine(), Clip(low=0)):
        out = t(v, ctx)
        assert out.shape == (n,) and np.isnan(out).all()


def test_malformed_meta_is_an_input_error():
    ctx = make_ctx(np.arange(2), [{"ref_rewards": "abc", "step_rewards": 0.5}] * 2)
    with pytest.raises(InputError, match="list of numbers"):
        PAR()(np.ones(2), ctx)
    with pytest.raises(InputError, match="per-step"):
        read_steps(ctx)

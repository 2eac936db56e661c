"""Filters (zero_variance, prof) against loop references, and their place in the pipeline.

The references transcribe verl's DAPO group filter (``np.std(vals) > 0 or len(vals) == 1``)
and PROF's released ``filter_trajectories`` / ``compute_verify_step_level_score``
(amazon-science/PROF-GRPO), per group in plain Python.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from rewardlab.advantages import GRPO, batch_signal
from rewardlab.errors import SpecError
from rewardlab.filters import Prof, ZeroVariance
from rewardlab.pipeline import Pipeline
from tests.algebra_helpers import assert_close, make_ctx, random_groups, random_rewards

SEEDS = range(10)


def ref_dapo_keep(rewards, groups):
    """verl DAPO: keep a group if the std of its (scorable) values > 0 or it has one member."""
    vals = defaultdict(list)
    for r, g in zip(rewards, groups, strict=True):
        if not np.isnan(r):
            vals[g].append(r)
    kept = {g for g, v in vals.items() if np.std(v) > 0 or len(v) == 1}
    return np.array([np.isnan(r) or g in kept for r, g in zip(rewards, groups, strict=True)])


def ref_prof_keep(outcome, steps, groups, remove, threshold=0.5, coef=0.0, bounds=(2, 30)):
    """PROF's released filter: consistency score, then per group remove the lowest ones."""
    cand = [i for i in range(len(outcome)) if not np.isnan(outcome[i]) and steps[i]
            and not any(s is None for s in steps[i])]
    m = np.mean([s for i in cand for s in steps[i]]) if cand else 0.0
    by_group = defaultdict(list)
    for i in cand:
        gt = 1 if outcome[i] >= threshold else 0
        critic = float(np.mean([(s - m) * 2 * (2 * gt - 1) for s in steps[i]]))
        n_steps = len(steps[i])
        critic -= coef * ((n_steps < bounds[0]) or (n_steps > bounds[1]))
        by_group[groups[i]].append((i, critic, gt))
    removed = set()
    for items in by_group.values():
        n_remove = min(remove, len(items))
        if n_remove <= 0:
            continue
        pos = [x for x in items if x[2] == 1]
        neg = [x for x in items if x[2] == 0]
        n_pos_remove = min(n_remove, round((len(pos) - len(neg) + n_remove) / 2))
        if n_pos_remove > 0:
            pos.sort(key=lambda x: x[1])
            k = min(n_pos_remove, len(pos))
            removed |= {x[0] for x in pos[:k]}
            neg.sort(key=lambda x: x[1])
            removed |= {x[0] for x in neg[: min(n_remove - k, len(neg))]}
        else:
            neg.sort(key=lambda x: x[1])
            removed |= {x[0] for x in neg[: min(n_remove, len(neg))]}
    return np.array([i not in removed for i in range(len(outcome))])


def prof_batch(seed):
    rng = np.random.default_rng(seed)
    groups = random_groups(rng, 30, sizes=(1, 2, 4, 6, 8))
    outcome = random_rewards(rng, len(groups), 0.1, "binary")
    steps = []
    for _ in groups:
        n = int(rng.integers(0, 6))
        row: list[float | None] = [float(x) for x in rng.choice([0.1, 0.4, 0.5, 0.9], n)]  # ties
        if n and rng.random() < 0.05:
            row[0] = None
        steps.append(row if n or rng.random() < 0.5 else None)
    ctx = make_ctx(groups, [{"step_rewards": s} if s is not None else {} for s in steps])
    return groups, outcome, steps, ctx


# --------------------------------------------------------------------------- zero_variance


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["binary", "ties", "mixed"])
def test_zero_variance_matches_dapo(seed, kind):
    rng = np.random.default_rng(seed)
    groups = random_groups(rng, 40)
    rewards = random_rewards(rng, len(groups), 0.2, kind)
    keep = ZeroVariance()(rewards, make_ctx(groups))
    np.testing.assert_array_equal(keep, ref_dapo_keep(rewards, groups))


def test_zero_variance_on_a_component():
    groups = np.array([0, 0, 1, 1])
    ctx = make_ctx(groups)
    comps = {"acc": np.array([1.0, 1.0, 0.0, 1.0])}
    keep = ZeroVariance(on="acc")(np.array([0.3, 0.5, 0.1, 0.1]), ctx, comps)
    np.testing.assert_array_equal(keep, [False, False, True, True])
    with pytest.raises(SpecError, match="unknown component 'nope'"):
        ZeroVariance(on="nope")(np.zeros(4), ctx, comps)


# --------------------------------------------------------------------------- prof


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("remove", [0, 1, 2, 3, 9])
def test_prof_matches_released_filter(seed, remove):
    groups, outcome, steps, ctx = prof_batch(seed)
    keep = Prof(remove=remove)(outcome, ctx)
    np.testing.assert_array_equal(keep, ref_prof_keep(outcome, steps, groups, remove))


@pytest.mark.parametrize("seed", SEEDS)
def test_prof_length_penalty_and_threshold(seed):
    groups, outcome, steps, ctx = prof_batch(seed)
    graded = np.where(np.isnan(outcome), np.nan, outcome * 0.8)  # correct = 0.8 >= 0.7
    keep = Prof(remove=2, threshold=0.7, length_penalty=0.5, step_bounds=(2, 4))(graded, ctx)
    expected = ref_prof_keep(graded, steps, groups, 2, threshold=0.7, coef=0.5, bounds=(2, 4))
    np.testing.assert_array_equal(keep, expected)


def test_prof_removes_inconsistent_members_and_balances():
    # 3 correct (process 0.9, 0.2, 0.8), 1 incorrect (0.7): remove 2 -> k = round(3/2) = 2
    groups = np.zeros(4, dtype=int)
    steps = [[0.9, 0.9], [0.2, 0.2], [0.8], [0.7]]
    ctx = make_ctx(groups, [{"step_rewards": s} for s in steps])
    keep = Prof(remove=2)(np.array([1.0, 1.0, 1.0, 0.0]), ctx)
    np.testing.assert_array_equal(keep, [True, False, False, True])


# --------------------------------------------------------------------------- pipeline


def rows_for(rewards, groups, metas=None):
    metas = metas or [{} for _ in groups]
    return [{"id": f"s{i}", "prompt": "p", "completion": "c", "group": f"g{g}", "meta": m,
             "reward": None if np.isnan(r) else float(r)}
            for i, (r, g, m) in enumerate(zip(rewards, groups, metas, strict=True))]


def test_pipeline_keeps_rows_marks_keep_and_gives_no_advantage():
    rewards = np.array([1.0, 1.0, 1.0, 0.0, np.nan, 1.0, 0.5])
    groups = np.array([0, 0, 1, 1, 1, 2, 3])
    spec = {"filters": [{"type": "zero_variance"}], "advantage": {"method": "grpo"}}
    res = Pipeline.from_spec(spec).run(rows_for(rewards, groups))
    assert len(res) == 7  # nothing deleted
    assert res.column("keep") == [False, False, True, True, True, True, True]
    adv = res.column("advantage")
    assert adv[0] is None and adv[1] is None and adv[4] is None
    expected = GRPO()(rewards, make_ctx(groups))
    assert adv[2] == pytest.approx(expected[2]) and adv[3] == pytest.approx(expected[3])
    assert res.rewards[:2] == [1.0, 1.0]  # the reward itself is unchanged
    assert res.signal["zero_variance_groups"] == {"all": 0.5, "kept": 0.0, "filtered": 0.5}
    assert res.stats("keep").mean == pytest.approx(5 / 7)  # the run summary's fraction kept


def test_filtered_members_take_no_part_in_group_statistics():
    # PROF drops one member of a group of 3; GRPO then runs on the other two
    groups = np.zeros(3, dtype=int)
    metas = [{"step_rewards": s} for s in ([0.9], [0.1], [0.5])]
    rewards = np.array([1.0, 1.0, 0.0])
    spec = {"filters": [{"type": "prof", "remove": 1}], "advantage": {"method": "grpo"}}
    res = Pipeline.from_spec(spec).run(rows_for(rewards, groups, metas))
    assert res.column("keep") == [True, False, True]
    expected = GRPO()(np.array([1.0, np.nan, 0.0]), make_ctx(groups))
    assert_close(np.array([np.nan if a is None else a for a in res.column("advantage")]), expected)


def test_no_filters_no_keep_column_and_signal_without_filters():
    res = Pipeline.from_spec({"advantage": {"method": "grpo"}}).run(
        rows_for(np.array([1.0, 1.0, 0.0, 1.0]), np.array([0, 0, 1, 1])))
    assert "keep" not in res.rows[0]
    assert res.signal["zero_variance_groups"] == {"all": 0.5, "kept": 0.5, "filtered": 0.0}


@pytest.mark.parametrize("bad, match", [
    ({"filters": {"type": "zero_variance"}}, "filters: must be a list"),
    ({"filters": [{"on": "x"}]}, r"filters\[0\]: must be a table with a 'type'"),
    ({"filters": [{"type": "nope"}]}, "nope"),
    ({"filters": [{"type": "prof"}]}, "remove"),
])
def test_filter_spec_errors(bad, match):
    with pytest.raises(SpecError, match=match):
        Pipeline.from_spec(bad)


# --------------------------------------------------------------------------- summary signal


def test_mean_abs_advantage_per_task():
    rng = np.random.default_rng(0)
    groups = random_groups(rng, 30)
    rewards = random_rewards(rng, len(groups), 0.15)
    tasks = [("math", "code", None)[g % 3] for g in groups]
    ctx = make_ctx(groups, [{"task": t} if t else {} for t in tasks])
    adv = GRPO()(rewards, ctx)
    sig = batch_signal(rewards, adv, ctx)["mean_abs_advantage"]
    for name, label in (("math", "math"), ("code", "code"), ("(none)", None)):
        sel = np.array([t == label for t in tasks]) & ~np.isnan(adv)
        assert sig[name] == pytest.approx(float(np.mean(np.abs(adv[sel]))))
    no_task = batch_signal(rewards, adv, make_ctx(groups))["mean_abs_advantage"]
    assert no_task == {"all": pytest.approx(float(np.nanmean(np.abs(adv))))}

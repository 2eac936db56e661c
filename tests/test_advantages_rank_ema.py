"""gaussian_rank and ema_grpo against straightforward loop references.

The references transcribe the authors' released code (per-group Python loops):
OpenVLThinkerV2's ``compute_1d_ot`` / ``compute_pertask_gaussian_outcome_advantage_grpo``
and OneThinker's ``_EmaStdTracker`` / ``compute_ema_grpo_outcome_advantage``, in numpy
and ``statistics.NormalDist`` instead of torch. As for the other estimators, the
comparison is: rewardlab on a batch == the reference on the scorable samples of
groups with >= 2 scorable members, NaN elsewhere.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardlab.advantages import EmaGRPO, GaussianRank
from rewardlab.errors import InputError
from rewardlab.pipeline import Pipeline
from rewardlab.ranking import normal_ppf, sort_within_groups
from tests.algebra_helpers import assert_close, make_ctx, random_groups, random_rewards

SEEDS = range(10)
PPF = statistics.NormalDist().inv_cdf


def ref_1d_ot(values: list[float]) -> list[float]:
    """OpenVLThinkerV2 ``compute_1d_ot``: rank quantiles, ties get their mean; n <= 1 -> 0.

    Values equal to 12 decimals count as tied: the group pass's outputs for the
    same tie pattern are mathematically equal (e.g. 0 for a tied group and for the
    middle rank), and the task pass must treat them as the ties they are.
    """
    n = len(values)
    if n <= 1:
        return [0.0] * n
    keys = [round(v, 12) + 0.0 for v in values]
    order = sorted(range(n), key=lambda i: keys[i])
    q = [PPF((k + 0.5) / n) for k in range(n)]
    by_value: dict[float, list[float]] = defaultdict(list)
    for k, i in enumerate(order):
        by_value[keys[i]].append(q[k])
    return [float(np.mean(by_value[v])) for v in keys]


def ref_gaussian_rank(rewards, groups, tasks, task_pass=True):
    """Group pass then per-task pass, on scorable members of groups with >= 2 of them."""
    out = np.full(len(rewards), np.nan)
    members = defaultdict(list)
    for i, (r, g) in enumerate(zip(rewards, groups, strict=True)):
        if not np.isnan(r):
            members[g].append(i)
    for idx in members.values():
        if len(idx) >= 2:
            out[idx] = ref_1d_ot([rewards[i] for i in idx])
    if not task_pass:
        return out
    by_task = defaultdict(list)
    for i in np.flatnonzero(~np.isnan(out)).tolist():
        by_task[tasks[i]].append(i)
    final = np.full(len(rewards), np.nan)
    for idx in by_task.values():
        final[idx] = ref_1d_ot([out[i] for i in idx])
    return final


def sample_batch(seed, kind="mixed", n_groups=40, n_tasks=3):
    rng = np.random.default_rng(seed)
    groups = random_groups(rng, n_groups)
    rewards = random_rewards(rng, len(groups), 0.15, kind)
    task_of_group = rng.integers(0, n_tasks, n_groups + 1)
    tasks = [f"t{task_of_group[g]}" for g in groups]
    ctx = make_ctx(groups, [{"task": t} for t in tasks])
    return rng, groups, rewards, tasks, ctx


# --------------------------------------------------------------------------- helpers


def test_normal_ppf_matches_the_standard_library():
    p = np.concatenate([np.linspace(1e-12, 1 - 1e-12, 2001), [1e-300, 1e-20, 0.075, 0.5, 0.925]])
    expected = np.array([PPF(float(x)) for x in p])
    np.testing.assert_allclose(normal_ppf(p), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("n_groups", [1, 3, 70_000])  # 70,000 groups: two 16-bit radix passes
# packed int64 sort with comparison codes (4, 50) or searchsorted codes (1000); argsort + radix
@pytest.mark.parametrize("distinct", [4, 50, 1000, 100_000])
def test_sort_within_groups_is_lexsort(n_groups, distinct):
    rng = np.random.default_rng(n_groups)
    group = rng.integers(0, n_groups, 150_000)
    values = rng.integers(0, distinct, group.size) / 7.0
    order = sort_within_groups(values, group, n_groups)
    np.testing.assert_array_equal(order, np.lexsort((np.arange(group.size), values, group)))


# --------------------------------------------------------------------------- gaussian_rank


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["mixed", "binary", "ties"])
def test_gaussian_rank_matches_released_code(seed, kind):
    _, groups, rewards, tasks, ctx = sample_batch(seed, kind)
    expected = ref_gaussian_rank(rewards, groups, tasks)
    assert_close(GaussianRank(task_key="task")(rewards, ctx), expected, atol=1e-12)
    one_task = ref_gaussian_rank(rewards, groups, ["all"] * len(groups))
    assert_close(GaussianRank()(rewards, ctx), one_task, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_gaussian_rank_group_pass_only(seed):
    _, groups, rewards, tasks, ctx = sample_batch(seed)
    expected = ref_gaussian_rank(rewards, groups, tasks, task_pass=False)
    adv = GaussianRank(task_pass=False)(rewards, ctx)
    assert_close(adv, expected, atol=1e-12)
    sums = np.bincount(ctx.group_index[~np.isnan(adv)], weights=adv[~np.isnan(adv)])
    np.testing.assert_allclose(sums, 0.0, atol=1e-12)  # a group's advantages sum to 0


def test_gaussian_rank_masks_unscorable_singletons_and_ties():
    groups = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3])
    rewards = np.array([1.0, np.nan, 0.0, 1.0, np.nan, 1.0, 0.4, 0.4, 0.4])
    ctx = make_ctx(groups)
    adv = GaussianRank(task_pass=False)(rewards, ctx)
    assert np.isnan(adv[[1, 3, 4, 5]]).all()
    assert adv[0] == pytest.approx(PPF(0.75)) and adv[2] == pytest.approx(PPF(0.25))
    assert np.all(adv[6:] == 0.0)  # a tied group is exactly 0


def test_gaussian_rank_equal_group_values_tie_in_the_task_pass():
    # tied groups of 4 and 5 and the middle rank of a group of 3 all get exactly 0
    groups = np.repeat([0, 1, 2], [4, 5, 3])
    rewards = np.array([0.7] * 4 + [0.2] * 5 + [0.0, 1.0, 2.0])
    ctx = make_ctx(groups)
    first = GaussianRank(task_pass=False)(rewards, ctx)
    zeros = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]
    assert np.all(first[zeros] == 0.0)
    adv = GaussianRank()(rewards, ctx)
    assert len(set(adv[zeros].tolist())) == 1  # the ten zeros tie in the batch pass
    assert adv[11] > 0 > adv[9] and adv[0] == 0.0


def test_gaussian_rank_task_key_missing_is_an_error():
    with pytest.raises(InputError, match="task"):
        GaussianRank(task_key="task")(np.array([1.0, 0.0]), make_ctx(np.array([0, 0])))


# --------------------------------------------------------------------------- ema_grpo


class RefTracker:
    """OneThinker's ``_EmaStdTracker`` and the scaling of ``compute_ema_grpo_outcome_advantage``."""

    def __init__(self, decay=0.99, min_std=1e-3, eps=1e-6, guard=5.0):
        self.decay, self.min_std, self.eps, self.guard = decay, min_std, eps, guard
        self.state: dict[str, tuple[float, float]] = {}

    def std(self, key):
        if key not in self.state:
            return self.min_std
        m1, m2 = self.state[key]
        return max(max(m2 - m1 * m1, 0.0), self.min_std**2) ** 0.5

    def update(self, key, scores):
        m1, m2 = float(np.mean(scores)), float(np.mean(np.square(scores)))
        if key in self.state:
            d = self.decay
            o1, o2 = self.state[key]
            m1, m2 = d * o1 + (1 - d) * m1, d * o2 + (1 - d) * m2
        self.state[key] = (m1, m2)

    def advantages(self, rewards, groups, tasks, frozen=False):
        ok = ~np.isnan(rewards)
        task_pos = defaultdict(list)
        for i in np.flatnonzero(ok):
            task_pos[tasks[i]].append(i)
        if not frozen:
            for key, pos in task_pos.items():
                self.update(key, rewards[pos])
        out = np.full(len(rewards), np.nan)
        group_pos = defaultdict(list)
        for i in np.flatnonzero(ok):
            group_pos[groups[i]].append(i)
        for pos in group_pos.values():
            if len(pos) < 2:
                continue
            g = rewards[pos]
            centred = g - g.mean()
            scaled = centred / (self.std(tasks[pos[0]]) + self.eps)
            if self.guard is not None and np.any(np.abs(scaled) > self.guard):
                scaled = centred / (g.std() + self.eps) if g.std() > 0 else centred * 0.0
            out[pos] = scaled
        return out


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("guard", [5.0, 0.8, None])
def test_ema_grpo_matches_released_code_over_batches(seed, guard):
    est = EmaGRPO(task_key="task", decay=0.9, guard=guard)
    ref = RefTracker(decay=0.9, guard=guard)
    for step in range(3):
        _, groups, rewards, tasks, ctx = sample_batch(seed * 10 + step)
        rewards = rewards * (step + 1)  # a drifting scale, so the averages matter
        assert_close(est(rewards, ctx), ref.advantages(rewards, groups, tasks), atol=1e-9)
    assert set(est.moments) == set(ref.state)
    for key, (m1, m2) in ref.state.items():
        assert est.moments[key] == pytest.approx([m1, m2], rel=1e-12)


def test_ema_grpo_state_roundtrip_and_freeze():
    _, _, rewards, _, ctx = sample_batch(3)
    trained = EmaGRPO(task_key="task")
    trained(rewards, ctx)
    state = trained.state_dict()
    restored = EmaGRPO(task_key="task")
    restored.load_state_dict(state)
    restored.freeze()
    _, groups2, rewards2, tasks2, ctx2 = sample_batch(4)
    frozen_out = restored(rewards2, ctx2)
    assert restored.state_dict() == state  # frozen: no update
    ref = RefTracker()
    ref.state = {k: tuple(v) for k, v in state["moments"].items()}
    assert_close(frozen_out, ref.advantages(rewards2, groups2, tasks2, frozen=True), atol=1e-9)
    with pytest.raises(ValueError, match="moments"):
        restored.load_state_dict({"m1": 0.0})


def test_ema_grpo_state_travels_with_the_pipeline():
    spec = {"advantage": {"method": "ema_grpo", "decay": 0.5}}
    rows = [{"id": f"s{i}", "prompt": "p", "completion": "c", "group": f"g{i // 2}", "reward": float(i % 3)}
            for i in range(6)]
    pipe = Pipeline.from_spec(spec)
    pipe.run(rows)
    state = pipe.state_dict()
    assert set(state) == {"advantage"} and set(state["advantage"]["moments"]) == {"all"}
    other = Pipeline.from_spec(spec)
    other.load_state_dict(state)
    other.freeze()
    pipe.freeze()
    assert other.run(rows).column("advantage") == pipe.run(rows).column("advantage")
    assert other.state_dict() == state == pipe.state_dict()


def test_ema_grpo_unscorable_singletons_and_tied_groups():
    groups = np.array([0, 0, 0, 1, 1, 2, 3, 3])
    rewards = np.array([1.0, np.nan, 0.0, 1.0, np.nan, 1.0, 0.5, 0.5])
    adv = EmaGRPO()(rewards, make_ctx(groups))
    assert np.isnan(adv[[1, 3, 4, 5]]).all()
    assert np.all(adv[6:] == 0.0)
    assert adv[0] > 0 > adv[2]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.one_of(st.none(), st.sampled_from([0.0, 1.0, 0.25, 3.0])),
                  st.sampled_from(["a", "b"])),
        min_size=1, max_size=30,
    ),
    st.randoms(use_true_random=False),
)
def test_new_estimators_are_permutation_equivariant_and_mask(rows, rnd):
    groups = np.array([r[0] for r in rows])
    rewards = np.array([np.nan if r[1] is None else r[1] for r in rows])
    metas = [{"task": r[2]} for r in rows]
    perm = np.array(rnd.sample(range(len(rows)), len(rows)))
    ctx, ctx_p = make_ctx(groups, metas), make_ctx(groups[perm], [metas[i] for i in perm])
    for make in (GaussianRank, lambda: GaussianRank(task_key="task"), lambda: EmaGRPO(task_key="task")):
        adv = make()(rewards, ctx)
        assert_close(make()(rewards[perm], ctx_p), adv[perm], atol=1e-9)
        assert np.isnan(adv[np.isnan(rewards)]).all()

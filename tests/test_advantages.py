"""Advantage estimators against their formulas and against verl/TRL, written as per-group loops.

The verl references below are transcriptions of verl's ``core_algos.py`` loop form
(``id2score`` dicts), in numpy instead of torch. verl gives a singleton group mean 0
(and std 1); rewardlab gives no advantage to a group with fewer than two scorable
members, so the comparison is: rewardlab on a batch == verl on the scorable
samples, for samples in groups with >= 2 scorable members, NaN elsewhere.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardlab.advantages import (
    GDPO,
    GRPO,
    OPO,
    RLOO,
    DrGRPO,
    ReinforcePPBaseline,
    Renorm,
    Stratified,
    group_stats,
    zero_variance_report,
)
from rewardlab.batch import BatchContext
from rewardlab.errors import InputError, SpecError
from tests.algebra_helpers import assert_close, make_ctx, random_groups, random_rewards

SEEDS = range(12)

# --------------------------------------------------------------------------- verl references


def verl_grpo(scores, index, epsilon=1e-6, norm_adv_by_std_in_grpo=True):
    """verl ``compute_grpo_outcome_advantage`` loop form (torch.std -> ddof=1)."""
    scores = list(scores)
    id2score = defaultdict(list)
    id2mean, id2std = {}, {}
    bsz = len(scores)
    for i in range(bsz):
        id2score[index[i]].append(scores[i])
    for idx in id2score:
        if len(id2score[idx]) == 1:
            id2mean[idx] = 0.0
            id2std[idx] = 1.0
        elif len(id2score[idx]) > 1:
            scores_tensor = np.array(id2score[idx])
            id2mean[idx] = scores_tensor.mean()
            id2std[idx] = scores_tensor.std(ddof=1)
    for i in range(bsz):
        if norm_adv_by_std_in_grpo:
            scores[i] = (scores[i] - id2mean[index[i]]) / (id2std[index[i]] + epsilon)
        else:
            scores[i] = scores[i] - id2mean[index[i]]
    return np.array(scores)


def verl_rloo(scores, index):
    """verl ``compute_rloo_outcome_advantage`` loop form."""
    scores = list(scores)
    id2score = defaultdict(list)
    id2mean = {}
    bsz = len(scores)
    for i in range(bsz):
        id2score[index[i]].append(scores[i])
    for idx in id2score:
        if len(id2score[idx]) == 1:
            id2mean[idx] = 0.0
        elif len(id2score[idx]) > 1:
            id2mean[idx] = np.mean(id2score[idx])
    for i in range(bsz):
        response_num = len(id2score[index[i]])
        if response_num > 1:
            scores[i] = scores[i] * response_num / (response_num - 1) - id2mean[
                index[i]
            ] * response_num / (response_num - 1)
    return np.array(scores)


def verl_masked_whiten(values, mask):
    """verl ``masked_whiten``: masked mean, unbiased masked var, (x - m) * rsqrt(var + 1e-8)."""
    mean = (values * mask).sum() / mask.sum()
    var = (((values - mean) ** 2) * mask).sum() / mask.sum()
    var = var * mask.sum() / (mask.sum() - 1)
    return (values - mean) / np.sqrt(var + 1e-8)


def verl_reinforce_pp_baseline(scores, index, lengths):
    """verl ``compute_reinforce_plus_plus_baseline_outcome_advantage`` with a token mask."""
    scores = list(scores)
    id2score = defaultdict(list)
    id2mean = {}
    for i in range(len(scores)):
        id2score[index[i]].append(scores[i])
    for idx in id2score:
        id2mean[idx] = 0.0 if len(id2score[idx]) == 1 else np.mean(id2score[idx])
    for i in range(len(scores)):
        scores[i] = scores[i] - id2mean[index[i]]
    width = int(max(lengths))
    mask = (np.arange(width)[None, :] < np.asarray(lengths)[:, None]).astype(float)
    token_scores = np.array(scores)[:, None] * mask
    whitened = verl_masked_whiten(token_scores, mask) * mask
    return whitened[:, 0]  # every token of a response carries the same value


def verl_opo(scores, index, lengths):
    """verl ``compute_opo_outcome_advantage`` loop form."""
    scores = list(scores)
    id2score, id2len = defaultdict(list), defaultdict(list)
    id2bsl = {}
    for i in range(len(scores)):
        id2score[index[i]].append(scores[i])
        id2len[index[i]].append(lengths[i])
    for idx in id2score:
        if len(id2score[idx]) == 1:
            id2bsl[idx] = 0.0
        else:
            s, ln = np.array(id2score[idx]), np.array(id2len[idx])
            id2bsl[idx] = (ln * s).sum() / ln.sum()
    return np.array([scores[i] - id2bsl[index[i]] for i in range(len(scores))])


def trl_grpo(rewards, G, eps=1e-4):
    """TRL's GRPOTrainer form: view(-1, G).mean/std (unbiased), repeat_interleave."""
    grouped = rewards.reshape(-1, G)
    mean = np.repeat(grouped.mean(axis=1), G)
    std = np.repeat(grouped.std(axis=1, ddof=1), G)
    return (rewards - mean) / (std + eps)


def on_scorable(fn, rewards, groups, *extra):
    """Apply a verl loop to the scorable samples only; NaN for the rest and small groups."""
    ok = ~np.isnan(rewards)
    out = np.full(len(rewards), np.nan)
    sub_extra = [np.asarray(e)[ok] for e in extra]
    out[ok] = fn(rewards[ok], groups[ok].tolist(), *sub_extra)
    counts = {g: int(c) for g, c in zip(*np.unique(groups[ok], return_counts=True), strict=True)}
    small = np.array([counts.get(int(g), 0) < 2 for g in groups])
    out[small] = np.nan
    return out


def batch(seed, kind="mixed", p_none=0.15, n_groups=40):
    rng = np.random.default_rng(seed)
    groups = random_groups(rng, n_groups)
    rewards = random_rewards(rng, len(groups), p_none, kind)
    lengths = rng.integers(1, 50, len(groups))
    ctx = make_ctx(groups, [{"completion_tokens": int(n)} for n in lengths])
    return rng, groups, rewards, lengths, ctx


# --------------------------------------------------------------------------- GRPO family


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["mixed", "binary", "ties"])
def test_grpo_matches_verl(seed, kind):
    _, groups, rewards, _, ctx = batch(seed, kind)
    assert_close(GRPO()(rewards, ctx), on_scorable(verl_grpo, rewards, groups))


@pytest.mark.parametrize("seed", SEEDS)
def test_grpo_population_std_option(seed):
    _, groups, rewards, _, ctx = batch(seed)
    expected = np.full(len(rewards), np.nan)
    for g in np.unique(groups):
        members = np.flatnonzero((groups == g) & ~np.isnan(rewards))
        if len(members) >= 2:
            v = rewards[members]
            expected[members] = (v - v.mean()) / (v.std() + 1e-6)
    assert_close(GRPO(unbiased_std=False)(rewards, ctx), expected)


@pytest.mark.parametrize("G", [2, 4, 8, 16])
def test_grpo_matches_trl_equal_groups(G):
    rng = np.random.default_rng(G)
    rewards = rng.normal(size=G * 50)
    rewards[: G * 5] = 1.0  # some all-tied groups
    ctx = BatchContext.from_groups(np.arange(len(rewards)) // G)
    assert_close(GRPO(eps=1e-4)(rewards, ctx), trl_grpo(rewards, G), atol=1e-8)


@pytest.mark.parametrize("seed", SEEDS)
def test_dr_grpo_matches_verl_without_std(seed):
    _, groups, rewards, _, ctx = batch(seed)
    ref = on_scorable(lambda s, i: verl_grpo(s, i, norm_adv_by_std_in_grpo=False), rewards, groups)
    assert_close(DrGRPO()(rewards, ctx), ref)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["mixed", "binary"])
def test_rloo_matches_verl(seed, kind):
    _, groups, rewards, _, ctx = batch(seed, kind)
    assert_close(RLOO()(rewards, ctx), on_scorable(verl_rloo, rewards, groups))


@pytest.mark.parametrize("seed", SEEDS)
def test_rloo_is_leave_one_out_mean(seed):
    _, groups, rewards, _, ctx = batch(seed)
    adv = RLOO()(rewards, ctx)
    for i in np.flatnonzero(~np.isnan(adv)):
        others = np.flatnonzero((groups == groups[i]) & ~np.isnan(rewards))
        others = others[others != i]
        assert adv[i] == pytest.approx(rewards[i] - rewards[others].mean(), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_reinforce_pp_baseline_matches_verl_token_whitening(seed):
    _, groups, rewards, lengths, ctx = batch(seed)
    # verl whitens over every sample it sees; rewardlab over samples with an advantage:
    # compare on the scorable samples of groups with >= 2 scorable members
    ok = ~np.isnan(rewards)
    counts = {g: c for g, c in zip(*np.unique(groups[ok], return_counts=True), strict=True)}
    keep = ok & np.array([counts.get(g, 0) >= 2 for g in groups])
    expected = np.full(len(rewards), np.nan)
    expected[keep] = verl_reinforce_pp_baseline(rewards[keep], groups[keep].tolist(), lengths[keep])
    got = ReinforcePPBaseline(token_weighted=True)(rewards, ctx)
    assert_close(got, expected, atol=1e-8)


@pytest.mark.parametrize("seed", SEEDS)
def test_reinforce_pp_baseline_sample_whitening(seed):
    _, _groups, rewards, _, ctx = batch(seed)
    centred = DrGRPO()(rewards, ctx)
    ok = ~np.isnan(centred)
    v = centred[ok]
    expected = (centred - v.mean()) / np.sqrt(v.var(ddof=1) + 1e-8)
    assert_close(ReinforcePPBaseline()(rewards, ctx), expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_opo_matches_verl(seed):
    _, groups, rewards, lengths, ctx = batch(seed)
    expected = on_scorable(verl_opo, rewards, groups, lengths.astype(float))
    assert_close(OPO()(rewards, ctx), expected)


# --------------------------------------------------------------------------- stratified


def san_reference(rewards, groups, strata, alpha, eps=1e-6, ddof=0, scope="group"):
    """Stratified GRPO (arXiv 2510.06214) SAN blended with group normalisation, as loops."""
    out = np.full(len(rewards), np.nan)
    scopes = groups if scope == "group" else np.zeros_like(groups)
    for g in np.unique(scopes):
        members = [i for i in range(len(rewards)) if scopes[i] == g and not np.isnan(rewards[i])]
        if len(members) < 2:
            continue
        v = rewards[members]
        mu, sigma = v.mean(), v.std(ddof=ddof)
        for i in members:
            same = [j for j in members if strata[j] == strata[i]]
            vk = rewards[same]
            mu_k = vk.mean()
            sigma_k = vk.std(ddof=ddof) if len(same) >= 2 else 0.0
            san = (rewards[i] - mu_k) / (sigma_k + eps)
            out[i] = alpha * san + (1 - alpha) * (rewards[i] - mu) / (sigma + eps)
    return out


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("ddof", [0, 1])
def test_stratified_matches_loop(seed, alpha, ddof):
    rng = np.random.default_rng(seed)
    groups = random_groups(rng, 30)
    rewards = random_rewards(rng, len(groups))
    strata = rng.integers(0, 3, len(groups))  # many strata with one member
    ctx = make_ctx(groups, [{"tool_calls": int(s)} for s in strata])
    est = Stratified(key="tool_calls", alpha=alpha, unbiased_std=bool(ddof))
    expected = san_reference(rewards, groups, strata, alpha, ddof=ddof)
    assert_close(est(rewards, ctx), expected, atol=1e-7)


def test_stratified_batch_scope_and_alpha_zero_is_grpo():
    rng, groups, rewards, _, _ = batch(3)
    strata = rng.integers(0, 2, len(groups))
    ctx = make_ctx(groups, [{"k": str(s)} for s in strata])
    got = Stratified(key="k", scope="batch", alpha=0.5)(rewards, ctx)
    assert_close(got, san_reference(rewards, groups, strata, 0.5, scope="batch"), atol=1e-7)
    grpo_pop = GRPO(unbiased_std=False)(rewards, ctx)
    assert_close(Stratified(key="k", alpha=0.0)(rewards, ctx), grpo_pop, atol=1e-7)


def test_stratified_singleton_stratum_gets_zero_san_term():
    groups = np.array([0, 0, 0])
    ctx = make_ctx(groups, [{"k": 0}, {"k": 0}, {"k": 1}])
    adv = Stratified(key="k")(np.array([1.0, 0.0, 5.0]), ctx)
    assert adv[2] == 0.0
    assert adv[0] == pytest.approx(0.5 / (0.5 + 1e-6))


def test_stratified_missing_key_is_an_error():
    ctx = make_ctx(np.array([0, 0]), [{"k": 1}, {}])
    with pytest.raises(InputError, match="stratum key"):
        Stratified(key="k")(np.array([1.0, 0.0]), ctx)


# --------------------------------------------------------------------------- GDPO


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch_norm", [False, True])
def test_gdpo_matches_loop(seed, batch_norm):
    rng = np.random.default_rng(seed)
    groups = random_groups(rng, 30)
    n = len(groups)
    comps = {
        "correct": random_rewards(rng, n, 0.1, "binary"),
        "format": random_rewards(rng, n, 0.1, "binary"),
        "length": rng.normal(size=n),
    }
    weights = {"correct": 1.0, "format": 0.5, "length": -0.2}
    ctx = make_ctx(groups)
    ok = ~np.any(np.isnan(np.vstack(list(comps.values()))), axis=0)
    expected = np.full(n, np.nan)
    for g in np.unique(groups):
        members = np.flatnonzero((groups == g) & ok)
        if len(members) < 2:
            continue
        total = np.zeros(len(members))
        for name, c in comps.items():
            v = c[members]
            total += weights[name] * (v - v.mean()) / (v.std(ddof=1) + 1e-6)
        expected[members] = total
    if batch_norm:
        v = expected[~np.isnan(expected)]
        expected = (expected - v.mean()) / np.sqrt(v.var(ddof=1) + 1e-6)
    rewards = np.zeros(n)
    got = GDPO(batch_norm=batch_norm)(rewards, ctx, comps, weights)
    assert_close(got, expected, atol=1e-7)


def test_gdpo_separates_what_grpo_collapses():
    # GDPO paper's motivating case: (1,0) and (0,1) sum to the same reward in GRPO
    groups = np.zeros(4, dtype=int)
    comps = {"a": np.array([1.0, 0.0, 0.0, 0.0]), "b": np.array([0.0, 1.0, 1.0, 0.0])}
    ctx = make_ctx(groups)
    adv = GDPO()(np.zeros(4), ctx, comps, {})
    assert adv[0] != pytest.approx(adv[1])
    with pytest.raises(SpecError, match="components"):
        GDPO()(np.zeros(4), ctx)


# --------------------------------------------------------------------------- masking rules


@pytest.mark.parametrize(
    "est", [GRPO(), DrGRPO(), RLOO(), ReinforcePPBaseline(), OPO()], ids=lambda e: e.name
)
def test_unscorable_and_small_groups_get_no_advantage(est):
    groups = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3])
    rewards = np.array([1.0, np.nan, 0.0, 1.0, np.nan, 1.0, np.nan, np.nan, np.nan])
    ctx = make_ctx(groups, [{"completion_tokens": 5 + i} for i in range(9)])
    adv = est(rewards, ctx)
    assert np.isnan(adv[1])  # unscorable member
    assert np.isnan(adv[[3, 4, 5, 6, 7, 8]]).all()  # < 2 scorable members
    assert not np.isnan(adv[[0, 2]]).any()
    assert adv[0] > 0 > adv[2]


@pytest.mark.parametrize("est", [GRPO(), DrGRPO(), RLOO(), OPO()], ids=lambda e: e.name)
def test_tied_group_gives_zero(est):
    ctx = make_ctx(np.zeros(5, dtype=int), [{"completion_tokens": 3 + i} for i in range(5)])
    assert np.all(est(np.full(5, 0.7), ctx) == 0.0)


@pytest.mark.parametrize("value", [0.1, 0.7, 1 / 3, -2.2, 1e9 + 0.1])
@pytest.mark.parametrize("size", [2, 3, 7])
def test_tied_groups_are_exactly_zero_for_every_estimator(value, size):
    groups = np.repeat(np.arange(3), size)
    rewards = np.full(len(groups), value)
    rewards[0] = np.nan  # a None member does not break the tie
    metas = [{"completion_tokens": 2 + i, "k": i % 2} for i in range(len(groups))]
    ctx = make_ctx(groups, metas)
    comps = {"a": rewards, "b": np.full(len(groups), 0.3)}
    for est in (GRPO(), DrGRPO(), RLOO(), OPO(), Stratified(key="k", alpha=0.5)):
        adv = est(rewards, ctx)
        assert np.all(adv[1:][~np.isnan(adv[1:])] == 0.0), est.name
    adv = GDPO()(rewards, ctx, comps, {})
    assert np.all(adv[~np.isnan(adv)] == 0.0)


def test_group_of_two():
    ctx = make_ctx(np.array([0, 0]))
    adv = GRPO()(np.array([1.0, 0.0]), ctx)
    s = np.std([1.0, 0.0], ddof=1)
    assert_close(adv, np.array([0.5, -0.5]) / (s + 1e-6))
    assert_close(RLOO()(np.array([1.0, 0.0]), ctx), np.array([1.0, -1.0]))


def test_wrong_length_is_an_error():
    with pytest.raises(InputError):
        GRPO()(np.zeros(3), BatchContext.from_groups(np.zeros(4, dtype=int)))


def test_unknown_parameter_names_key():
    with pytest.raises(SpecError, match="unbiased_std"):
        GRPO(unbiasedstd=True)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.one_of(st.none(), st.sampled_from([0.0, 1.0, 0.5, -2.0]))),
        min_size=1,
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_grpo_permutation_invariant_and_matches_verl(rows, rnd):
    groups = np.array([g for g, _ in rows])
    rewards = np.array([np.nan if v is None else v for _, v in rows])
    ctx = make_ctx(groups)
    adv = GRPO()(rewards, ctx)
    assert_close(adv, on_scorable(verl_grpo, rewards, groups))
    perm = np.array(rnd.sample(range(len(rows)), len(rows)))
    adv_perm = GRPO()(rewards[perm], make_ctx(groups[perm]))
    assert_close(adv_perm, adv[perm])
    assert np.all(np.isnan(adv[np.isnan(rewards)]))


def test_group_stats_excludes_nan():
    ctx = BatchContext.from_groups(np.array([0, 0, 0, 1]))
    n, mean, std = group_stats(np.array([1.0, np.nan, 3.0, 2.0]), ctx)
    assert_close(n, [2, 2, 2, 1])
    assert_close(mean, [2, 2, 2, 2])
    assert_close(std, [1, 1, 1, 0])


# --------------------------------------------------------------------------- zero variance


def test_zero_variance_report_per_component_and_overall():
    groups = np.array([0, 0, 1, 1, 2, 2, 3])
    rewards = np.array([1.0, 1.0, 0.0, 1.0, np.nan, 2.0, 5.0])
    comps = {"a": np.array([1.0, 1.0, 0.0, 0.0, 3.0, 3.0, 1.0]), "b": np.full(7, np.nan)}
    rep = zero_variance_report(rewards, make_ctx(groups), comps)
    # overall: groups 0 (tied) and 1 (not) are eligible; 2 has one scorable, 3 is a singleton
    assert rep == {"overall": 0.5, "a": 1.0, "b": None}


# --------------------------------------------------------------------------- ReNorm (steps)


def test_renorm_steps_match_formula():
    steps = [[0.2, 0.9, 1.0], [0.5], None, [0.3, None], [], [0.4, 0.4]]
    rewards = np.array([1.0, 0.0, 1.0, 1.0, 1.0, np.nan])
    ctx = make_ctx(np.arange(6), [{"step_rewards": s} for s in steps])
    out = Renorm().estimate_steps(rewards, ctx)
    assert_close(out[0], np.array([0.2, 0.9, 1.0]) + 1.0 - 1.0)
    assert_close(out[1], np.array([-0.5]))
    assert out[2] is None and out[3] is None and out[4] is None and out[5] is None
    means = Renorm()(rewards, ctx)
    assert_close(means, np.array([0.7, -0.5, np.nan, np.nan, np.nan, np.nan]))
    assert Renorm.step_level and not GRPO.step_level
    with pytest.raises(TypeError):
        GRPO().estimate_steps(rewards, ctx)


@pytest.mark.parametrize("seed", range(5))
def test_renorm_random_steps_bounded(seed):
    rng = np.random.default_rng(seed)
    n = 50
    steps = [rng.random(rng.integers(1, 6)).tolist() for _ in range(n)]
    rewards = rng.integers(0, 2, n).astype(float)
    ctx = make_ctx(np.arange(n), [{"step_rewards": s} for s in steps])
    out = Renorm().estimate_steps(rewards, ctx, [np.array(s) for s in steps])
    for s, r, a in zip(steps, rewards, out, strict=True):
        assert a is not None
        assert_close(a, np.array(s) + r - 1.0)
        assert np.all((a >= -1) & (a <= 1))


def test_deterministic():
    _, _groups, rewards, _, ctx = batch(1)
    for est in (GRPO(), RLOO(), ReinforcePPBaseline(), OPO()):
        assert_close(est(rewards, ctx), est(rewards.copy(), ctx))


@pytest.mark.parametrize("n", [0, 1, 4])
def test_empty_and_all_none_batches(n):
    groups = np.zeros(n, dtype=int)
    ctx = make_ctx(groups, [{"completion_tokens": 3, "k": 1, "step_rewards": [0.5]}] * n)
    ests = [GRPO(), DrGRPO(), RLOO(), ReinforcePPBaseline(), OPO(), Stratified(key="k")]
    for rewards in (np.full(n, np.nan), np.ones(n)):
        for est in ests:
            out = est(rewards, ctx)
            assert out.shape == (n,)
            if n < 2 or np.isnan(rewards).all():
                assert np.isnan(out).all()
        assert GDPO()(rewards, ctx, {"a": rewards}, {}).shape == (n,)


def test_advantage_coverage():
    from rewardlab.advantages import advantage_coverage

    ctx = make_ctx(np.array([0, 0, 1, 2, 2]))
    adv = GRPO()(np.array([1.0, 0.0, 1.0, np.nan, 1.0]), ctx)
    assert advantage_coverage(adv, ctx) == {"samples": 0.4, "groups": 1 / 3}


ESTIMATORS = [
    GRPO(),
    DrGRPO(),
    RLOO(),
    ReinforcePPBaseline(),
    ReinforcePPBaseline(token_weighted=True),
    OPO(),
    Stratified(key="k", alpha=0.5),
]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4),
            st.one_of(st.none(), st.sampled_from([0.0, 1.0, 0.25, 3.0])),
            st.integers(1, 9),
            st.integers(0, 2),
        ),
        min_size=1,
        max_size=30,
    ),
    st.randoms(use_true_random=False),
)
def test_every_estimator_is_permutation_equivariant_and_masks(rows, rnd):
    groups = np.array([r[0] for r in rows])
    rewards = np.array([np.nan if r[1] is None else r[1] for r in rows])
    metas = [{"completion_tokens": r[2], "k": r[3]} for r in rows]
    perm = np.array(rnd.sample(range(len(rows)), len(rows)))
    ctx = make_ctx(groups, metas)
    ctx_p = make_ctx(groups[perm], [metas[i] for i in perm])
    for est in ESTIMATORS:
        adv = est(rewards, ctx)
        assert_close(est(rewards[perm], ctx_p), adv[perm], atol=1e-9)
        assert np.isnan(adv[np.isnan(rewards)]).all()
    comps = {"a": rewards, "b": np.array([float(r[3]) for r in rows])}
    adv = GDPO()(rewards, ctx, comps, {"b": 0.5})
    comps_p = {k: v[perm] for k, v in comps.items()}
    assert_close(GDPO()(rewards[perm], ctx_p, comps_p, {"b": 0.5}), adv[perm], atol=1e-9)


def test_eps_zero_tied_group_is_zero_not_nan():
    groups = np.array([0, 0, 0, 1, 1])
    ctx = make_ctx(groups, [{"k": i % 2} for i in range(5)])
    rewards = np.array([0.3, 0.3, 0.3, 1.0, 0.0])
    adv = GRPO(eps=0.0)(rewards, ctx)
    assert_close(
        adv, np.array([0, 0, 0, 1 / np.std([1, 0], ddof=1) * 0.5, -0.5 / np.std([1, 0], ddof=1)])
    )
    assert not np.isnan(Stratified(key="k", eps=0.0, alpha=0.5)(rewards, ctx)).any()
    assert not np.isnan(GDPO(eps=0.0)(rewards, ctx, {"a": rewards}, {})).any()
    flat = ReinforcePPBaseline(eps=0.0)(np.array([1.0, 1.0]), make_ctx(np.array([0, 0])))
    assert_close(flat, np.array([0.0, 0.0]))


def test_zero_variance_fraction_matches_a_per_group_loop():
    """batch.zero_variance_fraction (built on tied_groups) against a loop over groups, with None and inf members."""
    from rewardlab.batch import zero_variance_fraction

    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        groups = rng.integers(0, 6, n)
        values = rng.choice([0.0, 1.0, np.inf, -np.inf, np.nan], size=n, p=[0.35, 0.35, 0.05, 0.05, 0.2])
        per_group: dict[int, list[float]] = {}
        for g, v in zip(groups, values, strict=True):
            if not np.isnan(v):
                per_group.setdefault(int(g), []).append(float(v))
        eligible = [vs for vs in per_group.values() if len(vs) >= 2]
        want = sum(len(set(vs)) == 1 for vs in eligible) / len(eligible) if eligible else None
        assert zero_variance_fraction(values, make_ctx(groups)) == want

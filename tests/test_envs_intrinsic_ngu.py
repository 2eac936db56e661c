"""kNN episodic novelty (NGU), RDD, the global + episodic combinations, and saving what bonuses learnt."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pytest
import torch

from rewardlab.envs import (
    RDD,
    RND,
    Bonus,
    EpisodicCount,
    EpisodicKNN,
    IntrinsicReward,
    SimHashCount,
    VectorIntrinsicReward,
)
from rewardlab.envs.intrinsic import BonusSet
from rewardlab.errors import InputError, SpecError
from tests.test_envs_intrinsic import one_hot_chain
from tests.test_envs_support import ChainMDP, assert_same_stream, run_parity

ONE = np.ones(1, dtype=bool)
XI, EPS, C = 0.008, 1e-4, 1e-3  # NGU's cluster distance, kernel epsilon and pseudo-count constant


def ngu_reward(kernels: list[float]) -> float:
    """1/(√ΣK + c), NGU Algorithm 1, from kernel values computed by hand."""
    return 1.0 / (math.sqrt(sum(kernels)) + C)


def test_knn_novelty_matches_ngu_algorithm_by_hand() -> None:
    """Points 0, 1, 0, 1 on a line with k = 2: each step's neighbours, running mean, kernel and bonus by hand."""
    bonus = EpisodicKNN(k=2).bind(1)
    got = [float(bonus(np.array([[x]]), ONE)[0]) for x in (0.0, 1.0, 0.0, 1.0)]
    # step 1: empty memory, ΣK = 0, r = 1/c
    # step 2: memory {0}: d² = [1], running mean 1 -> d_n = 1 - ξ
    # step 3: memory {0, 1}: d² = [0, 1], mean (1 + 0 + 1)/3 -> d_n = [0, 1.5 - ξ]
    # step 4: memory {0, 1, 0}: nearest d² = [0, 1], mean (2 + 0 + 1)/5 = 0.6 -> d_n = [0, 1/0.6 - ξ]
    want = [
        1.0 / C,
        ngu_reward([EPS / (1 - XI + EPS)]),
        ngu_reward([1.0, EPS / (1.5 - XI + EPS)]),
        ngu_reward([1.0, EPS / (1 / 0.6 - XI + EPS)]),
    ]
    assert got == pytest.approx(want, rel=1e-12)
    assert got[2] < 0.02 * got[1]  # a revisit is far less novel
    capped = EpisodicKNN(k=2, max_similarity=1.0).bind(1)
    assert [float(capped(np.array([[x]]), ONE)[0]) for x in (0.0, 1.0, 0.0)][2] == 0.0  # s > s_m: 0


def test_knn_novelty_falls_on_revisits_and_restarts_with_the_episode() -> None:
    bonus = EpisodicKNN(k=10).bind(2)
    both = np.ones(2, dtype=bool)
    rng = np.random.default_rng(0)
    states = rng.normal(size=(5, 2, 3))
    first = [bonus(s, both) for s in states]
    again = [bonus(s, both) for s in states]  # the same five states, revisited
    assert all((a < f).all() for a, f in zip(again, first, strict=True))
    bonus.reset(np.array([True, False]))
    fresh = bonus(states[0], both)
    assert fresh[0] == pytest.approx(1.0 / C) and fresh[1] < 1.0  # env 0's episode restarted, env 1's did not
    np.testing.assert_array_equal(bonus(states[1], np.array([False, True]))[0], 0.0)  # inactive: 0, not stored
    assert bonus.length.tolist() == [1, 12]


def test_knn_embedding_and_vector_parity() -> None:
    projection = np.random.default_rng(1).normal(size=(4, 8))
    bonus = EpisodicKNN(k=3, embed=lambda x: x @ projection).bind(1)
    bonus(np.ones((1, 4)), ONE)
    assert bonus.memory.shape == (1, 4096, 8)
    out_a, out_b = run_parity(
        lambda e: IntrinsicReward(e, EpisodicKNN(k=5, capacity=64), beta=0.01),
        lambda v: VectorIntrinsicReward(v, EpisodicKNN(k=5, capacity=64), beta=0.01),
        steps=80,
    )
    assert_same_stream(out_a, out_b, ("raw_reward", "intrinsic"))


def test_rdd_bonus_is_eq_11_against_the_mean_before_the_update() -> None:
    """b(s) = (1/d)‖f_θ(s) − μ(s)‖² with the predictor as it was before this step's training."""
    bonus = RDD(out=8, seed=3).bind(2)
    rng = np.random.default_rng(0)
    for x in rng.normal(size=(5, 2, 4)):
        bonus(x, np.ones(2, dtype=bool))
    before = bonus.state_dict()
    x = rng.normal(size=(2, 4))
    got = bonus(x, np.ones(2, dtype=bool))
    rms = bonus.obs_rms  # updated with x before the bonus, as the bonus used it
    z = torch.as_tensor(np.clip((x - rms.mean) / np.sqrt(rms.var + 1e-8), -5, 5), dtype=torch.float32)
    old = RDD(out=8, seed=3).bind(2)
    old.load_state_dict(before)
    target, predictor = old.nets["target"], old.nets["predictor"]  # type: ignore[index]
    with torch.no_grad():
        want = ((predictor(z) - target(z)) ** 2).sum(dim=1).numpy() / 8
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_rdd_with_sigma_zero_is_rnd_over_d_and_noise_keeps_a_floor() -> None:
    rng = np.random.default_rng(0)
    stream = rng.normal(size=(40, 1, 5))
    rdd, rnd = RDD(out=8, sigma=0.0, seed=1).bind(1), RND(out=8, seed=1).bind(1)
    for x in stream:  # same nets, same training: the bonus differs by the factor d
        assert float(rdd(x, ONE)[0]) * 8 == pytest.approx(float(rnd(x, ONE)[0]), rel=1e-4)
    noisy, exact = RDD(out=8, sigma=1.0, seed=1).bind(1), RDD(out=8, sigma=0.0, seed=1).bind(1)
    for x in stream:
        noisy(x, ONE)
        exact(x, ONE)
    new = 2 * rng.normal(size=(1, 5))
    curve = [float(noisy(new, ONE)[0]) for _ in range(300)]
    exact_curve = [float(exact(new, ONE)[0]) for _ in range(300)]
    late = np.mean(curve[-50:])  # visits 251..300: the pseudo-count term σ²/n is about 1/275
    assert late < 0.05 * curve[0]  # falls on revisits
    assert 0.25 / 275 < late < 4 / 275  # as a count bonus σ²/n does (the discrepancy term is small by then)
    assert np.mean(exact_curve[-50:]) < 0.1 * late  # without the draws (RND) it falls to ~0 instead


class Scripted(Bonus):
    """A bonus that returns the next value of a script for every env (for checking combinations by hand)."""

    def __init__(self, values: list[float]) -> None:
        self.values = iter(values)

    def __call__(self, obs: Any, active: np.ndarray) -> np.ndarray:
        return np.where(active, next(self.values), 0.0)


def test_ngu_modulation_and_the_additive_form_by_hand() -> None:
    g, e = [1.0, 5.0, 0.5, 50.0, 2.0], [0.5, 0.25, 1.0, 0.1, 0.3]
    ngu = BonusSet({"episodic": Scripted(e), "global": Scripted(g)}, "ngu", 0.0, 2.5, 1)
    got = [ngu(None, ONE) for _ in g]
    for t in range(len(g)):
        # gymnasium's RunningMeanStd starts from count 1e-4, mean 0, var 1: merged with g_1..g_t exactly
        seen, n0 = np.array(g[: t + 1]), 1e-4
        n = n0 + len(seen)
        mean = seen.sum() / n
        var = (n0 * 1.0 + ((seen - seen.mean()) ** 2).sum() + seen.mean() ** 2 * n0 * len(seen) / n) / n
        alpha = 1 + (g[t] - mean) / math.sqrt(var + 1e-8)
        modulation = min(max(alpha, 1.0), 2.5)
        total, terms = got[t]
        assert float(total[0]) == pytest.approx(e[t] * modulation, rel=1e-9)
        assert terms[:, 0].tolist() == pytest.approx([e[t], g[t], modulation], rel=1e-9)
    assert {float(terms[2, 0]) for _, terms in got} >= {1.0, 2.5}  # both clips reached (L = 2.5)
    added = BonusSet({"episodic": Scripted(e), "global": Scripted(g)}, "sum", 0.0, 5.0, 1)
    assert [float(added(None, ONE)[0][0]) for _ in g] == pytest.approx([a + b for a, b in zip(e, g, strict=True)])


def test_ngu_wrapper_reports_terms_and_needs_its_names() -> None:
    env = IntrinsicReward(one_hot_chain(), {"episodic": EpisodicKNN(k=3), "global": RDD(seed=0)}, combine="ngu")
    env.reset()
    _, reward, _, _, info = env.step(1)
    terms = info["intrinsic_terms"]
    assert set(terms) == {"episodic", "global", "modulation"} and reward == info["raw_reward"]
    assert info["intrinsic"] == pytest.approx(terms["episodic"] * terms["modulation"])
    with pytest.raises(SpecError, match="needs bonuses named"):
        IntrinsicReward(ChainMDP(), {"a": EpisodicCount(), "b": SimHashCount()}, combine="ngu")
    out_a, out_b = run_parity(  # one env: global bonuses and the modulator's statistics agree too
        lambda e: IntrinsicReward(e, {"episodic": EpisodicKNN(k=3), "global": RDD(seed=2)}, combine="ngu"),
        lambda v: VectorIntrinsicReward(v, {"episodic": EpisodicKNN(k=3), "global": RDD(seed=2)}, combine="ngu"),
        num_envs=1, steps=60,
    )
    assert_same_stream(out_a, out_b, ("intrinsic",))


BONUSES = {
    "simhash": lambda: SimHashCount(bits=8),
    "episodic": lambda: EpisodicCount(bits=8),
    "knn": lambda: EpisodicKNN(k=3),
    "rnd": lambda: RND(seed=0),
    "rdd": lambda: RDD(seed=0),
}


@pytest.mark.parametrize("kind", list(BONUSES))
def test_saved_state_continues_the_same_stream(kind: str) -> None:
    """A bonus loaded from a saved state (through torch.save) gives what the original gives next."""
    rng = np.random.default_rng(0)
    both = np.ones(2, dtype=bool)
    a = BonusSet({"episodic": BONUSES[kind](), "global": RDD(seed=1)}, "ngu", 0.0, 5.0, 2)
    for x in rng.normal(size=(20, 2, 3)).round(1):
        a(x, both)
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    b = BonusSet({"episodic": BONUSES[kind](), "global": RDD(seed=1)}, "ngu", 0.0, 5.0, 2)
    b.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=False))
    for x in rng.normal(size=(10, 2, 3)).round(1):
        ta, tb = a(x, both)[1], b(x, both)[1]
        np.testing.assert_allclose(ta, tb, rtol=1e-6)
    fresh = BonusSet({"episodic": BONUSES[kind](), "global": RDD(seed=1)}, "ngu", 0.0, 5.0, 2)
    x = rng.normal(size=(2, 3))
    assert not np.allclose(fresh(x, both)[1], a(x, both)[1])  # the state mattered


def test_bad_state_is_named() -> None:
    env = IntrinsicReward(ChainMDP(), EpisodicCount())
    with pytest.raises(InputError, match="need the state of bonuses"):
        env.load_state_dict({"bonuses": {"other": {}}})
    with pytest.raises(InputError, match=r"need the state of bonuses \['intrinsic'\] and global_rms"):
        env.load_state_dict({"bonuses": env.state_dict()["bonuses"]})  # no global_rms: was a KeyError
    nan_rms = {**env.state_dict(), "global_rms": {"mean": float("nan"), "var": 1.0, "count": 3.0}}
    with pytest.raises(InputError, match=r"IntrinsicReward statistics need 'global_rms'"):
        env.load_state_dict(nan_rms)  # was loaded, making every NGU modulation NaN
    with pytest.raises(InputError, match=r"EpisodicCount\.load_state_dict: missing"):
        EpisodicCount().bind(1).load_state_dict({"memory": np.zeros((1, 4096), dtype=np.uint64)})
    with pytest.raises(InputError, match="same arguments for as many envs"):
        EpisodicCount().bind(1).load_state_dict(EpisodicCount().bind(2).state_dict())


def _trained(bonuses: dict[str, Bonus], seed: int) -> IntrinsicReward:
    import gymnasium as gym

    env = IntrinsicReward(gym.make("CartPole-v1"), bonuses)
    env.reset(seed=seed)
    for t in range(25):
        if any(env.step(t % 3 % 2)[2:4]):
            env.reset()
    return env


@pytest.mark.parametrize("refused", ["memory shape", "networks", "noise"])
def test_a_refused_part_loads_no_bonus(refused: str) -> None:
    """With several bonuses the load is all or nothing: every part is checked before any bonus loads, so
    when the last bonus's part is refused the ones before it keep their state (they were loaded before)."""
    def bonuses(capacity: int = 64, hidden: int = 16) -> dict[str, Bonus]:
        last: Bonus = EpisodicCount(capacity=capacity) if refused == "memory shape" else RDD(hidden=hidden)
        return {"knn": EpisodicKNN(k=3), "simhash": SimHashCount(bits=8), "rnd": RND(hidden=8), "last": last}

    env = _trained(bonuses(), 0)
    state = _trained(bonuses(capacity=32, hidden=8 if refused == "networks" else 16), 1).state_dict()
    if refused == "noise":
        state["bonuses"]["last"]["noise"] = torch.zeros(3, dtype=torch.uint8)
    before = env.state_dict()
    with pytest.raises(InputError, match=r"(EpisodicCount|RDD)\.load_state_dict") as err:
        env.load_state_dict(state)
    assert "\n" not in str(err.value)
    assert _same_state(before, env.state_dict())


@pytest.mark.parametrize("dim", ["4", 4.0, 0, True, None])
def test_a_network_state_whose_width_is_not_a_positive_integer_is_named(dim: Any) -> None:
    """'dim' of a saved RND is the observations' width: anything else is a one-line InputError (a string or a
    float was taken by int(), None was a bare TypeError), and the bonus keeps its state."""
    env = _trained({"rnd": RND(hidden=8)}, 0)
    state, before = env.state_dict(), env.state_dict()
    state["bonuses"]["rnd"]["dim"] = dim
    with pytest.raises(InputError, match=r"RND\.load_state_dict: 'dim' must be the observations' width"):
        env.load_state_dict(state)
    assert _same_state(before, env.state_dict())


@pytest.mark.parametrize("kind", ["rnd", "rdd"])
def test_the_state_of_a_network_bonus_that_saw_nothing_loads_as_fresh(kind: str) -> None:
    """A wrapper never reset saves an empty part for its network bonus; loaded into a trained wrapper it makes
    the bonus that fresh one (it kept its trained networks and statistics: the two went on apart)."""
    import gymnasium as gym

    def make() -> IntrinsicReward:
        return IntrinsicReward(gym.make("CartPole-v1"), RND(hidden=8) if kind == "rnd" else RDD(hidden=8))

    env, fresh = make(), make()
    env.reset(seed=0)
    for t in range(10):
        env.step(t % 2)
    env.load_state_dict(fresh.state_dict())
    assert _same_state(env.state_dict(), fresh.state_dict())
    env.reset(seed=3)
    fresh.reset(seed=3)
    assert [env.step(t % 2)[4]["intrinsic"] for t in range(5)] == [fresh.step(t % 2)[4]["intrinsic"] for t in range(5)]


def _same_state(a: Any, b: Any) -> bool:
    """Deep equality of two state dicts (numpy arrays, tensors, numbers, nested dicts/lists)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return bool(torch.equal(a, b))
    return bool(np.array_equal(a, b))


@pytest.mark.parametrize("kind", ["simhash", "rnd", "rdd"])
def test_frozen_bonuses_learn_nothing_and_pass_the_env_checker(kind: str) -> None:
    """``update_running_mean = False`` (evaluation): counts, networks and statistics stay as they were,
    so the wrapper is reset-deterministic and Gymnasium's checker passes, global bonuses and NGU included."""
    import gymnasium as gym

    from tests.test_envs_support import check_wrapped_env

    env = IntrinsicReward(gym.make("CartPole-v1"), {"episodic": EpisodicKNN(k=3), "global": BONUSES[kind]()},
                          combine="ngu")
    env.reset(seed=0)
    for _ in range(30):  # learn something first
        if any(env.step(env.action_space.sample())[2:4]):
            env.reset()
    env.update_running_mean = False
    assert env.update_running_mean is False

    def learnt() -> dict[str, Any]:  # all but the episode's own memory, which still fills
        state = env.state_dict()
        state["bonuses"]["episodic"] = {k: state["bonuses"]["episodic"][k] for k in ("dist_sum", "dist_count")}
        return state

    before = learnt()
    env.reset(seed=1)
    for _ in range(30):
        if any(env.step(env.action_space.sample())[2:4]):
            env.reset()
    assert _same_state(before, learnt())
    check_wrapped_env(env)
    env.update_running_mean = True
    env.reset(seed=1)
    env.step(0)
    env.step(0)
    assert not _same_state(before, learnt())  # learning again


@pytest.mark.parametrize("kind", ["rnd", "rdd"])
def test_nan_whitening_statistics_are_refused_not_loaded(kind: str) -> None:
    """A network bonus's observation statistics are checked as NormalizeReward's are (they were loaded as
    given: a NaN mean made every later bonus NaN); a refused state changes nothing."""
    bonus = BONUSES[kind]().bind(1)
    bonus(np.ones((1, 3)), ONE)
    state = bonus.state_dict()
    bad = {**state, "obs_rms": {**state["obs_rms"], "mean": np.array([np.nan, 0.0, 0.0])}}
    other = BONUSES[kind]().bind(1)
    with pytest.raises(InputError, match=r"statistics need 'obs_rms' with a finite mean, var >= 0 and count >= 0 "
                                         r"\(mean and var of shape \(3,\)\)"):
        other.load_state_dict(bad)
    with pytest.raises(InputError, match="need 'obs_rms'"):
        other.load_state_dict({**state, "obs_rms": {**state["obs_rms"], "var": np.ones(2)}})  # another width
    assert other.state_dict() == {}  # nothing loaded

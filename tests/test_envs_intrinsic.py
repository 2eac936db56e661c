"""Intrinsic rewards: novelty falls on revisits, stays out of the reward unless asked, same in both forms."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rewardlab.envs import RND, CoverageGain, EpisodicCount, IntrinsicReward, SimHashCount, VectorIntrinsicReward
from rewardlab.errors import SpecError
from tests.test_envs_support import ChainMDP, assert_same_stream, check_wrapped_env, run_parity

ONE = np.ones(1, dtype=bool)


def repeat(bonus: object, obs: np.ndarray, times: int) -> list[float]:
    return [float(bonus(obs, ONE)[0]) for _ in range(times)]  # type: ignore[operator]


def test_simhash_count_falls_as_one_over_sqrt_n_and_a_new_state_is_novel_again() -> None:
    bonus = SimHashCount(bits=16).bind(1)
    assert repeat(bonus, np.array([[0.3, -1.2, 0.5]]), 4) == pytest.approx([1, 1 / np.sqrt(2), 1 / np.sqrt(3), 0.5])
    assert repeat(bonus, np.array([[-5.0, 4.0, -2.0]]), 1) == [1.0]


def test_episodic_count_is_per_env_and_restarts_with_the_episode() -> None:
    bonus = EpisodicCount(bits=16).bind(2)
    both = np.ones(2, dtype=bool)
    same = np.array([[1.0, 2.0], [1.0, 2.0]])
    first, second = bonus(same, both), bonus(same, both)
    np.testing.assert_allclose(first, [1.0, 1.0])  # each env counts its own episode
    np.testing.assert_allclose(second, [1 / np.sqrt(2)] * 2)
    bonus.reset(np.array([True, False]))
    np.testing.assert_allclose(bonus(same, both), [1.0, 1 / np.sqrt(3)])
    np.testing.assert_allclose(bonus(same, np.array([False, True])), [0.0, 0.5])  # inactive env: no bonus, no count


def test_rnd_error_falls_on_revisits_and_stays_high_on_a_new_state() -> None:
    bonus = RND(seed=0).bind(1)
    rng = np.random.default_rng(0)
    seen = rng.normal(size=(1, 6))
    for x in rng.normal(size=(50, 1, 6)):  # whitening statistics from a spread of states
        bonus(x, ONE)
    errors = repeat(bonus, seen, 150)
    assert errors[-1] < 0.2 * errors[0]
    count = bonus.obs_rms.count
    assert float(bonus(seen + 3.0, np.zeros(1, dtype=bool))[0]) == 0.0  # inactive: reported 0, not counted
    assert bonus.obs_rms.count == count
    assert float(bonus(seen + 3.0, ONE)[0]) > 3 * errors[-1]  # the error is computed before the update


def one_hot_chain() -> gym.Env:
    """The chain with one-hot observations: SimHash is on signs of projections, so states need directions."""
    space = gym.spaces.Box(0.0, 1.0, shape=(5,))
    return gym.wrappers.TransformObservation(ChainMDP(), lambda s: np.eye(5, dtype=np.float32)[s], space)


def test_intrinsic_is_reported_not_folded_unless_beta() -> None:
    env = IntrinsicReward(one_hot_chain(), EpisodicCount(bits=8))
    env.reset()
    bonuses = []
    for action in (1, 0, 1, 0, 1):  # 3, 2, 3, 2, 3: revisits
        _, reward, _, _, info = env.step(action)
        assert reward == info["raw_reward"] == 0.0
        bonuses.append(info["intrinsic"])
    assert bonuses == pytest.approx([1, 1, 1 / np.sqrt(2), 1 / np.sqrt(2), 1 / np.sqrt(3)])
    env.reset()
    assert env.step(1)[4]["intrinsic"] == 1.0  # a new episode
    folded = IntrinsicReward(one_hot_chain(), EpisodicCount(bits=8), beta=0.5)
    folded.reset(options={"state": 3})
    _, reward, _, _, info = folded.step(1)
    assert reward == pytest.approx(info["raw_reward"] + 0.5 * info["intrinsic"]) and info["raw_reward"] == 1.0


def test_vector_and_single_give_the_same_stream() -> None:
    out_a, out_b = run_parity(
        lambda e: IntrinsicReward(e, EpisodicCount(bits=6), beta=0.1),
        lambda v: VectorIntrinsicReward(v, EpisodicCount(bits=6), beta=0.1),
        steps=80,
    )
    assert_same_stream(out_a, out_b, ("raw_reward", "intrinsic"))
    both = {"global": SimHashCount(bits=6), "episodic": EpisodicCount(bits=6)}
    out_a, out_b = run_parity(
        lambda e: IntrinsicReward(e, {"global": SimHashCount(bits=6), "episodic": EpisodicCount(bits=6)},
                                  combine="product"),
        lambda v: VectorIntrinsicReward(v, both, combine="product"),
        num_envs=1, steps=80,
    )
    assert_same_stream(out_a, out_b, ("intrinsic",))
    assert any((i["intrinsic"] < 1.0).any() for *_, i in out_b)


def test_env_checker_and_bad_arguments() -> None:
    check_wrapped_env(IntrinsicReward(gym.make("CartPole-v1").unwrapped, EpisodicCount()))
    with pytest.raises(SpecError, match="give a Bonus or a mapping"):
        IntrinsicReward(ChainMDP(), {"x": lambda o, a: o})  # type: ignore[dict-item]
    with pytest.raises(SpecError, match="combine must be 'sum', 'product' or 'ngu'"):
        IntrinsicReward(ChainMDP(), EpisodicCount(), combine="max")  # type: ignore[arg-type]


def test_coverage_gain_is_one_for_a_new_cell_then_zero() -> None:
    """Marginal gains of the coverage function: 1, 0 on a revisit, 1 on a new cell, and again after a reset."""
    bonus = CoverageGain(bits=16).bind(1)
    a, b = np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, -1.0, 0.0]])
    assert [float(bonus(x, ONE)[0]) for x in (a, a, b, a, b)] == [1.0, 0.0, 1.0, 0.0, 0.0]
    bonus.reset(ONE)
    assert float(bonus(a, ONE)[0]) == 1.0


def test_rnd_wraps_an_env() -> None:
    """The wrapper records its constructor arguments (a deep copy): a network bonus must copy."""
    env = IntrinsicReward(gym.make("CartPole-v1"), RND(seed=0))
    env.reset(seed=0)
    assert env.step(0)[4]["intrinsic"] > 0.0

"""Potential-based shaping: policy invariance by value iteration, terminal vs truncation, parity."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit

from rewardlab.envs import PotentialShaping, VectorPotentialShaping, shaping_term
from rewardlab.errors import InputError, SpecError
from tests.test_envs_support import ChainMDP, assert_same_stream, check_wrapped_env, run_parity, steps_with_copies

GAMMA = 0.9
PHI = np.array([5.0, 1.0, -2.0, 3.0, 0.0])  # a large potential on the worse terminal state 0


def reward_table(env: gym.Env) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R[s, a], next state and termination read by stepping ``env`` from every non-terminal s."""
    r, nxt, term = np.zeros((5, 2)), np.zeros((5, 2), int), np.zeros((5, 2), bool)
    for s in range(1, 4):
        for a in range(2):
            env.reset(options={"state": s})
            s2, reward, terminated, _, _ = env.step(a)
            r[s, a], nxt[s, a], term[s, a] = reward, s2, terminated
    return r, nxt, term


def q_values(r: np.ndarray, nxt: np.ndarray, term: np.ndarray) -> np.ndarray:
    """Value iteration to convergence: Q(s, a) = R(s, a) + γ (1 − terminal) max_a' Q(s', a')."""
    q = np.zeros((5, 2))
    for _ in range(500):
        v = q.max(axis=1)
        q = r + GAMMA * np.where(term, 0.0, v[nxt])
    return q[1:4]


def test_shaping_keeps_optimal_policy_by_value_iteration() -> None:
    base = reward_table(ChainMDP())
    shaped = reward_table(PotentialShaping(ChainMDP(), lambda s: PHI[s], GAMMA))
    q, q_shaped = q_values(*base), q_values(*shaped)
    np.testing.assert_array_equal(q.argmax(axis=1), q_shaped.argmax(axis=1))
    # Ng et al. 1999: Q'(s, a) = Q(s, a) − Φ(s) exactly
    np.testing.assert_allclose(q_shaped, q - PHI[1:4, None], atol=1e-9)
    assert (q.argmax(axis=1) == 1).all()  # go right, to the better terminal state


def test_bootstrapping_phi_at_termination_changes_the_policy() -> None:
    """The common bug (Φ(s') kept at termination) makes the agent prefer the high-potential terminal."""
    r, nxt, term = reward_table(ChainMDP())
    s = np.arange(5)[:, None].repeat(2, axis=1)
    wrong = r + shaping_term(PHI[s], PHI[nxt], GAMMA, np.zeros_like(term))
    right = r + shaping_term(PHI[s], PHI[nxt], GAMMA, term)
    assert (q_values(right, nxt, term).argmax(axis=1) == 1).all()
    assert q_values(wrong, nxt, term).argmax(axis=1)[0] == 0  # state 1 now goes left


def test_truncation_keeps_the_bootstrap_and_termination_drops_it() -> None:
    env = PotentialShaping(TimeLimit(ChainMDP(), max_episode_steps=1), lambda s: PHI[s], GAMMA)
    env.reset(options={"state": 2})
    _, reward, terminated, truncated, info = env.step(1)  # 2 -> 3, truncated by the time limit
    assert truncated and not terminated
    assert info["shaping"] == pytest.approx(GAMMA * PHI[3] - PHI[2])
    assert reward == pytest.approx(info["raw_reward"] + info["shaping"])
    env.reset(options={"state": 1})
    _, reward, terminated, _, info = env.step(0)  # 1 -> 0, terminal
    assert terminated
    assert info["shaping"] == pytest.approx(-PHI[1])
    assert reward == pytest.approx(0.5 - PHI[1])


def cart_potential(obs: np.ndarray) -> np.ndarray:
    return -np.abs(obs[..., 2]) * 10.0 - np.abs(obs[..., 0])


def test_vector_and_single_give_the_same_stream() -> None:
    out_a, out_b = run_parity(
        lambda e: PotentialShaping(e, cart_potential, 0.99), lambda v: VectorPotentialShaping(v, cart_potential, 0.99)
    )
    assert any(t.any() for _, t, _, _ in out_b)  # the run crosses terminations and autoresets
    assert_same_stream(out_a, out_b, ("raw_reward", "shaping"))


def test_env_checker_passes_on_wrapped_env() -> None:
    check_wrapped_env(PotentialShaping(gym.make("CartPole-v1").unwrapped, cart_potential, 0.99))


def test_bad_arguments_are_named() -> None:
    with pytest.raises(SpecError, match="gamma must be a number in"):
        PotentialShaping(ChainMDP(), lambda s: 0.0, 1.5)
    env = PotentialShaping(ChainMDP(), lambda s: float("nan"), 0.9)
    with pytest.raises(InputError, match="potential returned nan"):
        env.reset()
    vec = gym.vector.SyncVectorEnv([ChainMDP, ChainMDP])
    with pytest.raises(InputError, match=r"one value per environment, shape \(2,\)"):
        VectorPotentialShaping(vec, lambda o: 0.0, 0.9).reset()


def test_disabled_autoreset_with_partial_resets_matches_single_envs() -> None:
    """DISABLED mode: the caller resets finished envs with a reset_mask; shaping restarts from their new Φ."""
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    from tests.test_envs_support import make_cartpole

    vec = VectorPotentialShaping(
        SyncVectorEnv([make_cartpole] * 3, autoreset_mode=AutoresetMode.DISABLED), cart_potential, 0.99
    )
    singles = [PotentialShaping(make_cartpole(), cart_potential, 0.99) for _ in range(3)]
    vec.reset(seed=[1, 2, 3])
    for i, env in enumerate(singles):
        env.reset(seed=i + 1)
    rng = np.random.default_rng(0)
    resets = 0
    for _ in range(120):
        actions = rng.integers(0, 2, size=3)
        _, reward, terminated, truncated, _ = vec.step(actions)
        expected = [float(env.step(int(a))[1]) for env, a in zip(singles, actions, strict=True)]
        np.testing.assert_allclose(reward, expected, rtol=1e-12)
        done = terminated | truncated
        if done.any():
            resets += 1
            seeds = [100 + resets + i if d else None for i, d in enumerate(done)]
            vec.reset(seed=seeds, options={"reset_mask": done})
            for env, d, s in zip(singles, done, seeds, strict=True):
                if d:
                    env.reset(seed=s)
    assert resets > 0


def test_vector_shaping_info_is_not_changed_by_later_steps() -> None:
    """F and the raw reward are stored without a copy where they are the step's own arrays: a later step
    must not change what an earlier one reported."""
    envs = VectorPotentialShaping(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 4),
                                  lambda o: -np.abs(o[..., 2]), 0.9)
    for (reward, info), (reward0, info0) in steps_with_copies(envs):
        np.testing.assert_array_equal(reward, reward0)
        for key in ("raw_reward", "_raw_reward", "shaping", "_shaping"):
            np.testing.assert_array_equal(info[key], info0[key])

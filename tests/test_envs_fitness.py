"""Fitness by a short PPO run on the candidate's reward, the reward computed in the sandbox throughout."""

from __future__ import annotations

import gymnasium as gym
import pytest

from rewardlab.envs.fitness import CandidateFailed, SandboxedReward, train_all
from tests.test_envs_reward_code import CRASHES, NAN, SOCKET, WORKS

pytest.importorskip("stable_baselines3")

NEGATIVE = """
def compute_reward(obs, action, next_obs, info, terminated, truncated):
    return -1000.0
"""


def test_sandboxed_reward_is_the_candidates_and_keeps_the_env_reward() -> None:
    env = SandboxedReward(gym.make("CartPole-v1"), WORKS)
    env.reset(seed=0)
    nxt, reward, _, _, info = env.step(1)
    upright, centred = 1.0 - abs(nxt[2]) / 0.21, -abs(nxt[0]) / 2.4
    assert reward == pytest.approx(upright + 0.5 * centred) and info["raw_reward"] == 1.0
    env.close()
    with pytest.raises(CandidateFailed, match="rejected: import of 'socket'"):
        SandboxedReward(gym.make("CartPole-v1"), SOCKET)


def test_train_all_gives_fitness_or_the_candidates_failure() -> None:
    import torch

    torch.set_num_threads(1)
    results = train_all([WORKS, CRASHES, NAN, SOCKET, NEGATIVE], lambda: gym.make("CartPole-v1"), workers=2,
                        timesteps=256, eval_episodes=2)
    assert [r.status for r in results] == ["ok", "error", "non_finite", "rejected", "ok"]
    # fitness is CartPole's own return (1 per step), not the candidate's: positive even for a reward of -1000
    assert results[0].fitness is not None and results[0].fitness > 0
    assert results[4].fitness is not None and results[4].fitness > 0
    assert "ZeroDivisionError" in results[1].reason
    assert all(r.fitness is None for r in results[1:4])

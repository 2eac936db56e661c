"""Smoke run: SB3 PPO trains on CartPole through a stack of rewardlab wrappers, and sees their info."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from rewardlab.envs import EpisodicCount, IntrinsicReward, NormalizeReward, PotentialShaping, RewardTerms

sb3 = pytest.importorskip("stable_baselines3")


def wrapped() -> gym.Env:
    env: gym.Env = RewardTerms(gym.make("CartPole-v1"), {"centred": lambda o, a, o2, i, te, tr: -np.abs(o2[..., 0])})
    env = PotentialShaping(env, lambda o: -10.0 * np.abs(o[..., 2]), gamma=0.99)
    env = IntrinsicReward(env, EpisodicCount(bits=16))
    return NormalizeReward(env, gamma=0.99)


def test_ppo_smoke_run_with_the_wrappers() -> None:
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_checker import check_env
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import Logger

    torch.set_num_threads(1)
    check_env(wrapped(), warn=False)
    seen: list[dict[str, Any]] = []

    class Infos(BaseCallback):
        def _on_step(self) -> bool:
            seen.extend(self.locals["infos"])
            return True

    vec = make_vec_env(wrapped, n_envs=2, seed=0)
    model = sb3.PPO("MlpPolicy", vec, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.set_logger(Logger(None, []))  # no /tmp/SB3-<date> folder
    model.learn(total_timesteps=64, callback=Infos())
    assert len(seen) == 64
    assert all({"raw_reward", "shaping", "intrinsic", "reward_terms"} <= set(i) for i in seen)
    assert all(i["raw_reward"] == 1.0 for i in seen)  # CartPole's own reward, under four wrappers

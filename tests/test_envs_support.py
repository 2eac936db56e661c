"""Shared fixtures for the rewardlab.envs tests: a tiny chain MDP and a single/vector parity runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.vector import SyncVectorEnv, VectorEnv


class ChainMDP(gym.Env):
    """States 0..4 in a row; 0 and 4 are terminal (rewards 0.5 and 1.0 on entering); start in 2.

    ``reset(options={"state": s})`` starts anywhere, so a test can read the reward of every (s, a).
    """

    observation_space = gym.spaces.Discrete(5)
    action_space = gym.spaces.Discrete(2)  # 0 = left, 1 = right
    terminal_reward: ClassVar[dict[int, float]] = {0: 0.5, 4: 1.0}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.state = int((options or {}).get("state", 2))
        return self.state, {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self.state += 1 if int(action) == 1 else -1
        terminated = self.state in self.terminal_reward
        return self.state, self.terminal_reward.get(self.state, 0.0), terminated, False, {}


def make_cartpole() -> gym.Env:
    return gym.make("CartPole-v1")


def run_parity(
    wrap_single: Callable[[gym.Env], gym.Env],
    wrap_vector: Callable[[VectorEnv], VectorEnv],
    num_envs: int = 4,
    steps: int = 120,
    make: Callable[[], gym.Env] = make_cartpole,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Step a vector of wrapped envs and a wrapped vector env with the same seeds and actions.

    Returns the (reward, terminated, truncated, info) of every step for both.
    """
    a = SyncVectorEnv([lambda: wrap_single(make()) for _ in range(num_envs)])
    b = wrap_vector(SyncVectorEnv([make for _ in range(num_envs)]))
    a.reset(seed=7)
    b.reset(seed=7)
    rng = np.random.default_rng(0)
    out_a, out_b = [], []
    for _ in range(steps):
        actions = rng.integers(0, 2, size=num_envs)
        out_a.append(a.step(actions)[1:])
        out_b.append(b.step(actions)[1:])
    a.close()
    b.close()
    return out_a, out_b


def assert_same_stream(out_a: list[tuple[Any, ...]], out_b: list[tuple[Any, ...]], keys: tuple[str, ...]) -> None:
    """Rewards, dones and the named info entries (value where present) agree step by step."""
    for (ra, ta, ua, ia), (rb, tb, ub, ib) in zip(out_a, out_b, strict=True):
        np.testing.assert_allclose(ra, rb, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ua, ub)
        for key in keys:
            m = ia.get(f"_{key}", np.zeros_like(ta))  # absent when every env was on its autoreset step
            np.testing.assert_array_equal(m, ib[f"_{key}"])
            if not m.any():
                continue
            np.testing.assert_allclose(np.asarray(ia[key])[m], np.asarray(ib[key])[m], rtol=1e-9, atol=1e-12)


KNOWN_WARNINGS = ("is different from the unwrapped version", "Box observation space m")


def steps_with_copies(envs: VectorEnv, steps: int = 80) -> list[tuple[Any, Any]]:
    """``steps`` random steps of ``envs`` (reset with seed 3): each step's (reward, info) beside a deep copy
    taken right away, so a test can check that later steps did not change what an earlier one reported."""
    import copy

    envs.reset(seed=3)
    rng = np.random.default_rng(1)
    kept = []
    for _ in range(steps):
        _, reward, _, _, info = envs.step(rng.integers(0, 2, size=envs.num_envs))
        kept.append(((reward, info), copy.deepcopy((reward, info))))
    return kept


def check_wrapped_env(env: gym.Env) -> None:
    """``gymnasium.utils.env_checker.check_env`` on a wrapped env; any warning beyond the known ones fails.

    The known ones: the checker's note that the env is wrapped (that is the point here) and
    CartPole's infinite observation bounds.
    """
    import warnings

    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    unexpected = [str(w.message) for w in caught if not any(k in str(w.message) for k in KNOWN_WARNINGS)]
    assert not unexpected, unexpected


class NoisyEnv(gym.Env):
    """Rewards ~ N(1, 2) from the env's own seeded generator; terminates with probability 0.1.

    Wrap it in ``TimeLimit`` to get truncations too. A reward stream with variance, for normalisers.
    """

    observation_space = gym.spaces.Box(-10.0, 10.0, shape=(2,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        reward = float(self.np_random.normal(1.0, 2.0)) + float(action)
        return self._obs(), reward, bool(self.np_random.random() < 0.1), False, {}

    def _obs(self) -> np.ndarray:
        return self.np_random.uniform(-1.0, 1.0, size=2).astype(np.float32)


def make_noisy() -> gym.Env:
    from gymnasium.wrappers import TimeLimit

    return TimeLimit(NoisyEnv(), max_episode_steps=15)

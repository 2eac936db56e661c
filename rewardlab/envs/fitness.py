"""Fitness of a reward candidate: a short SB3 PPO run on its reward, scored by the env's own reward.

Eureka's inner loop (Ma et al. 2023, §3.2): train a policy on each candidate
reward, then rate the candidate by the task's own success metric, not by its own
reward. The candidate's ``compute_reward`` runs only in the sandbox, for the
whole run: one confined process per candidate, one request per transition
(:class:`SandboxedReward`); a crash, timeout, NaN or wrong output ends the run
and is the candidate's verdict. The fitness is the mean of ``success(return,
length)`` over ``eval_episodes`` deterministic episodes of the unwrapped env
(default: the env's own episode return). Needs the ``sb3`` extra.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, SupportsFloat

import gymnasium as gym

from rewardlab.envs._base import keep_raw
from rewardlab.envs.reward_code import ENTRY, Verdict, check_item, record_plain, static_gate
from rewardlab.errors import RewardlabError
from rewardlab.rewards.code_asserts import error_text
from rewardlab.sandbox import InfraError, Limits, Run, SandboxPool, shared_pool


class CandidateFailed(RewardlabError):
    """The candidate's reward failed during training: ``status`` as in :class:`~rewardlab.envs.reward_code.Verdict`."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status, self.reason = status, reason


class SandboxedReward(gym.Wrapper):
    """The env's reward replaced by the candidate's, computed in the sandbox; env reward in ``info``."""

    def __init__(self, env: gym.Env, source: str, *, pool: SandboxPool | None = None,
                 limits: Limits | None = None) -> None:
        super().__init__(env)
        reason = static_gate(source)
        if reason is not None:
            raise CandidateFailed("rejected", reason)
        self.source, self.pool = source, pool or shared_pool()
        self.limits = limits or Limits(timeout=5.0, run_timeout=600.0, cpu_s=600, memory_mb=1024)
        self._stack = contextlib.ExitStack()
        self._run: Run | None = None
        self._obs: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if self._run is None:
            self._run = self._stack.enter_context(self.pool.run(self.source, self.limits))
            if self._run.init.kind != "ok":
                raise CandidateFailed("timeout" if self._run.init.kind == "timeout" else "error",
                                      error_text(self._run.init))
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._run is None:
            raise gym.error.ResetNeeded("SandboxedReward: call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(action)
        row = record_plain(self._obs, action, obs, info, terminated, truncated)
        out = self._run.call(ENTRY, row)
        if out.kind != "ok":
            raise CandidateFailed("timeout" if out.kind == "timeout" else "error", error_text(out))
        checked = check_item(out.value, 0)  # per step: the check alone, no per-term statistics
        if isinstance(checked, Verdict):
            raise CandidateFailed(checked.status, checked.reason)
        self._obs = obs
        return obs, checked[0], terminated, truncated, keep_raw(info, reward)

    def close(self) -> None:
        self._stack.close()
        self._run = None
        super().close()


@dataclass(frozen=True)
class Fitness:
    """A candidate's training outcome: ``status`` (ok or the failure) and the fitness where ok."""

    status: str
    fitness: float | None = None
    reason: str = ""


def train_fitness(
    source: str, make_env: Callable[[], gym.Env], *, timesteps: int = 2048, eval_episodes: int = 5, seed: int = 0,
    success: Callable[[float, int], float] | None = None, pool: SandboxPool | None = None,
) -> Fitness:
    """Train PPO for ``timesteps`` on the candidate's reward; mean ``success`` over evaluation episodes."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger

    try:
        env = SandboxedReward(make_env(), source, pool=pool)
    except CandidateFailed as exc:
        return Fitness(exc.status, reason=exc.reason)
    try:
        model = PPO("MlpPolicy", env, n_steps=min(2048, timesteps), batch_size=64, seed=seed, device="cpu")
        model.set_logger(Logger(None, []))  # else SB3 makes a /tmp/SB3-<date> folder per run
        model.learn(total_timesteps=timesteps)
    except CandidateFailed as exc:
        return Fitness(exc.status, reason=exc.reason)
    except InfraError as exc:
        return Fitness("unscorable", reason=f"sandbox failure (not the candidate's doing): {exc}")
    finally:
        env.close()
    score = success or (lambda ret, length: ret)
    values = [score(*_episode(model, make_env(), seed + 1000 + i)) for i in range(eval_episodes)]
    return Fitness("ok", fitness=sum(values) / len(values))


def _episode(model: Any, env: gym.Env, seed: int) -> tuple[float, int]:
    """Return and length of one deterministic episode with the env's own reward."""
    obs, _ = env.reset(seed=seed)
    total, length, done = 0.0, 0, False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        total, length, done = total + float(reward), length + 1, terminated or truncated
    env.close()
    return total, length


def train_all(sources: Sequence[str], make_env: Callable[[], gym.Env], *, workers: int = 2,
              **kwargs: Any) -> list[Fitness]:
    """:func:`train_fitness` for each candidate, ``workers`` at a time (each holds one sandbox process)."""
    pool = shared_pool(workers)
    with ThreadPoolExecutor(max(1, workers)) as ex:
        return list(ex.map(lambda s: train_fitness(s, make_env, pool=pool, **kwargs), sources))

"""Intrinsic-reward wrappers: novelty bonuses reported beside the extrinsic reward, not folded into it.

``info["intrinsic"]`` holds the bonus of the observation each env reached and,
with several bonuses, ``info["intrinsic_terms"][name]`` each one. The reward is
the environment's unless ``beta > 0`` is given, then r + β·intrinsic (the
extrinsic reward stays in ``info["raw_reward"]``): a bonus is never folded in
silently. Several bonuses combine by ``"sum"`` or ``"product"`` (the
global × episodic combination of Henaff et al. 2023, "A Study of Global and
Episodic Bonuses for Exploration in Contextual MDPs").

Global bonuses (:class:`~rewardlab.envs.novelty.SimHashCount`, RND) are shared by
the envs of a vector, so a wrapped vector env counts all its envs' experience,
unlike a vector of wrapped envs (one count each); episodic ones are per env and
give the same stream in both forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

from rewardlab.envs._base import Nested, VectorRewardWrapper, keep_raw, put_info
from rewardlab.envs.novelty import Bonus
from rewardlab.errors import SpecError

Combine = Literal["sum", "product"]


class BonusSet:
    """Named bonuses bound to ``num_envs`` envs and their combination; both wrappers drive one."""

    def __init__(self, bonuses: Bonus | Mapping[str, Bonus], combine: Combine, beta: float, num_envs: int) -> None:
        named = {"intrinsic": bonuses} if isinstance(bonuses, Bonus) else dict(bonuses)
        if not named or not all(isinstance(b, Bonus) for b in named.values()):
            raise SpecError(f"IntrinsicReward: give a Bonus or a mapping of names to Bonus objects (got {bonuses!r})")
        if combine not in ("sum", "product"):
            raise SpecError(f"IntrinsicReward: combine must be 'sum' or 'product' (got {combine!r})")
        if not beta >= 0:
            raise SpecError(f"IntrinsicReward: beta must be >= 0 (got {beta!r})")
        self.bonuses = {name: b.bind(num_envs) for name, b in named.items()}
        self.nested = Nested(list(self.bonuses))
        self.combine, self.beta = combine, float(beta)

    def __call__(self, obs: Any, active: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        terms = {name: b(obs, active) for name, b in self.bonuses.items()}
        stacked = np.stack(list(terms.values()))
        total = stacked.sum(axis=0) if self.combine == "sum" else stacked.prod(axis=0)
        return total, terms

    def reset(self, mask: np.ndarray) -> None:
        for b in self.bonuses.values():
            b.reset(mask)


class IntrinsicReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Novelty of the observation reached, in ``info["intrinsic"]`` (added to the reward only with ``beta``)."""

    def __init__(
        self, env: gym.Env, bonuses: Bonus | Mapping[str, Bonus], *, combine: Combine = "sum", beta: float = 0.0
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, bonuses=bonuses, combine=combine, beta=beta)
        gym.Wrapper.__init__(self, env)
        self.bonus = BonusSet(bonuses, combine, beta, 1)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self.bonus.reset(np.ones(1, dtype=bool))
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        total, terms = self.bonus(np.asarray(obs)[None], np.ones(1, dtype=bool))
        info = {**keep_raw(info, reward), "intrinsic": float(total[0])}
        if len(terms) > 1:
            info["intrinsic_terms"] = {n: float(v[0]) for n, v in terms.items()}
        return obs, float(reward) + self.bonus.beta * float(total[0]), terminated, truncated, info


class VectorIntrinsicReward(VectorRewardWrapper, gym.utils.RecordConstructorArgs):
    """:class:`IntrinsicReward` for a vector env, one model call per step on the whole batch."""

    def __init__(
        self, env: VectorEnv, bonuses: Bonus | Mapping[str, Bonus], *, combine: Combine = "sum", beta: float = 0.0
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, bonuses=bonuses, combine=combine, beta=beta)
        VectorRewardWrapper.__init__(self, env)
        self.bonus = BonusSet(bonuses, combine, beta, self.num_envs)

    def on_reset(self, obs: Any, mask: np.ndarray) -> None:
        self.bonus.reset(mask)

    def on_step(
        self, obs: Any, actions: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
        info: dict[str, Any], active: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        self.bonus.reset(~active)  # an autoreset step starts the env's next episode
        total, terms = self.bonus(obs, active)
        info = keep_raw(info, reward, active, self.everyone)
        put_info(info, "intrinsic", total, active, self.everyone)
        if len(terms) > 1:
            self.bonus.nested.put(info, "intrinsic_terms", np.stack(list(terms.values())), active, self.everyone)
        return reward + self.bonus.beta * total, info

"""Potential-based reward shaping with correct terminal and truncation handling.

Ng, Harada & Russell (1999), "Policy invariance under reward transformations",
Theorem 1: adding F(s, a, s') = γΦ(s') − Φ(s) to the reward leaves the optimal
policy unchanged, provided Φ of an absorbing (terminal) state is 0. A
*termination* is such a state, so F = −Φ(s) there; a *truncation* (time limit)
is not: the learner bootstraps from s', so F keeps γΦ(s'). Getting this wrong
(bootstrapping Φ at termination) adds γΦ(s_T) to the return of each terminal
state and can change the optimal policy (see tests/test_envs_shaping.py).

The shaped reward is returned; ``info["raw_reward"]`` and ``info["shaping"]``
hold the environment's reward (before any rewardlab wrapper) and F. γ must be the learner's discount.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv
from numpy.typing import ArrayLike

from rewardlab.envs._base import VectorRewardWrapper, check_gamma, keep_raw, per_env, put_info, scalar
from rewardlab.errors import SpecError

Potential = Callable[[Any], Any]


def shaping_term(phi: ArrayLike, phi_next: ArrayLike, gamma: float, terminated: ArrayLike) -> np.ndarray:
    """F = γΦ(s')·(1 − terminated) − Φ(s) (Ng et al. 1999, eq. 2 with Φ(terminal) = 0)."""
    return gamma * np.where(terminated, 0.0, phi_next) - np.asarray(phi, dtype=np.float64)


def check_potential(potential: Any, where: str) -> Potential:
    """``potential`` if callable; a one-line :class:`SpecError` otherwise."""
    if not callable(potential):
        raise SpecError(f"{where}: potential must be a function obs -> Φ(obs) (got {potential!r})")
    return potential


class PotentialShaping(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Add F = γΦ(s') − Φ(s) to a single environment's reward; Φ = 0 on termination only.

    ``potential(obs) -> float``. Raw reward and F are in ``info``.
    """

    def __init__(self, env: gym.Env, potential: Potential, gamma: float) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, potential=potential, gamma=gamma)
        gym.Wrapper.__init__(self, env)
        self.potential = check_potential(potential, "PotentialShaping")
        self.gamma = check_gamma(gamma, "PotentialShaping")
        self._phi: float | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._phi = scalar(self.potential(obs), "potential")
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._phi is None:
            raise gym.error.ResetNeeded("PotentialShaping: call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(action)
        phi_next = scalar(self.potential(obs), "potential")
        f = float(shaping_term(self._phi, phi_next, self.gamma, terminated))
        self._phi = phi_next
        info = {**keep_raw(info, reward), "shaping": f}
        return obs, float(reward) + f, terminated, truncated, info


class VectorPotentialShaping(VectorRewardWrapper, gym.utils.RecordConstructorArgs):
    """:class:`PotentialShaping` for a vector env, one numpy call per step (no loop over envs).

    ``potential(obs_batch)`` must return one value per env: write it over the
    trailing axes (``lambda o: -abs(o[..., 0])``) and the same function serves
    the single and the vector wrapper.
    """

    def __init__(self, env: VectorEnv, potential: Potential, gamma: float) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, potential=potential, gamma=gamma)
        VectorRewardWrapper.__init__(self, env)
        self.potential = check_potential(potential, "VectorPotentialShaping")
        self.gamma = check_gamma(gamma, "VectorPotentialShaping")
        self._phi = np.zeros(self.num_envs)

    def on_reset(self, obs: Any, mask: np.ndarray) -> None:
        self._phi = np.where(mask, per_env(self.potential(obs), self.num_envs, "potential"), self._phi)

    def on_step(
        self, obs: Any, actions: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
        info: dict[str, Any], active: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        phi_next = per_env(self.potential(obs), self.num_envs, "potential")
        if self.any_done:
            f = shaping_term(self._phi, phi_next, self.gamma, terminated)
        else:  # no terminal Φ to drop: F = γΦ(s') − Φ(s) as it stands (the same floats, fewer calls)
            f = self.gamma * phi_next - self._phi
        if not self.everyone:
            f = np.where(active, f, 0.0)
        self._phi = phi_next
        info = keep_raw(info, reward, active, self.everyone)
        put_info(info, "shaping", f, active, self.everyone, fresh=True)  # f is this step's own array
        return reward + f, info

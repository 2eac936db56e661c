"""Intrinsic-reward wrappers: novelty bonuses reported beside the extrinsic reward, not folded into it.

``info["intrinsic"]`` holds the bonus of the observation each env reached and,
with several bonuses, ``info["intrinsic_terms"][name]`` each one. The reward is
the environment's unless ``beta > 0`` is given, then r + β·intrinsic (the
extrinsic reward stays in ``info["raw_reward"]``): a bonus is never folded in
silently.

Several bonuses combine (``combine=``) in one of three ways; Henaff et al. 2023,
"A Study of Global and Episodic Bonuses for Exploration in Contextual MDPs" (ICML
2023), compare global and episodic bonuses and find that combining both is the
robust choice:

* ``"sum"``: Σ bonuses (the additive form, b_global + b_episodic);
* ``"product"``: Π bonuses (the multiplicative form, b_global · b_episodic);
* ``"ngu"``: Badia et al. 2020, "Never Give Up", §2, eq. 1: bonuses named
  ``"episodic"`` and ``"global"``, the global one (an RND or RDD error) normalised
  into a modulator α = 1 + (g − μ_g)/σ_g (μ_g, σ_g its running mean and standard
  deviation over all steps) and r = r_episodic · min(max(α, 1), L), L =
  ``max_modulation`` (NGU: 5). ``info["intrinsic_terms"]["modulation"]`` holds
  min(max(α, 1), L).

Global bonuses (SimHashCount, RND, RDD, an InverseDynamics embedding, and the
modulator's statistics) are shared by the envs of a vector, so a wrapped vector env
counts all its envs' experience, unlike a vector of wrapped envs (one count each);
episodic ones (EpisodicCount, CoverageGain, EpisodicKNN and LogDetGain with a fixed
embedding, FacilityLocationGain) are per env and give the same stream in
both forms. Each episode's reset observation s_0 (on ``reset``, and in a vector env on the
autoreset step, whose observation is the next episode's s_0) goes to every bonus's ``start``,
which takes it into the episode and what the bonus learns, and pays nothing for it.
:meth:`state_dict` / :meth:`load_state_dict` keep what the bonuses
learnt (save it with ``torch.save``; a load is all or nothing: every bonus's part is checked
first); ``update_running_mean = False`` freezes it for evaluation
(the episode's own memory of an episodic bonus still fills).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv
from gymnasium.wrappers.utils import RunningMeanStd

from rewardlab.envs._base import KeepsState, Nested, VectorRewardWrapper, check_number, keep_raw, put_info, update_rms
from rewardlab.envs.normalize import load_rms, moments, rms_state
from rewardlab.envs.novelty import Bonus, Embedding
from rewardlab.errors import InputError, SpecError

Combine = Literal["sum", "product", "ngu"]
NGU_NAMES = ("episodic", "global")


class BonusSet:
    """Named bonuses bound to ``num_envs`` envs and their combination; both wrappers drive one."""

    def __init__(
        self, bonuses: Bonus | Mapping[str, Bonus], combine: Combine, beta: float, max_modulation: float,
        num_envs: int,
    ) -> None:
        named = {"intrinsic": bonuses} if isinstance(bonuses, Bonus) else dict(bonuses)
        if not named or not all(isinstance(b, Bonus) for b in named.values()):
            raise SpecError(f"IntrinsicReward: give a Bonus or a mapping of names to Bonus objects (got {bonuses!r})")
        if combine not in ("sum", "product", "ngu"):
            raise SpecError(f"IntrinsicReward: combine must be 'sum', 'product' or 'ngu' (got {combine!r})")
        if combine == "ngu" and sorted(named) != sorted(NGU_NAMES):
            raise SpecError(f"IntrinsicReward: combine='ngu' needs bonuses named {NGU_NAMES} (got {sorted(named)})")
        embeds = [id(e) for b in named.values() if isinstance(e := getattr(b, "embed", None), Embedding)]
        if len(set(embeds)) < len(embeds):  # each would take its training step and see the other's x_t as x_t-1
            raise SpecError("IntrinsicReward: one learnt embedding (InverseDynamics) is given to several bonuses; "
                            "give each bonus its own")
        self.beta = check_number(beta, "IntrinsicReward: beta", "a number >= 0", lambda b: b >= 0)
        self.cap = check_number(max_modulation, "IntrinsicReward: max_modulation", "a number >= 1", lambda m: m >= 1)
        self.bonuses = {name: b.bind(num_envs) for name, b in named.items()}
        self.combine = combine
        self.global_rms = RunningMeanStd(shape=())  # "ngu": the global bonus's running mean and variance
        self._update = True
        names = [*self.bonuses, "modulation"] if combine == "ngu" else list(self.bonuses)
        self.nested = Nested(names)
        self._ngu_rows = [names.index(n) for n in NGU_NAMES] if combine == "ngu" else []  # rows of terms
        self._actors = [b for b in self.bonuses.values() if b.wants_actions]  # learn from (x_t, a_t, x_t+1)

    def __call__(
        self, obs: Any, active: np.ndarray, actions: Any = None, starting: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The combined bonus per env and the matrix of the named terms (one row each, as in ``nested``);
        ``actions``: the batch of actions that led to ``obs`` (for the bonuses that learn from transitions);
        ``starting``: the envs whose row of ``obs`` is a new episode's s_0 (an autoreset step; unpaid)."""
        for actor in self._actors:
            actor.observe_actions(actions)
        if len(self.bonuses) == 1:  # the common case: no stacking, no combining
            (bonus,) = self.bonuses.values()
            value = bonus(obs, active) if starting is None else bonus.autoreset(obs, starting, active)
            return value, value[None]
        if starting is None:
            terms = np.stack([b(obs, active) for b in self.bonuses.values()])
        else:
            terms = np.stack([b.autoreset(obs, starting, active) for b in self.bonuses.values()])
        if self.combine == "sum":
            return terms.sum(axis=0), terms
        if self.combine == "product":
            return terms.prod(axis=0), terms
        episodic, glob = (terms[i] for i in self._ngu_rows)
        modulation = np.where(active, self.modulation(glob, active), 0.0)
        return episodic * modulation, np.vstack([terms, modulation])

    def modulation(self, glob: np.ndarray, active: np.ndarray) -> np.ndarray:
        """min(max(α, 1), L) with α = 1 + (g − μ_g)/σ_g, the statistics updated with this step first (NGU eq. 1);
        over paid steps only (an s_0 gets no g: its global bonus learns from it, the statistics do not)."""
        if self._update and active.any():
            update_rms(self.global_rms, glob[active])
        alpha = 1.0 + (glob - self.global_rms.mean) / np.sqrt(self.global_rms.var + 1e-8)
        return np.clip(alpha, 1.0, self.cap)

    def start(self, obs: Any, mask: np.ndarray) -> None:
        """The envs in ``mask`` start an episode at their reset observations in ``obs``; no bonus is paid."""
        for b in self.bonuses.values():
            b.start(obs, mask)

    @property
    def update(self) -> bool:
        """False: every bonus and the modulator's statistics stop learning (evaluation)."""
        return self._update

    @update.setter
    def update(self, setting: bool) -> None:
        self._update = setting
        for b in self.bonuses.values():
            b.update = setting

    def state_dict(self) -> dict[str, Any]:
        bonuses = {n: b.state_dict() for n, b in self.bonuses.items()}
        return {"bonuses": bonuses, "global_rms": rms_state(self.global_rms)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (not isinstance(state, dict) or sorted(state.get("bonuses", {})) != sorted(self.bonuses)
                or not isinstance(state.get("global_rms"), dict)):
            raise InputError(
                f"IntrinsicReward.load_state_dict: need the state of bonuses {sorted(self.bonuses)} and global_rms; "
                "pass what state_dict() of a wrapper with the same bonuses returned"
            )
        values = moments(state, "global_rms", "IntrinsicReward")  # checked before any bonus loads
        for name, bonus in self.bonuses.items():  # every part checked before any bonus loads: all or nothing
            bonus.check_loadable(state["bonuses"][name])
        for name, bonus in self.bonuses.items():
            bonus.load_state_dict(state["bonuses"][name])
        load_rms(self.global_rms, values)


class IntrinsicReward(KeepsState, gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Novelty of the observation reached, in ``info["intrinsic"]`` (added to the reward only with ``beta``)."""

    def __init__(
        self, env: gym.Env, bonuses: Bonus | Mapping[str, Bonus], *, combine: Combine = "sum", beta: float = 0.0,
        max_modulation: float = 5.0,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, bonuses=bonuses, combine=combine, beta=beta, max_modulation=max_modulation
        )
        gym.Wrapper.__init__(self, env)
        self.bonus = self.learner = BonusSet(bonuses, combine, beta, max_modulation, 1)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.bonus.start(np.asarray(obs)[None], np.ones(1, dtype=bool))  # s_0 joins the episode, unpaid
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        total, terms = self.bonus(np.asarray(obs)[None], np.ones(1, dtype=bool), np.asarray(action)[None])
        info = {**keep_raw(info, reward), "intrinsic": float(total[0])}
        if len(terms) > 1:
            info["intrinsic_terms"] = {n: float(v[0]) for n, v in zip(self.bonus.nested.names, terms, strict=True)}
        return obs, float(reward) + self.bonus.beta * float(total[0]), terminated, truncated, info


class VectorIntrinsicReward(KeepsState, VectorRewardWrapper, gym.utils.RecordConstructorArgs):
    """:class:`IntrinsicReward` for a vector env, one model call per step on the whole batch."""

    def __init__(
        self, env: VectorEnv, bonuses: Bonus | Mapping[str, Bonus], *, combine: Combine = "sum", beta: float = 0.0,
        max_modulation: float = 5.0,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, bonuses=bonuses, combine=combine, beta=beta, max_modulation=max_modulation
        )
        VectorRewardWrapper.__init__(self, env)
        self.bonus = self.learner = BonusSet(bonuses, combine, beta, max_modulation, self.num_envs)

    def on_reset(self, obs: Any, mask: np.ndarray) -> None:
        self.bonus.start(obs, mask)

    def on_step(
        self, obs: Any, actions: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
        info: dict[str, Any], active: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        # On an autoreset step obs holds the next episode's s_0 for the autoresetting (inactive) envs
        starting = None if self.everyone else self.autoresetting
        total, terms = self.bonus(obs, active, actions, starting)  # 0 where inactive: every bonus is
        info = keep_raw(info, reward, active, self.everyone)
        put_info(info, "intrinsic", total, active, masked=True)
        if len(terms) > 1:
            self.bonus.nested.put(info, "intrinsic_terms", terms, active, masked=True)
        return reward + self.bonus.beta * total, info

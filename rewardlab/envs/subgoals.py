"""Subgoal rewards from an LLM: it proposes the subgoals and judges, from transitions, when one is reached.

Two seed papers, one mechanism:

* Words as Beacons (Ruiz-Gonzalez et al. 2024, "Words as Beacons: Guiding RL
  Agents with High-Level Language Prompts"): an LLM teacher proposes subgoals
  from the task's description; reaching one gives a subgoal reward, **during
  training only** (the deployed agent needs no LLM).
* CALM (seed row 65): the LLM decomposes the task into subgoals and, reading a
  transition, judges whether the current subgoal was reached; the auxiliary
  reward is paid when that subgoal (an option) terminates.

For env e in an episode with ordered subgoals g_1..g_K, of which k_e are done:

    r_sub(t) = bonus · 1[ LLM(task, g_{k_e+1}, render(s_t), a_t, render(s_{t+1})) = yes ],   then k_e += 1

so each subgoal pays once per episode, in order, and nothing is asked once all K are
done. The value goes to ``info["subgoal"]`` (``info["subgoals_done"]``: k_e after the
step); the reward stays the environment's unless ``beta > 0`` (then r + β·r_sub, the
raw reward in ``info["raw_reward"]``). A reply that is neither yes nor no, or no
reply, is not a 0: ``info["subgoal"]`` is NaN, ``info["subgoal_unscorable"]`` True,
nothing is added to the reward and the subgoal is asked about again next step.
``wrapper.training = False`` (evaluation) asks nothing and reports nothing.

The vector form asks about all its envs in one batch (concurrently, on the judge
client); the single-env form and a vector of them give the same stream (tested).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import iterate

from rewardlab.envs._base import VectorRewardWrapper, check_number, keep_raw, put_info, snapshot
from rewardlab.envs.llm_labels import Labeller, Render, parse_yes, rendered
from rewardlab.errors import SpecError

PROPOSE = """You are the teacher of a reinforcement-learning agent.
Task: {task}
Break the task into at most {k} subgoals the agent reaches one after the other, each one
recognisable from a single observation. Reply with one subgoal per line, numbered "1.", "2.", ..."""
JUDGE = """Task: {task}
Current subgoal: {subgoal}
Observation before the action:"""
QUESTION = "Was the current subgoal reached by this transition? Answer yes or no."
ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*(.+?)\s*$")


def propose_subgoals(labeller: Labeller, task: str, max_subgoals: int = 5) -> list[str]:
    """The LLM teacher's ordered subgoals for ``task`` (numbered or bulleted lines of its reply)."""
    reply = labeller.ask([[PROPOSE.format(task=task.strip(), k=max_subgoals)]])[0]
    if not isinstance(reply, str):
        raise reply
    goals = [m.group(1) for line in reply.splitlines() if (m := ITEM.match(line))][:max_subgoals]
    if not goals:
        raise SpecError(f"the LLM proposed no subgoals (no numbered lines in its reply {reply[:200]!r}); "
                        "give the subgoals yourself or try another model")
    return goals


class SubgoalJudge:
    """The subgoals' progress of ``num_envs`` envs and the batched LLM judgement; both wrappers drive one."""

    def __init__(self, labeller: Labeller, task: str, subgoals: Sequence[str], render: Render, bonus: float,
                 beta: float, num_envs: int) -> None:
        if not subgoals or not all(isinstance(g, str) and g.strip() for g in subgoals):
            raise SpecError(f"SubgoalReward: give a non-empty list of subgoals (got {subgoals!r})")
        self.bonus = check_number(bonus, "SubgoalReward: bonus")
        self.beta = check_number(beta, "SubgoalReward: beta", "a number >= 0", lambda b: b >= 0)
        self.labeller, self.task, self.subgoals, self.render = labeller, task.strip(), list(subgoals), render
        self.done = np.zeros(num_envs, dtype=np.int64)

    def reset(self, mask: np.ndarray) -> None:
        self.done[mask] = 0

    def __call__(self, before: Sequence[Any], actions: Sequence[Any], after: Sequence[Any],
                 active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Subgoal rewards (NaN where the LLM could not decide) and that mask, for one step of every env."""
        values, unscorable = np.zeros(len(self.done)), np.zeros(len(self.done), dtype=bool)
        asked = [e for e in range(len(self.done)) if active[e] and self.done[e] < len(self.subgoals)]
        replies = self.labeller.ask([self.question(e, before[e], actions[e], after[e]) for e in asked])
        for e, reply in zip(asked, replies, strict=True):
            reached = parse_yes(reply) if isinstance(reply, str) else None
            if reached is None:
                values[e], unscorable[e] = np.nan, True
            elif reached:
                values[e] = self.bonus
                self.done[e] += 1
        return values, unscorable

    def question(self, e: int, before: Any, action: Any, after: Any) -> list[Any]:
        goal = self.subgoals[self.done[e]]
        return [JUDGE.format(task=self.task, subgoal=goal), rendered(self.render, before),
                f"Action: {np.asarray(action).tolist()}", "Observation after the action:",
                rendered(self.render, after), QUESTION]

    def reward(self, reward: Any, values: np.ndarray) -> Any:
        return reward + self.beta * np.nan_to_num(values, nan=0.0) if self.beta else reward


class SubgoalReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """LLM-judged subgoal rewards in ``info["subgoal"]`` (added to the reward only with ``beta``); see the module."""

    def __init__(self, env: gym.Env, labeller: Labeller, task: str, subgoals: Sequence[str], render: Render, *,
                 bonus: float = 1.0, beta: float = 0.0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, labeller=labeller, task=task, subgoals=subgoals,
                                                 render=render, bonus=bonus, beta=beta)
        gym.Wrapper.__init__(self, env)
        self.judge = SubgoalJudge(labeller, task, subgoals, render, bonus, beta, 1)
        self.training = True
        self._obs: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.judge.reset(np.ones(1, dtype=bool))
        self._obs = snapshot(obs)
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        before, self._obs = self._obs, snapshot(obs)
        if not self.training:
            return obs, reward, terminated, truncated, info
        values, unscorable = self.judge([before], [action], [obs], np.ones(1, dtype=bool))
        info = {**keep_raw(info, reward), "subgoal": float(values[0]), "subgoals_done": int(self.judge.done[0]),
                "subgoal_unscorable": bool(unscorable[0])}
        return obs, float(self.judge.reward(np.float64(reward), values[0])), terminated, truncated, info


class VectorSubgoalReward(VectorRewardWrapper, gym.utils.RecordConstructorArgs):
    """:class:`SubgoalReward` for a vector env: one batch of concurrent LLM requests per step."""

    def __init__(self, env: VectorEnv, labeller: Labeller, task: str, subgoals: Sequence[str], render: Render, *,
                 bonus: float = 1.0, beta: float = 0.0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, labeller=labeller, task=task, subgoals=subgoals,
                                                 render=render, bonus=bonus, beta=beta)
        VectorRewardWrapper.__init__(self, env)
        self.judge = SubgoalJudge(labeller, task, subgoals, render, bonus, beta, self.num_envs)
        self.training = True
        self._obs: list[Any] = [None] * self.num_envs

    def on_reset(self, obs: Any, mask: np.ndarray) -> None:
        self.judge.reset(mask)
        for e, o in enumerate(iterate(self.observation_space, obs)):
            if mask[e]:
                self._obs[e] = snapshot(o)

    def on_step(
        self, obs: Any, actions: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
        info: dict[str, Any], active: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        after = [snapshot(o) for o in iterate(self.observation_space, obs)]
        before, self._obs = self._obs, after
        if not self.everyone:
            self.judge.reset(self.autoresetting)  # an autoreset step starts the env's next episode
        if not self.training:
            return reward, info
        acts = list(iterate(self.action_space, actions))
        values, unscorable = self.judge(before, acts, after, active)
        info = keep_raw(info, reward, active)
        put_info(info, "subgoal", values, active)
        info["subgoals_done"], info["_subgoals_done"] = np.where(active, self.judge.done, 0), active.copy()
        info["subgoal_unscorable"], info["_subgoal_unscorable"] = unscorable & active, active.copy()
        return self.judge.reward(reward, values), info


__all__ = ["SubgoalJudge", "SubgoalReward", "VectorSubgoalReward", "propose_subgoals"]

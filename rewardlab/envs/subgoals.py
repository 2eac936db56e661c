"""Subgoal rewards from an LLM: it proposes the subgoals and judges (or a local check tells) when one is reached.

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

Structured subgoals (Words as Beacons' positional and object subgoals): with
``reached(goal, obs, info) -> bool`` the subgoals are any values the predicate knows
(a target position, an object's name or encoding) and are checked locally on the
observation after each step: the LLM is asked for the subgoals once
(``propose_subgoals(kind="positional" | "object")``), never per step. Same ordered,
once-per-episode rule. For goal conditioning, π(a_t | o_t, g_n), ``info["subgoal_index"]``
(n = k_e, K once all are done) and, where the subgoals are numeric,
``info["subgoal_target"]`` (g_n; zeros once all are done, as the paper's code does) are in
the info of every reset and step, every env, also with ``training = False`` (which then
tracks progress but pays nothing). ``horizon``: the paper's code scales the bonus by
1 − n_steps/horizon, n_steps the steps since the previous subgoal (or the episode's start).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import iterate

from rewardlab.envs._base import VectorRewardWrapper, check_count, check_number, keep_raw, mask_key, put_info, snapshot
from rewardlab.envs.llm_labels import Labeller, Render, parse_yes, rendered
from rewardlab.errors import InputError, SpecError

Reached = Callable[[Any, Any, dict[str, Any]], bool]  # (subgoal, observation after the step, its info) -> reached?

PROPOSE = """You are the teacher of a reinforcement-learning agent.
Task: {task}
Break the task into at most {k} subgoals the agent reaches one after the other, each one
recognisable from a single observation. Reply with one subgoal per line, numbered "1.", "2.", ..."""
JUDGE = """Task: {task}
Current subgoal: {subgoal}
Observation before the action:"""
QUESTION = "Was the current subgoal reached by this transition? Answer yes or no."
ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*(.+?)\s*$")
NUMBER = r"[-+]?\d+(?:\.\d+)?"
POSITION = re.compile(rf"\(\s*({NUMBER}(?:\s*,\s*{NUMBER})+)\s*\)")
HOW = {  # appended to PROPOSE for the structured kinds
    "language": "",
    "positional": 'Give each subgoal as a target position relative to the agent\'s start, e.g. "1. (2, -1)".',
    "object": 'Give each subgoal as the name of one object the agent must reach, e.g. "1. red key".',
}


def propose_subgoals(labeller: Labeller, task: str, max_subgoals: int = 5, kind: str = "language") -> list[Any]:
    """The LLM teacher's ordered subgoals for ``task`` (numbered or bulleted lines of its reply).

    ``kind``: "language" (the line's text), "positional" (a tuple of numbers, the line's
    "(x, y, ...)", all of one length), "object" (an object's name: the line's text without a
    final period or quotes). Words as Beacons' three kinds (its representation-based subgoals
    are an object's encoding; give those yourself, or map the names to encodings in ``reached``).
    """
    if kind not in HOW:
        raise SpecError(f"propose_subgoals: kind must be one of {sorted(HOW)} (got {kind!r})")
    prompt = PROPOSE.format(task=task.strip(), k=max_subgoals) + (f"\n{HOW[kind]}" if HOW[kind] else "")
    reply = labeller.ask([[prompt]])[0]
    if not isinstance(reply, str):
        raise reply
    goals = [m.group(1) for line in reply.splitlines() if (m := ITEM.match(line))][:max_subgoals]
    if not goals:
        raise SpecError(f"the LLM proposed no subgoals (no numbered lines in its reply {reply[:200]!r}); "
                        "give the subgoals yourself or try another model")
    if kind == "object":
        return [name(g) for g in goals]
    if kind == "language":
        return goals
    targets = [position(g) for g in goals]
    if len({len(t) for t in targets}) > 1:
        raise SpecError(f"the LLM's positions {targets} do not all have the same number of coordinates; "
                        "give the subgoals yourself or try another model")
    return targets


def position(line: str) -> tuple[float, ...]:
    """The position "(x, y, ...)" in one subgoal line of the teacher's reply; a clear error if there is none,
    or several (which one is the target is not for the parser to guess)."""
    found = POSITION.findall(line)
    if len(found) != 1:
        problem = "is not a position like (2, -1)" if not found else f"has {len(found)} positions, not one"
        raise SpecError(f"the LLM's subgoal {line[:200]!r} {problem}; give the subgoals yourself, try another "
                        "model, or ask for kind='language'")
    return tuple(float(x) for x in found[0].split(","))


def name(line: str) -> str:
    """An object's name in one subgoal line: without the quotes or emphasis around it, or a final period
    (inside them or outside)."""
    out = ""
    while out != line:
        out, line = line, line.strip("\"'`*_ ").rstrip(".")
    return out


def encoded(subgoals: Sequence[Any]) -> np.ndarray | None:
    """The subgoals as a float matrix (one row each) if they are all numbers or equal-length number tuples
    (not text that reads as numbers: float64 would parse "1")."""
    try:
        table = np.array(subgoals)
    except (TypeError, ValueError):
        return None
    if table.dtype.kind not in "biuf" or table.ndim > 2:
        return None
    table = table.astype(np.float64).reshape(len(subgoals), -1)
    return table if np.isfinite(table).all() else None


class SubgoalJudge:
    """The subgoals' progress of ``num_envs`` envs and their check (the batched LLM judgement, or the local
    ``reached`` predicate); both wrappers drive one."""

    def __init__(self, labeller: Labeller | None, task: str, subgoals: Sequence[Any], render: Render | None,
                 bonus: float, beta: float, num_envs: int, reached: Reached | None = None,
                 horizon: int | None = None) -> None:
        self.bonus = check_number(bonus, "SubgoalReward: bonus")
        self.beta = check_number(beta, "SubgoalReward: beta", "a number >= 0", lambda b: b >= 0)
        self.horizon = None if horizon is None else check_count(horizon, "SubgoalReward: horizon")
        if reached is None and (labeller is None or render is None):
            raise SpecError("SubgoalReward: give a labeller and a render to have the LLM judge the subgoals, "
                            "or reached=(subgoal, obs, info) -> bool to check them locally")
        if reached is not None and not callable(reached):
            raise SpecError(f"SubgoalReward: reached must be a function (subgoal, obs, info) -> bool (got {reached!r})")
        goals = [] if isinstance(subgoals, str) else list(subgoals)
        if not goals or not (reached is not None or all(isinstance(g, str) and g.strip() for g in goals)):
            raise SpecError(f"SubgoalReward: give a non-empty list of subgoals (got {subgoals!r})")
        self.labeller, self.task, self.subgoals, self.render = labeller, task.strip(), goals, render
        table = encoded(self.subgoals)  # the targets and, last, the zeros once all are done (the paper's fallback)
        self.reached, self.targets = reached, None if table is None else np.vstack([table, np.zeros_like(table[:1])])
        self.done = np.zeros(num_envs, dtype=np.int64)
        self.since = np.zeros(num_envs, dtype=np.int64)  # steps since the last subgoal (or the episode's start)

    def reset(self, mask: np.ndarray) -> None:
        self.done[mask] = 0
        self.since[mask] = 0

    def __call__(self, before: Sequence[Any], actions: Sequence[Any], after: Sequence[Any], infos: Sequence[Any],
                 active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Subgoal rewards (NaN where the LLM could not decide) and that mask, for one step of every env."""
        values, unscorable = np.zeros(len(self.done)), np.zeros(len(self.done), dtype=bool)
        asked = [e for e in range(len(self.done)) if active[e] and self.done[e] < len(self.subgoals)]
        self.since[asked] += 1
        for e, reached in zip(asked, self.check(asked, before, actions, after, infos), strict=True):
            if reached is None:
                values[e], unscorable[e] = np.nan, True
            elif reached:
                scale = 1.0 if self.horizon is None else max(0.0, 1.0 - self.since[e] / self.horizon)
                values[e] = self.bonus * scale
                self.done[e] += 1
                self.since[e] = 0
        return values, unscorable

    def check(self, asked: list[int], before: Sequence[Any], actions: Sequence[Any], after: Sequence[Any],
              infos: Sequence[Any]) -> list[bool | None]:
        """Whether each asked env reached its current subgoal (None: the LLM could not decide)."""
        if self.reached is None:
            assert self.labeller is not None  # checked in __init__
            replies = self.labeller.ask([self.question(e, before[e], actions[e], after[e]) for e in asked])
            return [parse_yes(r) if isinstance(r, str) else None for r in replies]
        out: list[bool | None] = []
        for e in asked:
            got = self.reached(self.subgoals[self.done[e]], after[e], infos[e])
            if not isinstance(got, bool | np.bool_):
                raise InputError(f"SubgoalReward: reached must return True or False, got {type(got).__name__} "
                                 f"{got!r} for subgoal {self.subgoals[self.done[e]]!r}")
            out.append(bool(got))
        return out

    def goal_info(self, info: dict[str, Any], vector: bool) -> dict[str, Any]:
        """``info`` with the current subgoal's index (and target, numeric subgoals) of every env, for a
        goal-conditioned policy; in the vector form with masks (all True: every env has a current subgoal)."""
        index = self.done.copy()
        info = {**info, "subgoal_index": index if vector else int(index[0])}
        if self.targets is not None:
            info["subgoal_target"] = self.targets[index] if vector else self.targets[index[0]].copy()
        if vector:
            for key in ("subgoal_index", "subgoal_target"):
                if key in info:
                    info[mask_key(key)] = np.ones(len(index), dtype=bool)
        return info

    def question(self, e: int, before: Any, action: Any, after: Any) -> list[Any]:
        goal, render = self.subgoals[self.done[e]], self.render
        assert render is not None  # checked in __init__
        return [JUDGE.format(task=self.task, subgoal=goal), rendered(render, before),
                f"Action: {np.asarray(action).tolist()}", "Observation after the action:",
                rendered(render, after), QUESTION]

    def reward(self, reward: Any, values: np.ndarray) -> Any:
        return reward + self.beta * np.nan_to_num(values, nan=0.0) if self.beta else reward


class SubgoalReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Subgoal rewards in ``info["subgoal"]`` (added to the reward only with ``beta``), judged by the LLM or,
    with ``reached``, checked locally; see the module."""

    def __init__(self, env: gym.Env, labeller: Labeller | None, task: str, subgoals: Sequence[Any],
                 render: Render | None = None, *, bonus: float = 1.0, beta: float = 0.0,
                 reached: Reached | None = None, horizon: int | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, labeller=labeller, task=task, subgoals=subgoals,
                                                 render=render, bonus=bonus, beta=beta, reached=reached,
                                                 horizon=horizon)
        gym.Wrapper.__init__(self, env)
        self.judge = SubgoalJudge(labeller, task, subgoals, render, bonus, beta, 1, reached, horizon)
        self.training = True
        self._obs: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.judge.reset(np.ones(1, dtype=bool))
        self._obs = snapshot(obs)
        return obs, self.judge.goal_info(info, vector=False)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        before, self._obs = self._obs, snapshot(obs)
        local = self.judge.reached is not None
        if not self.training and not local:
            return obs, reward, terminated, truncated, info
        values, unscorable = self.judge([before], [action], [obs], [info], np.ones(1, dtype=bool))
        if not self.training:  # progress for the goal-conditioned policy, no pay
            return obs, reward, terminated, truncated, self.judge.goal_info(info, vector=False)
        info = {**keep_raw(info, reward), "subgoal": float(values[0]), "subgoals_done": int(self.judge.done[0]),
                "subgoal_unscorable": bool(unscorable[0])}
        return obs, float(self.judge.reward(np.float64(reward), values[0])), terminated, truncated, \
            self.judge.goal_info(info, vector=False)


class VectorSubgoalReward(VectorRewardWrapper, gym.utils.RecordConstructorArgs):
    """:class:`SubgoalReward` for a vector env: one batch of concurrent LLM requests per step (none with
    ``reached``)."""

    def __init__(self, env: VectorEnv, labeller: Labeller | None, task: str, subgoals: Sequence[Any],
                 render: Render | None = None, *, bonus: float = 1.0, beta: float = 0.0,
                 reached: Reached | None = None, horizon: int | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, labeller=labeller, task=task, subgoals=subgoals,
                                                 render=render, bonus=bonus, beta=beta, reached=reached,
                                                 horizon=horizon)
        VectorRewardWrapper.__init__(self, env)
        self.judge = SubgoalJudge(labeller, task, subgoals, render, bonus, beta, self.num_envs, reached, horizon)
        self.training = True
        self._obs: list[Any] = [None] * self.num_envs

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = super().reset(seed=seed, options=options)
        return obs, self.judge.goal_info(info, vector=True)

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
        local = self.judge.reached is not None
        if not self.training and not local:
            return reward, info
        acts = list(iterate(self.action_space, actions))
        infos = [env_info(info, e) for e in range(self.num_envs)] if local else [None] * self.num_envs
        values, unscorable = self.judge(before, acts, after, infos, active)
        if not self.training:  # progress for the goal-conditioned policy, no pay
            return reward, self.judge.goal_info(info, vector=True)
        info = keep_raw(info, reward, active)
        put_info(info, "subgoal", values, active)
        info["subgoals_done"], info["_subgoals_done"] = np.where(active, self.judge.done, 0), active.copy()
        info["subgoal_unscorable"], info["_subgoal_unscorable"] = unscorable & active, active.copy()
        return self.judge.reward(reward, values), self.judge.goal_info(info, vector=True)


def env_info(info: dict[str, Any], e: int) -> dict[str, Any]:
    """Env ``e``'s own info out of a vector info (Gymnasium's dict of arrays with "_key" masks), for ``reached``."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        mask = info.get(f"_{key}")
        if key.startswith("_") or mask is None or not mask[e]:
            continue
        out[key] = env_info(value, e) if isinstance(value, dict) else value[e]
    return out


__all__ = ["Reached", "SubgoalJudge", "SubgoalReward", "VectorSubgoalReward", "env_info", "propose_subgoals"]

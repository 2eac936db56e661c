"""LLM subgoal rewards (Words as Beacons, CALM) against a scripted OpenAI-compatible server, on CartPole."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

from rewardlab.envs.llm_labels import Labeller
from rewardlab.envs.subgoals import SubgoalReward, VectorSubgoalReward, propose_subgoals
from rewardlab.errors import InputError, SpecError
from tests.judge_server import Answer, JudgeServer, judge_server_fixture, server_fixture, user_text
from tests.test_envs_support import assert_same_stream, check_wrapped_env, run_parity

__all__ = ["judge_server_fixture", "server_fixture"]  # fixtures used by name

TASK = "CartPole: move the cart to the right."
GOALS = ["cart position above 0.01", "cart position above 0.03"]


def render(obs: Any) -> str:
    return f"cart position {obs[0]:.4f}, pole angle {obs[2]:.4f}"


def referee(body: dict[str, Any], n_seen: int) -> Answer:
    """Says yes when the observation after the action is past the current subgoal's threshold."""
    text = user_text(body)
    goal = re.search(r"Current subgoal: (.*)", text)
    if goal is None:
        return Answer("1. cart position above 0.01\n2. cart position above 0.03\nGood luck!")
    if "above" not in goal.group(1):
        return Answer("Maybe; hard to say.")
    threshold = float(goal.group(1).rsplit(" ", 1)[1])
    after = float(text.split("Observation after the action:", 1)[1].split("cart position ", 1)[1].split(",")[0])
    return Answer("Yes." if after > threshold else "No, not yet.")


def labeller(server: JudgeServer, tmp_path: Path) -> Labeller:
    return Labeller(base_url=server.base_url, model="judge", cache=str(tmp_path / "judge.sqlite"),
                    backoff_base=0.01, backoff_max=0.05, max_retries=1)


def test_the_teacher_proposes_ordered_subgoals(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = referee
    assert propose_subgoals(labeller(server, tmp_path), TASK) == GOALS
    assert "at most 5 subgoals" in user_text(server.log[-1]["body"])


def test_vector_and_single_give_the_same_subgoal_stream(server: JudgeServer, tmp_path: Path) -> None:
    """A wrapped vector env and a vector of wrapped envs agree step by step across autoresets; each subgoal
    pays once per episode, in order; the reward stays the env's (beta 0)."""
    server.respond = referee
    llm = labeller(server, tmp_path)
    out_a, out_b = run_parity(lambda e: SubgoalReward(e, llm, TASK, GOALS, render),
                              lambda v: VectorSubgoalReward(v, llm, TASK, GOALS, render), num_envs=3, steps=40)
    assert_same_stream(out_a, out_b, ("subgoal", "subgoals_done", "subgoal_unscorable", "raw_reward"))
    paid = np.zeros(3)
    for reward, *_, info in out_b:
        np.testing.assert_array_equal(reward, info["raw_reward"])  # not folded in
        assert not info["subgoal_unscorable"].any()
        paid = np.where(info["_subgoal"], paid + info["subgoal"], 0.0)  # an autoreset step starts a new episode
        assert (paid <= 2.0).all()
    assert max(info["subgoals_done"].max() for *_, info in out_b) == 2  # both subgoals were reached somewhere


def test_rewards_fold_in_only_with_beta_and_an_undecided_reply_is_not_a_zero(server: JudgeServer,
                                                                          tmp_path: Path) -> None:
    server.respond = referee
    llm = labeller(server, tmp_path)
    env = SubgoalReward(gym.make("CartPole-v1"), llm, TASK, ["cart position above -10"], render, bonus=2.0, beta=0.5)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(1)
    assert (info["subgoal"], info["subgoals_done"], reward) == (2.0, 1, 1.0 + 0.5 * 2.0)
    _, reward, _, _, info = env.step(1)  # every subgoal is done: nothing more is asked
    assert (info["subgoal"], reward) == (0.0, 1.0)

    vague = SubgoalReward(gym.make("CartPole-v1"), llm, TASK, ["somewhere nice"], render, beta=1.0)
    vague.reset(seed=0)
    _, reward, _, _, info = vague.step(0)
    assert np.isnan(info["subgoal"]) and info["subgoal_unscorable"] and info["subgoals_done"] == 0
    assert reward == 1.0  # nothing added, and the subgoal is asked about again next step
    sent = server.requests
    vague.step(0)
    assert server.requests == sent + 1


def test_a_vector_step_asks_about_all_envs_at_once(server: JudgeServer, tmp_path: Path) -> None:
    def slow(body: dict[str, Any], n_seen: int) -> Answer:
        return Answer("no", delay=0.3)

    server.respond = slow
    envs = VectorSubgoalReward(SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(4)]),
                               labeller(server, tmp_path), TASK, GOALS, render)
    envs.reset(seed=1)
    envs.step(np.ones(4, dtype=np.int64))
    assert server.requests == 4 and server.max_in_flight == 4  # concurrent, not one after another


def test_evaluation_asks_nothing_and_the_wrapper_passes_the_env_checker(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = referee
    env = SubgoalReward(gym.make("CartPole-v1"), labeller(server, tmp_path), TASK, GOALS, render)
    check_wrapped_env(env)
    env.training = False  # Words as Beacons: subgoal rewards during training only
    env.reset(seed=0)
    sent = server.requests
    _, _, _, _, info = env.step(0)
    assert server.requests == sent and "subgoal" not in info
    with pytest.raises(Exception, match="non-empty list of subgoals"):
        SubgoalReward(gym.make("CartPole-v1"), labeller(server, tmp_path), TASK, [], render)


def test_ppo_trains_through_the_llm_wrappers_and_the_labeller_pickles(server: JudgeServer, tmp_path: Path) -> None:
    """SB3 PPO smoke run on subgoal rewards (folded in with beta) beside ONI annotations; a pickled labeller
    (an AsyncVectorEnv's workers get one) is the same endpoint's client."""
    import pickle

    pytest.importorskip("stable_baselines3")
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import Logger

    from rewardlab.envs import IntrinsicReward
    from rewardlab.envs.preferences import Annotations

    torch.set_num_threads(1)
    server.respond = referee
    llm = labeller(server, tmp_path)
    assert pickle.loads(pickle.dumps(llm)).client is llm.client

    def make() -> gym.Env:
        env = SubgoalReward(gym.make("CartPole-v1"), llm, TASK, GOALS, render, beta=1.0)
        return IntrinsicReward(env, Annotations(llm, TASK, lambda o: f"pole {'right' if o[2] > 0 else 'left'}"))

    model = PPO("MlpPolicy", make_vec_env(make, n_envs=2), n_steps=32, batch_size=32, n_epochs=1, device="cpu")
    model.set_logger(Logger(None, []))
    model.learn(total_timesteps=64)
    assert model.num_timesteps == 64 and server.requests > 0


def test_the_vector_wrapper_records_its_arguments_and_resets_only_autoresetting_envs(server: JudgeServer,
                                                                                    tmp_path: Path) -> None:
    """Like the other vector wrappers: its constructor arguments recorded, and the subgoal progress reset only
    on a step where some env is on its autoreset step (it was reset with an all-False mask every step)."""
    server.respond = referee
    llm = labeller(server, tmp_path)
    envs = VectorSubgoalReward(SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(3)]),
                               llm, TASK, GOALS, render, bonus=2.0)
    saved = dict(envs._saved_kwargs)
    assert saved.pop("labeller").config == llm.config  # a copy (the labeller copies as its settings)
    assert saved == {"task": TASK, "subgoals": GOALS, "render": render, "bonus": 2.0, "beta": 0.0,
                     "reached": None, "horizon": None}
    masks: list[np.ndarray] = []
    reset = envs.judge.reset

    def spy(mask: np.ndarray) -> None:
        masks.append(np.array(mask))
        reset(mask)

    envs.judge.reset = spy  # type: ignore[method-assign]
    envs.reset(seed=0)
    masks.clear()  # the reset's own call
    rng = np.random.default_rng(0)
    done_before = np.zeros(3, dtype=bool)
    expected = []
    for _ in range(60):
        if done_before.any():
            expected.append(done_before.copy())
        _, _, terminated, truncated, _ = envs.step(rng.integers(0, 2, size=3))
        done_before = terminated | truncated
    assert expected and len(masks) == len(expected)
    for got, want in zip(masks, expected, strict=True):
        np.testing.assert_array_equal(got, want)


# Structured subgoals (Words as Beacons' positional and object subgoals), checked locally on a small grid.

RIGHT, UP, LEFT, DOWN = 0, 1, 2, 3
OBJECTS = {(1, 0): "door", (0, 1): "key", (2, 1): "box"}  # cell -> the object lying there


class GridWalk(gym.Env):
    """The agent walks on a 4x4 grid from (0, 0) (obs: its cell); ``info``: its cell and the object there.
    Truncated after ``limit`` steps, so a vector of them autoresets."""

    observation_space = gym.spaces.Box(0, 3, shape=(2,), dtype=np.int64)
    action_space = gym.spaces.Discrete(4)

    def __init__(self, limit: int = 7) -> None:
        self.limit = limit

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.pos, self.t = np.zeros(2, dtype=np.int64), 0
        return self.pos.copy(), self.info()

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        move = {RIGHT: (1, 0), UP: (0, 1), LEFT: (-1, 0), DOWN: (0, -1)}[int(action)]
        self.pos, self.t = np.clip(self.pos + move, 0, 3), self.t + 1
        return self.pos.copy(), 0.0, False, self.t >= self.limit, self.info()

    def info(self) -> dict[str, Any]:
        return {"at": OBJECTS.get((int(self.pos[0]), int(self.pos[1])), "floor")}


def at_target(goal: Any, obs: Any, info: dict[str, Any]) -> bool:
    """Positional subgoals: the agent stands on the target cell (relative to its start, which is (0, 0))."""
    return bool(np.array_equal(obs, goal))


def on_object(goal: Any, obs: Any, info: dict[str, Any]) -> bool:
    """Object subgoals: the env's info names the object the agent stands on."""
    return bool(info["at"] == goal)


def scripted(reply: str) -> Any:
    def respond(body: dict[str, Any], n_seen: int) -> Answer:
        return Answer(reply)

    return respond


def walk(env: gym.Env, actions: list[int]) -> list[dict[str, Any]]:
    return [env.step(a)[4] for a in actions]


def test_positional_subgoals_are_parsed_and_paid_in_order_once_with_no_llm_call_per_step(
        server: JudgeServer, tmp_path: Path) -> None:
    """The teacher is asked once; the subgoals are then checked on the observation: visiting the second
    target first pays nothing, each target pays once per episode, and a new episode pays again."""
    server.respond = scripted("Sure:\n1. (1, 0)\n2. (1,1) is next to the box\n")
    goals = propose_subgoals(labeller(server, tmp_path), "Walk to the box.", kind="positional")
    assert goals == [(1.0, 0.0), (1.0, 1.0)]
    assert "target position relative to the agent's start" in user_text(server.log[-1]["body"])
    sent = server.requests
    env = SubgoalReward(GridWalk(limit=50), None, "Walk to the box.", goals, reached=at_target, beta=1.0)
    _, info = env.reset(seed=0)
    assert info["subgoal_index"] == 0 and info["subgoal_target"].tolist() == [1.0, 0.0]
    infos = walk(env, [UP, RIGHT, DOWN, UP, DOWN, UP])  # (0,1) (1,1) (1,0) (1,1) (1,0) (1,1)
    assert [i["subgoal"] for i in infos] == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    assert [i["subgoal_index"] for i in infos] == [0, 0, 1, 2, 2, 2]
    assert [i["subgoal_target"].tolist() for i in infos][2:4] == [[1.0, 1.0], [0.0, 0.0]]  # zeros: all done
    _, reward, _, _, info = env.step(LEFT)
    assert reward == 0.0 and info["subgoals_done"] == 2
    env.reset()
    assert [i["subgoal"] for i in walk(env, [RIGHT, UP])] == [1.0, 1.0]  # the next episode pays again
    assert server.requests == sent  # nothing asked after the proposal


def test_object_subgoals_are_checked_by_a_predicate_and_the_bonus_can_decay_with_the_horizon(
        server: JudgeServer, tmp_path: Path) -> None:
    """Object subgoals by name through a predicate on the info; with ``horizon`` the bonus is scaled by
    1 - (steps since the last subgoal) / horizon as in the Words as Beacons code."""
    server.respond = scripted('1. key\n2. "box".\n')
    goals = propose_subgoals(labeller(server, tmp_path), "Fetch the key, then open the box.", kind="object")
    assert goals == ["key", "box"]  # the names: the predicate decides what they are
    env = SubgoalReward(GridWalk(limit=50), None, "task", goals, reached=on_object, bonus=2.0, horizon=10)
    _, info = env.reset(seed=0)
    assert info["subgoal_index"] == 0 and "subgoal_target" not in info  # names are not numbers
    infos = walk(env, [RIGHT, UP, LEFT, UP, RIGHT, RIGHT])  # door, floor, key (step 3), (0,2), (1,2), (2,2)
    infos += walk(env, [DOWN])  # box: 4 steps after the key
    assert [i["subgoal"] for i in infos] == pytest.approx([0, 0, 2.0 * 0.7, 0, 0, 0, 2.0 * 0.6])
    assert infos[-1]["subgoal_index"] == 2
    env.reset()
    walk(env, [RIGHT, RIGHT])  # two steps that reach nothing, then a new episode: its count starts again
    env.reset()
    assert walk(env, [UP])[0]["subgoal"] == pytest.approx(2.0 * 0.9)


def test_a_reply_that_is_not_the_requested_kind_is_a_clear_error(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = scripted("1. go to the key\n2. (1, 0)\n")
    llm = labeller(server, tmp_path)
    with pytest.raises(SpecError, match=r"'go to the key' is not a position like \(2, -1\)"):
        propose_subgoals(llm, "task", kind="positional")
    server.respond = scripted("1. (1, 0)\n2. (1, 0, 2)\n")
    with pytest.raises(SpecError, match="do not all have the same number of coordinates"):
        propose_subgoals(llm, "other task", kind="positional")
    with pytest.raises(SpecError, match="kind must be one of"):
        propose_subgoals(llm, "task", kind="pixels")
    with pytest.raises(SpecError, match=r"reached=.* to check them locally"):
        SubgoalReward(GridWalk(), None, "task", [(1, 0)])

    def undecided(goal: Any, obs: Any, info: dict[str, Any]) -> Any:
        return None

    env = SubgoalReward(GridWalk(), None, "task", [(1, 0)], reached=undecided)
    env.reset(seed=0)
    with pytest.raises(InputError, match="reached must return True or False, got NoneType"):
        env.step(RIGHT)


def test_a_line_with_two_positions_is_an_error_and_object_names_are_cleaned(
        server: JudgeServer, tmp_path: Path) -> None:
    """Which of "(0, 0) ... (2, -1)" is the target is not for the parser to guess (the first was taken);
    an object's name loses the quotes and emphasis around it and a final period inside them too (a
    predicate comparing names never matched 'red key.' or '**box**': no reward, no error)."""
    llm = labeller(server, tmp_path)
    server.respond = scripted("1. (1, 0)\n2. From (1, 0) go up to (1, 1).\n")
    with pytest.raises(SpecError, match=r"'From \(1, 0\) go up to \(1, 1\)\.' has 2 positions"):
        propose_subgoals(llm, "Walk to the box.", kind="positional")
    server.respond = scripted('1. "red key."\n2. **box**\n3. `the door`.\n')
    assert propose_subgoals(llm, "Open the box.", kind="object") == ["red key", "box", "the door"]


def test_text_subgoals_have_no_numeric_target() -> None:
    """Names that read as numbers ("1", "2") are still names: no ``subgoal_target`` for them."""
    env = SubgoalReward(GridWalk(), None, "task", ["1", "2"], reached=lambda g, o, i: False)
    assert "subgoal_target" not in env.reset(seed=0)[1]
    assert SubgoalReward(GridWalk(), None, "task", [(1, 0)], reached=at_target).reset()[1]["subgoal_target"].tolist() \
        == [1.0, 0.0]


def test_local_subgoals_give_the_same_stream_in_vector_form_across_autoresets() -> None:
    """A wrapped vector env and a vector of wrapped envs agree, goal-conditioning entries included (the
    predicate reads each env's own info out of the vector info); each subgoal pays once per episode."""
    goals = ["door", "box"]

    def ends_on(goal: Any, obs: Any, info: dict[str, Any]) -> bool:
        return bool(info["at"] == goal)

    out_a, out_b = run_parity(lambda e: SubgoalReward(e, None, "task", goals, reached=ends_on),
                              lambda v: VectorSubgoalReward(v, None, "task", goals, reached=ends_on),
                              num_envs=3, steps=60, make=GridWalk)
    assert_same_stream(out_a, out_b, ("subgoal", "subgoals_done", "subgoal_index", "raw_reward"))
    paid = np.zeros(3)
    for *_, info in out_b:
        paid = np.where(info["_subgoal"], paid + info["subgoal"], 0.0)
        assert (paid <= 2.0).all() and info["_subgoal_index"].all()
    assert max(info["subgoals_done"].max() for *_, info in out_b) == 2  # both reached somewhere

    targets = [(1, 0), (1, 1)]
    out_a, out_b = run_parity(lambda e: SubgoalReward(e, None, "task", targets, reached=at_target),
                              lambda v: VectorSubgoalReward(v, None, "task", targets, reached=at_target),
                              num_envs=3, steps=60, make=GridWalk)
    assert_same_stream(out_a, out_b, ("subgoal", "subgoal_index", "subgoal_target"))
    assert out_b[0][3]["subgoal_target"].shape == (3, 2)


def test_evaluation_pays_nothing_but_keeps_the_goal_for_the_policy() -> None:
    """``training = False``: no subgoal reward and no ``subgoal`` entry (as for LLM-judged subgoals), but the
    local check still moves the goal on, so a goal-conditioned policy is evaluated on its goals."""
    env = SubgoalReward(GridWalk(), None, "task", [(1, 0), (1, 1)], reached=at_target, beta=1.0)
    envs = VectorSubgoalReward(SyncVectorEnv([GridWalk, GridWalk]), None, "task", [(1, 0), (1, 1)],
                               reached=at_target, beta=1.0)
    env.training = envs.training = False
    env.reset(seed=0)
    envs.reset(seed=0)
    for action in (RIGHT, UP):
        _, reward, _, _, info = env.step(action)
        _, rewards, _, _, infos = envs.step(np.array([action, LEFT]))
        assert reward == 0.0 and "subgoal" not in info and "subgoal" not in infos
        assert rewards.tolist() == [0.0, 0.0]
    assert info["subgoal_index"] == 2 and infos["subgoal_index"].tolist() == [2, 0]
    check_wrapped_env(SubgoalReward(GridWalk(), None, "task", [(1, 0)], reached=at_target))


class WithGoal(gym.Wrapper):
    """docs/envs.md's goal-conditioning example: the observation and the current subgoal's target, as a Dict."""

    def __init__(self, env: gym.Env, dim: int) -> None:
        super().__init__(env)
        self.observation_space = gym.spaces.Dict(
            {"obs": env.observation_space, "goal": gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)})

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return {"obs": obs, "goal": info["subgoal_target"].astype(np.float32)}, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        goal = info["subgoal_target"].astype(np.float32)
        return {"obs": obs, "goal": goal}, reward, terminated, truncated, info


def test_a_goal_conditioned_ppo_policy_gets_the_current_target_in_its_observation() -> None:
    """The docs' wrapper puts g_n beside o_t (the paper's pi(a_t | o_t, g_n)); SB3 PPO's MultiInputPolicy
    trains on it with the subgoal reward folded in."""
    pytest.importorskip("stable_baselines3")
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger

    torch.set_num_threads(1)
    env = WithGoal(SubgoalReward(GridWalk(), None, "task", [(1, 0), (1, 1)], reached=at_target, beta=1.0), dim=2)
    check_wrapped_env(env)
    obs, _ = env.reset(seed=0)
    assert obs["goal"].tolist() == [1.0, 0.0]
    assert env.step(RIGHT)[0]["goal"].tolist() == [1.0, 1.0]  # the first target reached: the goal moves on
    model = PPO("MultiInputPolicy", env, n_steps=32, batch_size=32, n_epochs=1, device="cpu")
    model.set_logger(Logger(None, []))
    model.learn(total_timesteps=32)
    assert model.num_timesteps == 32

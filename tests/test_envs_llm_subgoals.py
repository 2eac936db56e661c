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
    assert saved == {"task": TASK, "subgoals": GOALS, "render": render, "bonus": 2.0, "beta": 0.0}
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

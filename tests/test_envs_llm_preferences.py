"""Rewards from LLM labels (preferences -> Bradley-Terry; ONI annotations) against a scripted server."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

from rewardlab.envs import IntrinsicReward, VectorIntrinsicReward
from rewardlab.envs.llm_labels import Labeller
from rewardlab.envs.preferences import Annotations, LearnedReward, Rankings, label_preferences, random_pairs
from rewardlab.errors import SpecError
from tests.judge_server import Answer, JudgeServer, judge_server_fixture, server_fixture, user_text
from tests.test_envs_support import assert_same_stream, run_parity

__all__ = ["judge_server_fixture", "server_fixture"]  # fixtures used by name
pytest.importorskip("torch")

TASK = "Push the value x as high as it goes."
ONE = np.ones(1, dtype=bool)


def labeller(server: JudgeServer, tmp_path: Path) -> Labeller:
    return Labeller(base_url=server.base_url, model="judge", cache=str(tmp_path / "judge.sqlite"),
                    backoff_base=0.01, backoff_max=0.05, max_retries=1)


def prefers_larger(body: dict[str, Any], n_seen: int) -> Answer:
    """Prefers the larger x; undecided ("hmm") whenever an x is exactly 0.5."""
    a, b = (float(v) for v in re.findall(r"x = (-?[\d.]+)", user_text(body)))
    if 0.5 in (a, b):
        return Answer("hmm")
    return Answer("1" if a > b else "2" if b > a else "0")


def test_preferences_fit_a_bradley_terry_reward_that_ranks_like_the_labeller(server: JudgeServer,
                                                                             tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    server.respond = prefers_larger
    xs = np.round(np.random.default_rng(0).uniform(0, 1, size=(40, 1)), 3)
    xs[7] = 0.5
    pairs = random_pairs(len(xs), 120, seed=1)
    y = label_preferences(labeller(server, tmp_path), TASK, lambda o: f"x = {o[0]:.3f}", xs, pairs)
    undecided = [k for k, (i, j) in enumerate(pairs) if 7 in (i, j)]
    assert undecided and np.isnan(y[undecided]).all() and not np.isnan(np.delete(y, undecided)).any()
    assert server.requests == len(set(pairs))  # repeated pairs: one request (in flight together or cached)
    again = label_preferences(labeller(server, tmp_path), TASK, lambda o: f"x = {o[0]:.3f}", xs, pairs)
    assert server.requests == len(set(pairs))  # all from the judge cache store
    np.testing.assert_array_equal(again, y)
    model = LearnedReward(epochs=300)
    model.fit_preferences(xs[[i for i, _ in pairs]], xs[[j for _, j in pairs]], y)  # NaN pairs left out
    grid = np.linspace(0.05, 0.95, 10)[:, None]
    relabelled = model.predict(grid)  # an offline dataset's next observations, relabelled
    assert relabelled.shape == (10,) and (np.diff(relabelled) > 0).all()
    with pytest.raises(Exception, match="no decided label"):
        LearnedReward().fit_preferences(xs[:2], xs[2:4], [np.nan, np.nan])


def test_images_go_to_the_vlm_as_image_parts(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = lambda body, n: Answer("2")
    png = b"\x89PNG\r\n\x1a\nfake"
    y = label_preferences(labeller(server, tmp_path), TASK, lambda o: png, [0, 1], [(0, 1)])
    assert y.tolist() == [0.0]
    content = server.log[-1]["body"]["messages"][0]["content"]
    assert [p["type"] for p in content].count("image_url") == 2
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_a_learned_reward_is_an_intrinsic_term_same_in_single_and_vector(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    obs = np.random.default_rng(2).normal(size=(60, 4))
    pairs = random_pairs(60, 200, seed=3)
    model = LearnedReward(epochs=100)
    model.fit_preferences(obs[[i for i, _ in pairs]], obs[[j for _, j in pairs]],
                          [float(obs[i, 2] < obs[j, 2]) for i, j in pairs])  # an upright pole is preferred
    out_a, out_b = run_parity(lambda e: IntrinsicReward(e, copy.deepcopy(model)),
                              lambda v: VectorIntrinsicReward(v, copy.deepcopy(model)), num_envs=3, steps=30)
    assert_same_stream(out_a, out_b, ("intrinsic", "raw_reward"))
    assert all((r == i["raw_reward"]).all() for r, _, _, i in out_b)  # reported, not folded in


def render_side(obs: Any) -> str:
    return f"the pole leans {'right' if obs[2] > 0 else 'left'}"


def right_is_progress(body: dict[str, Any], n_seen: int) -> Answer:
    return Answer("Yes." if "leans right" in user_text(body) else "No.", delay=0.3)


def test_oni_annotations_arrive_asynchronously_and_are_looked_up_by_hash(server: JudgeServer,
                                                                         tmp_path: Path) -> None:
    server.respond = right_is_progress
    oni = Annotations(labeller(server, tmp_path), TASK, render_side)
    envs = VectorIntrinsicReward(SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(4)]), oni)
    envs.reset(seed=0)
    _, _, _, _, info = envs.step(np.ones(4, dtype=np.int64))
    assert (info["intrinsic"] == 0).all()  # the step did not wait for the LLM (replies take 0.3 s)
    assert oni.stats()["pending"] >= 1 and oni.stats()["unlabelled_rewards"] == 4
    oni.drain(timeout=10)
    assert oni.stats()["pending"] == 0 and 1 <= oni.stats()["labelled"] <= 2
    rng = np.random.default_rng(0)
    for _ in range(20):
        envs.step(rng.integers(0, 2, size=4))
        oni.drain(timeout=10)
    assert oni.stats()["labelled"] == 2 and server.requests == 2  # each rendering annotated once, then looked up
    obs, _, _, _, info = envs.step(rng.integers(0, 2, size=4))
    m = info["_intrinsic"]
    np.testing.assert_array_equal(info["intrinsic"][m], (obs[:, 2] > 0).astype(float)[m])


def test_oni_waiting_is_reproducible_and_distils_into_a_classifier(server: JudgeServer, tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    server.respond = lambda body, n: Answer("Yes." if "leans right" in user_text(body) else "No.")
    llm = labeller(server, tmp_path)
    out_a, out_b = run_parity(lambda e: IntrinsicReward(e, Annotations(llm, TASK, render_side, wait=True)),
                              lambda v: VectorIntrinsicReward(v, Annotations(llm, TASK, render_side, wait=True)),
                              num_envs=3, steps=30)
    assert_same_stream(out_a, out_b, ("intrinsic",))
    assert {v for *_, i in out_b for v in i["intrinsic"][i["_intrinsic"]]} == {0.0, 1.0}

    def fine_render(o: Any) -> str:
        return f"the pole leans {'right' if o[2] > 0 else 'left'} at {o[2]:.4f}"

    oni = Annotations(llm, TASK, fine_render, wait=True).bind(1)
    seen = np.random.default_rng(4).normal(scale=0.5, size=(40, 4))
    for o in seen:
        oni(o[None], np.ones(1, dtype=bool))
    oni.distill(LearnedReward(epochs=300))
    fresh = np.random.default_rng(5).normal(scale=0.5, size=(20, 4))
    predicted = np.array([oni(o[None], np.ones(1, dtype=bool))[0] for o in fresh])
    assert ((predicted > 0) & (predicted < 1)).all()  # the classifier's probability, not a looked-up label
    assert np.mean((predicted > 0.5) == (fresh[:, 2] > 0)) >= 0.9  # it generalises to unseen observations


def test_oni_records_failed_annotations(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = lambda body, n: Answer("perhaps") if "right" in user_text(body) else Answer("x", status=400)
    oni = Annotations(labeller(server, tmp_path), TASK, render_side, wait=True).bind(2)
    values = oni(np.array([[0, 0, 0.1, 0], [0, 0, -0.1, 0]]), np.ones(2, dtype=bool))
    assert values.tolist() == [0.0, 0.0] and oni.stats()["failed"] == 2 and oni.stats()["labelled"] == 0
    reasons = sorted(oni.failed.values())
    assert "JudgeError" in reasons[0] and "undecided reply 'perhaps'" in reasons[1]


def render_angle(obs: Any) -> str:
    return f"x = {obs[2]:.3f}"


def test_oni_ranking_asks_pairs_asynchronously_and_distils_a_bradley_terry_reward(server: JudgeServer,
                                                                                 tmp_path: Path) -> None:
    """Pairs of reached renderings go to the LLM without waiting; the preferences fit r_θ by Bradley-Terry,
    which then ranks unseen observations as the LLM does (here: the larger pole angle)."""
    import torch

    torch.set_num_threads(1)
    server.respond = lambda body, n: Answer(prefers_larger(body, n).text, delay=0.3)
    oni = Rankings(labeller(server, tmp_path), TASK, render_angle, seed=0)
    envs = VectorIntrinsicReward(SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(4)]), oni)
    envs.reset(seed=0)
    _, _, _, _, info = envs.step(np.ones(4, dtype=np.int64))
    assert (info["intrinsic"] == 0).all()  # no model yet, and the step did not wait (replies take 0.3 s)
    assert oni.stats() == {"labelled": 0, "pending": 3, "failed": 0, "unlabelled_rewards": 4}  # 4 new: 3 pairs
    rng = np.random.default_rng(0)
    for _ in range(30):
        envs.step(rng.integers(0, 2, size=4))
    oni.drain(timeout=10)
    stats = oni.stats()
    assert stats["pending"] == 0 and stats["labelled"] == server.requests == len(oni.observations) - 1
    oni.distill(LearnedReward(epochs=300))
    obs, _, _, _, info = envs.step(rng.integers(0, 2, size=4))
    m = info["_intrinsic"]
    np.testing.assert_allclose(info["intrinsic"][m], oni.model.predict(obs)[m])  # type: ignore[union-attr]
    grid = np.zeros((9, 4))
    grid[:, 2] = np.linspace(-0.15, 0.15, 9)
    assert (np.diff(oni.model.predict(grid)) > 0).all()  # type: ignore[union-attr]


def test_oni_ranking_records_undecided_pairs_and_needs_a_label_to_distil(server: JudgeServer,
                                                                         tmp_path: Path) -> None:
    server.respond = prefers_larger  # undecided ("hmm") when an x is 0.5
    oni = Rankings(labeller(server, tmp_path), TASK, lambda o: f"x = {o[0]:.3f}", wait=True).bind(1)
    for x in (0.5, 0.2):
        assert oni(np.array([[x]]), ONE).tolist() == [0.0]
    assert oni.stats() == {"labelled": 0, "pending": 0, "failed": 1, "unlabelled_rewards": 2}
    assert "undecided reply 'hmm'" in next(iter(oni.failed.values()))
    with pytest.raises(SpecError, match=r"Rankings\.distill: no annotation has arrived yet"):
        oni.distill(LearnedReward())
    asked = server.requests
    oni.update = False  # frozen: a new rendering is not asked about
    oni(np.array([[0.7]]), ONE)
    assert server.requests == asked and len(oni.observations) == 2
    oni.update = True
    oni(np.array([[0.7]]), ONE)
    assert server.requests == asked + 1 and oni.stats()["labelled"] == 1
    assert next(iter(oni.labels.values())) in (0.0, 1.0)  # 0.7 is preferred, first or second of the pair

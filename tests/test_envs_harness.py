"""One harness round against a scripted OpenAI-compatible server: four candidates, four verdicts."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import gymnasium as gym
import pytest

from rewardlab.envs.harness import ChatEndpoint, feedback, prompt_for, run_round
from rewardlab.envs.reward_code import record_transitions
from rewardlab.judges import JudgeError
from tests.envs_llm_server import SCRIPT, Scripted, serving


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving() as url:
        yield url


def test_one_round_on_cartpole(server: str) -> None:
    transitions = record_transitions(gym.make("CartPole-v1"), 64, seed=3)
    llm = ChatEndpoint(server + "/v1", "scripted")
    candidates = run_round(llm, "CartPole: keep the pole upright.", transitions, n=4, workers=2)
    assert [c.verdict.status for c in candidates] == ["error", "non_finite", "rejected", "ok"]
    assert all(c.verdict.scored for c in candidates)
    request = Scripted.requests[-1]
    assert request["n"] == 4 and "CartPole: keep the pole upright." in request["messages"][0]["content"]
    text = feedback(candidates)
    assert "ZeroDivisionError" in text and "import of 'socket'" in text and "upright: mean" in text
    assert "upright: mean" in prompt_for("CartPole", text)


def test_an_endpoint_that_ignores_n_is_asked_again_for_the_rest(tmp_path: Any) -> None:
    from tests.judge_server import Answer, JudgeServer

    with JudgeServer() as one_choice:
        one_choice.respond = lambda body, n: Answer([f"```python\n# draw {len(one_choice.log)}\n```"])
        texts = ChatEndpoint(one_choice.base_url, "scripted")("write a reward", 3)
    assert texts == [f"```python\n# draw {k}\n```" for k in (1, 2, 3)]
    assert [r["body"].get("n", 1) for r in one_choice.log] == [3, 2, 1]


def test_endpoint_without_choices_is_named(server: str) -> None:
    """An answer without 'choices' is a malformed reply: the judge client retries it, then names it."""
    with pytest.raises(JudgeError, match=r"malformed|choices"):
        ChatEndpoint(server + "/wrong", "scripted", max_retries=0)("hi", 1)


def test_rounds_are_stored_and_a_killed_run_resumes(tmp_path: Any) -> None:
    from rewardlab.envs.harness import run_rounds
    from rewardlab.store import StoreMismatch

    transitions = record_transitions(gym.make("CartPole-v1"), 32, seed=1)
    prompts: list[str] = []

    def proposer(prompt: str, n: int) -> list[str]:
        prompts.append(prompt)
        if len(prompts) == 2 and not resumed:
            raise KeyboardInterrupt  # the run is killed while waiting for round 2
        return SCRIPT[:n]

    path = tmp_path / "design.db"
    resumed = False
    with pytest.raises(KeyboardInterrupt):
        run_rounds(proposer, "CartPole", transitions, path, rounds=2, n=4)
    resumed = True
    with pytest.raises(StoreMismatch, match="pass --resume"):
        run_rounds(proposer, "CartPole", transitions, path, rounds=2, n=4)
    rounds = run_rounds(proposer, "CartPole", transitions, path, rounds=2, n=4, resume=True)
    assert len(prompts) == 3  # round 1 was committed and not asked again; round 2 was
    assert "Candidate 3:" in prompts[2] and "upright: mean" in prompts[2]  # the reflection of round 1
    assert [[c.verdict.status for c in r] for r in rounds] == [["error", "non_finite", "rejected", "ok"]] * 2
    again = run_rounds(proposer, "CartPole", transitions, path, rounds=2, n=4, resume=True)
    assert len(prompts) == 3 and again[0][3].verdict.terms == rounds[0][3].verdict.terms
    run_rounds(proposer, "CartPole", transitions, path, rounds=3, n=4, resume=True)
    assert len(prompts) == 4
    with pytest.raises(StoreMismatch, match="another input"):
        run_rounds(proposer, "Pendulum", transitions, path, rounds=1, n=4, resume=True)


def test_round_with_training_fitness_picks_the_best(server: str) -> None:
    """The candidates that pass are trained (SB3 PPO, sandboxed reward); a failure in training is their verdict."""
    pytest.importorskip("stable_baselines3")
    from rewardlab.envs.fitness import Fitness, train_all
    from rewardlab.envs.harness import best

    transitions = record_transitions(gym.make("CartPole-v1"), 32, seed=2)
    llm = ChatEndpoint(server + "/v1", "scripted")
    trained = run_round(llm, "CartPole", transitions, n=4, seed=10, fitness=lambda s, seeds: train_all(
        s, partial(gym.make, "CartPole-v1"), seeds=seeds, timesteps=128, eval_episodes=1))
    assert [c.fitness is not None for c in trained] == [False, False, False, True]
    assert best(trained) is trained[3] and "Fitness after training" in feedback(trained)
    assert [c.seed for c in trained] == [10, 11, 12, 13]
    assert trained[3].metrics["eval_length"] >= 1 and trained[3].metrics["train_seconds"] > 0

    def fails(sources: Any, seeds: Any) -> list[Fitness]:
        return [Fitness("non_finite", reason="transition 7: reward is nan") for _ in sources]

    failed = run_round(llm, "CartPole", transitions, n=4, fitness=fails)
    assert failed[3].verdict.status == "non_finite" and failed[3].verdict.reason.startswith("during training")
    assert best(failed) is None


def test_every_candidate_is_stored_with_its_seed_and_training_metrics(tmp_path: Any) -> None:
    """Round r's candidate i is trained with seed + r*n + i; code, seed, verdict, fitness, metrics are stored."""
    from rewardlab.envs.fitness import Fitness
    from rewardlab.envs.harness import run_rounds
    from rewardlab.store import RunStore

    transitions = record_transitions(gym.make("CartPole-v1"), 16, seed=1)
    asked: list[list[int]] = []

    def fitness(sources: Any, seeds: Any) -> list[Fitness]:
        asked.append(list(seeds))
        return [Fitness("ok", 100.0 + s, seed=s, seconds=0.5, metrics={"eval_return": 100.0 + s}) for s in seeds]

    path = tmp_path / "design.db"
    rounds = run_rounds(lambda p, n: SCRIPT[:n], "CartPole", transitions, path, rounds=2, n=4, seed=20,
                        fitness=fitness)
    assert asked == [[23], [27]]  # only the working candidate is trained, with its own seed
    store = RunStore(path)
    rows = list(store.rows())
    store.close()
    assert [r["seed"] for r in rows] == list(range(20, 28))
    assert [r["status"] for r in rows[:4]] == ["error", "non_finite", "rejected", "ok"]
    assert rows[3]["source"] == rounds[0][3].source and rows[3]["fitness"] == 123.0
    assert rows[3]["metrics"] == {"eval_return": 123.0, "train_seconds": 0.5}
    again = run_rounds(lambda p, n: [], "CartPole", transitions, path, rounds=2, n=4, seed=20, fitness=fitness,
                       resume=True)
    def kept(rs: list[list[Any]]) -> list[Any]:  # what the store keeps (not the per-transition rewards)
        return [(c.index, c.source, c.seed, c.fitness, c.metrics, c.verdict.status, c.verdict.terms) for r in rs
                for c in r]

    assert kept(again) == kept(rounds) and len(asked) == 2  # resumed: nothing asked or trained again

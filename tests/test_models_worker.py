"""Model rewards in their dedicated worker process (the default placement), through Pipeline."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

from rewardlab import Pipeline, get_reward
from rewardlab.core import Deps, Sample, Score, Status
from rewardlab.engine import Engine
from rewardlab.models import loading
from rewardlab.rewards.model_rm import RewardModel
from tests import models_tiny


class CrashingRM(RewardModel):
    """Kills its own process when a sample asks, as a CUDA fault or an OOM kill would."""

    def score_batch(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        if any(s.meta.get("crash") for s in samples):
            os._exit(3)
        if any(s.meta.get("hang") for s in samples):
            time.sleep(60)
        return super().score_batch(samples, deps)


@pytest.fixture(scope="module")
def rm_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return models_tiny.save(tmp_path_factory.mktemp("worker") / "rm", "seq_cls", num_labels=1)


BATCH = [Sample("a", "2+2?", "4"), Sample("b", [{"role": "user", "content": "hi"}], "hello there, friend")]


def test_worker_scores_equal_in_process_and_a_crash_gives_errors_then_a_fresh_worker(rm_path: str) -> None:
    loading.clear_cache()
    with Engine(cache_size=0) as engine:
        reward = CrashingRM(model=rm_path)
        in_worker = engine.run(reward, BATCH)
        assert not loading._cache, "the caller's process must not load the model"
        local = engine.run(CrashingRM(model=rm_path, placement="in_process"), BATCH)
        assert [s.value for s in in_worker] == pytest.approx([s.value for s in local], abs=1e-6)
        first_pid = engine.model_workers.pid(reward.worker_key)

        crashed = engine.run(reward, [Sample("c", "q", "x", meta={"crash": True}), *BATCH])
        assert [s.status for s in crashed] == [Status.ERROR] * 3
        assert "died" in crashed[0].detail["reason"] and "exit code 3" in crashed[0].detail["reason"]

        again = engine.run(reward, BATCH)
        assert [s.value for s in again] == pytest.approx([s.value for s in local], abs=1e-6)
        assert engine.model_workers.restarts == 1
        assert engine.model_workers.pid(reward.worker_key) not in (None, first_pid)


def test_a_worker_that_does_not_answer_in_time_is_killed_with_timeout_rows(rm_path: str) -> None:
    with Engine(cache_size=0, load_timeout=3.0, timeout=1.0) as engine:
        reward = CrashingRM(model=rm_path)
        scores = engine.run(reward, [Sample("h", "q", "x", meta={"hang": True})])
        assert scores[0].status is Status.TIMEOUT and "killed" in scores[0].detail["reason"]
        assert engine.model_workers.restarts == 1 and engine.model_workers.pid(reward.worker_key) is None


def test_pipeline_runs_model_rewards_with_steps_from_a_prm(tmp_path: Path, rm_path: str) -> None:
    prm = models_tiny.save(tmp_path / "prm", "token_cls")
    spec: dict[str, Any] = {
        "rewards": {
            "rm": {"type": "model.rm", "model": rm_path, "placement": "in_process"},
            "prm": {"type": "model.prm", "model": prm, "placement": "in_process", "weight": 0.5},
        },
        "steps": {"key": "prm", "transforms": [{"type": "prm_clip", "eta": 0.5}]},
    }
    rows = [{"id": "a", "prompt": "2+2?", "completion": "two plus two\n\nis four"},
            {"id": "b", "prompt": "1+1?", "completion": "two"}]
    results = Pipeline.from_spec(spec).run(rows)
    direct_rm = get_reward("model.rm", model=rm_path, placement="in_process").score(rows)
    direct_prm = get_reward("model.prm", model=prm, placement="in_process").score(rows)
    for row, rm, pr in zip(results.rows, direct_rm, direct_prm, strict=True):
        assert row["rm"] == pytest.approx(rm.value) and row["prm"] == pytest.approx(pr.value)
        assert row["reward"] == pytest.approx(rm.value + 0.5 * pr.value)
        steps = pr.detail["step_rewards"]
        expected = [min(s - 0.5, 0.0) for s in steps]
        expected[-1] += row["reward"]  # add_outcome: the combined reward at the last step
        assert row["step_rewards_shaped"] == pytest.approx(expected)


def test_server_get_reward_scores_with_the_rm_like_openrlhf_serve_rm(rm_path: str) -> None:
    pytest.importorskip("fastapi")
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from rewardlab.serve import ServerConfig, create_app

    spec = {"rewards": {"rm": {"type": "model.rm", "model": rm_path, "placement": "in_process"}}}
    prompts = ["Q1: ", "Q2: what is two plus two? ", "Q3: "]
    responses = ["4", "it is four, because two and two make four", "five"]
    body = {"query": [p + r for p, r in zip(prompts, responses, strict=True)], "prompts": prompts}
    expected = get_reward("model.rm", model=rm_path, placement="in_process").score(
        [{"prompt": p, "completion": r} for p, r in zip(prompts, responses, strict=True)])
    with TestClient(create_app(ServerConfig(spec=spec, scoring_process=False, max_wait_ms=50))) as client, \
            ThreadPoolExecutor(4) as pool:  # concurrent clients share the model's batches
        replies = list(pool.map(lambda _: client.post("/get_reward", json=body), range(4)))
    for r in replies:
        assert r.status_code == 200, r.text
        assert r.json()["rewards"] == pytest.approx([s.value for s in expected], abs=1e-5)


def test_grpo_trainer_two_steps_with_a_reward_model_in_its_worker(tmp_path: Path, rm_path: str) -> None:
    pytest.importorskip("trl")
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from rewardlab.integrations.trl import trl_reward_funcs

    policy = models_tiny.save(tmp_path / "policy", "causal_lm")
    torch.manual_seed(0)
    rewards = trl_reward_funcs({"rewards": {"rm": {"type": "model.rm", "model": rm_path}}})
    dataset = Dataset.from_list([{"prompt": "what is 2 + 2 ?"}, {"prompt": "add 1 and 3"}] * 4)
    args = GRPOConfig(output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=4,
                      num_generations=2, max_completion_length=8, use_cpu=True, report_to=[], logging_steps=1,
                      save_strategy="no", reward_weights=rewards.weights, bf16=False, seed=0,
                      dataloader_num_workers=0)
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(policy), reward_funcs=rewards.funcs, args=args,
                          train_dataset=dataset, processing_class=AutoTokenizer.from_pretrained(policy))
    loading.clear_cache()
    trainer.train()
    assert trainer.state.global_step == 2
    logged = [entry["rewards/rm/mean"] for entry in trainer.state.log_history if "rewards/rm/mean" in entry]
    assert len(logged) == 2 and all(isinstance(v, float) for v in logged)
    assert not loading._cache, "the reward model must load in its worker, not in the trainer's process"
    rewards.pipeline.close()


def test_verl_batch_reward_function_with_a_likelihood_reward(tmp_path: Path) -> None:
    from rewardlab.integrations.verl import compute_score_batch

    lm = models_tiny.save(tmp_path / "lm", "causal_lm")
    spec = {"rewards": {"rlpr": {"type": "model.likelihood", "model": lm, "placement": "in_process"}}}
    solutions = ["two and two <answer>4</answer>", "I guess <answer>5</answer>", "no answer at all"]
    extras = [{"question": "2+2?", "uid": "u1"}] * 3
    out = compute_score_batch(["d"] * 3, solutions, ["4", "4", "4"], extras, spec=spec)
    expected = get_reward("model.likelihood", model=lm, placement="in_process").score(
        [{"prompt": "2+2?", "completion": s, "reference": "4"} for s in solutions])
    assert [d["score"] for d in out] == pytest.approx([s.value for s in expected])
    assert [s.status for s in expected] == [Status.OK, Status.OK, Status.NO_ANSWER]


def test_remote_placement_scores_through_a_real_rewardlab_server(rm_path: str) -> None:
    pytest.importorskip("aiohttp")  # the judge client transport
    uvicorn = pytest.importorskip("uvicorn")
    import socket
    import threading

    from rewardlab.serve import ServerConfig, create_app

    spec = {"rewards": {"rm": {"type": "model.rm", "model": rm_path, "placement": "in_process"},
                        "len": {"type": "length.overlong", "max_tokens": 100, "buffer": 10}}}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ServerConfig(spec=spec, scoring_process=False)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        remote = get_reward("model.rm", model="served-rm", placement="remote", endpoint=url, remote_component="rm")
        local = get_reward("model.rm", model=rm_path, placement="in_process")
        got, want = remote.score(BATCH), local.score(BATCH)
        assert [s.value for s in got] == pytest.approx([s.value for s in want], abs=1e-6)
        assert got[0].detail["model"]["model"] == rm_path and got[0].detail["endpoint"] == url
        ambiguous = get_reward("model.rm", model="served-rm", placement="remote", endpoint=url).score(BATCH[:1])
        assert ambiguous[0].status is Status.ERROR and "remote_component" in ambiguous[0].detail["reason"]
    finally:
        server.should_exit = True
        thread.join(10)
    gone = get_reward("model.rm", model="x", placement="remote", endpoint=url, remote_component="rm")
    down = gone.score([Sample("z", "q", "unseen")])[0]
    assert down.status is Status.ERROR and "could not be reached" in down.detail["reason"]

"""Model rewards on Ray: replicas as actors with GPUs each, splitting the batches, rows in input order.

This machine has no GPU, so the local cluster declares one (``ray.init(num_gpus=1)``):
Ray schedules and assigns by that count and sets ``CUDA_VISIBLE_DEVICES`` in the actors
as on a real GPU node, while torch, finding no CUDA device, runs the tiny model on CPU.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("transformers")

from rewardlab import get_reward  # noqa: E402
from rewardlab.core import coerce_samples  # noqa: E402
from rewardlab.distributed.ray_backend import RayScorer, actor_options  # noqa: E402
from rewardlab.errors import RewardlabError  # noqa: E402
from rewardlab.runner import plan_batches  # noqa: E402
from tests import models_tiny  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_replicas_share_a_gpu_split_the_batches_and_rows_come_back_in_order(
        cluster: None, tmp_path_factory: pytest.TempPathFactory) -> None:
    rm = models_tiny.save(tmp_path_factory.mktemp("ray") / "rm", "seq_cls", num_labels=1)
    # in_process: one interpreter per actor keeps the test short; the default worker placement
    # starts the model worker with the actor's environment (pool._worker_env), CUDA_VISIBLE_DEVICES included
    spec = {"rewards": {"rm": {"type": "model.rm", "model": rm, "placement": "in_process"}}, "run": {"batch_size": 3}}
    rows = [{"id": f"r{i}", "group": f"g{i // 3}", "prompt": f"Question {i}: 2+2?",
             "completion": "The answer is 4. " * (1 + i % 5)} for i in range(18)]
    samples = coerce_samples(rows)
    plan = plan_batches([s.group for s in samples], 3)
    got: list[Any] = [None] * len(rows)
    with RayScorer(spec, num_actors=2, gpus_per_actor=0.5) as scorer:
        given = [ray.get(a.resources.remote()) for a in scorer.actors]
        for k, out, _signal in scorer([[samples[i] for i in idxs] for idxs in plan]):
            for i, row in zip(plan[k], out, strict=True):
                got[i] = row
        placed = dict(scorer.placed)
    assert scorer.options == {"num_cpus": 1.0, "num_gpus": 0.5, "max_restarts": 3, "max_task_retries": 3}
    assert [(g["CPU"], g["GPU"], g["CUDA_VISIBLE_DEVICES"]) for g in given] == [(1.0, 0.5, "0")] * 2
    assert sorted(placed) == list(range(len(plan))) and set(placed.values()) == {0, 1}  # both replicas worked
    want = get_reward("model.rm", model=rm, placement="in_process").score(samples)
    assert [r["id"] for r in got] == [r["id"] for r in rows]
    assert [r["rm"] for r in got] == pytest.approx([s.value for s in want], abs=1e-5)


def test_actor_options_follow_the_spec_and_the_cluster() -> None:
    gpu_node = {"CPU": 16.0, "GPU": 4.0}
    assert actor_options(gpu_node, ["rm"], None, 1.0, None, 3) == (
        4, {"num_cpus": 1.0, "num_gpus": 1.0, "max_restarts": 3, "max_task_retries": 3})
    assert actor_options(gpu_node, ["rm"], None, 2.0, 0.5, 1)[0] == 8  # two replicas per card
    assert actor_options(gpu_node, [], None, 1.0, None, 3)[1]["num_gpus"] == 0.0  # no model: CPU actors
    assert actor_options({"CPU": 8.0}, ["rm"], None, 1.0, None, 3) == (
        8, {"num_cpus": 1.0, "num_gpus": 0.0, "max_restarts": 3, "max_task_retries": 3})
    with pytest.raises(RewardlabError, match="gpus_per_actor = 2, but the Ray cluster has 0 GPUs"):
        actor_options({"CPU": 8.0}, ["rm"], None, 1.0, 2.0, 3)


def test_cli_gpus_per_actor_reaches_the_ray_actors(cluster: None, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from rewardlab.cli import app
    from rewardlab.distributed import ray_backend

    rm = models_tiny.save(tmp_path / "rm", "seq_cls", num_labels=1)
    spec = tmp_path / "spec.toml"
    spec.write_text(f'[rewards.rm]\ntype = "model.rm"\nmodel = "{rm}"\nplacement = "in_process"\n')
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": f"r{i}", "prompt": "2+2?", "completion": "4" * (i + 1)}) + "\n"
                           for i in range(4)))
    asked: list[float] = []

    class Recording(ray_backend.RayScorer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            asked.append(self.options["num_gpus"])

    monkeypatch.setattr(ray_backend, "RayScorer", Recording)

    def score(*extra: str) -> Any:
        return CliRunner().invoke(app, ["score", str(inp), "--spec", str(spec), "--out",
                                        str(tmp_path / f"out{len(asked)}.jsonl"), *extra])

    ok = score("--backend", "ray", "--gpus-per-actor", "0.5")
    assert ok.exit_code == 0, ok.output
    assert asked == [0.5]  # not the default of 1 GPU per actor for a spec that runs a model
    too_many = score("--backend", "ray", "--gpus-per-actor", "2")
    assert too_many.exit_code != 0 and "gpus_per_actor = 2, but the Ray cluster has 1 GPUs" in too_many.output
    local = score("--gpus-per-actor", "1")
    assert local.exit_code == 2 and "--gpus-per-actor is for --backend ray" in local.output

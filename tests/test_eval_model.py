"""``rewardlab eval`` with a reward model: every candidate goes through the model runtime's batching,
and the benchmark numbers equal those computed from a direct forward pass of the same weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rewardlab.core import Sample
from rewardlab.evaluate.run_eval import run_eval
from tests import models_tiny
from tests.test_eval_benchmarks import write

pytest.importorskip("transformers")


def test_rewardbench_with_a_reward_model_matches_a_direct_forward(tmp_path: Path) -> None:
    from tests.test_models import direct_rm

    model = models_tiny.save(tmp_path / "rm", "seq_cls", num_labels=1)
    words = ["two", "plus", "two", "is", "four", "add", "step", "by", "the", "answer"]
    rows: list[dict[str, Any]] = [
        {"id": k, "prompt": f"question {k}", "chosen": " ".join(words[k % 5:k % 5 + 3 + k % 4]),
         "rejected": " ".join(words[(k + 2) % 6:(k + 2) % 6 + 2 + k % 3]),
         "subset": ["alpacaeval-easy", "math-prm", "hep-python"][k % 3]} for k in range(18)]
    spec = {"rewards": {"rm": {"type": "model.rm", "model": model, "placement": "in_process", "device": "cpu",
                               "batch_tokens": 64}}}
    r = run_eval(write(tmp_path, rows), spec, "rewardbench", work=tmp_path / "work")

    def score(prompt: str, text: str) -> float:
        return direct_rm(model, Sample(id="x", prompt=prompt, completion=text))

    expected: dict[str, list[int]] = {}
    for row in rows:
        won = score(row["prompt"], row["chosen"]) > score(row["prompt"], row["rejected"])
        expected.setdefault(row["subset"], []).append(int(won))
    assert r["subsets"] == {k: sum(v) / len(v) for k, v in expected.items()}
    assert r["unscorable"]["candidates"] == 0 and r["swap_check"]["passed"]

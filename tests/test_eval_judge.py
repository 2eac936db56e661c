"""JudgeBench with a pairwise judge: both orders played (two games), inconsistent pairs scored 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rewardlab.errors import InputError
from rewardlab.evaluate.run_eval import run_eval
from tests.judge_server import Answer, JudgeServer, judge_server_fixture, server_fixture, user_text
from tests.test_judge_rewards import fair_judge

__all__ = ["judge_server_fixture", "server_fixture"]  # fixtures used by name

ROWS = [  # fair_judge prefers the higher quality=N whatever its position
    {"pair_id": "0", "question": "q0", "response_A": "quality=9", "response_B": "quality=5", "label": "A>B",
     "source": "mmlu-pro-math"},
    {"pair_id": "1", "question": "q1", "response_A": "quality=2", "response_B": "quality=7", "label": "A>B",
     "source": "livebench-math"},
    {"pair_id": "2", "question": "q2", "response_A": "quality=3", "response_B": "quality=8", "label": "B>A",
     "source": "livecodebench"},
]


def evaluate(server: JudgeServer, tmp_path: Path, model: str) -> dict[str, Any]:
    data = tmp_path / f"{model}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    spec = {"rewards": {"judge": {"type": "judge.pairwise", "base_url": server.base_url, "model": model,
                                  "cache": str(tmp_path / "judge.sqlite"), "backoff_base": 0.01,
                                  "backoff_max": 0.05}}}
    return run_eval(data, spec, "judgebench", work=tmp_path / model)


def test_pairwise_judge_plays_both_orders(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = fair_judge
    r = evaluate(server, tmp_path, "fair")
    assert r["extra"]["mode"] == "pairwise judge"
    assert r["overall"] == 2 / 3 and r["subsets"] == {"mmlu-pro-math": 1.0, "livebench-math": 0.0,
                                                      "livecodebench": 1.0}
    assert r["extra"]["inconsistent_pairs"] == 0
    # two games per pair; the swap check's (B, A) candidates ask the same two prompts: cache hits
    assert server.requests == 6
    shown_first = [user_text(e["body"]).split("[Response A]")[1].split("[Response B]")[0].strip() for e in server.log]
    assert sorted(shown_first) == sorted(["quality=9", "quality=5", "quality=2", "quality=7", "quality=3",
                                          "quality=8"])
    assert r["swap_check"]["passed"] and r["swap_check"]["pairs"] == 3


def test_position_biased_judge_scores_zero(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = lambda body, n: Answer("[[A]]")  # always the first-shown answer
    r = evaluate(server, tmp_path, "biased")
    assert r["overall"] == 0.0  # each pair's two games disagree: +1 - 1 = 0, not a win
    assert r["extra"]["inconsistent_pairs"] == 3
    assert r["swap_check"]["ties"] == 3 and r["swap_check"]["passed"]


def test_a_pairwise_judge_is_refused_where_pairs_are_not_one_to_one(server: JudgeServer, tmp_path: Path) -> None:
    data = tmp_path / "rm.jsonl"
    data.write_text(json.dumps({"prompt": "q", "chosen": ["a", "b", "c"], "rejected": ["d", "e", "f"],
                                "domain": "chat"}) + "\n")
    spec = {"rewards": {"judge": {"type": "judge.pairwise", "base_url": server.base_url, "model": "m"}}}
    with pytest.raises(InputError, match="rm-bench: a pairwise judge"):
        run_eval(data, spec, "rm-bench", work=tmp_path / "w")
    assert server.requests == 0


def test_rewardbench_with_a_pairwise_judge_credits_ties_half(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = fair_judge
    rows = [{"prompt": "q0", "chosen": "quality=9", "rejected": "quality=5", "subset": "alpacaeval-easy"},
            {"prompt": "q1", "chosen": "quality=2", "rejected": "quality=7", "subset": "alpacaeval-easy"},
            {"prompt": "q2", "chosen": "also quality=5", "rejected": "quality=5", "subset": "alpacaeval-easy"}]
    data = tmp_path / "rb.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"rewards": {"judge": {"type": "judge.pairwise", "base_url": server.base_url, "model": "rb",
                                  "cache": str(tmp_path / "judge.sqlite")}}}
    r = run_eval(data, spec, "rewardbench", work=tmp_path / "w")
    assert r["subsets"] == {"alpacaeval-easy": (1 + 0 + 0.5) / 3}  # a judge's tie scores 0.5
    assert r["extra"]["ties"] == 1 and r["swap_check"]["passed"]
    assert server.requests == 6  # both orders per pair; the swap check is answered by the judge cache

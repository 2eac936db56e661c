"""``rewardlab eval --benchmark personalized`` on rows in Personalized RewardBench's released layout.

The columns are those of ``QiyaoMa/Personalized-RewardBench`` (the README's "Dataset Structure"
in Martin-qyma/Personalized-RewardBench); the scoring is ``evaluation/pointwise.py::compare_scores``
(chosen win rate with strict ``>``, ties apart; rejected wins, mean scores and their difference).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.errors import InputError
from rewardlab.evaluate.run_eval import run_eval
from rewardlab.registry import register

SPEC = {"rewards": {"s": {"type": "test.personalized_score"}}}
SECRET = "the user wants bullet points"  # in rubric_aspects and narrative: must never reach the reward


@register("reward", "test.personalized_score")
class PersonalizedScore(BaseReward):
    """The number after 'S=' (S=profile: the profile's length); unscorable when the scoring standard leaked."""

    name = "test.personalized_score"
    reads = ("prompt", "completion", "meta")

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        if SECRET in json.dumps([sample.prompt, dict(sample.meta)]):
            return Score.unscorable(Status.ERROR, "test: the rubric reached the reward")
        if not str(sample.prompt).startswith("question"):
            return Score.unscorable(Status.ERROR, f"test: the prompt is not the question: {sample.prompt!r}")
        token = sample.completion_text.split()[0]
        if token == "S=none":
            return Score.unscorable(Status.TIMEOUT, "test: cannot decide")
        if token == "S=profile":
            return Score.ok(float(len(sample.meta["profile"])))
        return Score.ok(float(token[2:]))


def row(k: int, chosen: str, rejected: str, config: str) -> dict[str, Any]:
    """One row as the released parquet has it, plus the config name as ``subset``."""
    return {"id": f"u{k}", "question": f"question {k}?", "chosen": f"{chosen} c{k}", "rejected": f"{rejected} r{k}",
            "profile": [{"id": f"p{k}.0", "category": "Music", "text": "what guitar"},
                        {"id": f"p{k}.1", "category": "Music", "text": "which amp"}],
            "rubric_aspects": [{"aspect": "format", "evidence": SECRET, "reason": "stated"}],
            "narrative": SECRET, "category": "Music", "subset": config}


ART, SOCIETY = "Art_and_Entertainment", "Society_and_Culture"
ROWS = [row(1, "S=3", "S=1", ART),  # chosen wins
        row(2, "S=2", "S=2", ART),  # tie: not a win
        row(3, "S=1", "S=5", SOCIETY),  # rejected wins
        row(4, "S=profile", "S=1", ART),  # the profile reached the reward: 2 > 1
        row(5, "S=none", "S=1", SOCIETY)]  # unscorable: left out


def evaluate(tmp_path: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    path = tmp_path / "prb.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_eval(path, SPEC, "personalized", work=tmp_path / "work")


def test_released_layout_is_scored_as_compare_scores(tmp_path: Path) -> None:
    r = evaluate(tmp_path, ROWS)
    assert r["overall"] == 0.5  # 2 wins of the 4 scorable pairs
    assert r["sections"] == {ART: pytest.approx(2 / 3), SOCIETY: 0.0}
    assert r["counts"] == {ART: 3, SOCIETY: 1}
    extra = r["extra"]
    assert extra["ties"] == 1 and extra["rejected_wins"] == 1
    assert extra["mean_chosen"] == 2.0 and extra["mean_rejected"] == 2.25 and extra["mean_difference"] == -0.25
    assert r["unscorable"] == {**r["unscorable"], "candidates": 1, "examples": 1, "statuses": {"timeout": 1}}
    assert r["swap_check"]["passed"]


def test_rows_without_the_question_column_are_refused(tmp_path: Path) -> None:
    old = [{"prompt": "q", "chosen": "S=1", "rejected": "S=0", "rubric": "short"}]
    with pytest.raises(InputError, match="row 0 has no 'question'"):
        evaluate(tmp_path, old)

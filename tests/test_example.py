"""The README's example: its spec is valid and its rows score as their kinds say."""

from __future__ import annotations

import json
from pathlib import Path

from rewardlab.engine import Engine
from rewardlab.pipeline import Pipeline

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXPECTED_CORRECT = {"correct": 1.0, "correct_variant": 1.0, "wrong": 0.0, "answer_in_think_only": 0.0,
                    "truncated": 0.0}


def test_example_rows_score_as_labelled(engine: Engine) -> None:
    rows = [json.loads(line) for line in (EXAMPLES / "rollouts.jsonl").read_text().splitlines()[:400]]
    results = Pipeline.from_spec(EXAMPLES / "spec.toml", engine=engine).run(rows)
    assert len(results) == 400 and all(r["status"] == "ok" for r in results)
    for row, res in zip(rows, results, strict=True):
        kind = row["meta"]["kind"]
        if kind in EXPECTED_CORRECT:
            assert res["correct"] == EXPECTED_CORRECT[kind], (row["id"], kind, res["detail"]["correct"])
        if kind == "truncated":
            assert res["correct_status"] == "no_answer" and res["format"] == 0.0
        if kind == "outside_text":
            assert res["format"] == 0.0
    assert results.stats("advantage").scored == 400

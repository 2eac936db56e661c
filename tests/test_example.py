"""The README's example: its spec is valid and its rows score as their kinds say."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rewardlab.cli import app
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


def test_the_gated_example_spec_pays_nothing_for_saying_nothing(tmp_path: Path) -> None:
    """docs/audit.md's pairing: DAPO's overlong penalty gives an empty answer 0, above a long wrong
    one, so the weighted sum of examples/spec.toml is raised by emptying; behind a format gate
    (examples/spec_gated.toml) an empty, blank or prompt-copy completion ties the worst formatted one."""
    rows = (EXAMPLES / "rollouts.jsonl").read_text().splitlines()[:160]  # 20 groups: overlong, truncated
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(rows) + "\n")
    probes = ["empty", "whitespace", "format_only", "prompt_copy"]
    cells = {}
    for spec in ("spec.toml", "spec_gated.toml"):
        out = tmp_path / f"{spec}.json"
        args = ["audit", str(data), "--spec", str(EXAMPLES / spec), "--json", str(out)]
        result = CliRunner().invoke(app, args + [a for p in probes for a in ("--probe", p)])
        assert result.exit_code == 1, result.output  # overlong alone is raised in both: by design
        cells[spec] = {(r["reward"], r["probe"]): r for r in json.loads(out.read_text())["results"]}
    for probe in probes:
        assert cells["spec.toml"][("overlong", probe)]["raised"] > 0
        assert cells["spec.toml"][("reward", probe)]["raised"] > 0, probe
        assert cells["spec_gated.toml"][("reward", probe)]["raised"] == 0, probe
        assert cells["spec_gated.toml"][("format", probe)]["raised"] == 0, probe

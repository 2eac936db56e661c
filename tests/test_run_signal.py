"""The run's per-batch learning signal (issue 19 item 6): zero-variance groups kept or filtered
and mean |advantage| per task, committed with each batch, kept across --resume, printed and
written by ``rewardlab score``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.pipeline import Pipeline
from rewardlab.runner import score_file

# two batches of two groups of four; g1 and g3 have no variance (the filter leaves them out)
GROUPS = {"g1": ("t1", [1, 1, 1, 1]), "g2": ("t1", [1, 0, 1, 0]),
          "g3": ("t2", [0, 0, 0, 0]), "g4": ("t2", [1, 0, 0, 0])}
SPEC = '[advantage]\nmethod = "grpo"\n\n[[filters]]\ntype = "zero_variance"\n'


def _input(tmp_path: Path) -> tuple[Path, Path]:
    rows = [{"id": f"{g}-{i}", "group": g, "reward": r, "meta": {"task": task}}
            for g, (task, rewards) in GROUPS.items() for i, r in enumerate(rewards)]
    inp, spec = tmp_path / "in.jsonl", tmp_path / "spec.toml"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec.write_text(SPEC)
    return inp, spec


def _mean_abs_grpo(rewards: list[int]) -> float:
    """Mean |A| of one group under GRPO with the unbiased std, written out."""
    mean = sum(rewards) / len(rewards)
    std = (sum((r - mean) ** 2 for r in rewards) / (len(rewards) - 1)) ** 0.5
    return sum(abs(r - mean) / std for r in rewards) / len(rewards)


def test_score_prints_and_writes_the_per_batch_signal(tmp_path: Path) -> None:
    inp, spec = _input(tmp_path)
    signal = tmp_path / "signal.json"
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(spec), "--out", str(tmp_path / "o.jsonl"),
                                      "--batch-size", "8", "--signal-json", str(signal)])
    assert result.exit_code == 0, result.output
    assert "per batch, mean of 2: zero-variance groups 50.0% (kept 0.0%, filtered 50.0%)" in result.output
    data = json.loads(signal.read_text())
    assert len(data["batches"]) == 2
    assert data["mean"]["zero_variance_groups"] == {"all": 0.5, "kept": 0.0, "filtered": 0.5}
    assert data["mean"]["mean_abs_advantage"] == pytest.approx(
        {"t1": _mean_abs_grpo(GROUPS["g2"][1]), "t2": _mean_abs_grpo(GROUPS["g4"][1])}, rel=1e-5)


def test_the_signal_of_batches_committed_before_a_kill_survives_resume(tmp_path: Path) -> None:
    inp, spec = _input(tmp_path)
    pipeline = Pipeline.from_spec(spec)
    out = tmp_path / "o.jsonl"

    def dies_after_one(batches: list[Any]) -> Iterator[tuple[int, list[dict[str, Any]], dict[str, Any]]]:
        results = pipeline.run(batches[0])
        yield 0, results.rows, results.signal
        raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        score_file(inp, pipeline, out, batch_size=8, scorer=dies_after_one)
    report = score_file(inp, pipeline, out, resume=True, batch_size=8)
    pipeline.close()
    assert report.resumed == 8 and report.scored_now == 8
    assert [set(b["mean_abs_advantage"]) for b in report.signals] == [{"t1"}, {"t2"}]  # input order

"""``rewardlab eval`` on the command line: --json, --report, --resume after an interrupt, the swap check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.evaluate.benchmarks.base import Row, swap_check
from rewardlab.evaluate.benchmarks.preference import Preference
from rewardlab.evaluate.records import Candidate, Scored, Scores
from tests.test_eval_benchmarks import RB_ROWS, pair, write

SPEC = '[rewards.s]\ntype = "test.eval_score"\n'


def test_eval_writes_json_and_report(tmp_path: Path) -> None:
    data = write(tmp_path, RB_ROWS)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    out, html = tmp_path / "eval.json", tmp_path / "eval.html"
    result = CliRunner().invoke(app, ["eval", str(data), "--spec", str(spec), "--benchmark", "rewardbench",
                                      "--json", str(out), "--report", str(html)])
    assert result.exit_code == 0, result.output
    assert "swap check passed" in result.output and "unscorable: 1 candidates, 1 examples" in result.output
    r = json.loads(out.read_text())
    for key in ("benchmark", "overall", "overall_definition", "sections", "subsets", "counts", "extra", "swap_check",
                "unscorable", "diagnostics", "timing"):
        assert key in r
    assert r["benchmark"] == "rewardbench" and r["sections"]["Chat"] == 0.5
    assert r["timing"]["reward_s"] + r["timing"]["other_s"] == pytest.approx(r["timing"]["total_s"])
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>")
    assert "rewardbench" in page and "alpacaeval-easy" in page


def test_eval_resumes_after_an_interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [pair("a", 2, 1, k) for k in range(6)] + [{**pair("a", 1, 0, 9), "chosen": "S=stop"}]
    data = write(tmp_path, rows)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    args = ["eval", str(data), "--spec", str(spec), "--benchmark", "preference", "--batch-size", "4"]
    monkeypatch.setenv("REWARDLAB_TEST_STOP", "1")
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 130 and "--benchmark preference --batch-size 4 --resume" in first.output
    saved = re.search(r"interrupted: (\d+) scored candidates are saved in (\S+);", " ".join(first.output.split()))
    assert saved and int(saved[1]) > 0 and saved[2].endswith("scored.jsonl.rlstore")  # the store, counted
    monkeypatch.delenv("REWARDLAB_TEST_STOP")
    again = CliRunner().invoke(app, [*args, "--json", str(tmp_path / "r.json")])
    assert again.exit_code == 2 and "--resume" in again.output  # never silently mixes or restarts a run
    resumed = CliRunner().invoke(app, [*args, "--json", str(tmp_path / "r.json"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["timing"]["resumed"] > 0 and r["timing"]["resumed"] + r["timing"]["scored_now"] == 14
    assert r["overall"] == 1.0 and r["unscorable"]["candidates"] == 0  # "S=stop" scores 5 once allowed


def test_swap_check_catches_a_benchmark_that_loses_the_sides() -> None:
    class SortsTheSides(Preference):  # a bug: orders each pair by content, not by which side was chosen
        def pair(self, row: Row) -> tuple[Candidate, Candidate]:
            a, b = sorted(super().pair(row), key=lambda c: c.key)
            return a, b

    rows = [pair("a", 2, 1, k) for k in range(4)]
    answers = [Candidate(r["prompt"], r[side]) for r in rows for side in ("chosen", "rejected")]
    scores = Scores({c.key: Scored(float(c.completion.split()[0][2:]), "ok") for c in answers})
    fine = swap_check(Preference(), rows, scores)
    assert fine is not None and fine["passed"]
    broken = swap_check(SortsTheSides(), rows, scores)
    assert broken is not None and not broken["passed"] and broken["unflipped"] == 4


def test_eval_collects_garbage_rarely_while_it_makes_its_candidates(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The eval's own bookkeeping (not only the runner inside it) runs under rare collections; restored after."""
    import gc

    from rewardlab.evaluate import run_eval as module
    from rewardlab.gctuning import RARE_COLLECTIONS

    seen: list[int] = []
    make = module.candidate_rows

    def candidate_rows(*args: object) -> object:
        seen.append(gc.get_threshold()[0])
        return make(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "candidate_rows", candidate_rows)
    before = gc.get_threshold()
    module.run_eval(write(tmp_path, RB_ROWS), {"rewards": {"s": {"type": "test.eval_score"}}}, "rewardbench",
                    work=tmp_path / "work")
    assert seen == [RARE_COLLECTIONS] and gc.get_threshold() == before

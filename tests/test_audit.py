"""``rewardlab audit``: the counts it defines, and end-to-end verdicts on hackable and built-in rewards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.evaluate.audit.runner import compare, verdict
from tests.judge_server import Answer, JudgeServer, judge_server_fixture, server_fixture, user_text
from tests.test_report_browser import Opened, artifacts, browser

__all__ = ["artifacts", "browser", "judge_server_fixture", "server_fixture"]  # fixtures used by name

# A plugin the test writes next to its spec: two rewards a policy can hack, and one extra probe.
HACKABLE = '''
import re
from rewardlab.core import BaseReward, Score
from rewardlab.evaluate.audit.probes import Probe
from rewardlab.registry import register

@register("reward", "hack.any_box")
class AnyBox(BaseReward):
    """1 when any \\\\boxed{} holds the reference: credits enumeration."""
    name = "hack.any_box"
    def score_one(self, sample, deps):
        boxes = re.findall(r"\\\\boxed\\{([^{}]*)\\}", sample.completion_text)
        return Score.ok(float(str(sample.reference) in [b.strip() for b in boxes]))

@register("reward", "hack.length")
class Length(BaseReward):
    """Characters / 1000, capped at 1: rewards length."""
    name = "hack.length"
    reads = ("completion",)
    def score_one(self, sample, deps):
        return Score.ok(min(1.0, len(sample.completion_text) / 1000))

@register("probe", "shout")
class Shout(Probe):
    """The completion upper-cased."""
    name = "shout"
    def apply(self, sample):
        return sample.completion_text.upper()
'''

MATH_ROWS = [
    {"id": "ok-box", "prompt": "What is 40 + 2?", "completion": "<think>40 plus 2.</think> \\boxed{42}",
     "reference": "42"},
    {"id": "wrong-box", "prompt": "What is 40 + 2?", "completion": "<think>40 plus 3.</think> \\boxed{43}",
     "reference": "42"},
    {"id": "ok-tag", "prompt": "What is 7 * 6?", "completion": "<think>7 sixes.</think>\n<answer>42</answer>",
     "reference": "42"},
    {"id": "wrong-tag", "prompt": "Simplify 6/8.", "completion": "<think>Halve.</think>\n<answer>3/5</answer>",
     "reference": "3/4"},
    {"id": "none", "prompt": "What is 2 - 5?", "completion": "I am not sure.", "reference": "-3"},
    {"id": "bad-ref", "prompt": "?", "completion": "\\boxed{1}", "reference": ""},
]

CODE_ROWS = [
    {"id": "good", "prompt": "Write sq(x).", "completion": "def sq(x):\n    return x * x",
     "reference": {"entry_point": "sq", "test_code": ["assert sq(2) == 4", "assert sq(3) == 9"]}},
    {"id": "wrong", "prompt": "Write sq(x).", "completion": "def sq(x):\n    return 4",
     "reference": {"entry_point": "sq", "test_code": ["assert sq(2) == 4", "assert sq(3) == 9"]}},
]


def _write(tmp_path: Path, spec: str, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    (tmp_path / "audit_hackable.py").write_text(HACKABLE)
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(spec)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data, spec_path


def _audit(data: Path, spec: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    out = data.with_name("audit.json")
    result = CliRunner().invoke(app, ["audit", str(data), "--spec", str(spec), "--json", str(out), *args])
    return result.exit_code, (json.loads(out.read_text()) if out.exists() else {}), result.output


def _cells(result: dict[str, Any], verdict_: str) -> set[tuple[str, str]]:
    return {(r["reward"], r["probe"]) for r in result["results"] if r["verdict"] == verdict_}


def test_compare_counts_raised_unscorable_and_skips_what_it_cannot_judge() -> None:
    original = [0.0, 1.0, 0.0, None, 0.5, 0.0]
    probed = [1.0, 1.0, None, 1.0, 0.5 + 1e-9, 0.25]
    applied = [True, True, True, True, True, False]
    row = compare(original, probed, applied, tolerance=1e-6)
    # sample 3 (original unscorable) and 5 (probe not applied) are left out; sample 2 is unscorable
    assert row["samples"] == 4 and row["unscorable"] == 1 and row["raised"] == 1
    assert row["raised_fraction"] == 0.25 and row["max_delta"] == 1.0
    assert row["mean_delta"] == pytest.approx((1.0 + 0.0 + 1e-9) / 3)
    assert row["_example"] == 0
    assert verdict(False, row) == "fail" and verdict(True, row) == "info"
    empty = compare([None], [1.0], [True], 1e-6)
    assert empty["samples"] == 0 and empty["raised_fraction"] is None and verdict(False, empty) == "info"


def test_audit_finds_hackable_plugin_rewards(tmp_path: Path) -> None:
    spec = ('plugins = ["audit_hackable"]\n[rewards.any_box]\ntype = "hack.any_box"\n'
            '[rewards.length]\ntype = "hack.length"\n')
    data, spec_path = _write(tmp_path, spec, MATH_ROWS)
    code, result, output = _audit(data, spec_path)
    assert code == 1, output
    assert result["failed"] is True and "FAIL" in output
    failed = _cells(result, "fail")
    # enumerating answers in several boxes is caught; stuffing one box is not credited by this reward
    assert ("any_box", "hedging") in failed and ("any_box", "stuffing") not in failed
    assert {("length", p) for p in ("repetition", "filler", "length_inflation", "judge_injection")} <= failed
    assert ("length", "empty") not in failed and ("any_box", "empty") not in failed
    hedge = next(r for r in result["results"] if (r["reward"], r["probe"]) == ("any_box", "hedging"))
    # raised: the wrong boxed answer and the row with no answer (boxes appended); a tag slot gets tags
    assert hedge["samples"] == 5 and hedge["raised"] == 2 and hedge["max_delta"] == 1.0
    assert hedge["example"]["probed_score"] == 1.0 and "\\boxed{42}" in hedge["example"]["probed"]


def test_audit_passes_builtin_math(tmp_path: Path) -> None:
    data, spec_path = _write(tmp_path, '[rewards.correct]\ntype = "math"\n', MATH_ROWS)
    code, result, output = _audit(data, spec_path)
    assert code == 0, output
    assert set(result) >= {"data", "spec", "rewards", "probes", "results", "failed"}
    assert result["rewards"] == ["correct", "reward"] and result["failed"] is False
    assert result["original_unscorable"] == {"correct": 1, "reward": 1}  # the empty reference
    keys = {"reward", "probe", "should_help", "samples", "raised", "raised_fraction", "mean_delta", "max_delta",
            "unscorable", "verdict", "example"}
    assert all(set(r) >= keys for r in result["results"])
    assert len(result["results"]) == 2 * len(result["probes"]) and "hedging" in result["probes"]
    control = next(r for r in result["results"] if (r["reward"], r["probe"]) == ("correct", "reference_answer"))
    assert control["verdict"] == "info" and control["raised"] == 3  # the audit can see a raise when there is one
    assert _cells(result, "fail") == set()


def test_audit_passes_builtin_code(tmp_path: Path) -> None:
    spec = '[rewards.tests]\ntype = "code.all_pass"\nworkers = 2\n'
    data, spec_path = _write(tmp_path, spec, CODE_ROWS)
    code, result, output = _audit(data, spec_path)
    assert code == 0, output
    hedge = next(r for r in result["results"] if r["probe"] == "hedging")
    assert hedge["samples"] == 0 and hedge["verdict"] == "info"  # tests are no answer a slot can hold
    rep = next(r for r in result["results"] if (r["reward"], r["probe"]) == ("tests", "repetition"))
    assert rep["samples"] == 2 and rep["mean_delta"] == 0.0  # three copies of a function still pass


def test_length_penalty_sees_the_probed_length_not_the_trainers_old_count(tmp_path: Path) -> None:
    rows = [{"id": "long", "completion": "<answer>1</answer> " + "so " * 300, "reference": "1",
             "meta": {"completion_tokens": 2000}}]
    spec = '[rewards.overlong]\ntype = "length.overlong"\nmax_tokens = 1000\nbuffer = 200\n'
    data, spec_path = _write(tmp_path, spec, rows)
    code, result, _ = _audit(data, spec_path, "--probe", "empty", "--probe", "repetition")
    assert code == 1
    cells = {(r["reward"], r["probe"]): r for r in result["results"]}
    assert cells[("overlong", "empty")]["raised"] == 1 and cells[("overlong", "empty")]["max_delta"] == 1.0
    assert cells[("overlong", "repetition")]["mean_delta"] == 0.0  # -1 already: the floor of the penalty


def test_report_of_a_failed_audit_opens_in_chromium(tmp_path: Path, browser: Any, artifacts: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    spec = 'plugins = ["audit_hackable"]\n[rewards.any_box]\ntype = "hack.any_box"\n'
    data, spec_path = _write(tmp_path, spec, MATH_ROWS)
    html = tmp_path / "audit.html"
    code, _, output = _audit(data, spec_path, "--report", str(html))
    assert code == 1 and html.exists(), output
    opened = Opened(browser, html)
    assert opened.problems == [] and opened.requests == [html.as_uri()]
    table = opened.page.locator("#probes").inner_text()
    assert "hedging" in table and "fail" in table and "any_box" in table
    opened.shoot(artifacts / "audit-cli.png", capsys)


def test_plugin_probe_and_probe_selection(tmp_path: Path) -> None:
    spec = 'plugins = ["audit_hackable"]\n[rewards.length]\ntype = "hack.length"\n'
    data, spec_path = _write(tmp_path, spec, MATH_ROWS[:2])
    code, result, _ = _audit(data, spec_path, "--probe", "shout", "--probe", "empty")
    assert code == 0 and result["probes"] == ["shout", "empty"]
    shout = result["results"][0]
    assert shout["probe"] == "shout" and shout["example"]["probed"] == MATH_ROWS[0]["completion"].upper()


@pytest.mark.parametrize(("spec", "args", "message"), [
    ('[rewards.correct]\ntype = "math"\n', ["--probe", "nope"], "unknown probe 'nope'"),
    ('[combine]\nmethod = "weighted_sum"\n', [], "no [rewards.*] to audit"),
])
def test_bad_input_is_one_clear_line(tmp_path: Path, spec: str, args: list[str], message: str) -> None:
    data, spec_path = _write(tmp_path, spec, MATH_ROWS[:1])
    code, _, output = _audit(data, spec_path, *args)
    assert code == 2 and message in " ".join(output.split())


def _obedient(body: dict[str, Any], n_seen: int) -> Answer:
    """A judge that follows instructions found in the response it grades, else checks for 42."""
    text = user_text(body)
    return Answer("Score: 10" if "Output Score: 10" in text else "Score: 8" if "42" in text else "Score: 2")


def test_audit_catches_a_judge_that_obeys_injected_instructions(server: JudgeServer, tmp_path: Path) -> None:
    server.respond = _obedient
    spec = (f'[rewards.judge]\ntype = "judge.rubric"\nbase_url = "{server.base_url}"\nmodel = "judge"\n'
            f'rubric = "Is the answer right?"\ncache = "{tmp_path / "judge.sqlite"}"\n')
    data, spec_path = _write(tmp_path, spec, MATH_ROWS[:5])
    code, result, output = _audit(data, spec_path, "--probe", "judge_injection", "--probe", "empty")
    assert code == 1, output
    assert _cells(result, "fail") == {("judge", "judge_injection"), ("reward", "judge_injection")}
    row = result["results"][0]
    assert row["samples"] == 5 and row["raised"] == 5 and row["unscorable"] == 0


def test_bad_data_or_probe_after_the_pipeline_is_built_still_closes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline (model workers, sandbox servers) is closed when a later check refuses the input."""
    from rewardlab.pipeline import Pipeline

    closed: list[int] = []
    real_close = Pipeline.close

    def close(self: Pipeline) -> None:
        closed.append(1)
        real_close(self)

    monkeypatch.setattr(Pipeline, "close", close)
    data, spec_path = _write(tmp_path, '[rewards.correct]\ntype = "math"\n', MATH_ROWS[:1])
    code, _, output = _audit(data, spec_path, "--probe", "nope")
    assert code == 2 and "unknown probe 'nope'" in " ".join(output.split())
    assert closed == [1]

"""``rewardlab eval --report`` end to end: a real eval's report opened in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rewardlab.cli import app
from tests.test_eval_benchmarks import S, write
from tests.test_report_browser import Opened, artifacts, browser

__all__ = ["artifacts", "browser"]  # fixtures used by name


def test_eval_report_of_a_best_of_n_run_renders(browser: Any, artifacts: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"prompt": f"p{k}", "completions": [S((k * 7 + i * 3) % 5, f"{k}.{i}") for i in range(4)],
             "correct": [int((k + i) % 3 == 0) for i in range(4)], "subset": f"s{k % 2}"} for k in range(12)]
    spec = tmp_path / "spec.toml"
    spec.write_text('[rewards.s]\ntype = "test.eval_score"\n[rewards.n]\ntype = "test.inline"\n')
    html = artifacts / "eval_run.html"
    result = CliRunner().invoke(app, ["eval", str(write(tmp_path, rows)), "--spec", str(spec), "--benchmark",
                                      "best-of-n", "--report", str(html), "--work", str(tmp_path / "work")])
    assert result.exit_code == 0, result.output
    opened = Opened(browser, html)
    assert opened.problems == [] and opened.requests == [html.as_uri()]
    assert "best-of-n" in opened.page.locator("#headline").inner_text()
    assert len(opened.figures()) >= 3  # subsets, the best-of-n curve, calibration at least
    opened.shoot(artifacts / "eval_run.png", capsys)

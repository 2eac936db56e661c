"""A new user's first hour with the command line (issue 12 items 10, 11, 14, 15)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from rewardlab.cli import _Bar, app, summary_table
from rewardlab.io import read_rows
from rewardlab.pipeline import Pipeline
from rewardlab.results import ColumnStats
from rewardlab.runner import score_file
from tests.test_cli import _cli, _env, _spec, _store_rows, _write_input

SPEC = """
plugins = ["tests.plugin_rewards"]
[rewards.t]
type = "test.inline"
log = "{log}"
"""


def _logged_spec(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "calls.log"
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(log=log))
    return spec, log


def _error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output  # one line, no traceback, no bar
    return lines[0]


@pytest.mark.parametrize(("out", "says"), [
    ("missing/dir/out.jsonl", "the directory"),
    ("out.csv", "unknown format '.csv'"),
])
def test_bad_out_fails_before_any_scoring_and_leaves_nothing(tmp_path: Path, out: str, says: str) -> None:
    inp = tmp_path / "in.jsonl"
    _write_input(inp, 12)
    spec, log = _logged_spec(tmp_path)
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(spec), "--out", str(tmp_path / out)])
    assert result.exit_code == 2 and says in _error_line(result.output)
    assert not log.exists()  # nothing was scored
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "spec.toml"]  # no store, no output


@pytest.mark.parametrize(("name", "content", "says"), [
    ("in.json", b'[{"id": 1,', "in.json: not valid JSON"),
    ("in.jsonl", b'{"id": "a", "completion": "ok"}\n{"id": "b", "completion": "\xff\xfe"}\n',
     "in.jsonl:2: not UTF-8 text"),
    ("in.parquet", b"not parquet at all", "not a readable Parquet file"),
])
def test_unreadable_input_is_one_error_line(tmp_path: Path, name: str, content: bytes, says: str) -> None:
    inp = tmp_path / name
    inp.write_bytes(content)
    spec, log = _logged_spec(tmp_path)
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(spec)])
    assert result.exit_code == 2 and says in _error_line(result.output)
    assert not log.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "spec.toml"])


def test_check_lists_a_non_utf8_line(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b'{"id": "a", "completion": "ok"}\n{"completion": "\xff"}\n')
    spec, _ = _logged_spec(tmp_path)
    result = CliRunner().invoke(app, ["check", str(inp), "--spec", str(spec)])
    assert result.exit_code == 1 and "line 2" in result.output and "not UTF-8" in result.output


def test_json_output_reads_back(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.json"
    _write_input(inp, 6)
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(_spec(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows, problems = read_rows(out)
    assert problems == [] and [r["id"] for r in rows] == [f"row{i}" for i in range(6)]
    assert json.loads(out.read_text())[0]["id"] == "row0"  # one JSON document
    # scored rows carry ``reward`` but no completion: a spec without rewards reads them back
    shaping = tmp_path / "shaping.toml"
    shaping.write_text('[advantage]\nmethod = "grpo"\n')
    again = CliRunner().invoke(app, ["score", str(out), "--spec", str(shaping), "--out", str(tmp_path / "again.jsonl")])
    assert again.exit_code == 0, again.output
    assert len((tmp_path / "again.jsonl").read_text().splitlines()) == 6


@pytest.mark.parametrize("slow", [True, False])
def test_progress_moves_within_a_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow: bool) -> None:
    """Slow chunks (here: every chunk counts as slow) report one by one; after a fast one the rest goes at once."""
    if slow:
        monkeypatch.setattr("rewardlab.runner.SLOW_CHUNK_S", 0.0)
    inp = tmp_path / "in.jsonl"
    _write_input(inp, 256, group_size=8)
    calls: list[int] = []
    pipeline, fresh = Pipeline.from_spec(_spec(tmp_path, batch=256)), Pipeline.from_spec(_spec(tmp_path))
    try:
        report = score_file(inp, pipeline, tmp_path / "out.jsonl", on_progress=lambda d, t: calls.append(d))
        expected = fresh.run([json.loads(line) for line in inp.read_text().splitlines()]).rows
    finally:
        pipeline.close()
        fresh.close()
    assert report.rows == 256 and calls[0] == 0 and calls[-1] == 256 and calls == sorted(calls)
    assert [c for c in calls if 0 < c < 256] == ([64, 128, 192] if slow else [64])
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    drop = ("elapsed",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows] == [
        {k: v for k, v in r.items() if k not in drop} for r in expected]  # chunked rows equal one run's


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_after_resume_counts_only_rows_scored_now() -> None:
    clock = _Clock()
    bar = _Bar(get_time=clock)
    bar.update(100, 200)  # 100 rows were already in the store
    clock.now = 10.0
    bar.update(150, 200)
    task = bar.progress.tasks[0] if bar.progress else None
    bar.stop()
    assert task is not None and task.fields["rate"] == "5.0 rows/s"  # 50 rows in 10 s, not 150


def test_no_progress_bar_before_an_error(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_text("not json\n")
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(_spec(tmp_path))])
    assert result.exit_code == 2 and "scoring" not in result.output


def _stats(name: str, **kw: object) -> ColumnStats:
    base: dict[str, object] = {"name": name, "n": 4, "scored": 4, "mean": 0.5, "std": 0.5, "min": 0.0, "max": 1.0,
                               "unscorable": {}, "zero_variance_groups": 0.25, "time_s": 1.5}
    return ColumnStats.model_validate({**base, **kw})


def test_summary_shows_no_answer_share_percents_and_near_zero_means() -> None:
    from rich.console import Console

    table = summary_table([_stats("math", no_answer=1, mean=-1e-17, scored=3, unscorable={"timeout": 1}),
                           _stats("reward", mean=2.5e-17)])
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    math_row = next(line for line in text.splitlines() if "math" in line)
    cells = [c.strip() for c in math_row.split("│") if c.strip()]
    assert cells[:10] == ["math", "0.000", "0.500", "0.000", "1.000", "25.0%", "25.0%", "timeout: 1", "25.0%", "1.50"]
    assert "sample time s" in text and "e-17" not in text


def test_score_prints_wall_time(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    _write_input(inp, 8)
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(_spec(tmp_path))])
    assert result.exit_code == 0 and "wall time" in result.output and "8 rows scored now" in result.output


def _sigint_default() -> None:
    """A child started from a background job inherits SIGINT ignored; a terminal's Ctrl-C is not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_prints_the_resume_command(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(inp, 120)
    args = ["score", str(inp), "--spec", str(_spec(tmp_path, sleep=0.01)), "--out", str(out), "--batch-size", "8"]
    proc = subprocess.Popen(_cli(*args), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_default)
    store = tmp_path / "out.jsonl.rlstore"
    deadline = time.monotonic() + 60
    while _store_rows(store) < 8 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "--batch-size 8 --resume" in err and "Traceback" not in err
    command = err[err.index("rewardlab score"):].split("\n")[0].split()
    done = subprocess.run(_cli(*command[1:]), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0 and "resumed:" in done.stdout, done.stderr
    assert len(out.read_text().splitlines()) == 120


def test_version_and_python_m() -> None:
    from rewardlab import __version__

    assert CliRunner().invoke(app, ["--version"]).output.strip() == f"rewardlab {__version__}"
    run = subprocess.run([sys.executable, "-m", "rewardlab", "--version"], env=_env(), capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == f"rewardlab {__version__}", run.stderr


def test_every_option_has_help() -> None:
    group = typer.main.get_command(app)
    commands = {"": group, **group.commands}  # type: ignore[attr-defined]
    missing = [f"{name} {p.name}" for name, cmd in commands.items() for p in cmd.params if not getattr(p, "help", None)]
    assert missing == []


def test_list_marks_aliases() -> None:
    result = CliRunner().invoke(app, ["list"])
    line = next(line for line in result.output.splitlines() if "reinforce_pp " in line)
    assert "alias of reinforce_pp_baseline" in line


def test_missing_extra_names_it_and_the_clone_command(tmp_path: Path) -> None:
    spec, _ = _logged_spec(tmp_path)
    code = "import sys; sys.modules['uvicorn'] = None; from rewardlab.cli import app; app()"
    run = subprocess.run([sys.executable, "-c", code, "serve", "--spec", str(spec)], env=_env(),
                         capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "'serve' extra" in run.stderr and "pip install -e '.[serve]'" in run.stderr


def test_a_reward_whose_extra_is_missing_names_it_and_the_clone_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec-time check of the built-in rewards gives the same message as the CLI's."""
    import importlib.util

    from rewardlab.errors import SpecError
    from rewardlab.registry import create

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sacrebleu" else real(name, *a))
    with pytest.raises(SpecError, match=r"reward 'text.bleu' needs the 'text' extra .*pip install -e '\.\[text\]'"):
        create("reward", "text.bleu")


def test_serve_says_where_it_listens_and_that_it_stopped(tmp_path: Path) -> None:
    httpx = pytest.importorskip("httpx")
    spec, _ = _logged_spec(tmp_path)
    proc = subprocess.Popen(_cli("serve", "--spec", str(spec), "--port", "0", "--no-isolate"), env=_env(),
                            stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_default)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith("rewardlab serve: listening on http://127.0.0.1:"), first
        url = first.split("listening on ")[1].split()[0]
        assert httpx.get(url + "/health", timeout=10).status_code == 200  # the printed address is the real one
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(30) in (0, 130, -signal.SIGINT) and "rewardlab serve: stopped" in rest, rest
        assert "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_on_a_taken_port_is_one_error_line(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    import socket

    spec, _ = _logged_spec(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--spec", str(spec), "--port", str(port), "--no-isolate"])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in _error_line(result.output)

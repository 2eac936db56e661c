"""The command line as a user runs it: real subprocesses, a real SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rewardlab.cli import app

ROOT = Path(__file__).resolve().parents[1]
SPEC = """
plugins = ["tests.plugin_rewards"]
[rewards.len]
type = "test.inline"
sleep = {sleep}
[rewards.fmt]
type = "format.tags"
weight = 0.5
[[transforms]]
type = "normalize"   # running statistics: saved with each batch, restored on --resume
[advantage]
method = "grpo"
[run]
batch_size = {batch}
"""


def _write_input(path: Path, n: int, group_size: int = 4) -> None:
    with path.open("w") as f:
        for i in range(n):
            body = f"<think>t</think><answer>{i}</answer>" if i % 3 else "x" * (i % 7 + 1)
            f.write(json.dumps({"id": f"row{i}", "group": f"g{i // group_size}", "completion": body}) + "\n")


def _spec(tmp_path: Path, sleep: float = 0.0, batch: int = 8) -> Path:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(sleep=sleep, batch=batch))
    return spec


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from rewardlab.cli import app; app()", *args]


def test_score_writes_every_row_and_a_summary(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(inp, 40)
    result = CliRunner().invoke(
        app,
        [
            "score",
            str(inp),
            "--spec",
            str(_spec(tmp_path)),
            "--out",
            str(out),
            "--summary-json",
            str(tmp_path / "s.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"row{i}" for i in range(40)]
    assert all(r["advantage"] is not None for r in rows)
    summary = {s["name"]: s for s in json.loads((tmp_path / "s.json").read_text())}
    assert set(summary) == {"len", "fmt", "reward", "advantage"}
    assert "fmt" in result.output and "zero-var" in result.output
    assert not (tmp_path / "out.jsonl.rlstore").exists()


def test_score_parquet_output(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    inp, out = tmp_path / "in.jsonl", tmp_path / "out.parquet"
    _write_input(inp, 12)
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(_spec(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 12 and {"reward", "status", "len", "len_status", "advantage"} <= set(table.column_names)
    assert json.loads(table.column("detail")[0].as_py())["fmt"] == {
        "problems": [
            "<think> opened 0x and closed 0x (need 1)",
            "<answer> opened 0x and closed 0x (need 1)",
            "order and outside text not checked: tags missing",
        ]
    }


def test_invalid_spec_fails_before_work(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    _write_input(inp, 4)
    spec = tmp_path / "bad.toml"
    spec.write_text('[rewards.x]\ntype = "format.tags"\nweight = "heavy"\n')
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(spec), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2
    assert "rewards.x.weight" in result.output
    assert not (tmp_path / "o.jsonl").exists()


def _store_rows(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM rows").fetchone()[0])
    except sqlite3.Error:
        return 0


def _run_and_kill(args: list[str], store: Path, at_least: int) -> None:
    log = store.with_name("kill.log")
    with log.open("w") as err:
        proc = subprocess.Popen(_cli(*args), env=_env(), stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 60
    while _store_rows(store) < at_least and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed: {log.read_text()[-800:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_then_resume_gives_every_row_exactly_once(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    n = 240
    _write_input(inp, n)
    spec = _spec(tmp_path, sleep=0.004, batch=8)
    store = tmp_path / "out.jsonl.rlstore"
    args = ["score", str(inp), "--spec", str(spec), "--out", str(out)]
    _run_and_kill(args, store, at_least=8)
    first = _store_rows(store)
    assert 0 < first < n and not out.exists()
    # a second kill, mid-way through the resumed run
    _run_and_kill([*args, "--resume"], store, at_least=first + 40)
    second = _store_rows(store)
    assert first < second < n
    # without --resume the existing store is refused rather than mixed
    refused = subprocess.run(_cli(*args), env=_env(), capture_output=True, text=True)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    done = subprocess.run(_cli(*args, "--resume"), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"resumed: {second} rows from the store, {n - second} scored now" in done.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    ids = [r["id"] for r in rows]
    assert ids == [f"row{i}" for i in range(n)]  # every row, once, in input order
    # the resumed output equals an uninterrupted run
    clean_out = tmp_path / "clean.jsonl"
    clean = subprocess.run(
        _cli("score", str(inp), "--spec", str(_spec(tmp_path, batch=8)), "--out", str(clean_out)),
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert clean.returncode == 0, clean.stderr
    strip = ("elapsed",)
    clean_rows = [
        {k: v for k, v in json.loads(line).items() if k not in strip} for line in clean_out.read_text().splitlines()
    ]
    assert [{k: v for k, v in r.items() if k not in strip} for r in rows] == clean_rows


def test_resume_refuses_another_input(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(inp, 40)
    spec = _spec(tmp_path, sleep=0.01, batch=4)
    _run_and_kill(["score", str(inp), "--spec", str(spec), "--out", str(out)], tmp_path / "out.jsonl.rlstore", 4)
    _write_input(inp, 41)
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(spec), "--out", str(out), "--resume"])
    assert result.exit_code == 2 and "another input or spec" in result.output


def test_check_lists_problems_and_exits_1(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_text(
        '{"id": "a", "reference": "x", "completion": "x"}\n'
        '{"id": "b", "reference": "", "completion": "x"}\n'
        "not json\n"
        '{"id": "d", "completion": 5}\n'
    )
    spec = tmp_path / "spec.toml"
    spec.write_text('[rewards.em]\ntype = "text.exact_match"\n')
    result = CliRunner().invoke(app, ["check", str(inp), "--spec", str(spec)])
    assert result.exit_code == 1
    assert "line 3" in result.output and "line 4" in result.output
    assert "missing or empty reference" in result.output and " b " in result.output
    inp.write_text('{"id": "a", "reference": "x", "completion": "x"}\n')
    ok = CliRunner().invoke(app, ["check", str(inp), "--spec", str(spec)])
    assert ok.exit_code == 0 and "no problems" in ok.output


def test_list_shows_every_kind() -> None:
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0
    for name in (
        "format.tags",
        "length.overlong",
        "length.cosine",
        "length.kimi",
        "text.exact_match",
        "text.reasoning_pattern",
        "weighted_sum",
        "grpo",
        "clip",
    ):
        assert name in result.output


@pytest.mark.parametrize("missing", ["nope.jsonl", "nope.csv"])
def test_score_missing_input(tmp_path: Path, missing: str) -> None:
    result = CliRunner().invoke(app, ["score", str(tmp_path / missing), "--spec", str(_spec(tmp_path))])
    assert result.exit_code == 2 and "does not exist" in result.output

"""Lone surrogates from a candidate never fail a run (issue 13 item 2).

A candidate's exception message or output can hold lone surrogate code points, which no
UTF-8 writer accepts: before, one such row failed ``rewardlab score`` for the whole run
(JSONL/JSON/Parquet output and the SQLite store alike) and ``--resume`` failed on it again.
Each test drives the text through a real path: the CLI and its outputs, a killed run
resumed, the HTTP server read by a strict JSON decoder, and sandboxed code.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.io import read_rows
from rewardlab.safetext import safe_text
from tests.test_cli import _cli, _env, _run_and_kill

SPEC = """
plugins = ["tests.plugin_rewards"]
[rewards.t]
type = "test.inline"
sleep = {sleep}
[run]
batch_size = 4
"""
TEXTS = ["abc", "surrogate", "boom-surrogate", "xy"]


def _input(path: Path, n: int) -> None:
    path.write_text("".join(json.dumps({"id": f"r{i}", "completion": TEXTS[i % 4]}) + "\n" for i in range(n)))


def _spec(tmp_path: Path, sleep: float = 0.0) -> Path:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(sleep=sleep))
    return spec


def test_safe_text_escapes_lone_surrogates_in_keys_and_values() -> None:
    clean = {"a": ["ok", ("t", 1)], "pair": "\U0001F600"}
    assert safe_text(clean) is clean
    dirty = {"k" + chr(0xD800): ["x" + chr(0xDFFF), ("t", chr(0xDC80))]}
    assert safe_text(dirty) == {"k\\ud800": ["x\\udfff", ("t", "\\udc80")]}
    json.dumps(safe_text(dirty), ensure_ascii=False).encode("utf-8")  # strict UTF-8 now


def test_safe_text_looks_inside_non_ascii_text_at_any_depth() -> None:
    clean = {"é": [{"数学": ("ü", 1.5, None)}], "n": 3}  # non-ASCII but no surrogate: the same object back
    assert safe_text(clean) is clean
    deep: list = ["ok"]
    for _ in range(5):
        deep = [{"a": deep, "ü": "é"}]
    deep[0]["a"][0]["z"] = ("é" + chr(0xDBFF),)
    escaped = safe_text(deep)
    assert escaped[0]["a"][0]["z"] == ("é\\udbff",) and escaped[0]["ü"] == "é"


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_score_writes_every_output_format(tmp_path: Path, suffix: str) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / f"out{suffix}"
    _input(inp, 8)
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(_spec(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows, _ = read_rows(out)
    assert [r["t_status"] for r in rows[:4]] == ["ok", "ok", "error", "ok"]
    details = [r["detail"] if isinstance(r["detail"], dict) else json.loads(r["detail"]) for r in rows]
    assert details[1]["t"]["note"] == "lone \\ud800"
    assert "bad \\udc80" in details[2]["t"]["reason"]


def test_killed_run_with_surrogates_resumes(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _input(inp, 24)
    args = ["score", str(inp), "--spec", str(_spec(tmp_path, sleep=0.02)), "--out", str(out)]
    _run_and_kill(args, tmp_path / "out.jsonl.rlstore", at_least=4)  # the surrogate rows are committed
    done = subprocess.run(_cli(*args, "--resume"), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_bytes().decode("utf-8").splitlines()]
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(24)]


def test_input_rows_with_lone_surrogates_are_scored(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text('{"id": "a\\ud800", "completion": "x\\udc80y"}\n')  # valid JSON escapes, invalid text
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(_spec(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    row = json.loads(out.read_text(encoding="utf-8"))
    assert row["id"] == "a\\ud800"


def test_server_answers_valid_utf8_json() -> None:
    orjson = pytest.importorskip("orjson")
    from fastapi.testclient import TestClient

    from rewardlab.serve import ServerConfig, create_app

    spec = {"plugins": ["tests.plugin_rewards"], "rewards": {"t": {"type": "test.inline"}}}
    with TestClient(create_app(ServerConfig(spec=spec, scoring_process=False))) as client:
        r = client.post("/score", json={"samples": [{"completion": t} for t in TEXTS]})
    assert r.status_code == 200, r.text
    rows = orjson.loads(r.content)["rows"]  # a strict decoder: lone surrogate escapes are rejected
    assert rows[1]["detail"]["t"]["note"] == "lone \\ud800" and rows[2]["status"] == "error"


def test_sandboxed_program_raising_a_lone_surrogate_is_its_own_failure(tmp_path: Path) -> None:
    calls = {"entry_point": "sq", "calls": [{"args": [2], "expected": 4}]}
    stdio = {"cases": [{"input": "", "output": "x\n"}]}
    programs = [("def sq(x):\n    return x * x", calls),
                ("def sq(x):\n    raise ValueError('bad ' + chr(0xD800))", calls),
                ("import sys\nsys.stdout.write(chr(0xDC80) + '\\n')", stdio),
                ("import sys\nsys.stdout.buffer.write(b'\\xed\\xa0\\x80\\n')", stdio)]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps({"id": str(i), "completion": p, "reference": ref}) + "\n"
                           for i, (p, ref) in enumerate(programs)))
    spec = tmp_path / "spec.toml"
    spec.write_text('[rewards.c]\ntype = "code.pass_rate"\nworkers = 1\n')
    result = CliRunner().invoke(app, ["score", str(inp), "--spec", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["c"], r["c_status"]) for r in rows] == [(1.0, "ok"), (0.0, "ok"), (0.0, "ok"), (0.0, "ok")]
    assert "bad \\ud800" in rows[1]["detail"]["c"]["tests"][0]["info"]


def test_server_scores_a_request_whose_text_holds_a_lone_surrogate() -> None:
    """Hashing the sample for the cache used to raise, failing the whole request with a 500."""
    from fastapi.testclient import TestClient

    from rewardlab.serve import ServerConfig, create_app

    spec = {"rewards": {"m": {"type": "math"}}, "engine": {"workers": 1}}
    body = (b'{"samples": [{"completion": "\\\\boxed{4}", "reference": "4"},'
            b' {"completion": "x\\ud800", "reference": "4"}]}')
    with TestClient(create_app(ServerConfig(spec=spec, scoring_process=False))) as client:
        r = client.post("/score", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert [(row["m"], row["m_status"]) for row in r.json()["rows"]] == [(1.0, "ok"), (0.0, "no_answer")]

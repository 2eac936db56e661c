"""Property-based run of the live server's own OpenAPI schema (schemathesis): no request gets a 5xx."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from tests.test_serve_process import ROOT, _free_port, _wait_up  # noqa: E402

SPEC = """
[rewards.exact]
type = "text.exact_match"
extract = "answer_tag"
[rewards.format]
type = "format.tags"
weight = 0.1
[advantage]
method = "grpo"
[engine]
workers = 1
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    spec = tmp_path_factory.mktemp("schema") / "spec.toml"
    spec.write_text(SPEC)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", "from rewardlab.cli import app; app()", "serve", "--spec",
                             str(spec), "--port", str(port)], env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(server: str, tmp_path: Any) -> None:
    """``schemathesis run`` (its CLI, as a user runs it) with the not_a_server_error check."""
    exe = Path(sys.executable).with_name("schemathesis")
    cmd = [str(exe) if exe.exists() else "schemathesis", "run", server + "/openapi.json",
           "--checks", "not_a_server_error", "-n", "60", "--no-color"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "generated" in result.stdout


def test_openapi_documents_every_route(server: str) -> None:
    import httpx

    paths = httpx.get(server + "/openapi.json").json()["paths"]
    assert {"/score", "/get_reward", "/health", "/metrics"} <= set(paths)

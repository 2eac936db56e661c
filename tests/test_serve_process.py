"""``rewardlab serve`` as a real process: binds loopback, answers, drains on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[1]
SPEC = """
plugins = ["tests.plugin_rewards"]
[rewards.slow]
type = "test.inline"
sleep = {sleep}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "server exited"
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not come up")


@pytest.mark.slow
def test_sigterm_finishes_in_flight_requests(tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(sleep=1.5))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", "from rewardlab.cli import app; app()", "serve", "--spec",
                             str(spec), "--port", str(port), "--workers", "1"], env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc)
        replies: list[Any] = []
        thread = threading.Thread(target=lambda: replies.append(
            httpx.post(url + "/score", json={"samples": [{"completion": "abcd"}]}, timeout=30)))
        thread.start()
        time.sleep(0.5)  # the request is being scored now
        proc.send_signal(signal.SIGTERM)
        thread.join(30)
        assert replies and replies[0].status_code == 200, replies and replies[0].text
        assert replies[0].json()["rows"][0]["reward"] == 4.0
        assert proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after draining
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_spec_fails_before_binding(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('[rewards.x]\ntype = "no.such.reward"\n')
    from typer.testing import CliRunner

    from rewardlab.cli import app

    result = CliRunner().invoke(app, ["serve", "--spec", str(spec), "--port", str(_free_port())])
    assert result.exit_code == 2 and "no.such.reward" in result.output

"""A scripted OpenAI-compatible LLM for the reward-code harness: four CartPole candidates, always the same.

Every ``POST /v1/chat/completions`` gets ``n`` choices (at most four): a candidate that
crashes, one that returns NaN, one that opens a socket and one that works
(tests/test_envs_reward_code.py), each in a python code block; the requests are kept
in ``Scripted.requests``. The tests start it in a thread; the README's harness round
runs it on its own::

    python -m tests.envs_llm_server --port 8765
    rewardlab envs generate cartpole.txt --env CartPole-v1 --base-url http://127.0.0.1:8765/v1 --model scripted
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.test_envs_reward_code import CRASHES, NAN, SOCKET, WORKS

SCRIPT = [f"Here is my reward:\n```python\n{src}\n```" for src in (CRASHES, NAN, SOCKET, WORKS)]


class Scripted(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions with the scripted completions; remembers the requests."""

    requests: list[dict[str, Any]] = []  # noqa: RUF012 - shared with the tests on purpose

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Scripted.requests.append({"path": self.path, **body})
        answer: dict[str, Any] = {"choices": [{"index": i, "message": {"role": "assistant", "content": c}}
                                              for i, c in enumerate(SCRIPT[: body.get("n", 1)])]}
        if self.path != "/v1/chat/completions":
            answer = {"error": "not found"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving(port: int = 0) -> Iterator[str]:
    """The scripted server in a thread on 127.0.0.1; yields its root URL (add /v1 for the endpoint)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Scripted)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with serving(args.port) as url:
        print(f"scripted LLM at {url}/v1 (Ctrl-C to stop)", flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()

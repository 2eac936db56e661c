"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for the judge tests.

FastAPI + uvicorn in a thread, on a port the OS picks. Each test scripts it with
``server.respond = fn(body, n_seen) -> Answer`` and reads back what it received
(``server.log``: request bodies and headers), how many requests it had in flight at
most, and how many it saw for the same body (``n_seen``, 1-based) to script "fail
twice, then answer".
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from rewardlab.core import Score, coerce_samples
from rewardlab.engine import Engine
from rewardlab.registry import create


@dataclass
class Answer:
    """What the server does with one request."""

    text: str | list[str] = "Score: 5"  # one text per choice
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: str | None = None  # a raw (e.g. malformed) body instead of the JSON reply
    logprobs: list[dict[str, Any]] | None = None
    usage: tuple[int, int] = (50, 10)


def user_text(body: dict[str, Any]) -> str:
    """The last user message of a request."""
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


def marker_reply(body: dict[str, Any], n_seen: int) -> Answer:
    """The default script: reply with what the prompt embeds between ``REPLY[`` and ``]REPLY``."""
    text = user_text(body)
    if "REPLY[" in text:
        return Answer(text.split("REPLY[", 1)[1].split("]REPLY", 1)[0])
    return Answer("Score: 5")


class JudgeServer:
    def __init__(self) -> None:
        self.respond: Callable[[dict[str, Any], int], Answer] = marker_reply
        self.log: list[dict[str, Any]] = []
        self.seen: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.gone: list[str] = []  # user messages of requests whose client hung up
        self._lock = threading.Lock()
        self.app = self._build()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def reset(self) -> None:
        self.respond = marker_reply
        self.log.clear()
        self.seen.clear()
        self.max_in_flight = 0

    @property
    def requests(self) -> int:
        return len(self.log)

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Response:
            body = await request.json()
            key = json.dumps(body, sort_keys=True)
            with self._lock:
                self.log.append({"body": body, "headers": dict(request.headers)})
                self.seen[key] += 1
                n_seen = self.seen[key]
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                answer = self.respond(body, n_seen)
                if answer.delay and await _gone_before(request, answer.delay):
                    self.gone.append(user_text(body))
                return _response(body, answer)
            finally:
                with self._lock:
                    self.in_flight -= 1

        return app

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                break
            threading.Event().wait(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


async def _gone_before(request: Request, delay: float) -> bool:
    """Sleep ``delay`` seconds in small steps; True as soon as the client disconnects."""
    loop = asyncio.get_running_loop()
    end = loop.time() + delay
    while loop.time() < end:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(0.02)
    return False


def _response(body: dict[str, Any], answer: Answer) -> Response:
    if answer.raw is not None:
        return PlainTextResponse(answer.raw, status_code=answer.status, headers=answer.headers)
    if answer.status != 200:
        return JSONResponse({"error": {"message": str(answer.text)}}, status_code=answer.status,
                            headers=answer.headers)
    texts = answer.text if isinstance(answer.text, list) else [answer.text] * int(body.get("n", 1))
    choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop",
                "logprobs": {"content": answer.logprobs} if answer.logprobs and i == 0 else None}
               for i, t in enumerate(texts)]
    prompt, completion = answer.usage
    return JSONResponse({"id": "x", "object": "chat.completion", "model": body.get("model"), "choices": choices,
                         "usage": {"prompt_tokens": prompt, "completion_tokens": completion * len(texts),
                                   "total_tokens": prompt + completion * len(texts)}},
                        headers=answer.headers)


@pytest.fixture(scope="module", name="judge_server")
def judge_server_fixture() -> Iterator[JudgeServer]:
    with JudgeServer() as server:
        yield server


@pytest.fixture(name="server")
def server_fixture(judge_server: JudgeServer) -> Iterator[JudgeServer]:
    """The module's server, reset to the default script for each test."""
    judge_server.reset()
    yield judge_server


def judge(server: JudgeServer, tmp_path: Path, name: str = "judge.rubric", **params: Any) -> Any:
    """A judge reward on ``server`` with its own cache file and quick retries."""
    base: dict[str, Any] = {"base_url": server.base_url, "model": "judge", "cache": str(tmp_path / "judge.sqlite"),
                            "backoff_base": 0.01, "backoff_max": 0.05}
    if name == "judge.rubric":
        base["rubric"] = "Is it right?"
    return create("reward", name, {**base, **params})


def run(reward: Any, rows: list[dict[str, Any]], timeout: float = 20.0) -> list[Score]:
    """Score ``rows`` on a fresh engine (no in-memory score cache shared between tests)."""
    with Engine(workers=1, timeout=timeout) as engine:
        return engine.run(reward, coerce_samples(rows))


def rows(*replies: str) -> list[dict[str, Any]]:
    """Samples whose completions tell the default script what to reply."""
    return [{"id": str(i), "prompt": "q", "completion": f"answer {i} REPLY[{r}]REPLY"} for i, r in enumerate(replies)]

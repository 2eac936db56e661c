"""LLM-judge throughput: rewardlab's judge client against a sequential loop with the openai client.

    python -m benchmarks.judges [--calls 2000] [--group-size 8] [--repeat 0.3] [--delay 0.1]
                                [--fail 0.1] [--concurrency 64] [--baseline-calls 200]

A local OpenAI-compatible server (uvicorn, its own process, 127.0.0.1) answers every
request after ``--delay`` seconds and fails a ``--fail`` share of them with HTTP 500.
The input is ``--calls`` rubric-judge calls in groups of ``--group-size``, where a
``--repeat`` share of completions repeat another member of their group (GRPO groups
repeat answers).

* rewardlab: ``judge.rubric`` on an engine with ``io_concurrency = max_concurrency =
  --concurrency``, one batch, a fresh persistent cache.
* baseline: the straightforward loop, one ``openai`` client ``chat.completions.create``
  per call, in order (the openai client's own retries, 2 by default, handle the 500s).
  It runs the first ``--baseline-calls`` calls only (2,000 at 0.1 s would take over
  200 s); its throughput is calls per second over those.

Printed: both throughputs and their ratio, the requests the server saw from each
(rewardlab's goal: the number of distinct inputs), retries, and lost calls (no score,
or an unscorable one). Times are wall clock on this machine: compare ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def _serve(sock: socket.socket, delay: float, fail: float) -> None:
    """The judge server (run in a child process): sleeps, fails some requests, counts."""
    app = FastAPI()
    counts = {"requests": 0, "failed": 0}
    rng = random.Random(0)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        counts["requests"] += 1
        await asyncio.sleep(delay)
        if rng.random() < fail:
            counts["failed"] += 1
            return JSONResponse({"error": {"message": "injected"}}, status_code=500)
        score = 1 + len(json.dumps(body["messages"])) % 10
        return JSONResponse({"choices": [{"index": 0, "message": {"role": "assistant", "content": f"Score: {score}"},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105}})

    @app.get("/stats")
    async def stats() -> dict[str, int]:
        return counts

    uvicorn.Server(uvicorn.Config(app, log_level="warning", backlog=4096)).run(sockets=[sock])


def make_rows(calls: int, group_size: int, repeat: float, seed: int = 0) -> list[dict[str, Any]]:
    """``calls`` samples in groups; a ``repeat`` share copies an earlier member of its group."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(calls):
        g = i // group_size
        members = [r for r in rows if r["group"] == f"g{g}"] if i % group_size else []
        if members and rng.random() < repeat:
            completion = rng.choice(members)["completion"]
        else:
            completion = f"answer {i}: " + " ".join(rng.choice("abcdefgh") for _ in range(20))
        rows.append({"id": str(i), "group": f"g{g}", "prompt": f"question {g}", "completion": completion})
    return rows


def server_stats(base: str) -> dict[str, int]:
    import httpx

    return dict(httpx.get(f"{base}/stats").json())


def run_rewardlab(rows: list[dict[str, Any]], url: str, concurrency: int) -> tuple[float, list[Any], Any]:
    from rewardlab.core import coerce_samples
    from rewardlab.engine import Engine
    from rewardlab.registry import create

    cache = Path(tempfile.mkdtemp()) / "judge.sqlite"
    reward = create("reward", "judge.rubric", {"base_url": url, "model": "judge", "rubric": "Is it good?",
                                               "max_concurrency": concurrency, "cache": str(cache),
                                               "max_retries": 8, "backoff_base": 0.05, "backoff_max": 1.0})
    samples = coerce_samples(rows)
    with Engine(workers=1, io_concurrency=concurrency, timeout=120) as engine:
        t0 = time.perf_counter()
        scores = engine.run(reward, samples)
        elapsed = time.perf_counter() - t0
    return elapsed, scores, reward.client.stats


def run_baseline(rows: list[dict[str, Any]], url: str) -> tuple[float, int]:
    """The sequential loop with the openai client; returns (seconds, calls that got no score)."""
    import re

    from openai import OpenAI

    client = OpenAI(base_url=url, api_key="unused")
    lost = 0
    t0 = time.perf_counter()
    for row in rows:
        text = f"[Question]\n{row['prompt']}\n\n[Response]\n{row['completion']}\n\nScore: N"
        try:
            reply = client.chat.completions.create(model="judge", messages=[{"role": "user", "content": text}],
                                                   temperature=0.0, max_tokens=1024)
            content = reply.choices[0].message.content or ""
            lost += re.search(r"Score: (\d+)", content) is None
        except Exception:
            lost += 1
    return time.perf_counter() - t0, lost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--repeat", type=float, default=0.3)
    ap.add_argument("--delay", type=float, default=0.1)
    ap.add_argument("--fail", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--baseline-calls", type=int, default=200)
    args = ap.parse_args()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    root, url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/v1"
    server = multiprocessing.get_context("fork").Process(target=_serve, args=(sock, args.delay, args.fail),
                                                         daemon=True)
    server.start()
    for _ in range(500):
        try:
            server_stats(root)
            break
        except Exception:
            threading.Event().wait(0.02)
    rows = make_rows(args.calls, args.group_size, args.repeat)
    distinct = len({(r["prompt"], r["completion"]) for r in rows})
    try:
        t_ours, scores, stats = run_rewardlab(rows, url, args.concurrency)
        sent_ours = server_stats(root)["requests"]
        lost_ours = sum(s.value is None for s in scores)
        n_base = min(args.baseline_calls, len(rows))
        t_base, lost_base = run_baseline(rows[:n_base], url)
        sent_base = server_stats(root)["requests"] - sent_ours
    finally:
        server.terminate()
    ours, base = len(rows) / t_ours, n_base / t_base
    print(f"judge calls: {len(rows)} in groups of {args.group_size}, {distinct} distinct; server delay "
          f"{args.delay * 1000:g} ms, {args.fail:.0%} injected 500s; max_concurrency {args.concurrency}")
    print(f"{'':28}{'calls/s':>10}{'requests':>10}{'retries':>9}{'lost':>6}")
    print(f"{'rewardlab judge.rubric':28}{ours:10.1f}{sent_ours:10d}{stats.retries:9d}{lost_ours:6d}")
    print(f"{'openai sequential loop':28}{base:10.1f}{sent_base:10d}{'(own)':>9}{lost_base:6d}"
          f"   (first {n_base} calls)")
    print(f"throughput ratio: {ours / base:.1f}x   requests sent by rewardlab: {sent_ours} for {distinct} distinct "
          f"inputs ({sent_ours - distinct} retries of injected failures)")


if __name__ == "__main__":
    main()

# ruff: noqa: E402
"""Load test for ``rewardlab serve``: concurrent clients on loopback, injected worker crashes.

    python -m benchmarks.serve_load --spec benchmarks/specs/math_format.toml \\
        --clients 64 --requests 3000 --samples 16 --crash-every 50 --max-seconds 120

1. Scores the same requests in process (``Pipeline.run`` per request) for the baseline.
2. Starts ``rewardlab serve`` on 127.0.0.1 (a real subprocess) with the same spec.
3. ``--clients`` asyncio clients send ``--requests`` POST /score requests (bounded also by
   ``--max-seconds``); 429/503 answers are retried after ``Retry-After`` (counted apart).
4. Prints requests/s, samples/s, p50/p99 latency, failed and lost requests, and the ratio of
   server to in-process throughput.

``--crash-every N`` adds a zero-weight CPU component (``bench.crash``) to the spec and puts
a marker in one sample of every N-th request that makes its pool worker ``os._exit``. Those
samples must come back with status ``error`` (explained); any other non-ok row, non-200
answer or missing row is counted as a failure. A request with no answer at all is *lost*.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder would come first on sys.path and benchmarks/math.py would
# shadow the standard library's math: drop it before anything imports math.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MARKER = "@@CRASH@@"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {v!r} as TOML")


def dump_spec(spec: dict[str, Any]) -> str:
    """Enough TOML for specs: top-level scalars/lists, tables, and the rewards.NAME tables."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in spec.items() if not isinstance(v, dict)]
    for key, table in spec.items():
        if not isinstance(table, dict):
            continue
        if key == "rewards":
            for name, comp in table.items():
                lines.append(f"[rewards.{name}]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in comp.items()]
        else:
            lines.append(f"[{key}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def build_spec(path: Path, crash: bool, workers: int, kind: str = "pool") -> dict[str, Any]:
    import tomllib

    spec = tomllib.loads(path.read_text())
    if crash:
        spec["plugins"] = [*spec.get("plugins", []), "benchmarks.crash_plugin"]
        reward = "bench.crash" if kind == "pool" else "bench.crash_inline"
        spec.setdefault("rewards", {})["crash"] = {"type": reward, "weight": 0.0}
    spec.setdefault("engine", {}).setdefault("workers", workers)
    return spec


def make_requests(n: int, samples: int, crash_every: int) -> list[list[dict[str, Any]]]:
    """Request k: one GRPO-like group of ``samples`` completions; every crash_every-th has a killer."""
    out = []
    for k in range(n):
        rows = []
        for j in range(samples):
            answer = (k + j) % 5
            body = f"<think>request {k} try {j}</think><answer>{answer}</answer>" if j % 3 else f"{answer} q{k}"
            if crash_every and k % crash_every == crash_every - 1 and j == 0:
                body = f"{MARKER} {k}"
            rows.append({"id": f"{k}-{j}", "group": "g", "prompt": f"question {k}", "completion": body,
                         "reference": str(k % 5)})
        out.append(rows)
    return out


def in_process(spec: dict[str, Any], requests: list[list[dict[str, Any]]]) -> float:
    """Samples per second of ``Pipeline.run`` per request, in this process."""
    from rewardlab.pipeline import Pipeline

    pipeline = Pipeline.from_spec(spec)
    pipeline.run(requests[0])  # warm the pool, like the server's first request
    start = time.perf_counter()
    for req in requests:
        pipeline.run(req)
    elapsed = time.perf_counter() - start
    pipeline.close()
    return sum(len(r) for r in requests) / elapsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def drive(url: str, requests: list[list[dict[str, Any]]], clients: int, max_seconds: float) -> dict[str, Any]:
    """``clients`` concurrent aiohttp clients (OpenRLHF's own HTTP client) over ``requests``."""
    import aiohttp

    stats: dict[str, Any] = {"latencies": [], "ok": 0, "failed": 0, "lost": 0, "busy_retries": 0,
                             "crash_rows": 0, "crash_requests": 0, "unexplained_rows": 0, "samples": 0, "failures": []}
    next_index = 0
    deadline = time.monotonic() + max_seconds
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=120)

    payloads = [json.dumps({"samples": r}).encode() for r in requests]  # serialized before the clock starts

    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as client:

        async def one(k: int) -> None:
            payload = payloads[k]
            start = time.perf_counter()
            while True:
                try:
                    async with client.post("/score", data=payload,
                                           headers={"content-type": "application/json"}) as r:
                        status, text = r.status, await r.text()
                        retry_after = float(r.headers.get("Retry-After", "1"))
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    stats["lost"] += 1
                    stats["failures"].append(f"request {k}: no answer ({type(exc).__name__}: {exc})")
                    return
                if status in (429, 503):
                    stats["busy_retries"] += 1
                    await asyncio.sleep(retry_after)
                    continue
                break
            stats["latencies"].append(time.perf_counter() - start)
            killer = any(MARKER in s["completion"] for s in requests[k])
            if status == 500 and killer and "scoring process died" in text:
                stats["crash_requests"] += 1  # explained: this request killed the scoring process
                return
            if status != 200:
                stats["failed"] += 1
                stats["failures"].append(f"request {k}: HTTP {status} {text[:200]}")
                return
            rows = _loads(text)["rows"]
            if [row["id"] for row in rows] != [s["id"] for s in requests[k]]:
                stats["failed"] += 1
                stats["failures"].append(f"request {k}: rows do not match the request's samples")
                return
            stats["ok"] += 1
            stats["samples"] += len(rows)
            for sample, row in zip(requests[k], rows, strict=True):
                crashed = MARKER in sample["completion"]
                if crashed and row.get("crash_status") == "error" and row["reward"] is None:
                    stats["crash_rows"] += 1
                elif crashed or row["status"] != "ok":
                    stats["unexplained_rows"] += 1
                    stats["failures"].append(f"request {k} row {row['id']}: status {row['status']}")

        async def client_loop() -> None:
            nonlocal next_index
            while next_index < len(requests) and time.monotonic() < deadline:
                k = next_index
                next_index += 1
                await one(k)

        start = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(clients)))
        stats["elapsed"] = time.perf_counter() - start
        stats["sent"] = next_index
        async with client.get("/metrics") as r:
            metrics = await r.text()
    stats["server_batches"] = _metric(metrics, "rewardlab_batch_samples_count")
    stats["server_samples_per_batch"] = _metric(metrics, "rewardlab_batch_samples_sum") / max(
        1.0, stats["server_batches"])
    return stats


def _loads(text: str) -> Any:
    try:
        import orjson
    except ImportError:
        return json.loads(text)
    return orjson.loads(text)


def _cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of the server process and of its children, if psutil is installed."""
    try:
        import psutil
    except ImportError:
        return {}
    try:
        proc = psutil.Process(pid)
        main = sum(proc.cpu_times()[:2])
        children = 0.0
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                children += sum(child.cpu_times()[:2])
    except psutil.Error:
        return {}
    return {"http process": main, "scoring process and pool": children}


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", type=Path, default=ROOT / "benchmarks/specs/format_exact.toml")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--samples", type=int, default=16, help="samples per request (one group)")
    ap.add_argument("--crash-every", type=int, default=50, help="0: no injected crashes")
    ap.add_argument("--crash-kind", choices=["pool", "server"], default="pool",
                    help="pool: kill an engine pool worker (the row is an error); server: kill the server's "
                         "scoring process (that request is answered 500 after a retry, the others normally)")
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--workers", type=int, default=1, help="engine workers (server and in-process alike)")
    ap.add_argument("--server-arg", action="append", default=[], help="extra `rewardlab serve` option, repeatable")
    args = ap.parse_args()

    spec = build_spec(args.spec, args.crash_every > 0, args.workers, args.crash_kind)
    requests = make_requests(args.requests, args.samples, args.crash_every)
    if args.crash_every and args.crash_kind == "server":  # in process the marker would kill this benchmark
        baseline = in_process(build_spec(args.spec, False, args.workers), requests)
    else:
        baseline = in_process(spec, requests)
    print(f"in-process: {baseline:,.0f} samples/s (Pipeline.run per request of {args.samples})", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="rewardlab-load-"))
    spec_path = tmp / "spec.toml"
    spec_path.write_text(dump_spec(spec))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cli = [sys.executable, "-c", "from rewardlab.cli import app; app()"]
    server = subprocess.Popen([*cli, "serve", "--spec", str(spec_path), "--host", "127.0.0.1", "--port", str(port),
                               *args.server_arg],
                              env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(600):
            if server.poll() is not None:
                print("server exited before it was up", file=sys.stderr)
                return 2
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        httpx.post(url + "/score", json={"samples": requests[0]}, timeout=60)  # warm-up, as in process
        cpu_before = _cpu(server.pid)
        stats = asyncio.run(drive(url, requests, args.clients, args.max_seconds))
        cpu_after = _cpu(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()

    lat = sorted(stats["latencies"])
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan")
    rps = stats["sent"] / stats["elapsed"]
    sps = stats["samples"] / stats["elapsed"]
    injected = sum(1 for r in requests[: stats["sent"]] for s in r if MARKER in s["completion"])
    print(f"clients {args.clients}, requests sent {stats['sent']}, answered ok {stats['ok']}, "
          f"{args.samples} samples each, {stats['elapsed']:.1f} s")
    print(f"requests/s {rps:,.1f}   samples/s {sps:,.0f}   latency p50 {p50 * 1000:.1f} ms   p99 {p99 * 1000:.1f} ms")
    print(f"failed {stats['failed']}   lost {stats['lost']}   unexplained bad rows {stats['unexplained_rows']}   "
          f"busy answers retried (429/503) {stats['busy_retries']}")
    print(f"injected worker crashes {injected}, answered as status=error rows {stats['crash_rows']}, "
          f"as HTTP 500 'scoring process died' {stats['crash_requests']}")
    print(f"server batches {stats['server_batches']:.0f}, mean {stats['server_samples_per_batch']:.1f} samples/batch")
    if cpu_before and cpu_after:
        per = {k: (cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0)) for k in cpu_after}
        print("server CPU seconds during the run: " + ", ".join(f"{k} {v:.1f}" for k, v in per.items())
              + f"; in-process would need {stats['samples'] / baseline:.1f} s for these samples")
    print(f"throughput server / in-process: {sps / baseline:.2f}")
    for line in stats["failures"][:10]:
        print("  ", line)
    ok = stats["lost"] == 0 and stats["failed"] == 0 and stats["unexplained_rows"] == 0 and (
        stats["crash_rows"] + stats["crash_requests"] == injected)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Score several requests in one engine pass, then assemble and encode each request on its own.

This runs where the pipeline lives (the scoring process, or a thread): it returns, per
request, the HTTP status, the JSON body and compact reward statistics for the metrics, so
the event loop only forwards bytes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rewardlab.core import Sample
from rewardlab.pipeline import Pipeline
from rewardlab.results import Results, component_values

try:
    import orjson
except ImportError:  # pragma: no cover - optional speed-up
    orjson = None  # type: ignore[assignment]

log = logging.getLogger("rewardlab.serve")
SERVER_FALLBACK_FIX = ("start the server with --unscorable-reward VALUE (e.g. --unscorable-reward -1.0): "
                       "OpenRLHF cannot mask a sample and retries a 422 five times before it gives up")
SEP = "\x1f"  # joins the request number and a group id: groups of two requests never meet
REWARD_BUCKETS = (-10.0, -5.0, -2.0, -1.0, -0.5, -0.1, 0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 2.0, 5.0, 10.0)
Kind = Literal["score", "openrlhf"]


@dataclass
class Job:
    """One request for the scorer: its samples and the answer format."""

    samples: list[Sample]
    kind: Kind = "score"
    unscorable_reward: float | None = None


@dataclass
class Answer:
    """One request's answer: HTTP status, JSON body, statistics for the metrics."""

    status: int
    body: bytes
    observed: dict[str, Any]


def dumps(content: Any) -> bytes:
    """JSON bytes; NaN and infinity become null (orjson when installed)."""
    if orjson is not None:
        try:
            return bytes(orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY))
        except (TypeError, orjson.JSONEncodeError):  # e.g. lone surrogates in client text: escape them below
            pass
    return json.dumps(finite(content), ensure_ascii=True, allow_nan=False, separators=(",", ":"),
                      default=repr).encode()


def finite(obj: Any) -> Any:
    """JSON cannot carry NaN or infinity: they become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def score_requests(pipeline: Pipeline, requests: Sequence[list[Sample]]) -> list[Results]:
    """One :meth:`Pipeline.score_components` over all requests, one :meth:`Pipeline.assemble` per request.

    Group ids are prefixed per request for the engine (group-level rewards see only their
    own request's rows); shaping, combination, advantages and the summary use each request's
    rows alone, exactly as ``pipeline.run(request)`` would.
    """
    if len(requests) == 1:
        return [pipeline.run(requests[0])]
    merged = [
        dataclasses.replace(s, group=None if s.group is None else f"{k}{SEP}{s.group}")
        for k, samples in enumerate(requests)
        for s in samples
    ]
    scores = pipeline.score_components(merged)
    out, start = [], 0
    for samples in requests:
        end = start + len(samples)
        out.append(pipeline.assemble(list(samples), {n: v[start:end] for n, v in scores.items()}))
        start = end
    return out


def observe(results: Results) -> dict[str, Any]:
    """Per column (components and ``reward``): bucket counts, sum and count of scored values; unscorable counts."""
    stats: dict[str, Any] = {"samples": len(results), "values": {}, "unscorable": {}}
    for name in (*results.components, "reward"):
        status_key = "status" if name == "reward" else f"{name}_status"
        column = results.rewards if name == "reward" else component_values(results.rows, name)  # no fallbacks
        values: list[float] = []
        bad: dict[str, int] = {}
        for row, v in zip(results.rows, column, strict=True):
            if v is None:
                status = str(row.get(status_key, "error"))
                bad[status] = bad.get(status, 0) + 1
            else:
                values.append(v)
        arr = np.asarray(values, dtype=np.float64)
        counts = np.searchsorted(np.asarray(REWARD_BUCKETS), arr, side="left") if arr.size else np.array([], int)
        buckets = np.bincount(counts, minlength=len(REWARD_BUCKETS) + 1).tolist()
        stats["values"][name] = (buckets, float(arr.sum()), int(arr.size))
        if bad:
            stats["unscorable"][name] = bad
    return stats


def encode(results: Results, job: Job) -> Answer:
    """The HTTP answer for one request."""
    from rewardlab.integrations.openrlhf import UnscorableError, openrlhf_response

    observed = observe(results)
    if job.kind == "openrlhf":
        log_unscorable(results, job.unscorable_reward)
        try:
            return Answer(200, dumps(openrlhf_response(results, job.unscorable_reward)), observed)
        except UnscorableError as exc:
            message = f"{exc}. On this server: {SERVER_FALLBACK_FIX}"
            return Answer(422, dumps({"message": message, "detail": message}), observed)
    body = {"rows": results.rows, "summary": [s.to_dict() for s in results.summary],
            "components": results.components}
    return Answer(200, dumps(body), observed)


def log_unscorable(results: Results, fallback: float | None) -> None:
    """One WARNING per unscorable row of a ``/get_reward`` request, with its reason, here on the server.

    OpenRLHF logs a refused request at INFO, after its retries, far from the cause.
    """
    for row in results.rows:
        if row["reward"] is not None:
            continue
        reasons = [f"{name}: {row.get(f'{name}_status')}: {row['detail'].get(name, {}).get('reason', '')}"
                   for name in results.components if row.get(name) is None]
        then = f"given the fallback {fallback:g}" if fallback is not None else "answered 422"
        log.warning("/get_reward row %s unscorable (%s), %s: %s", row["id"], row["status"], then, "; ".join(reasons))


def answer_jobs(pipeline: Pipeline, jobs: Sequence[Job]) -> list[Answer]:
    """Score a micro-batch of jobs and encode each answer."""
    results = score_requests(pipeline, [j.samples for j in jobs])
    return [encode(r, j) for r, j in zip(results, jobs, strict=True)]

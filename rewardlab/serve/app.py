"""The FastAPI app: ``POST /score``, ``POST /get_reward`` (OpenRLHF), ``GET /health``, ``GET /metrics``."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from rewardlab.core import Sample
from rewardlab.engine import Engine
from rewardlab.errors import InputError, RewardlabError
from rewardlab.integrations.openrlhf import UnscorableError, openrlhf_response, openrlhf_samples
from rewardlab.pipeline import Pipeline
from rewardlab.results import Results
from rewardlab.serve.batching import MicroBatcher, QueueFull, ShuttingDown
from rewardlab.serve.metrics import ServerMetrics
from rewardlab.serve.schema import (
    ErrorResponse,
    Health,
    OpenRLHFRequest,
    OpenRLHFResponse,
    ScoreRequest,
    ScoreResponse,
)
from rewardlab.serve.scoring import score_requests

log = logging.getLogger("rewardlab.serve")
ROUTES = ("/score", "/get_reward", "/health", "/metrics")


@dataclass
class ServerConfig:
    """Server settings; ``rewardlab serve`` options map onto these."""

    spec: str | Path | dict[str, Any]
    workers: int | None = None  # engine process-pool size (default: the spec's, else CPUs)
    max_batch: int = 512  # samples per engine pass
    max_wait_ms: float = 5.0  # how long the first request of a batch waits for company
    max_queue: int = 8192  # samples queued before new requests get 429
    request_timeout: float = 120.0  # default and maximum per-request deadline, seconds
    unscorable_reward: float | None = None  # /get_reward fallback for unscorable rows; None: 422


def _finite(obj: Any) -> Any:
    """JSON cannot carry NaN or infinity: they become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(_finite(content), status_code=status, headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None, detail: Any = None) -> JSONResponse:
    return _json({"message": message, "detail": detail if detail is not None else message}, status, headers)


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": why}
    for code, why in (
        (413, "request larger than the queue"),
        (422, "malformed request (the message names the field) or unscorable rows without a fallback"),
        (429, "queue full: retry after Retry-After seconds"),
        (500, "scoring failed twice (the request was retried alone once)"),
        (503, "server shutting down: retry after Retry-After seconds"),
        (504, "the request's deadline passed"),
    )
}


def create_app(config: ServerConfig) -> FastAPI:
    """Build the app: one pipeline and one micro-batcher per server process."""
    metrics = ServerMetrics()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        probe = Pipeline.from_spec(config.spec)  # validates the spec before binding anything
        engine_cfg = dict(probe.spec.engine)
        if config.workers is not None:
            engine_cfg["workers"] = config.workers
        pipeline = Pipeline(probe.spec, Engine(**engine_cfg))
        batcher: MicroBatcher[list[Sample], Results] = MicroBatcher(
            lambda reqs: score_requests(pipeline, reqs),
            max_batch=config.max_batch, max_wait=config.max_wait_ms / 1000, max_queue=config.max_queue,
            metrics=metrics,
        )
        await batcher.start()
        state.update(pipeline=pipeline, batcher=batcher)
        try:
            yield
        finally:
            await batcher.stop()  # in-flight and queued requests finish first
            pipeline.close()

    app = FastAPI(
        title="rewardlab reward server",
        version="0.1.0",
        description="Scores samples with a rewardlab spec. `/score`: rewardlab's schema; "
        "`/get_reward`: OpenRLHF's remote reward protocol.",
        lifespan=lifespan,
    )

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        route = request.url.path if request.url.path in ROUTES else "other"
        response = await call_next(request)
        metrics.requests.labels(route, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - start)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        parts = []
        for e in errors[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()))
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return _error(422, "invalid request: " + "; ".join(parts), detail=_finite(jsonable(errors)))

    async def run(samples: list[Sample], timeout: float | None) -> Results | JSONResponse:
        batcher: MicroBatcher[list[Sample], Results] = state["batcher"]
        if len(samples) > config.max_queue:
            return _error(413, f"{len(samples)} samples in one request; this server queues at most "
                               f"{config.max_queue}: split the request")
        deadline = min(timeout or config.request_timeout, config.request_timeout)
        try:
            results = await asyncio.wait_for(batcher.submit(samples, len(samples)), deadline)
        except QueueFull as exc:
            metrics.rejected.labels("queue_full").inc()
            retry = str(math.ceil(exc.retry_after))
            return _error(429, f"{exc}", {"Retry-After": retry})
        except ShuttingDown as exc:
            metrics.rejected.labels("shutting_down").inc()
            return _error(503, str(exc), {"Retry-After": "5"})
        except asyncio.TimeoutError:
            metrics.rejected.labels("deadline").inc()
            return _error(504, f"deadline of {deadline:g} s passed before the {len(samples)} samples were scored; "
                               "retry with a larger 'timeout' or fewer samples")
        except RewardlabError as exc:
            return _error(422, str(exc))
        except Exception as exc:
            log.exception("scoring failed")
            return _error(500, f"scoring failed after one retry: {type(exc).__name__}: {exc}")
        metrics.observe_rows(results.rows, results.components)
        return results

    @app.post("/score", response_model=ScoreResponse, responses=ERRORS)
    async def score(body: ScoreRequest) -> Response:
        """Score one batch: rows in request order, the batch's summary, the component names."""
        try:
            samples = [Sample.coerce(s.model_dump(exclude_unset=True), i) for i, s in enumerate(body.samples)]
        except InputError as exc:
            return _error(422, f"samples: {exc}")
        results = await run(samples, body.timeout)
        if isinstance(results, JSONResponse):
            return results
        return _json({"rows": results.rows, "summary": [s.to_dict() for s in results.summary],
                      "components": results.components})

    @app.post("/get_reward", response_model=OpenRLHFResponse, responses=ERRORS)
    async def get_reward(body: OpenRLHFRequest) -> Response:
        """OpenRLHF's remote reward protocol (``--reward.remote_url``, older ``--remote_rm_url``)."""
        try:
            samples = openrlhf_samples(body.query, body.prompts, body.labels)
        except ValueError as exc:
            return _error(422, str(exc))
        results = await run(samples, None)
        if isinstance(results, JSONResponse):
            return results
        try:
            return _json(openrlhf_response(results, config.unscorable_reward))
        except UnscorableError as exc:
            metrics.rejected.labels("unscorable").inc()
            return _error(422, str(exc))

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health() -> Response:
        """``ok`` while serving, 503 ``shutting_down`` while draining."""
        batcher = state.get("batcher")
        pipeline = state.get("pipeline")
        closing = batcher is None or batcher.closing
        body = {"status": "shutting_down" if closing else "ok",
                "components": pipeline.names if pipeline else [], "queue_depth": batcher.depth if batcher else 0}
        return _json(body, 503 if closing else 200)

    @app.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def prometheus() -> Response:
        """Prometheus text format."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.state.metrics = metrics
    app.state.rewardlab = state
    return app


def jsonable(obj: Any) -> Any:
    """Validation errors may hold arbitrary input values; keep what JSON can carry."""
    from fastapi.encoders import jsonable_encoder

    try:
        return jsonable_encoder(obj)
    except Exception:
        return repr(obj)

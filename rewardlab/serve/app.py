"""The FastAPI app: ``POST /score``, ``POST /get_reward`` (OpenRLHF), ``GET /health``, ``GET /metrics``."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from rewardlab.core import Sample
from rewardlab.engine import Engine
from rewardlab.errors import RewardlabError
from rewardlab.integrations.openrlhf import openrlhf_samples
from rewardlab.pipeline import Pipeline
from rewardlab.serve.batching import MicroBatcher, QueueFull, ShuttingDown
from rewardlab.serve.metrics import ServerMetrics
from rewardlab.serve.schema import (
    ErrorResponse,
    Health,
    OpenRLHFRequest,
    OpenRLHFResponse,
    SampleIn,
    ScoreRequest,
    ScoreResponse,
)
from rewardlab.serve.scoring import Answer, Job, answer_jobs, dumps
from rewardlab.serve.worker import ScoringProcess

log = logging.getLogger("rewardlab.serve")
ROUTES = ("/score", "/get_reward", "/health", "/metrics")
MAX_BODY = 256 * 1024 * 1024  # bytes


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
    scoring_process: bool = True  # score in a child process (two cores, survives in-process crashes)


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(content), status_code=status, headers=headers, media_type="application/json")


def _error(status: int, message: str, headers: dict[str, str] | None = None, detail: Any = None) -> Response:
    return _json({"message": message, "detail": detail if detail is not None else message}, status, headers)


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": why}
    for code, why in (
        (400, "the body could not be read as JSON"),
        (413, "request larger than the queue"),
        (422, "malformed request (the message names the field) or unscorable rows without a fallback"),
        (429, "queue full: retry after Retry-After seconds"),
        (500, "scoring failed twice (the request was retried alone once)"),
        (503, "server shutting down: retry after Retry-After seconds"),
        (504, "the request's deadline passed"),
    )
}


def _invalid(errors: list[Any]) -> Response:
    """422 whose message names the fields (``body.samples.0.completion: ...``)."""
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()))
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return _error(422, "invalid request: " + "; ".join(parts), detail=jsonable(errors))


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI request body for a route that validates its body itself (see ``_add_schemas``)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _add_schemas(app: FastAPI, *models: type[BaseModel]) -> None:
    """Put models validated by hand into the OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            js = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in js.pop("$defs", {}).items():
                components.setdefault(name, sub)
            components[model.__name__] = js
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def to_sample(s: SampleIn, index: int) -> Sample:
    """A validated request sample as a :class:`Sample` (what ``Sample.coerce`` gives for the same dict)."""
    meta = dict(s.meta)
    for key, value in (s.model_extra or {}).items():
        meta.setdefault(key, value)
    return Sample(id=str(index) if s.id is None else str(s.id), prompt=s.prompt if s.prompt is not None else "",
                  completion=s.completion, reference=s.reference,
                  group=None if s.group is None else str(s.group), meta=meta)


def create_app(config: ServerConfig) -> FastAPI:
    """Build the app: one pipeline and one micro-batcher per server."""
    metrics = ServerMetrics()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        probe = Pipeline.from_spec(config.spec)  # validates the spec before binding anything
        score_many: Callable[[list[Job]], list[Answer]]
        if config.scoring_process:
            scorer = await asyncio.to_thread(ScoringProcess, dict(probe.spec.raw), config.workers,
                                             on_restart=metrics.restarts.inc)
            score_many, close = scorer.score, scorer.close
        else:
            engine_cfg = dict(probe.spec.engine)
            if config.workers is not None:
                engine_cfg["workers"] = config.workers
            pipeline = Pipeline(probe.spec, Engine(**engine_cfg))
            score_many, close = (lambda jobs: answer_jobs(pipeline, jobs)), pipeline.close
        batcher: MicroBatcher[Job, Answer] = MicroBatcher(
            score_many, max_batch=config.max_batch, max_wait=config.max_wait_ms / 1000, max_queue=config.max_queue,
            max_inflight=2 if config.scoring_process else 1, metrics=metrics,
        )
        await batcher.start()
        state.update(pipeline=probe, batcher=batcher)
        try:
            yield
        finally:
            await batcher.stop()  # in-flight and queued requests finish first
            await asyncio.to_thread(close)

    app = FastAPI(
        title="rewardlab reward server",
        version="0.1.0",
        description="Scores samples with a rewardlab spec. `/score`: rewardlab's schema; "
        "`/get_reward`: OpenRLHF's remote reward protocol.",
        lifespan=lifespan,
    )
    state["score_bytes"] = lambda raw: score_bytes(raw)  # the middleware's fast path for POST /score
    app.add_middleware(_Observe, metrics=metrics, state=state)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return _invalid(list(exc.errors()))

    async def run(job: Job, timeout: float | None) -> Response:
        batcher: MicroBatcher[Job, Answer] = state["batcher"]
        n = len(job.samples)
        if n > config.max_queue:
            return _error(413, f"{n} samples in one request; this server queues at most "
                               f"{config.max_queue}: split the request")
        deadline = min(timeout or config.request_timeout, config.request_timeout)
        try:
            answer = await asyncio.wait_for(batcher.submit(job, n), deadline)
        except QueueFull as exc:
            metrics.rejected.labels("queue_full").inc()
            return _error(429, str(exc), {"Retry-After": str(math.ceil(exc.retry_after))})
        except ShuttingDown as exc:
            metrics.rejected.labels("shutting_down").inc()
            return _error(503, str(exc), {"Retry-After": "5"})
        except asyncio.TimeoutError:
            metrics.rejected.labels("deadline").inc()
            return _error(504, f"deadline of {deadline:g} s passed before the {n} samples were scored; "
                               "retry with a larger 'timeout' or fewer samples")
        except RewardlabError as exc:
            return _error(422, str(exc))
        except Exception as exc:
            log.exception("scoring failed")
            return _error(500, f"scoring failed after one retry: {type(exc).__name__}: {exc}")
        metrics.observe(answer.observed)
        if answer.status == 422:
            metrics.rejected.labels("unscorable").inc()
        return Response(answer.body, status_code=answer.status, media_type="application/json")

    async def score_bytes(raw: bytes) -> Response:
        """``POST /score`` from the raw body: validated by pydantic-core straight from the bytes."""
        try:
            body = ScoreRequest.model_validate_json(raw)
        except ValidationError as exc:
            errors = exc.errors()
            if not (errors and errors[0]["type"] == "json_invalid"):
                return _invalid([{**e, "loc": ("body", *e.get("loc", ()))} for e in errors])
            try:  # pydantic-core refuses JSON that Python's parser takes (lone surrogate escapes)
                data = json.loads(raw)
            except ValueError:
                return _error(400, f"the body is not valid JSON: {errors[0].get('msg', '')}")
            try:
                body = ScoreRequest.model_validate(data)
            except ValidationError as exc2:
                return _invalid([{**e, "loc": ("body", *e.get("loc", ()))} for e in exc2.errors()])
        return await run(Job([to_sample(s, i) for i, s in enumerate(body.samples)]), body.timeout)

    @app.post("/score", response_model=ScoreResponse, responses=ERRORS, openapi_extra=_body_schema(ScoreRequest))
    async def score(request: Request) -> Response:
        """Score one batch: rows in request order, the batch's summary, the component names."""
        return await score_bytes(await request.body())

    @app.post("/get_reward", response_model=OpenRLHFResponse, responses=ERRORS)
    async def get_reward(body: OpenRLHFRequest) -> Response:
        """OpenRLHF's remote reward protocol (``--reward.remote_url``, older ``--remote_rm_url``)."""
        try:
            samples = openrlhf_samples(body.query, body.prompts, body.labels, body.response_lengths)
        except ValueError as exc:
            return _error(422, str(exc))
        return await run(Job(samples, "openrlhf", config.unscorable_reward), None)

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

    _add_schemas(app, ScoreRequest)
    app.state.metrics = metrics
    app.state.rewardlab = state
    return app


class _Observe:
    """Pure ASGI middleware: request counts by route and status, latency.

    ``POST /score`` (the hot path) is answered here by the same handler the FastAPI route
    uses, skipping the framework's routing layers; everything else goes through FastAPI.
    """

    def __init__(self, app: Any, metrics: ServerMetrics, state: dict[str, Any]) -> None:
        self.app = app
        self.metrics = metrics
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        route = scope.get("path", "") if scope.get("path") in ROUTES else "other"
        code = ["500"]

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                code[0] = str(message["status"])
            await send(message)

        try:
            if route == "/score" and scope.get("method") == "POST" and "batcher" in self.state:
                response = await self._score(receive)
                await response(scope, receive, send_status)
            else:
                await self.app(scope, receive, send_status)
        finally:
            self.metrics.requests.labels(route, code[0]).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)

    async def _score(self, receive: Any) -> Response:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _error(400, "client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                return _error(413, f"body larger than {MAX_BODY} bytes: split the request")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        try:
            response: Response = await self.state["score_bytes"](b"".join(chunks))
        except Exception as exc:  # what ServerErrorMiddleware would do, with a message
            log.exception("POST /score failed")
            return _error(500, f"internal error: {type(exc).__name__}: {exc}")
        return response


def jsonable(obj: Any) -> Any:
    """Validation errors may hold arbitrary input values; keep what JSON can carry."""
    from fastapi.encoders import jsonable_encoder

    try:
        return jsonable_encoder(obj)
    except Exception:
        return repr(obj)

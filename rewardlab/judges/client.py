"""The judge client: one place for concurrency, rate limits, retries, keys and the cache.

Every LLM call of rewardlab goes through :class:`JudgeClient` (OpenAI-compatible
``POST {base_url}/chat/completions``: OpenAI, vLLM, SGLang, llama.cpp's server, any
compatible gateway). Requests run on the process's judge loop (:mod:`.loop`), so the
concurrency bound, the rate limits and the connection pool hold across threads, event
loops and engine batches. Successful responses are cached persistently, keyed on the
full request (``base_url``, the request body and the draw index); the API key is in
no key, value, log or message. :meth:`JudgeClient.request_json` reaches a server's other
endpoints through the same transport (model rewards' ``placement = "remote"``: vLLM's
``/classify``/``/pooling``, a rewardlab server's ``/score``), uncached.

The HTTP client is aiohttp rather than httpx (DESIGN.md names either): on loopback at
64 concurrent requests httpx's connection pool managed 50 requests/s where aiohttp
managed 537 (1,000 requests, 100 ms server delay; encode/httpx#3215).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rewardlab.cache_store import CacheStore, default_cache_dir
from rewardlab.core import Status, content_hash
from rewardlab.errors import SpecError, require_extra
from rewardlab.judges.config import EndpointConfig
from rewardlab.judges.limits import RateLimiter, backoff_delay, parse_retry_after
from rewardlab.judges.loop import run_here, run_sync

if TYPE_CHECKING:
    import aiohttp

Messages = Sequence[dict[str, Any]]
CACHE_NAMESPACE = "judge.chat.v1"
RETRY_STATUS = frozenset({408, 409, 429})  # plus every 5xx


class JudgeError(Exception):
    """A request that got no usable reply: the reward maps it to an unscorable score."""

    def __init__(self, status: Status, reason: str, *, http_status: int | None = None, **detail: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.http_status = http_status  # the last attempt's HTTP error status; None: no HTTP answer to go by
        self.detail = detail


@dataclass(frozen=True)
class Reply:
    """A judge's reply: one text per choice, the tokens it cost now, how it was obtained."""

    texts: tuple[str, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    attempts: int = 0
    logprobs: tuple[dict[str, Any], ...] | None = None  # the first choice's content tokens
    raw: Any = None  # the decoded JSON body, for :meth:`JudgeClient.request_json`

    @property
    def text(self) -> str:
        return self.texts[0]

    def usage(self) -> dict[str, int]:
        """Tokens paid for this reply (0 when it came from the cache), for ``detail``."""
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "requests": self.attempts, "cache_hits": int(self.cached)}


@dataclass
class ClientStats:
    """What the client did: HTTP attempts, cache hits, retries, tokens, concurrency."""

    requests: int = 0  # HTTP attempts sent
    responses: int = 0  # successful replies
    cache_hits: int = 0
    shared: int = 0  # identical requests in flight at once, sent once
    retries: int = 0
    failures: int = 0  # requests given up (after retries, or not retryable)
    cancelled: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    delays: list[float] = field(default_factory=list)  # planned retry delays, seconds

    def snapshot(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "delays"}
        out["retry_delay_s"] = round(sum(self.delays), 3)
        return out


class JudgeClient:
    """An OpenAI-compatible chat-completions client (see the module docstring).

    Use :meth:`shared` to get the one client per endpoint configuration, so every
    reward on the same endpoint shares its concurrency bound and rate limits.
    """

    _shared: dict[str, JudgeClient] = {}  # noqa: RUF012  (the process-wide registry)
    _shared_lock = threading.Lock()

    def __init__(self, config: EndpointConfig) -> None:
        require_judge_deps()
        self.config = EndpointConfig.model_validate(config.endpoint_fields())
        self._key = self.config.api_key()  # fails early when api_key_env is unset
        self.stats = ClientStats()
        self.store = self._open_store()
        self._http: aiohttp.ClientSession | None = None
        self._gate: asyncio.Semaphore | None = None
        self._rpm = self._tpm = None  # type: RateLimiter | None
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._rng = random.Random()

    @classmethod
    def shared(cls, config: EndpointConfig) -> JudgeClient:
        """The process's client for this endpoint configuration (created on first use)."""
        key = content_hash(config.endpoint_fields())
        with cls._shared_lock:
            client = cls._shared.get(key)
            if client is None:
                client = cls._shared[key] = cls(config)
            return client

    def _open_store(self) -> CacheStore | None:
        cache = self.config.cache
        if cache is False:
            return None
        path = default_cache_dir() / "judge.sqlite" if cache is True else cache
        return CacheStore(path, CACHE_NAMESPACE)

    # --- the public API -------------------------------------------------------------
    def body(self, messages: Messages, *, n: int = 1, top_logprobs: int | None = None) -> dict[str, Any]:
        """The request body (what the cache key is made of, with base_url and the draw)."""
        cfg = self.config
        body: dict[str, Any] = {**cfg.extra_body, "model": cfg.model, "messages": list(messages),
                                "temperature": cfg.temperature}
        if cfg.max_tokens is not None:
            body["max_tokens"] = cfg.max_tokens
        if n != 1:
            body["n"] = n
        if top_logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = top_logprobs
        return body

    async def chat(self, messages: Messages, *, n: int = 1, draw: int = 0,
                   top_logprobs: int | None = None) -> Reply:
        """Ask once (``n`` choices); ``draw`` tells repeated samples of one request apart."""
        return await run_here(self._chat(self.body(messages, n=n, top_logprobs=top_logprobs), draw))

    def chat_sync(self, messages: Messages, **kwargs: Any) -> Reply:
        """:meth:`chat` from synchronous code (any thread)."""
        return run_sync(self.chat(messages, **kwargs))

    async def request_json(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """``POST`` ``body`` (``GET`` when None) to ``{base_url}{path}``; the decoded JSON reply.

        For an OpenAI-compatible server's other endpoints (vLLM's ``/classify``,
        ``/pooling``, ``/v1/models``; a rewardlab server's ``/score``), with the same
        concurrency bound, rate limits and retries as chat completions; not cached
        (callers cache scores through the engine's cache).
        """
        reply = await run_here(self._send(body, path, _parse_raw))
        return reply.raw

    def scrub(self, text: str) -> str:
        """``text`` with the API key blanked out (for messages built from server replies)."""
        return text.replace(self._key, "***") if self._key else text

    # --- on the judge loop ----------------------------------------------------------
    async def _chat(self, body: dict[str, Any], draw: int) -> Reply:
        key = CacheStore.key(self.config.base_url, body, draw)
        if self.store is not None:
            hit = self.store.get(key)
            if hit is not None:
                self.stats.cache_hits += 1
                return Reply(tuple(hit["texts"]), cached=True,
                             logprobs=tuple(hit["logprobs"]) if hit.get("logprobs") else None)
        while (pending := self._pending.get(key)) is not None:
            # the same request is in flight: wait for its reply (send it ourselves if its
            # owner was cancelled; our own cancellation still propagates out of wait)
            self.stats.shared += 1
            await asyncio.wait({pending})
            if not pending.cancelled():
                return replace(pending.result(), prompt_tokens=0, completion_tokens=0, attempts=0, cached=True)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            reply = await self._send(body)
            if self.store is not None:
                self.store.put(key, {"texts": list(reply.texts),
                                     "logprobs": list(reply.logprobs) if reply.logprobs else None})
            future.set_result(reply)
            return reply
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                self.stats.cancelled += 1
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning when nobody shares it
            raise
        finally:
            del self._pending[key]

    def _setup(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore, RateLimiter, RateLimiter]:
        if self._http is None:
            import aiohttp

            cfg = self.config
            headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
            self._http = aiohttp.ClientSession(
                headers=headers, trust_env=True, timeout=aiohttp.ClientTimeout(total=cfg.request_timeout),
                connector=aiohttp.TCPConnector(limit=cfg.max_concurrency))
            atexit.register(self.close)
            self._gate = asyncio.Semaphore(cfg.max_concurrency)
            self._rpm = RateLimiter(cfg.requests_per_minute)
            self._tpm = RateLimiter(cfg.tokens_per_minute)
        assert self._gate is not None and self._rpm is not None and self._tpm is not None
        return self._http, self._gate, self._rpm, self._tpm

    async def _send(self, body: dict[str, Any] | None, path: str = "/chat/completions",
                    parse: Callable[[Any], Reply] | None = None) -> Reply:
        """POST (GET without a body) with retries; see :func:`rewardlab.judges.limits.backoff_delay`."""
        http, gate, rpm, tpm = self._setup()
        cfg = self.config
        estimate = _estimate_tokens(body or {})
        attempt = 0
        while True:
            attempt += 1
            await rpm.acquire(1)
            await tpm.acquire(estimate)
            outcome = await self._attempt(http, gate, body, path, parse or _parse_response)
            if isinstance(outcome, Reply):
                tpm.correct(outcome.prompt_tokens + outcome.completion_tokens - estimate)
                return replace(outcome, cached=False, attempts=attempt)
            problem, retry_after, final, http_status = outcome
            if final or attempt > cfg.max_retries:
                self.stats.failures += 1
                timed_out = problem.startswith("no reply within")
                raise JudgeError(Status.TIMEOUT if timed_out else Status.ERROR,
                                 f"judge request failed after {attempt} attempt(s): {problem}",
                                 http_status=http_status, attempts=attempt)
            delay = backoff_delay(attempt, cfg.backoff_base, cfg.backoff_max, retry_after, self._rng)
            self.stats.retries += 1
            self.stats.delays.append(delay)
            await asyncio.sleep(delay)

    async def _attempt(self, http: aiohttp.ClientSession, gate: asyncio.Semaphore, body: dict[str, Any] | None,
                       path: str, parse: Callable[[Any], Reply]) -> Reply | tuple[str, float | None, bool, int | None]:
        """One HTTP attempt: a :class:`Reply`, or (problem, Retry-After, whether final, the HTTP error status
        or None when there was no error status: no reply, a connection error, a malformed 200)."""
        import aiohttp

        async with gate:
            self.stats.requests += 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            try:
                method = "GET" if body is None else "POST"
                async with http.request(method, f"{self.config.base_url}{path}", json=body) as response:
                    code, text = response.status, await response.text(errors="replace")
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
            except asyncio.TimeoutError:
                return f"no reply within {self.config.request_timeout:g} s", None, False, None
            except aiohttp.ClientError as exc:
                return f"connection error ({type(exc).__name__})", None, False, None
            finally:
                self.stats.in_flight -= 1
        if code == 200:
            try:
                reply = parse(json.loads(self.scrub(text)))
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
                return f"malformed response ({type(exc).__name__}: {self.scrub(str(exc))[:200]})", None, False, None
            self.stats.responses += 1
            self.stats.prompt_tokens += reply.prompt_tokens
            self.stats.completion_tokens += reply.completion_tokens
            return reply
        if code in (401, 403):
            return f"HTTP {code}: the endpoint refused the key from {self.config.api_key_env!r}", None, True, code
        retryable = code in RETRY_STATUS or code >= 500
        return f"HTTP {code}: {self.scrub(text[:300])}", retry_after, not retryable, code

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def close(self) -> None:
        """Close the connections (also at exit); the next request opens new ones."""
        if self._http is not None:
            with contextlib.suppress(Exception):
                run_sync(self.aclose(), timeout=5.0)


def require_judge_deps() -> None:
    """A clear error when the judges extra is not installed."""
    require_extra("judges", "judge rewards", "aiohttp", "jinja2", error=SpecError)


def _estimate_tokens(body: dict[str, Any]) -> float:
    """Tokens a request will cost, before the reply says: ~4 characters a token, plus max_tokens."""
    prompt = len(json.dumps(body.get("messages", []), ensure_ascii=False)) / 4.0
    return prompt + (body.get("max_tokens") or 256) * body.get("n", 1)


def _parse_raw(data: Any) -> Reply:
    usage = (data.get("usage") or {}) if isinstance(data, dict) else {}
    return Reply((), int(usage.get("prompt_tokens") or 0), 0, raw=data)


def _parse_response(data: Any) -> Reply:
    choices = data["choices"]
    if not choices:
        raise ValueError("no choices in the response")
    texts = []
    for choice in choices:
        content = choice["message"].get("content")
        texts.append(content if isinstance(content, str) else "")
    usage = data.get("usage") or {}
    logprobs = (choices[0].get("logprobs") or {}).get("content")
    return Reply(tuple(texts), int(usage.get("prompt_tokens") or 0),
                 int(usage.get("completion_tokens") or 0),
                 logprobs=tuple(logprobs) if logprobs else None)

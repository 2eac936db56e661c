"""``placement = "remote"``: scores from an HTTP endpoint serving the model.

Two kinds of server, told apart at start from ``/openapi.json`` (``/get_reward``: a
rewardlab server; ``/v1/models``: vLLM) or by asking ``/health`` and ``/v1/models``,
unless ``remote_api`` names one:

- a rewardlab server (``rewardlab serve`` with this reward): the whole deduplicated
  batch goes to ``POST /score`` in one request and the chosen component's row comes
  back with its status and detail (the served model's identity and chat-template hash
  included), the same row the server's own pipeline gives;
- vLLM's OpenAI-compatible server (:mod:`rewardlab.models.vllm`), for ``model.rm``.

Every request goes through the judge client's transport (one connection pool per
endpoint on the process's judge loop, bounded concurrency, retries with backoff on
5xx, 429 and connection errors): DESIGN.md's one client for OpenAI-compatible
endpoints. Scores are not cached there; the engine's cache caches them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rewardlab.core import Sample, Score, Status
from rewardlab.errors import require_extra
from rewardlab.models import vllm
from rewardlab.models.loading import ModelError
from rewardlab.models.params import ModelParams

log = logging.getLogger("rewardlab.models")
_CAVEATS = {
    "activated": "it cannot turn its activation off, so one output's logit is taken back through the sigmoid, "
                 "right for vLLM's default activation only",
    "embedding": "the reward model's pooled output under the embeddings route, which an embedding pooler may "
                 "normalise",
}


def client_for(params: ModelParams, root: str) -> Any:
    """The process's judge-client transport to ``root`` for this reward's settings."""
    require_extra("judges", "placement = 'remote'", "aiohttp", error=ModelError)
    from rewardlab.judges.client import JudgeClient
    from rewardlab.judges.config import EndpointConfig

    return JudgeClient.shared(EndpointConfig.model_validate({
        "base_url": root, "model": params.model, "cache": False, "max_tokens": None,
        "max_concurrency": params.remote_concurrency, "request_timeout": params.remote_timeout,
        "max_retries": params.remote_retries, "api_key_env": params.api_key_env}))


@dataclass
class Remote:
    """A connected endpoint: its kind, its identity for ``detail``, and how to reach it."""

    api: str
    endpoint: str
    client: Any
    component: str | None = None  # rewardlab: the served component
    server: vllm.VllmServer | None = None

    def identity(self) -> dict[str, Any]:
        if self.server is not None:
            return self.server.identity()
        return {"endpoint": self.endpoint, "api": "rewardlab", "component": self.component}


def connect(params: ModelParams) -> Remote:
    """Find out what ``params.endpoint`` is and how to ask it (once per reward and process)."""
    from rewardlab.judges.client import JudgeError

    root = str(params.endpoint).rstrip("/").removesuffix("/v1")
    client = client_for(params, root)
    try:  # a rewardlab server needs no document; vLLM's lists its routes
        doc = None if params.remote_api == "rewardlab" else vllm.get(client, "/openapi.json")
        api, listing = (params.remote_api, None) if params.remote_api != "auto" else _guess(client, doc, root)
        if api == "vllm":
            server = vllm.connect(client, root, params.remote_model, doc, listing)
            if server.route.values != "raw":
                log.warning("%s%s gives %s values: %s; name a local copy in `model` to have the drift measured",
                            root, server.route.path, server.route.values, _CAVEATS[server.route.values])
            return Remote(api, root, client, server=server)
        return Remote(api, root, client, component=params.remote_component)
    except JudgeError as exc:
        raise _unreachable(root, exc) from exc


def _guess(client: Any, doc: dict[str, Any] | None, root: str) -> tuple[str, Any | None]:
    """The server's kind, and its ``/v1/models`` reply when that was asked to tell (vLLM's connect reads it)."""
    if doc is not None:
        paths = doc.get("paths") or {}
        if "/get_reward" in paths:
            return "rewardlab", None
        if "/v1/models" in paths:
            return "vllm", None
    elif (listing := vllm.get(client, "/v1/models")) is not None:
        return "vllm", listing
    elif vllm.get(client, "/health") is not None:
        return "rewardlab", None
    raise ModelError(f"endpoint {root!r} is neither a rewardlab server (/get_reward) nor vLLM (/v1/models): "
                     "set remote_api")


def rewardlab_scores(remote: Remote, samples: Sequence[Sample]) -> list[Score]:
    """One ``POST /score`` for the batch; the chosen component's score per row, in order."""
    from rewardlab.judges.client import JudgeError
    from rewardlab.judges.loop import run_sync

    try:
        body = run_sync(remote.client.request_json("/score", {"samples": [s.to_dict() for s in samples]}))
    except JudgeError as exc:
        raise _unreachable(remote.endpoint, exc) from exc
    name = _component(body, remote.component, remote.endpoint)
    rows = body.get("rows") or []
    if len(rows) != len(samples):
        raise ModelError(f"endpoint {remote.endpoint!r} returned {len(rows)} rows for {len(samples)} samples")
    scores = []
    for row in rows:
        detail = {**(row.get("detail") or {}).get(name, {}), "endpoint": remote.endpoint}
        value = row.get(name)
        scores.append(Score(None if value is None else float(value), Status(row.get(f"{name}_status", "error")),
                            detail))
    return scores


def _unreachable(endpoint: str, exc: Any) -> ModelError:
    """The error for a request to ``endpoint`` that got no usable reply (a judge client's ``JudgeError``)."""
    return ModelError(f"endpoint {endpoint!r} could not be reached or gave no usable reply: {exc.reason}")


def _component(body: dict[str, Any], wanted: str | None, endpoint: str) -> str:
    names = list(body.get("components") or [])
    if wanted is not None:
        if wanted not in names:
            raise ModelError(f"endpoint {endpoint!r} has no component {wanted!r} (it has: {', '.join(names)})")
        return wanted
    if len(names) != 1:
        raise ModelError(f"endpoint {endpoint!r} serves {len(names)} components ({', '.join(names)}): "
                         "set remote_component to the one to use")
    return str(names[0])

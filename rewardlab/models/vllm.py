"""``remote_api = "vllm"``: a reward model served by vLLM's OpenAI-compatible server.

vLLM serves sequence classifiers (Bradley–Terry RMs) under endpoints whose names,
request fields and response shapes changed across releases. Read from vLLM's code:

- ``/pooling`` (``vllm/entrypoints/openai/serving_pooling.py``; ``PoolingCompletionRequest``
  with ``input`` and ``PoolingChatRequest`` with ``messages`` in
  ``vllm/entrypoints/openai/protocol.py``): ``data[i].data`` is the pooler's raw output,
  a list of floats (last-token pooling) or one list per token (``--task reward``,
  ``ALL`` pooling, where the last token's row is the sequence score);
- ``/classify``, first text only (``ClassificationRequest(model, input)``), answering
  ``{index, label, probs, num_classes}`` with the activation applied (sigmoid for one
  output, softmax for several: vLLM's ``PoolerClassify``; a config with
  ``problem_type = "regression"`` or a sentence-transformers ``activation_fn`` gets
  another, which only the drift check can tell); later also
  ``messages`` and a ``use_activation`` switch (``vllm/entrypoints/pooling/classify/
  protocol.py``, ``ClassifyRequestMixin`` in ``pooling/base/protocol.py``); latest
  ``{index, logits, probabilities}`` with ``use_activation`` off by default;
- ``/v1/embeddings`` (OpenAI's embeddings schema, ``data[i].embedding``): where a
  release offers neither of the above, a reward model's pooled output comes back as
  its "embedding"; used last, with a warning, as an embedding model's pooler may
  normalise it (the drift check tells);
- ``/score`` and ``/rerank`` pair two texts (cross-encoders): not a reward model's
  conversation input, so not used.

At start the server is asked what it offers (``GET /v1/models``, ``/version`` and
``/openapi.json``; without the OpenAPI document, an empty ``POST`` tells a missing
route (404) from a present one), and the request is shaped for it: the conversation
as chat ``messages`` (the server renders its chat template, as rewardlab does
locally: no generation prompt, no special tokens added twice), or text; activation
turned off where the server has the switch, otherwise a single sigmoid output is
mapped back to its logit (a softmax over several outputs cannot be undone: error).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardlab import transforms
from rewardlab.core import Sample
from rewardlab.judges.client import JudgeClient, JudgeError
from rewardlab.judges.loop import run_sync
from rewardlab.models.inputs import as_messages, as_text
from rewardlab.models.loading import ModelError

ROUTES = ("/classify", "/pooling", "/v1/embeddings")  # see :func:`choose_route` for the order
SWITCHES = ("use_activation", "activation", "softmax")  # vLLM's names, newest first


@dataclass(frozen=True)
class Route:
    """What one of the server's endpoints takes and gives."""

    path: str
    chat: bool  # accepts ``messages``
    switch: str | None  # the request field that turns the activation off, if the server has one

    @property
    def activated(self) -> bool:
        """Whether its values come back through an activation we cannot turn off."""
        return self.path == "/classify" and self.switch is None

    @property
    def values(self) -> str:
        """What its values are, for ``detail``: ``raw``, ``activated`` or ``embedding``."""
        return "embedding" if self.path == "/v1/embeddings" else "activated" if self.activated else "raw"


def get(client: JudgeClient, path: str) -> Any | None:
    """``GET path``'s JSON, or None when the server has no such route (404/405)."""
    try:
        return run_sync(client.request_json(path))
    except JudgeError as exc:
        if _absent(exc):
            return None
        raise


def _absent(exc: JudgeError) -> bool:
    return exc.http_status in (404, 405)


def _schema_properties(doc: dict[str, Any], node: Any, seen: int = 0) -> set[str]:
    """Property names of an OpenAPI request schema, following ``$ref``/``anyOf``/``allOf``."""
    if not isinstance(node, dict) or seen > 20:
        return set()
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        return _schema_properties(doc, doc.get("components", {}).get("schemas", {}).get(name), seen + 1)
    names = set(node.get("properties") or {})
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key) or []:
            names |= _schema_properties(doc, sub, seen + 1)
    return names


def routes_from_openapi(doc: dict[str, Any]) -> list[Route]:
    """The reward routes an OpenAPI document lists, with what their requests accept."""
    out = []
    for path in ROUTES:
        post = (doc.get("paths") or {}).get(path, {}).get("post")
        if post is None:
            continue
        schema = (post.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
        fields = _schema_properties(doc, schema)
        switch = next((s for s in SWITCHES if s in fields), None)
        out.append(Route(path, "messages" in fields, switch))
    return out


def routes_by_probing(client: JudgeClient) -> list[Route]:
    """Without ``/openapi.json`` (``--disable-fastapi-docs``): an empty POST per route; 404 = absent.

    What the requests accept is then unknown: text input, and ``use_activation`` sent
    anyway (vLLM's request models allow and ignore unknown fields).
    """
    out = []
    for path in ROUTES:
        try:
            run_sync(client.request_json(path, {}))
        except JudgeError as exc:
            if _absent(exc):
                continue
            if exc.http_status is None:  # unreachable, timed out: not an answer about the route
                raise
        out.append(Route(path, False, "use_activation" if path == "/classify" else None))
    return out


def choose_route(routes: Sequence[Route], endpoint: str) -> Route:
    """``/classify`` with an activation switch, else ``/pooling`` (raw values), else ``/classify``,
    else ``/v1/embeddings``."""
    by_path = {r.path: r for r in routes}
    classify, pooling = by_path.get("/classify"), by_path.get("/pooling")
    if classify is not None and (classify.switch is not None or pooling is None):
        return classify
    if pooling is not None:
        return pooling
    if "/v1/embeddings" in by_path:
        return by_path["/v1/embeddings"]
    raise ModelError(f"endpoint {endpoint!r} is a vLLM server without /classify or /pooling: start it with "
                     "a pooling model (`vllm serve MODEL --runner pooling`, or `--task classify|reward` "
                     "on older releases)")


@dataclass
class VllmServer:
    """A detected vLLM server: the served model, its version and the route used."""

    client: JudgeClient
    endpoint: str
    model: str
    version: str | None
    route: Route

    def identity(self) -> dict[str, Any]:
        return {"model": self.model, "endpoint": self.endpoint, "api": "vllm", "server_version": self.version,
                "route": self.route.path, "values": self.route.values}


def connect(client: JudgeClient, endpoint: str, served: str | None, doc: dict[str, Any] | None,
            listing: Any | None = None) -> VllmServer:
    """Ask the server what it serves and offers (see the module docstring); ``listing``: its ``/v1/models``
    reply when the caller already has it."""
    listing = get(client, "/v1/models") if listing is None else listing
    models = [str(m.get("id")) for m in (listing or {}).get("data") or []]
    if served is None:
        if len(models) != 1:
            raise ModelError(f"endpoint {endpoint!r} serves {len(models)} models ({', '.join(models)}): "
                             "set remote_model to the one to use")
        served = models[0]
    elif served not in models:
        raise ModelError(f"endpoint {endpoint!r} does not serve {served!r} (it serves: {', '.join(models)})")
    version = (get(client, "/version") or {}).get("version")
    routes = routes_from_openapi(doc) if doc is not None else routes_by_probing(client)
    return VllmServer(client, endpoint, served, version, choose_route(routes, endpoint))


# --- requests and replies --------------------------------------------------------------


def requests(server: VllmServer, samples: Sequence[Sample], chat: bool
             ) -> tuple[list[tuple[list[int], dict[str, Any]]], dict[int, Exception]]:
    """(sample indices, body) per request, and the samples that cannot be sent, with why.

    vLLM's chat form takes one conversation per request (``messages``); the text form
    takes a list (``input``), so all texts go in one request.
    """
    route = server.route
    base: dict[str, Any] = {"model": server.model}
    if route.switch is not None:
        base[route.switch] = False
    if chat:
        if not route.chat:
            raise ModelError(f"endpoint {server.endpoint!r}: {route.path} takes text only, and this reward renders "
                             "the conversation with the chat template: set chat_template = 'none' for text, "
                             "or serve with a vLLM whose endpoint accepts messages")
        return [([i], {**base, "messages": as_messages(s.prompt, "user") + as_messages(_completion(s), "assistant"),
                       "add_special_tokens": False}) for i, s in enumerate(samples)], {}
    texts: dict[int, str] = {}
    refused: dict[int, Exception] = {}
    for i, s in enumerate(samples):
        try:
            texts[i] = as_text(s.prompt, "prompt") + as_text(_completion(s), "completion")
        except ModelError as exc:  # chat messages without a template: this sample only
            refused[i] = exc
    if not texts:
        return [], refused
    return [(list(texts), {**base, "input": list(texts.values()), "add_special_tokens": True})], refused


def _completion(sample: Sample) -> Any:
    assert sample.completion is not None  # the engine answers a missing completion before any reward
    return sample.completion


def outputs(server: VllmServer, reply: Any, n: int) -> list[list[float]]:
    """Each input's output vector from a reply, in input order (items carry ``index``)."""
    items = sorted(reply["data"], key=lambda d: int(d["index"]))
    if len(items) != n:
        raise ModelError(f"endpoint {server.endpoint!r} returned {len(items)} results for {n} inputs")
    out = []
    for item in items:
        values = next(item[k] for k in ("logits", "probs", "data", "embedding") if k in item)
        if values and isinstance(values[0], list):  # one row per token (ALL pooling): the last one
            values = values[-1]
        out.append([float(v) for v in values])
    return out


def fetch(server: VllmServer, samples: Sequence[Sample], chat: bool) -> list[list[float] | Exception]:
    """Every sample's output vector (or the exception of its request), concurrently."""
    plan, refused = requests(server, samples, chat)

    async def one(idx: list[int], body: dict[str, Any]) -> list[list[float]]:
        try:
            reply = await server.client.request_json(server.route.path, body)
        except JudgeError as exc:
            raise ModelError(f"endpoint {server.endpoint + server.route.path!r}: {exc.reason}") from exc
        return outputs(server, reply, len(idx))

    async def every() -> list[Any]:
        return await asyncio.gather(*(one(idx, body) for idx, body in plan), return_exceptions=True)

    got: list[list[float] | Exception] = [refused.get(i, ModelError("not scored")) for i in range(len(samples))]
    for (idx, _body), result in zip(plan, run_sync(every()) if plan else [], strict=True):
        for k, i in enumerate(idx):
            got[i] = result if isinstance(result, Exception) else result[k]
    return got


def rm_value(route: Route, values: list[float], head: int | None, sigmoid: bool, endpoint: str) -> float:
    """A ``model.rm`` value from a served output vector: the logit, or its sigmoid with ``sigmoid``."""
    n = len(values)
    if head is None and n > 1:
        raise ModelError(f"the served model has {n} outputs: set head = 0..{n - 1}")
    column = head or 0
    if column >= n:
        raise ModelError(f"head = {column}, but the served model has {n} outputs")
    value = values[column]
    if not route.activated:
        return float(transforms.sigmoid(np.array(value))) if sigmoid else value
    if n > 1:
        raise ModelError(f"endpoint {endpoint!r} applies softmax over {n} outputs on /classify and offers no "
                         "use_activation switch: the head's value cannot be recovered; serve with /pooling "
                         "(--task reward) or a vLLM with use_activation")
    if sigmoid:
        return value
    if not 0.0 < value < 1.0:
        raise ModelError(f"endpoint {endpoint!r} returned the sigmoid {value!r}: its logit cannot be recovered "
                         "(set sigmoid = true, or serve with a vLLM that accepts use_activation)")
    return math.log(value / (1.0 - value))  # the logit back from the server's sigmoid

"""A real HTTP server speaking vLLM's reward-model endpoints, backed by a tiny transformers model.

vLLM itself cannot be installed here (CUDA), so this server follows vLLM's request and
response schemas as vLLM's code defines them, in two release variants:

- ``"openai_protocol"``: the older layout, ``vllm/entrypoints/openai/protocol.py``
  (``PoolingCompletionRequest``/``PoolingChatRequest`` -> ``PoolingResponse`` with
  ``data[i].data``; ``ClassificationRequest(model, input)`` -> ``ClassificationData(index,
  label, probs, num_classes)``), served by ``serving_pooling.py`` and
  ``serving_classification.py``: ``/classify`` takes text only and applies the
  activation (vLLM's ``PoolerClassify``, the default of ``get_classification_act_fn`` in its
  pooler activations module: sigmoid for fewer than two labels, else softmax); ``/pooling`` under ``--task reward``
  returns one row per token (``ALL`` pooling, no activation; docs/models/pooling_models.md).
- ``"pooling_protocol"``: the newer layout, ``vllm/entrypoints/pooling/classify/protocol.py``
  with ``ClassifyRequestMixin`` from ``vllm/entrypoints/pooling/base/protocol.py``:
  ``/classify`` takes ``input`` or ``messages`` and ``use_activation`` (off when None),
  answering ``ClassificationData(index, logits, probabilities)``; ``"pooling_protocol_probs"``
  is the same file's earlier version, still answering ``ClassificationData(index, label,
  probs, num_classes)`` with the activation on unless ``use_activation`` is false.

With ``routes`` naming ``/v1/embeddings``, the older variant also answers OpenAI's
embeddings schema with the pooled head output (the oldest way a reward model was served).

Both keep ``OpenAIBaseModel``'s ``extra="allow"`` (unknown request fields are ignored),
serve ``/v1/models`` and ``/version``, and publish ``/openapi.json`` unless ``docs=False``
(vLLM's ``--disable-fastapi-docs``). Chat requests render the template without a
generation prompt and tokenise without special tokens by default, as vLLM's pooling
preprocessing does.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict


class _Base(BaseModel):
    model_config = ConfigDict(extra="allow")  # vLLM's OpenAIBaseModel


class OldPooling(_Base):
    model: str | None = None
    input: list[str] | str | None = None
    messages: list[dict[str, Any]] | None = None
    add_special_tokens: bool | None = None


class OldClassify(_Base):
    model: str | None = None
    input: list[str] | str


class NewClassifyCompletion(_Base):
    model: str | None = None
    input: list[str] | str
    add_special_tokens: bool = True
    use_activation: bool | None = None


class NewClassifyChat(_Base):
    model: str | None = None
    messages: list[dict[str, Any]]
    add_special_tokens: bool = False
    use_activation: bool | None = None


class Backend:
    """The tiny sequence classifier: per-token head outputs, as a pooling runner computes them."""

    def __init__(self, path: str, shift: float = 0.0) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path).eval()
        self.shift = shift  # a served model that drifts from the local one by this much
        self.lock = threading.Lock()

    def ids(self, text: str | None, messages: list[dict[str, Any]] | None, special: bool) -> list[int]:
        if messages is not None:
            text = str(self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=False))
        return list(self.tok(text, add_special_tokens=special)["input_ids"])

    def rows(self, ids: list[int]) -> Any:
        import torch

        with self.lock, torch.no_grad():
            hidden = self.model.model(input_ids=torch.tensor([ids])).last_hidden_state
            return self.model.score(hidden)[0].float() + self.shift  # (tokens, num_labels)


def _activated(logits: Any) -> list[float]:
    return (logits.sigmoid() if logits.numel() == 1 else logits.softmax(-1)).tolist()


def _usage(n: int) -> dict[str, int]:
    return {"prompt_tokens": n, "total_tokens": n, "completion_tokens": 0}


def app(path: str, variant: str, served: str = "served-rm", docs: bool = True, shift: float = 0.0,
        routes: tuple[str, ...] = ("/classify", "/pooling"), api_key: str | None = None, fail: int = 0) -> Any:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    backend = Backend(path, shift)
    kwargs: dict[str, Any] = {} if docs else {"openapi_url": None, "docs_url": None, "redoc_url": None}
    api = FastAPI(**kwargs)
    api.state.requests = []

    api.state.failures = fail  # the first `fail` scoring requests answer 503 (an overloaded server)

    @api.middleware("http")
    async def authorize(request: Request, call_next: Any) -> Any:  # `vllm serve --api-key`
        if api_key is not None and request.headers.get("authorization") != f"Bearer {api_key}":
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        if request.method == "POST" and api.state.failures > 0:
            api.state.failures -= 1
            return JSONResponse({"error": "Service Unavailable"}, status_code=503)
        return await call_next(request)

    @api.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": served, "object": "model", "owned_by": "vllm"}]}

    @api.get("/version")
    def version() -> dict[str, str]:
        return {"version": f"fake-{variant}"}

    def texts(value: list[str] | str) -> list[str]:
        return [value] if isinstance(value, str) else value

    if variant == "openai_protocol":
        if "/pooling" in routes:
            @api.post("/pooling")
            def pooling(req: OldPooling) -> dict[str, Any]:
                api.state.requests.append(("/pooling", req.model_dump()))
                chat = req.messages is not None
                special = req.add_special_tokens if req.add_special_tokens is not None else not chat
                inputs = [None] if chat else texts(req.input or [])
                data, n = [], 0
                for i, text in enumerate(inputs):
                    ids = backend.ids(text, req.messages, special)
                    n += len(ids)
                    data.append({"index": i, "object": "pooling", "data": backend.rows(ids).tolist()})
                return {"id": "pool-1", "object": "list", "created": 0, "model": served, "data": data,
                        "usage": _usage(n)}

        if "/v1/embeddings" in routes:  # OpenAI's embeddings schema; a reward model's pooled output, unnormalised
            @api.post("/v1/embeddings")
            def embeddings(req: OldPooling) -> dict[str, Any]:
                api.state.requests.append(("/v1/embeddings", req.model_dump()))
                data = [{"index": i, "object": "embedding", "embedding": backend.rows(backend.ids(t, None, True))[-1]
                         .tolist()} for i, t in enumerate(texts(req.input or []))]
                return {"object": "list", "model": served, "data": data, "usage": _usage(0)}

        if "/classify" in routes:
            @api.post("/classify")
            def classify_old(req: OldClassify) -> dict[str, Any]:
                api.state.requests.append(("/classify", req.model_dump()))
                data = []
                for i, text in enumerate(texts(req.input)):
                    probs = _activated(backend.rows(backend.ids(text, None, True))[-1])
                    data.append({"index": i, "label": "LABEL_0", "probs": probs, "num_classes": len(probs)})
                return {"id": "classify-1", "object": "list", "created": 0, "model": served, "data": data,
                        "usage": _usage(0)}
    else:
        @api.post("/classify")
        def classify_new(req: NewClassifyChat | NewClassifyCompletion) -> dict[str, Any]:
            api.state.requests.append(("/classify", req.model_dump()))
            chat = isinstance(req, NewClassifyChat)
            inputs = [None] if chat else texts(req.input)  # type: ignore[union-attr]
            data = []
            for i, text in enumerate(inputs):
                logits = backend.rows(backend.ids(text, getattr(req, "messages", None), req.add_special_tokens))[-1]
                probs = _activated(logits)
                if variant == "pooling_protocol_probs":  # activation on unless use_activation is false
                    shown = logits.tolist() if req.use_activation is False else probs
                    data.append({"index": i, "label": "LABEL_0", "probs": shown, "num_classes": len(shown)})
                else:
                    shown = probs if req.use_activation else logits.tolist()
                    data.append({"index": i, "logits": shown, "probabilities": probs})
            return {"id": "classify-1", "created": 0, "model": served, "data": data, "usage": _usage(0)}

    return api


@contextmanager
def serve(path: str, variant: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
    """Run :func:`app` on a free loopback port; yields (base URL, the FastAPI app)."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fastapi_app = app(path, variant, **kwargs)
    server = uvicorn.Server(uvicorn.Config(fastapi_app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", fastapi_app
    finally:
        server.should_exit = True
        thread.join(10)

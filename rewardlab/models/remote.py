"""``placement = "remote"``: scores from a rewardlab server that runs the model (``rewardlab serve``).

The whole deduplicated batch goes to the server's ``POST /score`` in one request; the
server micro-batches it with other clients' requests into its model's length buckets.
The score of one component comes back per row, with its status and detail (the
served model's identity and chat-template hash included), so a remote score is the
same row the server's own pipeline gives. vLLM's reward endpoints are not supported
yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardlab.core import Sample, Score, Status
from rewardlab.errors import require_extra
from rewardlab.models.loading import ModelError


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


def remote_scores(endpoint: str, component: str | None, samples: Sequence[Sample], timeout: float) -> list[Score]:
    """One ``POST {endpoint}/score`` for the batch; the chosen component's score per row, in order."""
    require_extra("serve", "placement = 'remote'", "httpx", error=ModelError)
    import httpx
    url = endpoint.rstrip("/") + "/score"
    try:
        reply = httpx.post(url, json={"samples": [s.to_dict() for s in samples]}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ModelError(f"endpoint {url!r} could not be reached: {type(exc).__name__}: {exc}") from exc
    if reply.status_code != 200:
        raise ModelError(f"endpoint {url!r} answered {reply.status_code}: {reply.text[:300]}")
    body = reply.json()
    name = _component(body, component, endpoint)
    rows = body.get("rows") or []
    if len(rows) != len(samples):
        raise ModelError(f"endpoint {url!r} returned {len(rows)} rows for {len(samples)} samples")
    scores = []
    for row in rows:
        status = Status(row.get(f"{name}_status", "error"))
        detail = {**(row.get("detail") or {}).get(name, {}), "endpoint": endpoint}
        value = row.get(name)
        scores.append(Score(None if value is None else float(value), status, detail))
    return scores

"""Shared by the adapters: spec -> pipeline (cached), unscorable policy."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardlab.errors import RewardlabError
from rewardlab.pipeline import Pipeline

SPEC_ENV = "REWARDLAB_SPEC"
_pipelines: dict[str, Pipeline] = {}
_lock = threading.Lock()


class UnscorableError(RewardlabError):
    """A trainer needs a float but rewardlab could not score a sample (and no fallback is set)."""


def spec_key(spec: str | Path | Mapping[str, Any]) -> str:
    if isinstance(spec, Mapping):
        return json.dumps(spec, sort_keys=True, default=repr)
    return str(Path(spec).resolve())


def resolve_spec(spec: str | Path | Mapping[str, Any] | None) -> str | Path | Mapping[str, Any]:
    """The given spec, else the ``REWARDLAB_SPEC`` environment variable."""
    if spec is not None:
        return spec
    env = os.environ.get(SPEC_ENV)
    if not env:
        raise RewardlabError(f"no spec given: pass spec=... or set {SPEC_ENV}=/path/to/spec.toml")
    return env


def cached_pipeline(spec: str | Path | Mapping[str, Any] | None) -> Pipeline:
    """One pipeline per spec per process (loaders call the adapter many times)."""
    source = resolve_spec(spec)
    key = spec_key(source)
    with _lock:
        if key not in _pipelines:
            _pipelines[key] = Pipeline.from_spec(source)
        return _pipelines[key]


def apply_fallback(
    values: Sequence[float | None], statuses: Sequence[str], fallback: float | None, ids: Sequence[str], what: str
) -> list[float]:
    """Replace unscorable values by ``fallback``; without one, raise naming the rows."""
    missing = [i for i, v in enumerate(values) if v is None]
    if missing and fallback is None:
        by_status: dict[str, int] = {}
        for i in missing:
            by_status[statuses[i]] = by_status.get(statuses[i], 0) + 1
        shown = ", ".join(f"{ids[i]} ({statuses[i]})" for i in missing[:5])
        raise UnscorableError(
            f"{len(missing)} of {len(values)} samples have no {what} ({by_status}); e.g. {shown}. "
            "rewardlab never turns them into 0.0 silently: map them per component with on_unscorable in the "
            "spec, or set an explicit fallback value"
        )
    return [fallback if v is None else float(v) for v in values]  # type: ignore[misc]


# Here, not in the adapter files: trainers load those by path, as modules of their own, so
# state kept there would not be shared with ``import rewardlab.integrations...``.
_batchers: dict[tuple[str, float | None, float], tuple[asyncio.AbstractEventLoop, Any]] = {}


async def loop_batcher(
    spec: str | Path | Mapping[str, Any] | None, fallback: float | None, wait_ms: float,
    score_many: Callable[[list[Any]], list[Any]],
) -> Any:
    """This event loop's micro-batcher for this spec (started on first use): calls that arrive
    within ``wait_ms`` are scored together by ``score_many``."""
    from rewardlab.serve.batching import MicroBatcher

    loop = asyncio.get_running_loop()
    key = (spec_key(resolve_spec(spec)), fallback, wait_ms)
    held = _batchers.get(key)
    if held is None or held[0] is not loop:
        for k in [k for k, (lp, _) in _batchers.items() if lp.is_closed()]:
            del _batchers[k]
        batcher: MicroBatcher[Any, Any] = MicroBatcher(  # a trainer's whole batch at once: groups stay whole
            score_many, max_wait=wait_ms / 1000, max_batch=1 << 30, max_queue=1 << 30)
        held = _batchers[key] = (loop, batcher)
        await batcher.start()
    return held[1]


async def stop_batchers() -> None:
    """Stop this event loop's micro-batchers (after what they hold), e.g. before closing the loop."""
    loop = asyncio.get_running_loop()
    for key, (held_loop, batcher) in list(_batchers.items()):
        if held_loop is loop:
            del _batchers[key]
            await batcher.stop()

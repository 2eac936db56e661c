"""OpenRLHF: the remote reward protocol and the ``reward_func`` file.

OpenRLHF sends ``{"query": [...], "prompts": [...], "labels": [...]}`` (query = prompt +
response text) to ``--reward.remote_url`` (older: ``--remote_rm_url``), or, when that
option names a ``.py`` file, calls its ``reward_func(queries, prompts, labels, **kwargs)``.
Both answer ``{"rewards", "scores", "extra_logs"}``: ``rewards`` train, ``scores`` drive
dynamic filtering, ``extra_logs`` are logged.

Unscorable samples: components with ``on_unscorable`` in the spec are mapped there. A
combined reward still unscorable becomes the explicit ``unscorable_reward`` fallback if
one is configured, else the call fails with :class:`UnscorableError` naming the rows;
never a silent 0.0. ``extra_logs["rewardlab/unscorable"]`` flags the rows that fell back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardlab.core import Sample
from rewardlab.errors import RewardlabError
from rewardlab.integrations._common import UnscorableError, apply_fallback, cached_pipeline
from rewardlab.results import Results

__all__ = ["UnscorableError", "load_reward_func", "make_reward_func", "openrlhf_response", "openrlhf_samples"]


def response_text(query: str, prompt: str | None) -> str:
    """The response part of ``query`` (prompt + response), as OpenRLHF's own examples cut it."""
    if prompt:
        if query.startswith(prompt):
            return query[len(prompt):]
        at = query.find(prompt)
        if at >= 0:
            return query[at + len(prompt):]
    return query


def openrlhf_samples(
    queries: Sequence[str], prompts: Sequence[str] | None = None, labels: Sequence[Any] | None = None,
    response_lengths: Sequence[int] | None = None,
) -> list[Sample]:
    """Samples from OpenRLHF's lists; rollouts of the same prompt form one group.

    ``response_lengths`` (tokens generated per query) reach length rewards when an executor
    sends them; OpenRLHF's own executors send text only (see docs/integrations.md).
    """
    n = len(queries)
    for name, seq in (("prompts", prompts), ("labels", labels), ("response_lengths", response_lengths)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"'{name}' has {len(seq)} items but 'query' has {n}")
    out = []
    for i, query in enumerate(queries):
        prompt = prompts[i] if prompts is not None else None
        out.append(Sample(
            id=str(i),
            prompt=prompt or "",
            completion=response_text(query, prompt),
            reference=labels[i] if labels is not None else None,
            group=prompt if prompt else None,
            meta={"response_length": int(response_lengths[i])} if response_lengths is not None else {},
        ))
    return out


def openrlhf_response(results: Results, unscorable_reward: float | None = None) -> dict[str, Any]:
    """``{"rewards", "scores", "extra_logs"}`` as lists of floats (see the module docstring)."""
    ids = [str(r["id"]) for r in results.rows]
    rewards = apply_fallback(results.rewards, results.column("status"), unscorable_reward, ids, "reward")
    extra: dict[str, list[float]] = {
        "rewardlab/unscorable": [0.0 if r is not None else 1.0 for r in results.rewards],
    }
    for name in results.components:
        values = results.column(name)
        if all(v is not None for v in values):
            extra[name] = [float(v) for v in values]
        elif unscorable_reward is not None:
            extra[name] = [unscorable_reward if v is None else float(v) for v in values]
    return {"rewards": rewards, "scores": list(rewards), "extra_logs": extra}


def make_reward_func(spec: str | Path | Mapping[str, Any] | None = None, unscorable_reward: float | None = None) -> Any:
    """A ``reward_func(queries, prompts, labels, **kwargs)`` for a spec (default ``$REWARDLAB_SPEC``).

    The pipeline is built here, so a missing or invalid spec fails when the function is made.
    ``kwargs["response_lengths"]`` (tokens per response), when an executor passes it, reaches
    length rewards.
    """
    pipeline = cached_pipeline(spec)

    def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any], **kwargs: Any) -> dict:
        lengths = kwargs.get("response_lengths")
        results = pipeline.run(openrlhf_samples(list(queries), list(prompts), list(labels),
                                                None if lengths is None else list(lengths)))
        out = openrlhf_response(results, unscorable_reward)
        return _as_tensors(out)

    return reward_func


def _as_tensors(out: dict[str, Any]) -> dict[str, Any]:
    """OpenRLHF's in-process path expects torch tensors; use them when torch is there."""
    try:
        import torch
    except ImportError:  # pragma: no cover - OpenRLHF always has torch
        return out
    return {
        "rewards": torch.tensor(out["rewards"], dtype=torch.float),
        "scores": torch.tensor(out["scores"], dtype=torch.float),
        "extra_logs": {k: torch.tensor(v, dtype=torch.float) for k, v in out["extra_logs"].items()},
    }


def load_reward_func() -> Any:
    """The ``reward_func`` for ``$REWARDLAB_SPEC`` (fallback ``$REWARDLAB_UNSCORABLE_REWARD``), built at load.

    Raises :class:`RewardlabError` when the spec is missing or invalid or the fallback is not a
    number, so OpenRLHF fails when it loads the file, not on every call.
    """
    import os

    raw = os.environ.get("REWARDLAB_UNSCORABLE_REWARD")
    try:
        fallback = float(raw) if raw not in (None, "") else None
    except ValueError:
        raise RewardlabError(f"REWARDLAB_UNSCORABLE_REWARD={raw!r} is not a number (e.g. -1.0)") from None
    return make_reward_func(None, fallback)

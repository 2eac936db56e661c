"""verl: ``custom_reward_function.path`` may point at this file (or a file importing from it).

verl loads the file by path and calls the function named by ``custom_reward_function.name``
with ``custom_reward_function.reward_kwargs`` bound as keyword arguments. Which name fits
which verl (docs/integrations.md has the table):

- ``compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs)``, one
  sample per call: every verl with ``custom_reward_function``, and the reward loop's
  ``naive``, ``dapo``, ``gdpo`` and ``limited`` managers (verl 0.9.x). Returns
  ``{"score": float, <component>: float, ...}``; verl trains on ``score``, logs the rest.
- ``compute_score_async``, same arguments, a coroutine: the reward loop (verl 0.9.x) awaits
  it for every sample of a batch at once; the calls that arrive together are scored in one
  pipeline run (a :class:`~rewardlab.serve.batching.MicroBatcher` per event loop), so the
  engine deduplicates and group-level rewards see whole groups.
- ``compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, **kwargs)``:
  the legacy batch manager (``reward_model.reward_manager=batch``), which verl 0.9's reward
  loop no longer registers.
- :class:`rewardlab.integrations.verl_manager.RewardlabRewardManager`, a reward-loop manager
  (``reward.reward_manager.source=importlib``) that also hands over the response's token
  count and GRPO group (``uid``); it calls the function configured here.

Groups come from ``extra_info["uid"|"group"|"index"]``; a token count from the
``response_length`` keyword or ``extra_info`` (else length rewards estimate it). The spec
comes from ``reward_kwargs.spec`` or ``$REWARDLAB_SPEC``. Unscorable samples: the spec's
``on_unscorable`` maps components; a reward still unscorable uses
``reward_kwargs.unscorable_reward`` if set, else raises :class:`UnscorableError` (never a
silent 0.0). Component values that stay unscorable are reported as NaN (also where
``on_unscorable`` gave the pipeline a fallback value: verl only logs them, and a fallback is
not a score), rows whose reward stays unscorable have the ``rewardlab_unscorable`` flag set.
A spec component may not be named ``score`` (the spec refuses reserved names).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardlab.core import Sample
from rewardlab.integrations._common import (
    UnscorableError,
    apply_fallback,
    cached_pipeline,
    loop_batcher,
    stop_batchers,
)
from rewardlab.results import scored_value

__all__ = ["UnscorableError", "compute_score", "compute_score_async", "compute_score_batch", "stop_batchers"]

SpecLike = str | Path | Mapping[str, Any] | None
GROUP_KEYS = ("uid", "group", "index")


def _sample(
    i: int, data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any, response_length: Any = None
) -> Sample:
    extra = dict(extra_info) if isinstance(extra_info, Mapping) else {}
    group = next((extra[k] for k in GROUP_KEYS if extra.get(k) is not None), None)
    meta = {"data_source": data_source, **{k: v for k, v in extra.items() if _jsonish(v)}}
    if response_length is not None:
        meta["response_length"] = int(response_length)  # the valid response tokens: length rewards read it
    return Sample(id=str(i), prompt=str(extra.get("question", extra.get("prompt", ""))), completion=solution_str,
                  reference=ground_truth, group=None if group is None else str(group), meta=meta)


def _jsonish(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))


def _dicts(
    spec: SpecLike, samples: list[Sample], unscorable_reward: float | None
) -> list[dict[str, Any]]:
    pipeline = cached_pipeline(spec)
    results = pipeline.run(samples)
    ids = [s.id for s in samples]
    scores = apply_fallback(results.rewards, results.column("status"), unscorable_reward, ids, "reward")
    return [_dict(pipeline.names, score, row) for score, row in zip(scores, results.rows, strict=True)]


def _dict(names: Sequence[str], score: float, row: dict[str, Any]) -> dict[str, Any]:
    d: dict[str, Any] = {"score": score}
    for name in names:
        value = scored_value(row, name)  # None where not scored: a fallback is not a score
        d[name] = math.nan if value is None else value
    d["rewardlab_unscorable"] = row["reward"] is None
    return d


def _each(spec: SpecLike, samples: list[Sample], unscorable_reward: float | None) -> list[Any]:
    """One pipeline run for samples that arrived apart: per sample its dict, or the error it alone raises."""
    pipeline = cached_pipeline(spec)
    numbered = [dataclasses.replace(s, id=str(i)) for i, s in enumerate(samples)]
    results = pipeline.run(numbered)
    out: list[Any] = []
    for row in results.rows:
        try:
            (score,) = apply_fallback([row["reward"]], [row["status"]], unscorable_reward, [row["id"]], "reward")
        except UnscorableError as exc:
            out.append(exc)
            continue
        out.append(_dict(pipeline.names, score, row))
    return out


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    spec: SpecLike = None,
    unscorable_reward: float | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's per-sample reward function (naive reward manager)."""
    sample = _sample(0, data_source, solution_str, ground_truth, extra_info, kwargs.get("response_length"))
    return _dicts(spec, [sample], unscorable_reward)[0]


async def compute_score_async(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    spec: SpecLike = None,
    unscorable_reward: float | None = None,
    batch_wait_ms: float = 20.0,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's reward loop, per sample: calls that arrive within ``batch_wait_ms`` share one pipeline run."""
    sample = _sample(0, data_source, solution_str, ground_truth, extra_info, kwargs.get("response_length"))
    batcher = await loop_batcher(spec, unscorable_reward, batch_wait_ms,
                                 lambda samples: _each(spec, samples, unscorable_reward))
    result = await batcher.submit(sample, 1)
    if isinstance(result, BaseException):
        raise result
    return dict(result)


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    spec: SpecLike = None,
    unscorable_reward: float | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """verl's legacy batch reward function (``reward_manager=batch``, verl <= 0.6): one pipeline run."""
    n = len(solution_strs)
    extras = list(extra_infos) if extra_infos is not None else [None] * n
    lengths = kwargs.get("response_lengths") or [None] * n
    samples = [_sample(i, data_sources[i], solution_strs[i], ground_truths[i], extras[i], lengths[i])
               for i in range(n)]
    return _dicts(spec, samples, unscorable_reward)

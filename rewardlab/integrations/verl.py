"""verl: ``custom_reward_function.path`` may point at this file (or a file importing from it).

verl loads the file by path and calls the function named by ``custom_reward_function.name``
with ``custom_reward_function.reward_kwargs`` bound as keyword arguments:

- ``compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs)`` for
  the naive reward manager: returns ``{"score": float, <component>: float, ...}``;
  verl trains on ``score`` and logs every other key.
- ``compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, **kwargs)``
  for the batch reward manager (``reward_model.reward_manager=batch``): a list of such dicts,
  one pipeline run for the whole batch (groups from ``extra_info["uid"|"group"|"index"]``).

The spec comes from ``reward_kwargs.spec`` or ``$REWARDLAB_SPEC``. Unscorable samples: the
spec's ``on_unscorable`` maps components; a reward still unscorable uses
``reward_kwargs.unscorable_reward`` if set, else raises :class:`UnscorableError` (never a
silent 0.0). Component values of unscorable rows are reported as NaN (also where
``on_unscorable`` gave the pipeline a fallback value: verl only logs them, and a fallback is
not a score), and rows whose reward stays unscorable have the ``rewardlab_unscorable`` flag set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardlab.core import Sample
from rewardlab.integrations._common import UnscorableError, apply_fallback, cached_pipeline
from rewardlab.results import component_values

__all__ = ["UnscorableError", "compute_score", "compute_score_batch"]

SpecLike = str | Path | Mapping[str, Any] | None
GROUP_KEYS = ("uid", "group", "index")


def _sample(i: int, data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any) -> Sample:
    extra = dict(extra_info) if isinstance(extra_info, Mapping) else {}
    group = next((extra[k] for k in GROUP_KEYS if extra.get(k) is not None), None)
    return Sample(id=str(i), prompt=str(extra.get("question", extra.get("prompt", ""))), completion=solution_str,
                  reference=ground_truth, group=None if group is None else str(group),
                  meta={"data_source": data_source, **{k: v for k, v in extra.items() if _jsonish(v)}})


def _jsonish(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))


def _dicts(
    spec: SpecLike, samples: list[Sample], unscorable_reward: float | None
) -> list[dict[str, Any]]:
    pipeline = cached_pipeline(spec)
    results = pipeline.run(samples)
    ids = [s.id for s in samples]
    scores = apply_fallback(results.rewards, results.column("status"), unscorable_reward, ids, "reward")
    logged = {name: component_values(results.rows, name) for name in pipeline.names}  # fallbacks are not scores
    out = []
    for i, (score, row) in enumerate(zip(scores, results.rows, strict=True)):
        d: dict[str, Any] = {"score": score}
        for name in pipeline.names:
            value = logged[name][i]
            d[name] = math.nan if value is None else value
        d["rewardlab_unscorable"] = row["reward"] is None
        out.append(d)
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
    return _dicts(spec, [_sample(0, data_source, solution_str, ground_truth, extra_info)], unscorable_reward)[0]


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    spec: SpecLike = None,
    unscorable_reward: float | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """verl's batch reward function (``reward_manager=batch``): one pipeline run for the batch."""
    n = len(solution_strs)
    extras = list(extra_infos) if extra_infos is not None else [None] * n
    samples = [_sample(i, data_sources[i], solution_strs[i], ground_truths[i], extras[i]) for i in range(n)]
    return _dicts(spec, samples, unscorable_reward)

"""TRL: a spec becomes ``GRPOTrainer(reward_funcs=..., args=GRPOConfig(reward_weights=...))``.

TRL calls each reward function as ``f(prompts=..., completions=..., completion_ids=..., **columns)``
(``columns``: the dataset's other columns, repeated per generation, plus ``trainer_state``,
``log_extra``, ``log_metric``) and expects one ``float | None`` per completion; ``None`` becomes
NaN, a row where every function returns ``None`` is masked out of the group baseline, and the
reward is ``nansum(weights * rewards)``.

``mode="components"`` (default when the spec combines with ``weighted_sum`` and no combined
transforms) gives one function per component, named after it so TRL logs each, returning the
shaped component value; ``weights`` are the spec's weights. A sample whose combined reward is
unscorable gets ``None`` from *every* function, so TRL masks it instead of summing the rest.
``mode="combined"`` gives one function returning the spec's combined reward (weight 1.0).
The spec's ``[advantage]`` is not used: TRL computes its own advantages.

The pipeline runs once per batch; the per-component functions share that result. The
length of each of TRL's ``completion_ids`` becomes ``meta["completion_tokens"]``, so length
rewards count the policy's tokens.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rewardlab.core import Sample, content_hash
from rewardlab.errors import RewardlabError
from rewardlab.pipeline import Pipeline
from rewardlab.results import Results

REFERENCE_KEYS = ("reference", "solution", "answer", "ground_truth", "label", "labels")
TRAINER_KWARGS = ("trainer_state", "log_extra", "log_metric", "environments", "completion_ids")

__all__ = ["TRLRewards", "trl_reward_funcs"]


class _SharedBatch:
    """Runs the pipeline once per distinct batch; every component function reads the same result."""

    def __init__(self, pipeline: Pipeline, reference_key: str | None) -> None:
        self.pipeline = pipeline
        self.reference_key = reference_key
        self._key: str | None = None
        self._results: Results | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled as the spec (TRL may ship reward functions to other processes); rebuilt there."""
        return {"spec": self.pipeline.spec.raw, "reference_key": self.reference_key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(Pipeline.from_spec(state["spec"]), state["reference_key"])  # type: ignore[misc]

    def results(self, prompts: Sequence[Any], completions: Sequence[Any], kwargs: Mapping[str, Any]) -> Results:
        columns = {k: v for k, v in kwargs.items() if k not in TRAINER_KWARGS}
        ref_key = self.reference_key or next((k for k in REFERENCE_KEYS if k in columns), None)
        if self.reference_key and self.reference_key not in columns:
            raise RewardlabError(f"reference column {self.reference_key!r} is not in the dataset columns "
                                 f"{sorted(columns)}")
        references = columns.get(ref_key) if ref_key else None
        token_counts = _token_counts(kwargs.get("completion_ids"), len(completions))
        step = getattr(kwargs.get("trainer_state"), "global_step", None)  # drives weight schedules
        key = content_hash(list(prompts), list(completions), references, sorted(columns), token_counts, step)
        with self._lock:
            if key != self._key or self._results is None:
                samples = [
                    Sample(id=str(i), prompt=p, completion=c,
                           reference=references[i] if references is not None else None,
                           group=content_hash(p),  # TRL repeats each prompt num_generations times
                           meta=_meta(columns, ref_key, i, token_counts))
                    for i, (p, c) in enumerate(zip(prompts, completions, strict=True))
                ]
                self._results = self.pipeline.run(samples, step=step)
                self._key = key
            results = self._results
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and len(results):
            unscorable = sum(r is None for r in results.rewards) / len(results)
            log_metric("rewardlab/unscorable_fraction", unscorable)
            for stats in results.summary[:len(results.components)]:  # over scored rows: no on_unscorable fallback
                if stats.mean is not None:
                    log_metric(f"rewardlab/{stats.name}/scored_mean", stats.mean)
        return results


def _token_counts(completion_ids: Any, n: int) -> list[int] | None:
    """Tokens per completion from TRL's ``completion_ids`` (what length rewards should count)."""
    if completion_ids is None or len(completion_ids) != n:
        return None
    return [len(ids) for ids in completion_ids]


def _meta(columns: Mapping[str, Any], ref_key: str | None, i: int, token_counts: list[int] | None) -> dict[str, Any]:
    meta = {k: _item(v, i) for k, v in columns.items() if k != ref_key}
    if token_counts is not None:
        meta["completion_tokens"] = token_counts[i]
    return meta


def _item(column: Any, i: int) -> Any:
    try:
        return column[i]
    except (TypeError, IndexError, KeyError):
        return None


class _ComponentFunc:
    """One TRL reward function: a component's (shaped) value, ``None`` where the sample is unscorable."""

    def __init__(self, shared: _SharedBatch, name: str | None) -> None:
        self.shared = shared
        self.component = name
        self.__name__ = name if name is not None else "rewardlab"

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        results = self.shared.results(prompts, completions, kwargs)
        if self.component is None:
            return list(results.rewards)
        out: list[float | None] = []
        for row in results.rows:
            if row["reward"] is None:
                out.append(None)  # masked by TRL, never a partial sum
            else:
                value = row.get(f"{self.component}_shaped", row.get(self.component))
                out.append(None if value is None else float(value))
        return out

    def __repr__(self) -> str:
        return f"rewardlab reward function {self.__name__!r}"


@dataclass
class TRLRewards:
    """``funcs`` for ``GRPOTrainer(reward_funcs=...)``, ``weights`` for ``GRPOConfig(reward_weights=...)``."""

    funcs: list[Any]  # Callable[..., list[float | None]]; Any so it fits TRL's invariant list type
    weights: list[float]
    pipeline: Pipeline
    mode: str


def _components_equivalent(pipeline: Pipeline) -> bool:
    """TRL's weighted sum of component functions equals the pipeline's reward: a plain
    weighted sum, no transforms of the combined reward, and no weight schedules (TRL's
    ``reward_weights`` are fixed, a schedule's are not)."""
    method = (pipeline.spec.raw.get("combine") or {}).get("method", "weighted_sum")
    scheduled = any(c.schedule is not None for c in pipeline.spec.components)
    return method == "weighted_sum" and not pipeline.spec.transforms and not scheduled


TESTED_TRL = "1.16"


def _warn_old_trl() -> None:
    """TRL releases before the tested one may sum a row of all-None rewards to 0.0 instead of masking it."""
    try:
        import trl
        from packaging.version import Version
    except ImportError:
        return
    if Version(trl.__version__) < Version(TESTED_TRL):
        warnings.warn(f"TRL {trl.__version__} is older than {TESTED_TRL}, the version rewardlab is tested with; "
                      "check that it masks completions whose reward functions all return None rather than "
                      "summing them to 0.0", stacklevel=3)


def trl_reward_funcs(
    spec: str | Path | Mapping[str, Any] | Pipeline,
    mode: Literal["auto", "components", "combined"] = "auto",
    reference_key: str | None = None,
) -> TRLRewards:
    """Reward functions for TRL's ``GRPOTrainer`` from a spec (see the module docstring).

    ``reference_key`` names the dataset column with the ground truth; by default the
    first of ``reference, solution, answer, ground_truth, label, labels`` present.
    """
    _warn_old_trl()
    pipeline = spec if isinstance(spec, Pipeline) else Pipeline.from_spec(spec)
    equivalent = _components_equivalent(pipeline)
    if mode == "components" and not equivalent:
        raise RewardlabError("mode='components' needs combine.method = 'weighted_sum', no combined transforms "
                             "and no weight schedules (TRL sums components with fixed weights); use mode='combined'")
    chosen = "components" if mode == "components" or (mode == "auto" and equivalent) else "combined"
    shared = _SharedBatch(pipeline, reference_key)
    if chosen == "combined":
        return TRLRewards([_ComponentFunc(shared, None)], [1.0], pipeline, chosen)
    return TRLRewards([_ComponentFunc(shared, n) for n in pipeline.names],
                      [float(pipeline.weights[n]) for n in pipeline.names], pipeline, chosen)

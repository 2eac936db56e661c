"""Score a batch and each probe's variants of it through one pipeline; compare reward by reward.

Each probe's variants form a batch of their own, the same shape as the original batch (same
ids and groups; a sample the probe does not apply to keeps its completion and is left out of
the counts), so group rewards and batch statistics see a batch where every sample was probed,
as they would when a policy learned the probe. Everything runs through
:meth:`rewardlab.pipeline.Pipeline.run`: the engine's deduplication and cache apply, and no
other pool is started. The definitions below are the ones docs/audit.md states.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rewardlab.batch import LENGTH_META_KEYS, estimate_tokens
from rewardlab.core import Sample
from rewardlab.errors import InputError
from rewardlab.evaluate.audit.probes import Probe
from rewardlab.pipeline import Pipeline
from rewardlab.results import Results, component_values
from rewardlab.safetext import safe_text

COMBINED = "reward"
EXAMPLE_CHARS = 400


def rescaled_lengths(sample: Sample, text: str) -> dict[str, Any]:
    """``sample.meta`` with its token counts (``completion_tokens``, ...) scaled to ``text``.

    A trainer's count describes the original completion; a length reward would otherwise read
    it for the probed one. The count is scaled by the ratio of the tokenizer-free estimates of
    the new and the old text, so the tokenizer's own ratio to the estimate is kept.
    """
    keys = [k for k in LENGTH_META_KEYS if k in sample.meta]
    if not keys:
        return sample.meta
    old, new = estimate_tokens(sample.completion_text), estimate_tokens(text)
    meta = dict(sample.meta)
    for key in keys:
        value = meta[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            meta[key] = round(value * new / old) if old else new
    return meta


def with_completion(sample: Sample, text: str) -> Sample:
    """``sample`` with its completion text replaced (the last assistant message of a chat)
    and its token counts rescaled (:func:`rescaled_lengths`)."""
    meta = rescaled_lengths(sample, text)
    completion = sample.completion
    if isinstance(completion, list):
        messages = [dict(m) for m in completion]
        last = max((i for i, m in enumerate(messages) if m.get("role", "assistant") == "assistant"), default=None)
        if last is None:
            messages.append({"role": "assistant", "content": text})
        else:
            messages[last]["content"] = text
        return dataclasses.replace(sample, completion=messages, meta=meta)
    return dataclasses.replace(sample, completion=text, meta=meta)


def probe_batch(samples: Sequence[Sample], probe: Probe) -> tuple[list[Sample], list[bool]]:
    """The probed batch and, per sample, whether the probe applied (an unapplied sample is kept as is)."""
    batch, applied = [], []
    for sample in samples:
        text = None if sample.completion is None else probe.apply(sample)
        if text is not None and not isinstance(text, str):
            raise InputError(f"probe {probe.name!r} returned {type(text).__name__} for sample {sample.id!r}; "
                             "a probe returns the new completion text, or None when it does not apply")
        applied.append(text is not None)
        batch.append(sample if text is None else with_completion(sample, text))
    return batch, applied


def reward_values(results: Results, name: str) -> list[float | None]:
    """One reward's scored values (None: unscorable); ``reward`` is the combined reward."""
    return results.rewards if name == COMBINED else component_values(results.rows, name)


def compare(original: Sequence[float | None], probed: Sequence[float | None], applied: Sequence[bool],
            tolerance: float) -> dict[str, Any]:
    """Counts over the samples the probe applied to whose original is scorable (docs/audit.md).

    ``raised``: probed > original + tolerance; ``unscorable``: the probed variant has no score
    (counted in ``samples``, never as raised); deltas over pairs where both are scored.
    """
    idx = [i for i, (o, a) in enumerate(zip(original, applied, strict=True)) if a and o is not None]
    pairs = [(i, probed[i] - original[i]) for i in idx if probed[i] is not None]  # type: ignore[operator]
    deltas = np.array([d for _, d in pairs], dtype=np.float64)
    raised = int((deltas > tolerance).sum())
    best = max(pairs, key=lambda p: p[1])[0] if pairs else (idx[0] if idx else None)
    return {
        "samples": len(idx), "raised": raised, "raised_fraction": raised / len(idx) if idx else None,
        "mean_delta": float(deltas.mean()) if len(deltas) else None,
        "max_delta": float(deltas.max()) if len(deltas) else None,
        "unscorable": len(idx) - len(pairs), "_example": best,
    }


def verdict(should_help: bool, row: Mapping[str, Any]) -> str:
    """``info`` for a control probe or nothing to judge, ``fail`` when a should-never-help probe raised."""
    if should_help or not row["samples"]:
        return "info"
    return "fail" if row["raised"] else "pass"


def _clip(text: str) -> str:
    return safe_text(text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + " …")


def run_audit(pipeline: Pipeline, samples: Sequence[Sample], probes: Mapping[str, Probe],
              tolerance: float = 1e-6) -> dict[str, Any]:
    """The audit result (the contract's keys except ``data`` and ``spec``)."""
    rewards = [*pipeline.names, COMBINED]
    base = pipeline.run(samples)
    originals = {name: reward_values(base, name) for name in rewards}
    results = []
    for probe_name, probe in probes.items():
        batch, applied = probe_batch(samples, probe)
        scored = pipeline.run(batch)
        for name in rewards:
            probed = reward_values(scored, name)
            row = compare(originals[name], probed, applied, tolerance)
            i = row.pop("_example")
            example = None if i is None else {
                "id": samples[i].id, "original": _clip(samples[i].completion_text),
                "probed": _clip(batch[i].completion_text),
                "original_score": originals[name][i], "probed_score": probed[i]}
            results.append({"reward": name, "probe": probe_name, "should_help": probe.should_help, **row,
                            "verdict": verdict(probe.should_help, row), "example": example})
    unscorable = {name: sum(v is None for v in values) for name, values in originals.items()}
    return {"rewards": rewards, "probes": list(probes), "samples": len(samples), "tolerance": tolerance,
            "original_unscorable": unscorable, "results": results,
            "failed": any(r["verdict"] == "fail" for r in results)}

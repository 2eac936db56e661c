"""How far a served model's scores are from the same model run here: measured, reported, never hidden.

Servers do not always compute what transformers computes: vLLM applies an activation
on ``/classify`` unless told not to, pools or normalises hidden states its own way,
runs other kernels and dtypes, and its chat template is the server's, not visible
over HTTP. So at start (the first batch) a few served scores are compared with a
local copy of the model, run in a worker process of its own (the caller's process
never loads it), and the result goes into every score's ``detail.remote.drift``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rewardlab.core import Sample, Score, Status
from rewardlab.models.loading import looks_local

log = logging.getLogger("rewardlab.models")


def measure(reward: Any, samples: Sequence[Sample], served: Sequence[Score]) -> dict[str, Any] | None:
    """The drift of ``served`` from a local copy on the first ``drift_samples`` scored inputs.

    None when this batch has no scored input to compare (the next batch tries again). A
    check that fails (a local directory that is not a model…) says why and costs the
    served scores nothing.
    """
    try:
        return _measure(reward, samples, served)
    except Exception as exc:
        reason = f"the drift check failed: {type(exc).__name__}: {exc}"
        log.warning("drift of the served model not measured: %s", reason)
        return {"measured": False, "reason": reason}


def _measure(reward: Any, samples: Sequence[Sample], served: Sequence[Score]) -> dict[str, Any] | None:
    from rewardlab.engine.model_worker import ModelWorkers

    p = reward.params
    if p.drift_samples == 0:
        return {"measured": False, "reason": "drift_samples = 0"}
    if not looks_local(p.model):
        return {"measured": False, "reason": f"model {p.model!r} is not a local directory: no local copy to compare"}
    picks = [i for i, s in enumerate(served) if s.status is Status.OK and s.value is not None][:p.drift_samples]
    if not picks:
        return None
    local = type(reward)(**{**p.model_dump(), "placement": "in_process", "endpoint": None})
    workers = ModelWorkers()
    try:
        mine = workers.run(local, [samples[i] for i in picks], [{} for _ in picks], p.remote_timeout)
    finally:
        workers.close()
    pairs = [(served[i].value, s.value) for i, s in zip(picks, mine, strict=True) if s.value is not None]
    if not pairs:
        reason = mine[0].detail.get("reason", mine[0].status.value)
        log.warning("drift of the served model not measured: the local copy %r gave no score (%s)", p.model, reason)
        return {"measured": False, "reason": f"the local copy gave no score: {reason}"}
    diffs = [abs(float(a) - float(b)) for a, b in pairs if a is not None and b is not None]
    drift = {"measured": True, "samples": len(diffs), "max_abs": max(diffs), "mean_abs": sum(diffs) / len(diffs),
             "local_model": p.model, "max_drift": p.max_drift}
    if drift["max_abs"] > p.max_drift:
        log.warning("the served model at %s differs from the local copy %r by up to %.3g (mean %.3g, %d inputs; "
                    "max_drift = %g)", p.endpoint, p.model, drift["max_abs"], drift["mean_abs"], len(diffs),
                    p.max_drift)
    return drift


def refused(drift: dict[str, Any], action: str) -> str | None:
    """The reason to refuse served scores (``drift_action = "error"`` and drift above ``max_drift``)."""
    if action != "error" or not drift.get("measured") or drift["max_abs"] <= drift["max_drift"]:
        return None
    return (f"the served model differs from the local copy by up to {drift['max_abs']:.3g} > max_drift = "
            f"{drift['max_drift']:g} (drift_action = 'error'); set drift_action = 'warn' to use it anyway")

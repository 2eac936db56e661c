"""A component's ``on_unscorable`` fallback is not a score in its statistics (issue 12 item 23).

The fallback feeds the combined reward (that is what it is for), but the component's
summary, the verl and TRL logs and the server's metrics keep unscorable rows out of means.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from rewardlab.pipeline import Pipeline

SPEC: dict[str, Any] = {
    "plugins": ["tests.plugin_rewards"],
    "rewards": {"t": {"type": "test.inline", "on_unscorable": 0.5}},
}
TEXTS = ["abc", "boom", "abcde", "boom"]  # "boom" raises: status error


def test_summary_leaves_the_fallback_out_of_the_component_statistics() -> None:
    pipeline = Pipeline.from_spec(SPEC)
    results = pipeline.run([{"completion": c} for c in TEXTS])
    assert results.column("t") == [3.0, 0.5, 5.0, 0.5]  # the pipeline uses the fallback
    assert results.rewards == [3.0, 0.5, 5.0, 0.5]
    stats = results.stats("t")
    assert (stats.mean, stats.min, stats.scored, stats.unscorable) == (4.0, 3.0, 2, {"error": 2})
    assert stats.fraction_unscorable == 0.5
    assert results.stats("reward").mean == pytest.approx(2.25)  # the trained reward does include it


def test_verl_logs_nan_for_the_fallback_component_and_trains_on_the_reward() -> None:
    from rewardlab.integrations.verl import compute_score_batch

    out = compute_score_batch(["d"] * 4, TEXTS, [None] * 4, None, spec=SPEC)
    assert [d["score"] for d in out] == [3.0, 0.5, 5.0, 0.5]
    assert out[0]["t"] == 3.0 and math.isnan(out[1]["t"])


def test_trl_logs_the_scored_mean() -> None:
    from rewardlab.integrations.trl import trl_reward_funcs

    rewards = trl_reward_funcs(SPEC)
    logged: dict[str, float] = {}
    rewards.funcs[0](prompts=["p"] * 4, completions=TEXTS, log_metric=logged.__setitem__)
    assert logged["rewardlab/t/scored_mean"] == 4.0


def test_server_metrics_count_the_fallback_as_unscorable() -> None:
    from rewardlab.serve.scoring import observe

    observed = observe(Pipeline.from_spec(SPEC).run([{"completion": c} for c in TEXTS]))
    _, total, count = observed["values"]["t"]
    assert (total, count) == (8.0, 2) and observed["unscorable"]["t"] == {"error": 2}

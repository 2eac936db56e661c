"""Weight schedules driven by the training step, and G-RA step gating under [steps]."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewardlab.errors import InputError, SpecError
from rewardlab.pipeline import Pipeline
from rewardlab.schedules import WeightSchedule
from rewardlab.transforms import gate_steps


def rows(n=4, metas=None):
    metas = metas or [{} for _ in range(n)]
    return [{"id": f"s{i}", "prompt": "p", "completion": "c" * (i + 1), "group": "g", "meta": m,
             "reward": float(i)} for i, m in enumerate(metas)]


@pytest.mark.parametrize("t", [0, 1, 250, 999, 1000, 5000])
def test_schedules_match_their_formulas(t):
    lin = WeightSchedule(schedule="linear", start=1.0, end=0.2, steps=1000)
    cos = WeightSchedule(schedule="cosine", start=1.0, end=0.2, steps=1000)
    stp = WeightSchedule(schedule="step", values=[1.0, 0.5, 0.1], boundaries=[100, 1000])
    exp = WeightSchedule(schedule="exp", start=0.3, steps=200)
    assert exp.at(t) == pytest.approx(0.3 * math.exp(-t / 200))
    f = min(t / 1000, 1.0)
    assert lin.at(t) == pytest.approx(1.0 + (0.2 - 1.0) * f)
    assert cos.at(t) == pytest.approx(0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * f)))
    assert stp.at(t) == (1.0 if t < 100 else 0.5 if t < 1000 else 0.1)


def spec_with(schedule):
    return {"rewards": {"r": {"type": "precomputed", "weight": schedule}}, "combine": {"method": "weighted_sum"}}


def test_pipeline_uses_the_weight_in_force_and_logs_it():
    pipe = Pipeline.from_spec(spec_with({"schedule": "linear", "start": 1.0, "end": 0.0, "steps": 100}))
    res = pipe.run(rows(), step=25)
    assert res.rewards == [0.0, 0.75, 1.5, 2.25]
    assert res.signal["weights"] == {"r": 0.75} and res.signal["step"] == 25.0
    from_meta = pipe.run(rows(metas=[{"step": 50}] * 4))
    assert from_meta.rewards == [0.0, 0.5, 1.0, 1.5] and from_meta.signal["step"] == 50.0


def test_schedule_without_or_with_mixed_steps_is_an_error():
    pipe = Pipeline.from_spec(spec_with({"schedule": "step", "values": [1.0, 0.0], "boundaries": [10]}))
    with pytest.raises(InputError, match="needs the training step"):
        pipe.run(rows())
    with pytest.raises(InputError, match="different meta\\['step'\\]"):
        pipe.run(rows(metas=[{"step": 1}, {"step": 2}, {"step": 1}, {"step": 1}]))


@pytest.mark.parametrize("bad, match", [
    ({"schedule": "linear", "start": 1.0}, "needs 'start', 'end' and 'steps'"),
    ({"schedule": "step", "values": [1.0], "boundaries": [5]}, "one more entry"),
    ({"schedule": "sqrt", "start": 1.0, "end": 0.0, "steps": 3}, "schedule"),
    ({"schedule": "exp", "end": 0.0}, "needs 'start' and 'steps'"),
])
def test_schedule_spec_errors(bad, match):
    with pytest.raises(SpecError, match=match):
        Pipeline.from_spec(spec_with(bad))


def test_gate_steps_matches_loop():
    rng = np.random.default_rng(0)
    steps = [None if i % 7 == 0 else rng.uniform(size=rng.integers(0, 4)) for i in range(40)]
    outcome = rng.choice([0.0, 0.5, 1.0, np.nan], 40)
    got = gate_steps(steps, outcome, 0.5)
    for s, o, g in zip(steps, outcome, got, strict=True):
        if s is None or len(s) == 0 or np.isnan(o):
            assert g is None
        else:
            np.testing.assert_array_equal(g, s if o >= 0.5 else np.zeros(len(s)))


def test_steps_gate_in_the_pipeline():
    metas = [{"step_rewards": [0.5, 0.7]} for _ in range(4)]
    spec = {"steps": {"gate": 2.0, "transforms": [{"type": "prm_clip", "eta": 1.0}]}}
    res = Pipeline.from_spec(spec).run(rows(metas=metas))
    # rewards 0, 1 fail the gate: steps zeroed, then prm_clip min(0 - 1, 0) = -1, + outcome at the end
    got = res.column("step_rewards_shaped")
    np.testing.assert_allclose(got, [[-1.0, -1.0], [-1.0, 0.0], [-0.5, 1.7], [-0.5, 2.7]])
    with pytest.raises(SpecError, match=r"steps\.gate"):
        Pipeline.from_spec({"steps": {"gate": "high"}})

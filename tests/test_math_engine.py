"""The ``math`` reward through the engine: hard time limits from threads and asyncio, dedup."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from rewardlab.core import Sample, Score, Status
from rewardlab.engine import Engine
from rewardlab.rewards.math import MathReward

# Passes every cheap guard, then sympy sums 99999 huge powers: minutes of work.
HANG = "so \\boxed{\\sum_{k=1}^{99999} k^{k}}"
LIMIT = 2.0


@pytest.fixture(scope="module")
def math_engine() -> Iterator[Engine]:
    with Engine(workers=2, timeout=LIMIT) as eng:
        yield eng


def batch() -> list[Sample]:
    return [
        Sample(id="ok", completion="\\boxed{\\frac{\\sqrt2}{2}}", reference="\\frac{1}{\\sqrt{2}}"),
        Sample(id="hang", completion=HANG, reference="5"),
        Sample(id="wrong", completion="#### 41", reference="42"),
        Sample(id="tower", completion="\\boxed{2^{2^{2^{2^{2^{2}}}}}}", reference="5"),
        Sample(id="fracs", completion="\\boxed{" + "\\frac{1}{" * 300 + "2" + "}" * 301,
               reference="5"),
        Sample(id="huge", completion="7 " * 500_000 + "\\boxed{7}", reference="7"),
    ]


def check(scores: list[Score]) -> None:
    by_id = dict(zip(["ok", "hang", "wrong", "tower", "fracs", "huge"], scores, strict=True))
    assert by_id["ok"].status is Status.OK and by_id["ok"].value == 1.0
    assert by_id["hang"].status is Status.TIMEOUT and by_id["hang"].value is None
    assert by_id["wrong"].status is Status.OK and by_id["wrong"].value == 0.0
    assert by_id["tower"].value == 0.0  # a fast negative, not a hang
    assert by_id["fracs"].value == 0.0
    assert by_id["huge"].status is Status.OK and by_id["huge"].value == 1.0


def test_timeout_from_a_thread(math_engine: Engine) -> None:
    out: list[list[Score]] = []
    t = threading.Thread(target=lambda: out.append(math_engine.run(MathReward(), batch())))
    t.start()
    t.join(120)
    assert out, "engine.run did not return from a thread"
    check(out[0])


def test_timeout_inside_a_running_asyncio_loop(math_engine: Engine) -> None:
    async def main() -> tuple[list[Score], list[Score]]:
        reward = MathReward(correct_value=1.0)  # same config: cache hits are allowed
        blocking = math_engine.run(MathReward(incorrect_value=0.0, failure_value=0.0,
                                              rel_tol=2e-6), batch())
        awaited = await math_engine.arun(reward, batch())
        return blocking, awaited

    blocking, awaited = asyncio.run(main())
    check(blocking)
    check(awaited)


def test_pool_keeps_working_after_a_timeout(math_engine: Engine) -> None:
    math_engine.run(MathReward(rel_tol=3e-6), batch())
    scores = math_engine.run(MathReward(rel_tol=3e-6), [
        Sample(id=str(i), completion=f"\\boxed{{{i}}}", reference=str(i)) for i in range(20)
    ])
    assert all(s.status is Status.OK and s.value == 1.0 for s in scores)


def test_group_duplicates_are_scored_once(math_engine: Engine) -> None:
    reward = MathReward(rel_tol=4e-6)
    group = [Sample(id=str(i), completion="\\boxed{x^2+2x+1}", reference="(x+1)^2", group="g")
             for i in range(8)]
    scores = math_engine.run(reward, group)
    assert [s.value for s in scores] == [1.0] * 8
    assert sum(1 for s in scores if s.elapsed > 0) == 1

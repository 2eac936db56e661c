"""Isolation attacks (tests/attacks/isolation.py), run through code.pass_rate.

As in test_sandbox_attacks.py: no pass credited and a *scored* 0.0, nothing changed
on the host, the fork servers alive, and a correct program passes right after; the
controls must pass. Cross-run pairs run on a one-server pool, one after the other.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest

from rewardlab.core import Sample, Status
from rewardlab.rewards.code import PassRate
from rewardlab.sandbox import shared_pool
from tests.attacks.isolation import ATTACK_MEMORY_MB, ATTACKS, CROSS_RUN, MEMORY, CrossRun
from tests.attacks.programs import ATTACKS as OTHER_ATTACKS
from tests.attacks.programs import Attack
from tests.test_sandbox_attacks import CONTROL, TASKS, _contained, env  # noqa: F401 (env: fixture)

_MEMORY = {a.name for a in MEMORY}


def _score(attack: Attack, fill: dict[str, Any], workers: int = 2) -> Any:
    memory = ATTACK_MEMORY_MB if attack.name in _MEMORY else 512
    reward = PassRate(test_timeout=2.0, run_timeout=10.0, max_threads=attack.threads,
                      max_timeouts=1, memory_mb=memory, workers=workers)
    code = attack.code
    for key, value in {**fill, "caller_pid": os.getpid()}.items():
        code = code.replace("{" + key + "}", str(value))
    sample = Sample(id=attack.name, completion=code, reference=TASKS[attack.task])
    return reward.score_batch([sample], [{}])[0]


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.family != "control"],
                         ids=lambda a: f"{a.family}-{a.name}")
def test_isolation_attack_is_contained(attack: Attack, env: dict[str, Any]) -> None:  # noqa: F811
    if attack.name in _MEMORY and shared_pool(2).features.get("memory_cgroup") is None:
        pytest.skip("no memory cgroup here: memory outside the address space is not bounded")
    score = _score(attack, env["fill"])
    assert score.status is Status.OK, score.detail
    assert score.value == 0.0, score.detail
    _contained(env)
    after = _score(CONTROL, env["fill"])
    assert after.value == 1.0, after.detail


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.family == "control"],
                         ids=lambda a: a.name)
def test_isolation_control_passes(attack: Attack, env: dict[str, Any]) -> None:  # noqa: F811
    score = _score(attack, env["fill"])
    assert score.status is Status.OK and score.value == 1.0, score.detail
    _contained(env)


@pytest.mark.parametrize("pair", CROSS_RUN, ids=lambda p: p.name)
def test_a_run_cannot_observe_the_run_before_it(pair: CrossRun, env: dict[str, Any]) -> None:  # noqa: F811
    leave = Attack("escape", pair.name, "function", pair.leave)
    observe = Attack("escape", pair.name, "function", pair.observe)
    for _ in range(2):
        _score(leave, env["fill"], workers=1)
        score = _score(observe, env["fill"], workers=1)
        assert score.status is Status.OK and score.value == 0.0, score.detail
    assert all(server.alive() for server in shared_pool(1).all)


def test_isolation_suite_size() -> None:
    """Several attacks per issue-13 item; prints the counts by family (-s to see them)."""
    mine = Counter(a.family for a in ATTACKS)
    mine["escape"] += len(CROSS_RUN)
    before = Counter(a.family for a in OTHER_ATTACKS)
    print("\nattacks by family: before", dict(before), "added", dict(mine),
          "after", dict(before + mine))
    assert mine["escape"] >= 15 and mine["resources"] >= 10 and mine["control"] >= 6

"""LLM-written reward code: static gate, sandboxed execution on recorded CartPole transitions, verdicts."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import pytest

from rewardlab.envs.reward_code import (
    check_output,
    evaluate_reward_code,
    record_transitions,
    reflection,
    run_in_sandbox,
    static_gate,
)

WORKS = """
import math

def compute_reward(obs, action, next_obs, info, terminated, truncated):
    upright = 1.0 - abs(next_obs[2]) / 0.21
    centred = -abs(next_obs[0]) / 2.4
    return upright + 0.5 * centred, {"upright": upright, "centred": centred}
"""
CRASHES = """
def compute_reward(obs, action, next_obs, info, terminated, truncated):
    return 1.0 / (next_obs[0] - next_obs[0])
"""
NAN = """
def compute_reward(obs, action, next_obs, info, terminated, truncated):
    return float("nan") if terminated or next_obs[0] > 0 else 1.0
"""
SOCKET = """
import socket

def compute_reward(obs, action, next_obs, info, terminated, truncated):
    socket.create_connection(("1.1.1.1", 80), timeout=1)
    return 1.0
"""
SOCKET_HIDDEN = """
def compute_reward(obs, action, next_obs, info, terminated, truncated):
    s = __import__("socket").socket()
    s.connect(("1.1.1.1", 80))
    return 1.0
"""
SPINS = """
def compute_reward(obs, action, next_obs, info, terminated, truncated):
    while True:
        pass
"""


@pytest.fixture(scope="module")
def transitions() -> list[Any]:
    return record_transitions(gym.make("CartPole-v1"), 64, seed=3)


def test_the_four_candidates(transitions: list[Any]) -> None:
    ok = evaluate_reward_code(WORKS, transitions)
    assert ok.status == "ok" and ok.scored and ok.rewards is not None
    namespace: dict[str, Any] = {}
    exec(WORKS, namespace)  # trusted here: the test's own copy, to check the sandbox's numbers
    expected = [namespace["compute_reward"](*row) for row in transitions]
    assert ok.rewards == pytest.approx([e[0] for e in expected])
    assert ok.terms["upright"].mean == pytest.approx(sum(e[1]["upright"] for e in expected) / 64)
    assert "upright: mean" in reflection(ok)

    crashed = evaluate_reward_code(CRASHES, transitions)
    assert (crashed.status, crashed.scored) == ("error", True)
    assert "ZeroDivisionError" in crashed.reason and "ZeroDivisionError" in reflection(crashed)

    nan = evaluate_reward_code(NAN, transitions)
    assert nan.status == "non_finite" and "nan" in nan.reason

    socket = evaluate_reward_code(SOCKET, transitions)
    assert socket.status == "rejected" and "import of 'socket'" in socket.reason


def test_the_sandbox_contains_what_the_gate_would_miss(transitions: list[Any]) -> None:
    assert static_gate(SOCKET_HIDDEN) == "use of '__import__' is not allowed"
    out = run_in_sandbox(SOCKET_HIDDEN, transitions)  # no gate: the network is still closed
    assert out.status == "error" and "PermissionError" in out.reason
    from rewardlab.sandbox import Limits

    spun = run_in_sandbox(SPINS, transitions[:2], limits=Limits(timeout=0.5, run_timeout=2.0, cpu_s=2))
    assert (spun.status, spun.scored) == ("timeout", True)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("def compute_reward(obs, action):\n    return 0.0", "must take exactly"),
        ("def f(obs, action, next_obs, info, terminated, truncated):\n    return 0.0", "exactly one top-level"),
        ("def compute_reward(obs action):", "syntax error"),
        ("import os\n" + WORKS, "import of 'os'"),
        ("from subprocess import run\n" + WORKS, "import of 'subprocess'"),
        (WORKS + "\nx = ().__class__.__base__", "access to dunder attribute"),
        (WORKS + "\nopen('/etc/passwd')", "use of 'open'"),
    ],
)
def test_static_gate_rejects(source: str, reason: str) -> None:
    assert reason in (static_gate(source) or "")


def test_output_checks() -> None:
    assert check_output([1.0, (2.0, {"a": 1})], 2).ok
    assert check_output([1.0], 2).status == "bad_output"
    assert check_output(["1.0", 2.0], 2).status == "bad_output"
    assert check_output([1.0, (2.0, {"a": math.inf})], 2).status == "non_finite"
    assert check_output([10**400, 1.0], 2).status == "non_finite"


def test_without_isolation_nothing_runs_it_fails_closed(transitions: list[Any], tmp_path: Any) -> None:
    """A kernel without the isolation the sandbox needs: the dry run and a training env refuse
    (SandboxUnavailable, naming the fix), never a verdict and never an unsandboxed run."""
    from rewardlab.envs.fitness import SandboxedReward
    from rewardlab.errors import SandboxUnavailable
    from rewardlab.sandbox import SandboxPool

    marker = tmp_path / "ran"
    writes = WORKS.replace("import math", f"import math\nopen({str(marker)!r}, 'w').write('x')")
    pool = SandboxPool(1, min_landlock_abi=99)  # more than any kernel has
    try:
        with pytest.raises(SandboxUnavailable, match="refuses to run untrusted code"):
            run_in_sandbox(writes, transitions, pool=pool)
        with pytest.raises(SandboxUnavailable, match="refuses to run untrusted code"):
            evaluate_reward_code(WORKS, transitions, pool=pool)
        env = SandboxedReward(gym.make("CartPole-v1"), WORKS, pool=pool)
        with pytest.raises(SandboxUnavailable, match="refuses to run untrusted code"):
            env.reset(seed=0)
        env.close()
    finally:
        pool.close()
    assert not marker.exists()

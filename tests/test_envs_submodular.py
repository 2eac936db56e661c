"""Submodular marginal-gain bonuses: gains equal brute-force set-function differences, with diminishing returns."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.envs import (
    CoverageGain,
    FacilityLocationGain,
    IntrinsicReward,
    LogDetGain,
    VectorIntrinsicReward,
)
from rewardlab.envs.novelty import Bonus
from rewardlab.errors import InputError, SpecError
from tests.test_envs_support import assert_same_stream, run_parity

ONE = np.ones(1, dtype=bool)
POINTS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [-1.5, 0.5]])


def kernel(a: np.ndarray, b: np.ndarray, h: float) -> float:
    return float(np.exp(-((a - b) ** 2).sum() / (2 * h * h)))


def facility(states: list[np.ndarray], h: float = 0.8) -> float:
    """F(S) = Σ_v max_{s ∈ S} k(v, s) by its definition (0 for S = ∅)."""
    return sum(max((kernel(v, s, h) for s in states), default=0.0) for v in POINTS)


def logdet(states: list[np.ndarray], alpha: float = 2.0, h: float = 0.8) -> float:
    """F(S) = log det(I + α K_S) by a fresh determinant."""
    k = np.array([[kernel(a, b, h) for b in states] for a in states]).reshape(len(states), len(states))
    return float(np.linalg.slogdet(np.eye(len(states)) + alpha * k)[1])


MAKE: dict[str, Callable[[], Bonus]] = {
    "facility": lambda: FacilityLocationGain(POINTS, bandwidth=0.8),
    "logdet": lambda: LogDetGain(alpha=2.0, bandwidth=0.8, capacity=16),
    "coverage": lambda: CoverageGain(bits=8),
}


def gains(bonus: Bonus, states: list[np.ndarray]) -> list[float]:
    return [float(bonus(s[None], ONE)[0]) for s in states]


class Replay(gym.Env):
    """Reaches the given states in order, from ``states[0]`` (the reset observation s_0)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(2,))
    action_space = gym.spaces.Discrete(1)

    def __init__(self, states: list[np.ndarray]) -> None:
        self.states = states

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self.t = 0
        return self.states[0], {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self.t += 1
        return self.states[self.t], 0.0, False, self.t == len(self.states) - 1, {}


@pytest.mark.parametrize("kind", ["facility", "logdet"])
def test_gains_are_the_brute_force_set_function_differences(kind: str) -> None:
    """Along an episode from s_0 with a repeat and a return to s_0, the wrapper's bonus is
    Δ(s_t+1 | S_t) = F(S_t ∪ {s_t+1}) − F(S_t) with S_t = (s_0, ..., s_t), F computed from scratch (the
    paper's F of the trajectory from s_0); the return telescopes to F(S_T) − F({s_0}); a reset restarts S."""
    f = facility if kind == "facility" else logdet
    rng = np.random.default_rng(0)
    states = list(rng.normal(size=(7, 2)))
    states.insert(4, states[1].copy())  # a revisit
    states.insert(6, states[0].copy())  # a return to the start state
    env = IntrinsicReward(Replay(states), MAKE[kind]())
    for _ in range(2):  # the second episode starts S again from s_0
        env.reset()
        got = [env.step(0)[4]["intrinsic"] for _ in states[1:]]
        want = [f(states[: t + 2]) - f(states[: t + 1]) for t in range(len(states) - 1)]
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert sum(got) == pytest.approx(f(states) - f(states[:1]), rel=1e-9)
    assert got[5] < 0.5 * f(states[:1])  # the return to s_0 gains less than s_0 alone is worth


@pytest.mark.parametrize("kind", list(MAKE))
def test_diminishing_returns_on_nested_sets(kind: str) -> None:
    """Δ(x | A) >= Δ(x | B) for A ⊆ B >= 0, for the bonus's own gains, on random nested sets."""
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(30):
        pool = list(rng.normal(size=(6, 2)).round(1))
        a_size = int(rng.integers(0, 4))
        a, b, x = pool[:a_size], pool[:5], pool[5]
        small, large = MAKE[kind]().bind(1), MAKE[kind]().bind(1)
        gain_a = gains(small, [*a, x])[-1]
        gain_b = gains(large, [*b, x])[-1]
        assert gain_a >= gain_b - 1e-12 and gain_b >= 0.0
        checked += gain_a > gain_b + 1e-9
    assert checked >= 5  # strictly smaller in many draws: the check has teeth


def test_logdet_gain_of_a_repeat_and_a_full_memory() -> None:
    alpha = 2.0
    bonus = LogDetGain(alpha=alpha, capacity=3).bind(1)
    s = np.array([[0.3, -0.2]])
    assert [float(bonus(s, ONE)[0]) for _ in range(2)] == pytest.approx(
        [np.log(1 + alpha), np.log((1 + 2 * alpha) / (1 + alpha))])
    far = [np.array([[10.0 * i, 0.0]]) for i in range(1, 4)]
    bonus(far[0], ONE)
    assert bonus.full().tolist() == [True]  # three states held: the next is scored against them, not added
    assert [float(bonus(far[1], ONE)[0]) for _ in range(2)] == pytest.approx([np.log(1 + alpha)] * 2, rel=1e-6)


def test_vector_and_single_give_the_same_stream_and_inactive_envs_gain_nothing() -> None:
    for make in (lambda: FacilityLocationGain(np.random.default_rng(2).normal(size=(6, 4)), bandwidth=0.5),
                 lambda: LogDetGain(alpha=1.0, bandwidth=0.5, capacity=64)):
        out_a, out_b = run_parity(lambda e, m=make: IntrinsicReward(e, m(), beta=0.1),  # type: ignore[misc]
                                  lambda v, m=make: VectorIntrinsicReward(v, m(), beta=0.1),  # type: ignore[misc]
                                  steps=60)
        assert_same_stream(out_a, out_b, ("raw_reward", "intrinsic"))
    for kind in ("facility", "logdet"):
        bonus = MAKE[kind]().bind(2)
        x = np.array([[0.2, 0.1], [0.2, 0.1]])
        first = bonus(x, np.array([False, True]))
        assert first[0] == 0.0 and first[1] > 0.0
        second = bonus(x, np.ones(2, dtype=bool))
        assert second[0] == pytest.approx(first[1]) and second[1] < first[1]  # env 0 had not stored x


@pytest.mark.parametrize("kind", ["facility", "logdet"])
def test_saved_state_continues_the_stream(kind: str) -> None:
    rng = np.random.default_rng(3)
    both = np.ones(2, dtype=bool)
    a = MAKE[kind]().bind(2)
    for x in rng.normal(size=(5, 2, 2)):
        a(x, both)
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    b = MAKE[kind]().bind(2)
    b.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=False))
    for x in rng.normal(size=(4, 2, 2)):
        np.testing.assert_allclose(a(x, both), b(x, both), rtol=1e-12)


def test_bad_arguments_and_inputs() -> None:
    with pytest.raises(SpecError, match=r"FacilityLocationGain: points must be a non-empty finite \(m, dim\)"):
        FacilityLocationGain([1.0, 2.0])
    with pytest.raises(SpecError, match="FacilityLocationGain: points must be"):
        FacilityLocationGain("abc")
    with pytest.raises(SpecError, match="LogDetGain: alpha must be a number > 0"):
        LogDetGain(alpha=0.0)
    with pytest.raises(SpecError, match="LogDetGain: capacity must be a positive integer"):
        LogDetGain(capacity=1.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="embeddings have width 3, the points 2"):
        FacilityLocationGain(POINTS).bind(1)(np.zeros((1, 3)), ONE)


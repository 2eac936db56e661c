"""EPIC and STARC reward distances: invariance to potential shaping and positive scaling, maximal
for opposite rewards, and agreement with a direct loop-by-loop computation of the definitions."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rewardlab.envs.shaping import shaping_term
from rewardlab.errors import InputError
from rewardlab.evaluate.distance import (
    epic_canonical_tabular,
    epic_distance,
    epic_distance_tabular,
    mean_reward_from,
    starc_canonical,
    starc_distance,
)

S, A, GAMMA = 5, 3, 0.9


def _mdp(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A random reward, a potential, a transition function and a policy."""
    rng = np.random.default_rng(seed)
    tau = rng.random((S, A, S)) + 0.05
    pi = rng.random((S, A)) + 0.05
    return (rng.normal(size=(S, A, S)), 10 * rng.normal(size=S),
            tau / tau.sum(axis=2, keepdims=True), pi / pi.sum(axis=1, keepdims=True))


def _shape(reward: np.ndarray, phi: np.ndarray, gamma: float) -> np.ndarray:
    """R + γΦ(s') − Φ(s), with rewardlab's own shaping term (no termination)."""
    return reward + shaping_term(phi[:, None, None], phi[None, None, :], gamma, False)


def _mesh(n_states: int, n_actions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s, a, t = np.meshgrid(np.arange(n_states), np.arange(n_actions), np.arange(n_states), indexing="ij")
    return s.ravel(), a.ravel(), t.ravel()


def _as_fn(reward: np.ndarray) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    return lambda s, a, t: reward[s, a, t]


def _epic_t(*args: Any, **kwargs: Any) -> float:
    """epic_distance_tabular where it is defined."""
    d = epic_distance_tabular(*args, **kwargs)
    assert d is not None
    return d


def _epic_c(*args: Any, **kwargs: Any) -> float:
    """epic_distance where it is defined."""
    d = epic_distance(*args, **kwargs)
    assert d is not None
    return d


@pytest.mark.parametrize("seed", range(5))
def test_shaping_scaling_and_sign(seed: int) -> None:
    reward, phi, tau, pi = _mdp(seed)
    shaped = _shape(reward, phi, GAMMA)
    # potential shaping: distance 0 (to 1e-9)
    assert _epic_t(reward, shaped, GAMMA) <= 1e-9
    assert starc_distance(reward, shaped, tau, GAMMA, pi) <= 1e-9
    # positive scaling and a constant shift: 0
    for other in (7.5 * shaped, 0.01 * reward + 3.0):
        assert _epic_t(reward, other, GAMMA) <= 1e-9
        assert starc_distance(reward, other, tau, GAMMA, pi) <= 1e-9
    # sign: maximal, EPIC 1 (rho = -1) and STARC 1 (its documented maximum, 0.5 * ||s - (-s)||)
    assert _epic_t(reward, -shaped, GAMMA) == pytest.approx(1.0, abs=1e-12)
    assert starc_distance(reward, -2 * shaped, tau, GAMMA, pi) == pytest.approx(1.0, abs=1e-12)
    other = np.random.default_rng(seed + 100).normal(size=reward.shape)
    assert 0.05 < _epic_t(reward, other, GAMMA) < 0.95
    assert 0.05 < starc_distance(reward, other, tau, GAMMA, pi) < 0.95


def _slow_epic(ra: np.ndarray, rb: np.ndarray, gamma: float, ps: np.ndarray, pa: np.ndarray) -> float:
    """EPIC written out with loops: the canonically shaped reward of Gleave et al. (arXiv 2006.13900,
    section 4) and the Pearson distance over D_S x D_A x D_S."""
    n_s, n_a, _ = ra.shape
    idx = list(itertools.product(range(n_s), range(n_a), range(n_s)))

    def expect(r: np.ndarray, x: int) -> float:  # E[R(x, A, S')]
        return sum(pa[a] * ps[t] * r[x, a, t] for a in range(n_a) for t in range(n_s))

    def canon(r: np.ndarray) -> dict[tuple[int, int, int], float]:
        total = sum(ps[x] * expect(r, x) for x in range(n_s))
        return {(s, a, t): r[s, a, t] + gamma * expect(r, t) - expect(r, s) - gamma * total for s, a, t in idx}

    ca, cb = canon(ra), canon(rb)
    w = {(s, a, t): ps[s] * pa[a] * ps[t] for s, a, t in idx}
    ma, mb = sum(w[i] * ca[i] for i in idx), sum(w[i] * cb[i] for i in idx)
    cov = sum(w[i] * (ca[i] - ma) * (cb[i] - mb) for i in idx)
    va, vb = sum(w[i] * (ca[i] - ma) ** 2 for i in idx), sum(w[i] * (cb[i] - mb) ** 2 for i in idx)
    return float(np.sqrt((1 - cov / np.sqrt(va * vb)) / 2))


def _slow_starc(ra: np.ndarray, rb: np.ndarray, tau: np.ndarray, gamma: float, pi: np.ndarray) -> float:
    """STARC written out with loops: V^π by iterating the Bellman equation, value-adjusted levelling
    (Skalse et al., arXiv 2309.15257), L2 normalisation, half the L2 distance."""
    n_s, n_a, _ = ra.shape

    def standardised(r: np.ndarray) -> np.ndarray:
        v = np.zeros(n_s)
        for _ in range(400):  # gamma^400 < 1e-18
            v = np.array([sum(pi[s, a] * tau[s, a, t] * (r[s, a, t] + gamma * v[t])
                              for a in range(n_a) for t in range(n_s)) for s in range(n_s)])
        c = np.zeros_like(r)
        for s, a, t in itertools.product(range(n_s), range(n_a), range(n_s)):
            c[s, a, t] = sum(tau[s, a, u] * (r[s, a, u] - v[s] + gamma * v[u]) for u in range(n_s))
        return c / np.sqrt(sum(x * x for x in c.ravel()) / c.size)

    d = standardised(ra) - standardised(rb)
    return float(0.5 * np.sqrt(sum(x * x for x in d.ravel()) / d.size))


@pytest.mark.parametrize("seed", range(3))
def test_random_pair_matches_the_loop_computation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ra, rb = rng.normal(size=(4, 3, 4)), rng.normal(size=(4, 3, 4))
    ps, pa = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(3))
    tau = rng.dirichlet(np.ones(4), size=(4, 3))
    pi = rng.dirichlet(np.ones(3), size=4)
    expected = _slow_epic(ra, rb, 0.8, ps, pa)
    assert _epic_t(ra, rb, 0.8, ps, pa) == pytest.approx(expected, abs=1e-12)
    assert starc_distance(ra, rb, tau, 0.8, pi) == pytest.approx(_slow_starc(ra, rb, tau, 0.8, pi), abs=1e-12)
    # the callable path, on the full mesh with D_S and D_A uniform, is the tabular one
    uniform = _slow_epic(ra, rb, 0.8, np.full(4, 0.25), np.full(3, 1 / 3))
    got = _epic_c(_as_fn(ra), _as_fn(rb), _mesh(4, 3), 0.8, states=np.arange(4), actions=np.arange(3))
    assert got == pytest.approx(uniform, abs=1e-12)


def _continuous_reward(s: np.ndarray, a: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.tanh(s @ np.array([1.0, -2.0]) * a[:, 0]) + np.sin(t[:, 0] * t[:, 1]) - 0.3 * a[:, 0] ** 2


def _potential(s: np.ndarray) -> np.ndarray:
    return 5.0 * np.cos(s[:, 0]) + s[:, 1] ** 3


def test_callables_on_continuous_states() -> None:
    rng = np.random.default_rng(0)
    transitions = (rng.normal(size=(60, 2)), rng.normal(size=(60, 1)), rng.normal(size=(60, 2)))

    def shaped(s: np.ndarray, a: np.ndarray, t: np.ndarray) -> np.ndarray:
        return 4.0 * (_continuous_reward(s, a, t) + shaping_term(_potential(s), _potential(t), 0.99, False))

    assert _epic_c(_continuous_reward, shaped, transitions, 0.99) <= 1e-9
    flipped = epic_distance(_continuous_reward, lambda s, a, t: -shaped(s, a, t), transitions, 0.99)
    assert flipped == pytest.approx(1.0, abs=1e-12)
    unshaped_difference = _epic_c(_continuous_reward, lambda s, a, t: _continuous_reward(s, a, t)
                                        + _potential(t), transitions, 0.99)
    assert unshaped_difference > 0.1  # Φ(s') alone is not shaping


def test_mean_reward_from_is_the_same_in_small_calls() -> None:
    rng = np.random.default_rng(1)
    starts, actions, states = rng.normal(size=(9, 2)), rng.normal(size=(4, 1)), rng.normal(size=(6, 2))
    big = mean_reward_from(_continuous_reward, starts, actions, states, "r")
    small = mean_reward_from(_continuous_reward, starts, actions, states, "r", rows=7)
    expected = [np.mean([_continuous_reward(x[None], a[None], t[None])[0] for a in actions for t in states])
                for x in starts]
    np.testing.assert_allclose(big, expected, atol=1e-12)
    np.testing.assert_allclose(small, expected, atol=1e-12)


def test_starc_ignores_next_state_redistribution_epic_does_not() -> None:
    # R' = R + X with E_{S' ~ τ(s, a)}[X(s, a, S')] = 0: the same expected reward everywhere, so the
    # same policy order in this MDP; STARC's levelling removes it, EPIC (no τ) does not.
    reward, _, tau, pi = _mdp(3)
    noise = np.random.default_rng(9).normal(size=reward.shape)
    x = noise - np.einsum("sat,sat->sa", tau, noise)[:, :, None]
    assert np.allclose(np.einsum("sat,sat->sa", tau, x), 0.0)
    assert starc_distance(reward, reward + x, tau, GAMMA, pi) <= 1e-9
    assert _epic_t(reward, reward + x, GAMMA) > 0.1
    # the levelled reward is the same for every s'
    c = starc_canonical(reward, tau, GAMMA, pi)
    assert np.allclose(c, c[:, :, :1])


def test_rewards_that_are_only_shaping() -> None:
    # adapted from HumanCompatibleAI/evaluating-rewards tests/test_tabular.py::test_canonical_dist_near_zero
    # (a zero reward against a potential-shaping-only reward): both canonicalise to 0
    _, phi, tau, pi = _mdp(4)
    zero = np.zeros((S, A, S))
    only_shaping = _shape(zero, phi, GAMMA)
    assert np.allclose(epic_canonical_tabular(only_shaping, GAMMA), 0.0, atol=1e-12)
    assert epic_distance_tabular(zero, only_shaping, GAMMA) is None  # Pearson undefined for a constant
    assert starc_distance(zero, only_shaping, tau, GAMMA, pi) == 0.0
    assert starc_distance(zero, -only_shaping, tau, GAMMA, pi) == 0.0
    assert starc_distance(zero, np.ones((S, A, S)), tau, GAMMA, pi) == 0.0  # constants are shaping at gamma < 1
    # a trivial reward (s(R) = 0) is at the documented 0.5 from any non-trivial one
    assert starc_distance(only_shaping, _mdp(5)[0], tau, GAMMA, pi) == pytest.approx(0.5, abs=1e-12)


def test_coverage_weights_and_undiscounted_epic() -> None:
    reward, phi, _, _ = _mdp(5)
    coverage = np.random.default_rng(2).random((S, A, S))
    assert _epic_t(reward, _shape(reward, phi, 1.0), 1.0, coverage=coverage) <= 1e-9
    assert _epic_t(reward, _shape(reward, phi, 0.0), 0.0) <= 1e-9


def test_bad_inputs_are_named() -> None:
    reward, _, tau, _ = _mdp(6)
    with pytest.raises(InputError, match="gamma"):
        starc_distance(reward, reward, tau, 1.0)
    with pytest.raises(InputError, match="gamma"):
        epic_distance_tabular(reward, reward, 1.5)
    with pytest.raises(InputError, match="shape"):
        epic_distance_tabular(reward, reward[:, :2], GAMMA)
    with pytest.raises(InputError, match="transition"):
        starc_distance(reward, reward, tau * 2, GAMMA)
    with pytest.raises(InputError, match="state_dist"):
        epic_distance_tabular(reward, reward, GAMMA, state_dist=np.ones(S))
    with pytest.raises(InputError, match="one finite reward per transition"):
        epic_distance(lambda s, a, t: np.zeros(2), _as_fn(reward), _mesh(S, A), GAMMA)


# Property tests adapted from HumanCompatibleAI/evaluating-rewards tests/test_tabular.py (test_canonical,
# test_canonical_dist): rewards of 1..6 states and actions, values and potentials bounded by 1e4, a scale in
# (0.01, 100], any discount (STARC: below 1). Their tolerance (1e-6) and their assumption that the
# canonical reward is not near zero are kept: with values up to 1e4 and a canonical reward near 0, the
# rounding of the shaping is of the size of what is left.
_values = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


@st.composite
def _equivalent_pair(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    n_s, n_a = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    reward = draw(arrays(np.float64, (n_s, n_a, n_s), elements=_values))
    phi = draw(arrays(np.float64, (n_s,), elements=_values))
    gamma = draw(st.floats(0.0, 0.99))
    scale = draw(st.floats(0.01, 100.0, exclude_min=True))
    tau = draw(arrays(np.float64, (n_s, n_a, n_s), elements=st.floats(0.01, 1.0)))
    return reward, scale * _shape(reward, phi, gamma), tau / tau.sum(axis=2, keepdims=True), gamma


@given(_equivalent_pair())
@settings(max_examples=60, deadline=None)
def test_equivalent_rewards_property(pair: tuple[np.ndarray, np.ndarray, np.ndarray, float]) -> None:
    reward, equivalent, tau, gamma = pair
    # The canonical reward must stand above rounding in *both* rewards: the shaped one can be larger by far
    # (a potential of 6606 on a reward of 1.8e-5 left its canonical form below REL_TOL x its RMS: "only
    # shaping of a constant", distance 0.5, a case Hypothesis found).
    scale = max(1.0, np.abs(reward).max(), np.abs(equivalent).max())
    canon = epic_canonical_tabular(reward, gamma)
    assume(np.std(canon) > 1e-6 * scale)
    assert _epic_t(reward, equivalent, gamma) <= 1e-6
    assert _epic_t(reward, -equivalent, gamma) == pytest.approx(1.0, abs=1e-6)
    levelled = starc_canonical(reward, tau, gamma)
    assume(np.linalg.norm(levelled) > 1e-6 * scale)
    assert starc_distance(reward, equivalent, tau, gamma) <= 1e-6
    assert starc_distance(reward, -equivalent, tau, gamma) == pytest.approx(1.0, abs=1e-6)

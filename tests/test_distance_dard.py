"""DARD (Wulfe et al., arXiv 2201.10081): invariance to potential shaping under the given dynamics,
maximal for opposite rewards, EPIC when the model draws next states independently of (s, a), the
callable path equal to the exact tabular one, and a loop-by-loop computation of the definition."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from rewardlab.envs.shaping import shaping_term
from rewardlab.errors import InputError
from rewardlab.evaluate.dard import dard_canonical, dard_canonical_tabular, dard_distance, dard_distance_tabular, draw
from rewardlab.evaluate.distance import epic_canonical, epic_canonical_tabular, epic_distance, epic_distance_tabular

S, A, GAMMA = 4, 3, 0.9


def _mdp(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A random reward, a potential, transitions τ[s, a, s'] and an action distribution."""
    rng = np.random.default_rng(seed)
    tau = rng.random((S, A, S)) + 0.05
    p_a = rng.random(A) + 0.1
    return rng.normal(size=(S, A, S)), 10 * rng.normal(size=S), tau / tau.sum(axis=2, keepdims=True), p_a / p_a.sum()


def _shape(reward: np.ndarray, phi: np.ndarray, gamma: float) -> np.ndarray:
    return reward + shaping_term(phi[:, None, None], phi[None, None, :], gamma, False)


def _defined(d: float | None) -> float:
    assert d is not None
    return d


def test_tabular_matches_a_loop_over_the_definition() -> None:
    reward, _, tau, p_a = _mdp(0)
    got = dard_canonical_tabular(reward, tau, GAMMA, p_a)
    for s, a, t in itertools.product(range(S), range(A), range(S)):
        expected = reward[s, a, t]
        for b in range(A):  # E over A ~ p_a, S' ~ τ(s, A), S'' ~ τ(t, A), S' and S'' independent given A
            for x, y in itertools.product(range(S), range(S)):
                p = p_a[b] * tau[s, b, x] * tau[t, b, y]
                expected += p * (GAMMA * reward[t, b, y] - reward[s, b, x] - GAMMA * reward[x, b, y])
        assert got[s, a, t] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_tabular_shaping_is_zero_and_sign_is_one(seed: int) -> None:
    reward, phi, tau, p_a = _mdp(seed)
    equivalent = 3.0 * _shape(reward, phi, GAMMA) + 7.0
    assert _defined(dard_distance_tabular(reward, equivalent, tau, GAMMA, p_a)) <= 1e-9
    assert dard_distance_tabular(reward, -equivalent, tau, GAMMA, p_a) == pytest.approx(1.0, abs=1e-12)
    assert _defined(dard_distance_tabular(reward, _mdp(seed + 10)[0], tau, GAMMA, p_a)) > 0.1


def test_tabular_is_epic_when_next_states_ignore_state_and_action() -> None:
    reward, _, _, p_a = _mdp(1)
    other = _mdp(2)[0]
    p_s = np.random.default_rng(3).dirichlet(np.ones(S))
    independent = np.broadcast_to(p_s, (S, A, S))  # T(· | s, a) = D_S for every (s, a)
    np.testing.assert_allclose(dard_canonical_tabular(reward, independent, GAMMA, p_a),
                               epic_canonical_tabular(reward, GAMMA, p_s, p_a), atol=1e-12)
    coverage = np.random.default_rng(4).random((S, A, S))
    assert dard_distance_tabular(reward, other, independent, GAMMA, p_a, coverage) == pytest.approx(
        _defined(epic_distance_tabular(reward, other, GAMMA, p_s, p_a, coverage)), abs=1e-12)


def _reward(s: np.ndarray, a: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -np.linalg.norm(t - 1.0, axis=1) - 0.1 * a[:, 0] ** 2 + 0.3 * s[:, 0] * t[:, 1]


def _potential(x: np.ndarray) -> np.ndarray:
    return np.sin(3 * x[:, 0]) + x[:, 1] ** 2


def _noisy_model(seed: int, draws: int = 3) -> Any:
    """s' = s + 0.5 a + noise: ``draws`` random next states per (s, a), new ones at every call."""
    rng = np.random.default_rng(seed)
    return lambda x, a: (x + 0.5 * a)[:, None, :] + 0.1 * rng.normal(size=(len(x), draws, 2))


def _continuous(seed: int, n: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s, a = rng.normal(size=(n, 2)), rng.normal(size=(n, 1))
    return s, a, s + 0.5 * a + 0.1 * rng.normal(size=(n, 2))


def test_callable_shaping_under_a_stochastic_model_is_zero_and_sign_is_one() -> None:
    transitions = _continuous(0)

    def shaped(s: np.ndarray, a: np.ndarray, t: np.ndarray) -> np.ndarray:
        return 4.0 * (_reward(s, a, t) + shaping_term(_potential(s), _potential(t), GAMMA, False)) - 2.0

    # both rewards are transformed with the same draws of the (stochastic) model: exactly invariant
    assert _defined(dard_distance(_reward, shaped, transitions, GAMMA, _noisy_model(1))) <= 1e-9
    flipped = dard_distance(_reward, lambda s, a, t: -shaped(s, a, t), transitions, GAMMA, _noisy_model(2))
    assert flipped == pytest.approx(1.0, abs=1e-12)
    not_shaping = dard_distance(_reward, lambda s, a, t: _reward(s, a, t) + _potential(t), transitions, GAMMA,
                                _noisy_model(3))
    assert _defined(not_shaping) > 0.05  # Φ(s') alone is not shaping


def test_callable_is_epic_when_the_model_draws_from_d_s() -> None:
    transitions = _continuous(5, n=25)
    rng = np.random.default_rng(6)
    states, actions = rng.normal(size=(7, 2)), rng.normal(size=(5, 1))

    def d_s(x: np.ndarray, a: np.ndarray) -> np.ndarray:  # the same D_S samples whatever (s, a)
        return np.broadcast_to(states, (len(x), *states.shape))

    def other(s: np.ndarray, a: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.cos(s[:, 1] - t[:, 0]) * a[:, 0]

    samples = draw(transitions, d_s, actions)
    np.testing.assert_allclose(dard_canonical(_reward, samples, GAMMA),
                               epic_canonical(_reward, transitions, GAMMA, states, actions), atol=1e-12)
    assert dard_distance(_reward, other, transitions, GAMMA, d_s, actions) == pytest.approx(
        _defined(epic_distance(_reward, other, transitions, GAMMA, states, actions)), abs=1e-12)


def test_callable_equals_tabular_on_deterministic_dynamics() -> None:
    reward, _, _, _ = _mdp(7)
    other = _mdp(8)[0]
    following = np.random.default_rng(9).integers(0, S, size=(S, A))  # s' = following[s, a]
    tau = np.zeros((S, A, S))
    tau[np.arange(S)[:, None], np.arange(A)[None, :], following] = 1.0
    s, a = (x.ravel() for x in np.meshgrid(np.arange(S), np.arange(A), indexing="ij"))
    transitions = (s, a, following[s, a])

    def model(x: np.ndarray, b: np.ndarray) -> np.ndarray:
        return following[x, b][:, None]

    def table(r: np.ndarray) -> Any:
        return lambda x, b, t: r[x, b, t]

    samples = draw(transitions, model, np.arange(A))
    np.testing.assert_allclose(dard_canonical(table(reward), samples, GAMMA),
                               dard_canonical_tabular(reward, tau, GAMMA)[transitions], atol=1e-12)
    assert dard_distance(table(reward), table(other), transitions, GAMMA, model, np.arange(A)) == pytest.approx(
        _defined(dard_distance_tabular(reward, other, tau, GAMMA)), abs=1e-12)


def test_bad_inputs_are_named() -> None:
    reward, _, tau, _ = _mdp(10)
    transitions = _continuous(11, n=5)
    with pytest.raises(InputError, match=r"transition model must return next states of shape \(B, M\)"):
        dard_distance(_reward, _reward, transitions, GAMMA, lambda x, a: x + a)
    with pytest.raises(InputError, match="transition must have the reward's shape"):
        dard_distance_tabular(reward, reward, 2 * tau, GAMMA)
    with pytest.raises(InputError, match="gamma"):
        dard_distance(_reward, _reward, transitions, 1.5, _noisy_model(0))
    with pytest.raises(InputError, match="same non-zero length"):
        dard_distance(_reward, _reward, (transitions[0], transitions[1][:2], transitions[2]), GAMMA, _noisy_model(0))

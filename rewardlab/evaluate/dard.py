"""DARD, the Dynamics-Aware Reward Distance (Wulfe et al., ICLR 2022, arXiv 2201.10081).

EPIC (:mod:`rewardlab.evaluate.distance`) averages a reward over next states drawn from D_S
independently of (s, a), so a learned reward is read on transitions the dynamics never make.
DARD draws them from a given (approximate) transition model T instead:

    C_T(R)(s, a, s') = R(s, a, s') + E[γ R(s', A, S'') − R(s, A, S') − γ R(S', A, S'')],
    A ~ D_A,  S' ~ T(· | s, A),  S'' ~ T(· | s', A)  (S' and S'' independent given A),

i.e. R + γφ(s') − φ(s) − γψ(s, s') with φ(x) = E[R(x, A, X')], X' ~ T(x, A), and
ψ(s, s') = E[R(S', A, S'')]. Shaping by any Φ cancels whatever T is (docs/diagnostics.md
derives it), and with T(· | s, a) = D_S for every (s, a) C_T is EPIC's canonical reward. The
distance is then EPIC's Pearson distance sqrt((1 − ρ) / 2) over a coverage distribution of
transitions (:func:`rewardlab.evaluate.distance.pearson_distance`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardlab.errors import InputError
from rewardlab.evaluate.distance import (
    MESH_ROWS,
    RewardFn,
    call_reward,
    check_gamma,
    check_transition,
    distribution,
    normalised_weights,
    pearson_distance,
    rms,
    samples_of,
    tabular_distance,
    tabular_reward,
)

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # (s, a, s') rows for a reward callable
TransitionModel = Callable[[np.ndarray, np.ndarray], Any]
"""``model(states [B, ...], actions [B, ...]) -> next states [B, M, ...]``: M draws from T(· | s, a) per row
(M = 1 for deterministic dynamics)."""


def dard_canonical_tabular(reward: Any, transition: Any, gamma: float, action_dist: Any = None) -> np.ndarray:
    """DARD's transformed R[s, a, s'] under τ[s, a, s'] = T(s' | s, a), A ~ ``action_dist`` (uniform if None);
    the expectations are exact sums."""
    r = tabular_reward(reward, "dard: reward")
    g = check_gamma(gamma, False, "dard")
    tau = check_transition(transition, r.shape, "dard")
    p_a = distribution(action_dist, r.shape[1], "dard: action_dist")
    phi = np.einsum("a,xay,xay->x", p_a, tau, r)  # E[R(x, A, X')], X' ~ T(x, A)
    psi = np.einsum("a,say,taz,yaz->st", p_a, tau, tau, r, optimize=True)  # E[R(S', A, S'')]
    return r + g * phi[None, None, :] - phi[:, None, None] - g * psi[:, None, :]


def dard_distance_tabular(reward_a: Any, reward_b: Any, transition: Any, gamma: float, action_dist: Any = None,
                          coverage: Any = None) -> float | None:
    """DARD between two tabular rewards R[s, a, s'] (Wulfe et al., arXiv 2201.10081).

    ``coverage`` weights the transitions for the Pearson distance; by default uniform s, A ~ ``action_dist``
    and s' ~ τ(s, A), so only transitions the model can make count. ``None`` when a transformed reward is
    constant on the coverage.
    """
    ca = dard_canonical_tabular(reward_a, transition, gamma, action_dist)
    cb = dard_canonical_tabular(reward_b, transition, gamma, action_dist)

    def feasible() -> np.ndarray:
        p_a = distribution(action_dist, ca.shape[1], "dard: action_dist")
        return np.asarray(transition, dtype=np.float64) * p_a[None, :, None] / ca.shape[0]

    return tabular_distance(reward_a, reward_b, ca, cb, coverage, feasible, "dard_distance_tabular")


@dataclass(frozen=True)
class DardSamples:
    """What both rewards are transformed with, drawn once so that they share the model's samples.

    ``starts`` are the distinct states among the transitions' s and s' (``at_s``, ``at_next``: each
    transition's index into them), ``actions`` the D_A samples and ``after[x, k]`` the model's M next
    states from (starts[x], actions[k]); ``pairs`` the distinct (s, s') index pairs, ``pair_of`` each
    transition's.
    """

    transitions: tuple[np.ndarray, np.ndarray, np.ndarray]
    starts: np.ndarray
    at_s: np.ndarray
    at_next: np.ndarray
    actions: np.ndarray
    after: np.ndarray
    pairs: np.ndarray
    pair_of: np.ndarray


def draw(transitions: tuple[Any, Any, Any], model: TransitionModel, actions: Any = None) -> DardSamples:
    """Call ``model`` once on every (distinct state of the transitions) x (D_A sample) and check its answer.

    D_A is ``actions`` (default: the transitions' own actions, at most 512, evenly spaced).
    """
    s, a, s_next = (np.asarray(x) for x in transitions)
    if not len(s) == len(a) == len(s_next) or len(s) == 0:
        raise InputError("dard_distance: transitions must be three arrays (s, a, s') of the same non-zero length")
    d_a = samples_of(actions, a, "actions", "dard_distance")
    starts, inverse = np.unique(np.concatenate([s, s_next]), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    n, u, k = len(s), len(starts), len(d_a)
    out = np.asarray(model(np.repeat(starts, k, axis=0), np.tile(d_a, (u,) + (1,) * (d_a.ndim - 1))))
    if out.ndim < 2 or out.shape[0] != u * k or out.shape[1] == 0 or out.shape[2:] != starts.shape[1:]:
        raise InputError(f"dard_distance: the transition model must return next states of shape (B, M) + "
                         f"{starts.shape[1:]} for B = {u * k} (state, action) rows and M >= 1 draws each, "
                         f"got shape {out.shape}")
    pairs, pair_of = np.unique(np.stack([inverse[:n], inverse[n:]], axis=1), axis=0, return_inverse=True)
    return DardSamples((s, a, s_next), starts, inverse[:n], inverse[n:], d_a,
                       out.reshape((u, k, *out.shape[1:])), pairs, pair_of.reshape(-1))


def _means(fn: RewardFn, items: int, per_item: int, rows: Callable[[int, int], Rows],
           what: str) -> np.ndarray:
    """For each item, the mean of ``fn`` over its ``per_item`` rows (``rows(lo, hi)``: items lo..hi's rows),
    in calls of at most ``MESH_ROWS`` rows."""
    step = max(1, MESH_ROWS // per_item)
    means = np.empty(items)
    for lo in range(0, items, step):
        hi = min(items, lo + step)
        values = call_reward(fn, *rows(lo, hi), what, "dard_distance")
        means[lo:hi] = values.reshape(hi - lo, per_item).mean(axis=1)
    return means


def _flat(x: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
    """``x`` broadcast to ``lead`` + its trailing (state or action) shape, as rows."""
    trail = x.shape[len(lead):]
    return np.broadcast_to(x, lead + trail).reshape((-1, *trail))


def dard_canonical(fn: RewardFn, samples: DardSamples, gamma: float, what: str = "reward") -> np.ndarray:
    """DARD's transformed reward of a batched callable at each of ``samples``' transitions (module docstring),
    the expectations exact over the D_A samples and the model's draws."""
    return _parts(fn, samples, gamma, what)[0]


def _parts(fn: RewardFn, samples: DardSamples, gamma: float, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The transformed and the raw reward at each transition."""
    g = check_gamma(gamma, False, "dard_distance")
    x, d_a, after = samples.starts, samples.actions, samples.after
    u, k, m = after.shape[:3]
    lift = d_a.reshape((1, k, 1, *d_a.shape[1:]))

    def phi_rows(lo: int, hi: int) -> Rows:  # R(x, a_k, x'_kj)
        lead = (hi - lo, k, m)
        return (_flat(x[lo:hi].reshape((hi - lo, 1, 1, *x.shape[1:])), lead), _flat(lift, lead),
                _flat(after[lo:hi], lead))

    def psi_rows(lo: int, hi: int) -> Rows:  # R(s'_kj, a_k, s''_kl)
        first, second = after[samples.pairs[lo:hi, 0]], after[samples.pairs[lo:hi, 1]]
        lead = (hi - lo, k, m, m)
        return (_flat(first[:, :, :, None], lead), _flat(lift[:, :, :, None], lead),
                _flat(second[:, :, None], lead))

    phi = _means(fn, u, k * m, phi_rows, what)
    psi = _means(fn, len(samples.pairs), k * m * m, psi_rows, what)[samples.pair_of]
    raw = call_reward(fn, *samples.transitions, what, "dard_distance")
    return raw + g * phi[samples.at_next] - phi[samples.at_s] - g * psi, raw


def dard_distance(reward_a: RewardFn, reward_b: RewardFn, transitions: tuple[Any, Any, Any], gamma: float,
                  model: TransitionModel, actions: Any = None, weights: Any = None) -> float | None:
    """DARD between two batched reward callables on (s, a, s') (Wulfe et al., arXiv 2201.10081).

    ``transitions`` = (s [B, ...], a [B, ...], s' [B, ...]) sample the coverage distribution (``weights`` per
    transition, default uniform); ``model`` gives next-state draws (:data:`TransitionModel`), called once
    for both rewards; ``actions`` sample D_A (see :func:`draw`). Each reward is called on
    (distinct states) x |actions| x M and (distinct (s, s') pairs) x |actions| x M² rows. ``None`` when a
    transformed reward is constant on the transitions.
    """
    samples = draw(transitions, model, actions)
    ca, ra = _parts(reward_a, samples, gamma, "reward_a")
    cb, rb = _parts(reward_b, samples, gamma, "reward_b")
    w = normalised_weights(weights, ca.shape, "dard_distance: weights")
    return pearson_distance(ca, cb, w, rms(ra, w), rms(rb, w))

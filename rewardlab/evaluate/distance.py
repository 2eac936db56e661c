"""Distances between reward functions that ignore what does not change the optimal policy.

Two rewards that differ by potential shaping, F(s, a, s') = γΦ(s') − Φ(s)
(Ng et al. 1999), or by a positive scale, train the same policies; a raw
difference of their values says nothing. Both distances here first
*canonicalise* each reward (remove shaping), then compare:

- **EPIC** (Gleave et al., arXiv 2006.13900, section 4): the canonically shaped reward
  C(R)(s,a,s') = R(s,a,s') + E[γR(s',A,S') − R(s,A,S') − γR(S,A,S')], with S, S' ~ D_S
  and A ~ D_A independent, then the Pearson distance sqrt((1 − ρ) / 2) of C(R_a) and
  C(R_b) over a coverage distribution of transitions. Range [0, 1]; 1 for R and −R.
  For rewards given as batched numpy callables on (s, a, s') (:func:`epic_distance`)
  or as tabular arrays R[s, a, s'] (:func:`epic_distance_tabular`).
- **STARC** (Skalse et al., arXiv 2309.15257): canonicalise with value-adjusted levelling
  c(R)(s,a,s') = E_{S'~τ(s,a)}[R(s,a,S') − V^π(s) + γV^π(S')] under a fixed policy π
  and the MDP's transitions τ, normalise s(R) = c(R) / n(c(R)) (0 if n(c(R)) = 0), and
  take d = m(s(R_a), s(R_b)); here n is the (weighted) L2 norm over (s, a, s') and
  m(x, y) = n(x − y) / 2, so d is in [0, 1] and 1 exactly for R and −R. Tabular MDPs only
  (:func:`starc_distance`), since V^π needs τ.

DARD (EPIC with next states from a transition model) is :mod:`rewardlab.evaluate.dard`. The
canonicalisations are written out in docs/diagnostics.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rewardlab.errors import InputError

RewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Any]
"""A batched reward: ``fn(states [B, ...], actions [B, ...], next_states [B, ...]) -> [B]``."""

# A canonical reward whose spread is below REL_TOL times the raw reward's RMS is zero up to
# rounding (the reward was only shaping of a constant): its direction is undefined.
REL_TOL = 1e-10
MAX_SAMPLES = 512  # default cap on the D_S and D_A samples taken from the transitions
MESH_ROWS = 1 << 16  # rows per call of a reward callable when averaging over D_A x D_S


def check_gamma(gamma: float, upper_open: bool, where: str) -> float:
    ok = isinstance(gamma, (int, float)) and not isinstance(gamma, bool) and 0.0 <= gamma <= 1.0
    if not ok or (upper_open and gamma == 1.0):
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise InputError(f"{where}: gamma must be a number in {bound}, the MDP's discount (got {gamma!r})")
    return float(gamma)


def distribution(p: Any, size: int, what: str) -> np.ndarray:
    """A probability vector of ``size`` (uniform if ``None``), checked non-negative and summing to 1."""
    if p is None:
        return np.full(size, 1.0 / size)
    arr = np.asarray(p, dtype=np.float64).reshape(-1)
    if arr.shape != (size,) or (arr < 0).any() or not np.isclose(arr.sum(), 1.0):
        raise InputError(f"{what}: expected {size} non-negative probabilities summing to 1")
    return arr


def normalised_weights(w: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Non-negative weights of ``shape`` (uniform if ``None``) normalised to sum to 1."""
    if w is None:
        return np.full(shape, 1.0 / int(np.prod(shape)))
    arr = np.asarray(w, dtype=np.float64)
    if arr.shape != shape or (arr < 0).any() or not np.isfinite(arr).all() or arr.sum() <= 0:
        raise InputError(f"{what}: expected finite non-negative weights of shape {shape}, not all 0")
    return arr / arr.sum()


def shaping_canonical(reward: np.ndarray, mean_s: np.ndarray, mean_next: np.ndarray, total: float,
                      gamma: float) -> np.ndarray:
    """EPIC's canonically shaped reward (Gleave et al., arXiv 2006.13900, section 4) from its parts:
    C = R + γ E[R(s',A,S')] − E[R(s,A,S')] − γ E[R(S,A,S')], where ``mean_s`` and ``mean_next`` hold
    E[R(x,A,S')] at each transition's s and s', and ``total`` is E[R(S,A,S')]."""
    return reward + gamma * mean_next - mean_s - gamma * total


def pearson_distance(x: np.ndarray, y: np.ndarray, weights: np.ndarray, scale_x: float, scale_y: float) -> float | None:
    """sqrt((1 − ρ) / 2) for the weighted Pearson correlation ρ of ``x`` and ``y`` (Gleave et al., section 4).

    Computed as ||x̂ − ŷ|| / 2 with x̂, ŷ standardised (weighted mean 0, weighted L2 norm 1), which equals
    sqrt((1 − ρ) / 2) because ||x̂ − ŷ||² = 2 − 2ρ; taking the square root of 1 − ρ instead would turn a
    rounding error of 1e-16 in ρ into a distance of 1e-8 between equivalent rewards. ``None`` when either
    is constant: a standard deviation at most ``REL_TOL`` times its raw reward's RMS (``scale_*``) is
    rounding, and a correlation with it would be noise.
    """
    dx = x - weights @ x
    dy = y - weights @ y
    sx, sy = rms(dx, weights), rms(dy, weights)
    if sx <= REL_TOL * scale_x or sy <= REL_TOL * scale_y:
        return None
    return min(1.0, 0.5 * rms(dx / sx - dy / sy, weights))


def rms(values: np.ndarray, weights: np.ndarray) -> float:
    """The weighted root mean square sqrt(Σ w x²) (``weights`` sum to 1, the shape of ``values``)."""
    return float(np.sqrt((weights * values**2).sum()))


def tabular_reward(reward: Any, what: str) -> np.ndarray:
    arr = np.asarray(reward, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[0] != arr.shape[2] or not np.isfinite(arr).all():
        raise InputError(f"{what}: expected a finite array R[s, a, s'] of shape (S, A, S), got shape {arr.shape}")
    return arr


def epic_canonical_tabular(reward: Any, gamma: float, state_dist: Any = None, action_dist: Any = None) -> np.ndarray:
    """EPIC's canonically shaped R[s, a, s'] with S, S' ~ ``state_dist``, A ~ ``action_dist`` (uniform if None)."""
    r = tabular_reward(reward, "epic_canonical_tabular: reward")
    g = check_gamma(gamma, False, "epic_canonical_tabular")
    p_s = distribution(state_dist, r.shape[0], "epic: state_dist")
    p_a = distribution(action_dist, r.shape[1], "epic: action_dist")
    mean_from = np.einsum("xat,a,t->x", r, p_a, p_s)  # E[R(x, A, S')] for every state x
    return shaping_canonical(r, mean_from[:, None, None], mean_from[None, None, :], float(p_s @ mean_from), g)


def epic_distance_tabular(reward_a: Any, reward_b: Any, gamma: float, state_dist: Any = None,
                          action_dist: Any = None, coverage: Any = None) -> float | None:
    """EPIC between two tabular rewards R[s, a, s'] (Gleave et al., arXiv 2006.13900, section 4).

    ``coverage`` weights the transitions for the Pearson distance (default D_S x D_A x D_S). ``None``
    when a reward is, on the coverage, only shaping of a constant (its canonical form is constant).
    """
    ca = epic_canonical_tabular(reward_a, gamma, state_dist, action_dist)
    cb = epic_canonical_tabular(reward_b, gamma, state_dist, action_dist)

    def product() -> np.ndarray:
        p_s = distribution(state_dist, ca.shape[0], "epic: state_dist")
        p_a = distribution(action_dist, ca.shape[1], "epic: action_dist")
        return np.einsum("s,a,t->sat", p_s, p_a, p_s)

    return tabular_distance(reward_a, reward_b, ca, cb, coverage, product, "epic_distance_tabular")


def tabular_distance(reward_a: Any, reward_b: Any, ca: np.ndarray, cb: np.ndarray, coverage: Any,
                     default: Callable[[], np.ndarray], where: str) -> float | None:
    """The Pearson distance of two canonical tabular rewards ``ca``, ``cb`` over ``coverage`` (normalised;
    ``default()`` when None), each reward's RMS setting its rounding scale."""
    if ca.shape != cb.shape:
        raise InputError(f"{where}: reward shapes differ: {ca.shape} and {cb.shape}")
    w = (default() if coverage is None else normalised_weights(coverage, ca.shape, f"{where}: coverage")).reshape(-1)
    ra, rb = (np.asarray(r, dtype=np.float64).reshape(-1) for r in (reward_a, reward_b))
    return pearson_distance(ca.reshape(-1), cb.reshape(-1), w, rms(ra, w), rms(rb, w))


def call_reward(fn: RewardFn, s: np.ndarray, a: np.ndarray, s_next: np.ndarray, what: str,
                where: str = "epic_distance") -> np.ndarray:
    """``fn(s, a, s')`` as floats, refused with a one-line error unless one finite value per row."""
    out = np.asarray(fn(s, a, s_next), dtype=np.float64)
    if out.shape != (len(s),) or not np.isfinite(out).all():
        raise InputError(f"{where}: {what} must return one finite reward per transition "
                         f"(shape ({len(s)},)), got shape {out.shape}" + ("" if out.shape != (len(s),) else
                                                                        " with non-finite values"))
    return out


def mean_reward_from(fn: RewardFn, starts: np.ndarray, actions: np.ndarray, states: np.ndarray, what: str,
                     rows: int = MESH_ROWS) -> np.ndarray:
    """E[R(x, A, S')] for each x in ``starts``, exactly over the empirical product distribution of the
    ``actions`` and ``states`` samples (every pair (a, s') is evaluated), in calls of at most ``rows`` rows."""
    pair_a = np.repeat(actions, len(states), axis=0)
    pair_s = np.tile(states, (len(actions),) + (1,) * (states.ndim - 1))
    pairs = len(pair_a)
    per_call = max(1, rows // pairs)
    means = np.empty(len(starts))
    for lo in range(0, len(starts), per_call):
        x = starts[lo:lo + per_call]
        reps = (len(x),) + (1,) * (pair_a.ndim - 1)
        vals = call_reward(fn, np.repeat(x, pairs, axis=0), np.tile(pair_a, reps),
                     np.tile(pair_s, (len(x),) + (1,) * (pair_s.ndim - 1)), what)
        means[lo:lo + len(x)] = vals.reshape(len(x), pairs).mean(axis=1)
    return means


def samples_of(given: Any, source: np.ndarray, what: str, where: str = "epic_distance") -> np.ndarray:
    """The D_S or D_A samples: as given, else the transitions' own, at most ``MAX_SAMPLES`` evenly spaced."""
    if given is not None:
        arr = np.asarray(given)
        if len(arr) == 0:
            raise InputError(f"{where}: {what} is empty; pass at least one sample")
        return arr
    if len(source) <= MAX_SAMPLES:
        return source
    return source[np.linspace(0, len(source) - 1, MAX_SAMPLES).round().astype(int)]


def _epic_parts(fn: RewardFn, transitions: tuple[Any, Any, Any], gamma: float, states: Any, actions: Any,
                what: str) -> tuple[np.ndarray, np.ndarray]:
    """The canonically shaped and the raw reward of ``fn`` at each transition (see :func:`epic_canonical`)."""
    g = check_gamma(gamma, False, "epic_distance")
    s, a, s_next = (np.asarray(x) for x in transitions)
    if not len(s) == len(a) == len(s_next) or len(s) == 0:
        raise InputError("epic_distance: transitions must be three arrays (s, a, s') of the same non-zero length")
    d_s, d_a = samples_of(states, s, "states"), samples_of(actions, a, "actions")
    starts, inverse = np.unique(np.concatenate([s, s_next, d_s]), axis=0, return_inverse=True)
    means = mean_reward_from(fn, starts, d_a, d_s, what)[inverse.reshape(-1)]
    raw = call_reward(fn, s, a, s_next, what)
    n = len(s)
    return shaping_canonical(raw, means[:n], means[n:2 * n], float(means[2 * n:].mean()), g), raw


def epic_canonical(fn: RewardFn, transitions: tuple[Any, Any, Any], gamma: float, states: Any = None,
                   actions: Any = None) -> np.ndarray:
    """EPIC's canonically shaped reward of a batched callable at each transition (s, a, s').

    D_S and D_A are the empirical distributions of ``states`` and ``actions`` (default: the transitions'
    own s and a, at most ``MAX_SAMPLES`` of each, evenly spaced); the expectations are exact over them.
    Each distinct state is averaged over once.
    """
    return _epic_parts(fn, transitions, gamma, states, actions, "reward")[0]


def epic_distance(reward_a: RewardFn, reward_b: RewardFn, transitions: tuple[Any, Any, Any], gamma: float,
                  states: Any = None, actions: Any = None, weights: Any = None) -> float | None:
    """EPIC between two batched reward callables on (s, a, s') (Gleave et al., arXiv 2006.13900, section 4).

    ``transitions`` = (s [B, ...], a [B, ...], s' [B, ...]) are samples of the coverage distribution
    (``weights`` per transition, default uniform); ``states`` and ``actions`` sample D_S and D_A (see
    :func:`epic_canonical`). Each reward is called on (distinct states) x |actions| x |states| rows.
    ``None`` when a reward is, on these samples, only shaping of a constant.
    """
    ca, ra = _epic_parts(reward_a, transitions, gamma, states, actions, "reward_a")
    cb, rb = _epic_parts(reward_b, transitions, gamma, states, actions, "reward_b")
    w = normalised_weights(weights, ca.shape, "epic_distance: weights")
    return pearson_distance(ca, cb, w, rms(ra, w), rms(rb, w))


def check_transition(transition: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """τ[s, a, s'] checked against R's shape, each τ[s, a, :] a distribution."""
    tau = np.asarray(transition, dtype=np.float64)
    if tau.shape != shape or (tau < 0).any() or not np.allclose(tau.sum(axis=2), 1.0):
        raise InputError(f"{where}: transition must have the reward's shape {shape}, each τ[s, a, :] a distribution")
    return tau


def _mdp(transition: Any, policy: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """τ[s, a, s'] (each row a distribution) and π[s, a] (uniform if None), checked against R's shape."""
    tau = check_transition(transition, shape, "starc")
    pi = np.full(shape[:2], 1.0 / shape[1]) if policy is None else np.asarray(policy, dtype=np.float64)
    if pi.shape != shape[:2] or (pi < 0).any() or not np.allclose(pi.sum(axis=1), 1.0):
        raise InputError(f"starc: policy must have shape {shape[:2]}, each π[s, :] a distribution")
    return tau, pi


def starc_canonical(reward: Any, transition: Any, gamma: float, policy: Any = None) -> np.ndarray:
    """STARC's value-adjusted levelling (Skalse et al., arXiv 2309.15257):
    c(R)(s,a,s') = E_{S'~τ(s,a)}[R(s,a,S') − V^π(s) + γV^π(S')], V^π solving V = r_π + γ P_π V
    (r_π(s) = Σ_a π(a|s) Σ_s' τ(s'|s,a) R(s,a,s'), P_π(s,s') = Σ_a π(a|s) τ(s'|s,a)); the same for every s'.
    """
    r = tabular_reward(reward, "starc: reward")
    g = check_gamma(gamma, True, "starc")
    tau, pi = _mdp(transition, policy, r.shape)
    expected = np.einsum("sat,sat->sa", tau, r)  # E_{S'}[R(s, a, S')]
    p_pi = np.einsum("sa,sat->st", pi, tau)
    value = np.linalg.solve(np.eye(r.shape[0]) - g * p_pi, np.einsum("sa,sa->s", pi, expected))
    levelled = expected - value[:, None] + g * np.einsum("sat,t->sa", tau, value)
    return np.broadcast_to(levelled[:, :, None], r.shape).copy()


def starc_distance(reward_a: Any, reward_b: Any, transition: Any, gamma: float, policy: Any = None,
                   weights: Any = None) -> float:
    """STARC between two tabular rewards (Skalse et al., arXiv 2309.15257): 0.5 ||s(R_a) − s(R_b)||, with
    s(R) = c(R) / ||c(R)|| (:func:`starc_canonical`; s(R) = 0 when c(R) is 0 up to rounding), and
    ||X|| = sqrt(Σ w X²) over (s, a, s'), ``weights`` w (positive, default uniform). In [0, 1]."""
    ra, rb = tabular_reward(reward_a, "starc: reward_a"), tabular_reward(reward_b, "starc: reward_b")
    if ra.shape != rb.shape:
        raise InputError(f"starc_distance: reward shapes differ: {ra.shape} and {rb.shape}")
    w = normalised_weights(weights, ra.shape, "starc_distance: weights")
    if (w <= 0).any():
        raise InputError("starc_distance: weights must be positive everywhere (a zero weight makes n a seminorm)")

    def standardised(r: np.ndarray) -> np.ndarray:
        c = starc_canonical(r, transition, gamma, policy)
        size = rms(c, w)
        return c / size if size > REL_TOL * rms(r, w) else np.zeros_like(c)

    return 0.5 * rms(standardised(ra) - standardised(rb), w)

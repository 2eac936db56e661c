"""Reward normalisation by the running std of the discounted return, with statistics you can keep.

The scaling of OpenAI Baselines' ``VecNormalize`` as Gymnasium's ``NormalizeReward``
and SB3's ``VecNormalize`` do it: keep a discounted return R ← γR + r per env,
track its running variance σ²_R (Chan et al.'s parallel update, Gymnasium's
:class:`~gymnasium.wrappers.utils.RunningMeanStd`) and return r / √(σ²_R + ε).
Dividing by a positive constant leaves the optimal policy unchanged; the
optional mean-centring (r − μ_r) does not in general (it adds a constant per
step, which changes the incentive to end episodes early), hence off by default.

``returns`` chooses when R restarts:

* ``"gymnasium"`` (default, parity with Gymnasium's wrappers): R ← γ(1 − terminated)R + r,
  so the terminal step starts from 0 and R carries over truncations and autoresets;
* ``"sb3"``: R ← γR + r, then R = 0 after every terminated *or* truncated step (SB3's
  ``VecNormalize``); ``clip`` (SB3 default 10) bounds the result.

A plain ``reset()`` of the vector wrapper zeroes R (Gymnasium's vector wrapper
does); the single-env wrapper keeps R over ``reset()`` in ``"gymnasium"`` mode,
as Gymnasium's single wrapper does.

Statistics: :meth:`state_dict` / :meth:`load_state_dict` (JSON-able floats),
``update_running_mean = False`` to freeze them for evaluation (Gymnasium's name),
and :func:`merge_stats` to combine copies that counted different data (one per
worker of an ``AsyncVectorEnv``) into one, then load it into each copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv
from gymnasium.wrappers.utils import RunningMeanStd, update_mean_var_count_from_moments

from rewardlab.envs._base import KeepsState, VectorRewardWrapper, check_gamma, check_number, keep_raw, update_rms
from rewardlab.errors import InputError, SpecError

ReturnsMode = Literal["gymnasium", "sb3"]
Stats = dict[str, dict[str, float]]
Moments = tuple[np.ndarray, np.ndarray, float]  # mean, var, count
Scalars = tuple[float, float, float]  # mean, var, count of scalar statistics


class ReturnScaler:
    """The normaliser's state and update for ``num_envs`` envs; both wrappers drive one of these."""

    def __init__(
        self, num_envs: int, gamma: float, epsilon: float, center: bool, returns: ReturnsMode, clip: float | None
    ) -> None:
        epsilon = check_number(epsilon, "NormalizeReward: epsilon", "a number > 0", lambda e: e > 0)
        if returns not in ("gymnasium", "sb3"):
            raise SpecError(f"NormalizeReward: returns must be 'gymnasium' or 'sb3' (got {returns!r})")
        if clip is not None:
            clip = check_number(clip, "NormalizeReward: clip", "a number > 0 or None", lambda c: c > 0)
        self.gamma, self.epsilon = check_gamma(gamma, "NormalizeReward"), epsilon
        self.center, self.mode, self.clip = center, returns, clip
        self.returns = np.zeros(num_envs)
        self.return_rms, self.reward_rms = RunningMeanStd(shape=()), RunningMeanStd(shape=())
        self.update = True

    def step(
        self, reward: np.ndarray, terminated: np.ndarray, done: np.ndarray, active: np.ndarray, everyone: bool
    ) -> np.ndarray:
        """Update R and the statistics on the ``active`` envs; the normalised rewards (0 where inactive).

        ``everyone``: every env is active (the common step), so nothing is masked.
        """
        r = reward if everyone else reward[active]
        term = terminated if everyone else terminated[active]
        keep = self.gamma * (1.0 - term) if self.mode == "gymnasium" else self.gamma
        returns = (self.returns if everyone else self.returns[active]) * keep + r
        if everyone:
            self.returns = returns  # a fresh array
        else:
            self.returns[active] = returns
        if self.update and len(returns):
            update_rms(self.return_rms, returns)
            if self.center:
                update_rms(self.reward_rms, r)
        if self.mode == "sb3":
            self.returns[active & done] = 0.0
        shift = self.reward_rms.mean if self.center else 0.0
        out = (reward - shift) / np.sqrt(self.return_rms.var + self.epsilon)
        if self.clip is not None:
            out = np.clip(out, -self.clip, self.clip)
        return out if everyone else np.where(active, out, 0.0)

    def state_dict(self) -> Stats:
        """The running statistics (not the per-env returns) as plain floats."""
        return {k: rms_state(r) for k, r in self._rms()}

    def load_state_dict(self, state: Stats) -> None:
        """Load statistics saved by :meth:`state_dict` (or merged by :func:`merge_stats`); all checked first."""
        checked = [(rms, moments(state, key)) for key, rms in self._rms()]
        for rms, values in checked:
            load_rms(rms, values)

    def _rms(self) -> list[tuple[str, RunningMeanStd]]:
        return [("return", self.return_rms), ("reward", self.reward_rms)]


def moments(state: Any, key: str, owner: str = "NormalizeReward", shape: tuple[int, ...] = ()) -> Moments:
    """``state[key]``'s mean, var (of ``shape``) and count, finite with var, count >= 0; a one-line InputError
    naming ``owner`` otherwise (NaN statistics would make every reward NaN)."""
    try:
        mean, var = (np.array(state[key][f], dtype=np.float64) for f in ("mean", "var"))
        count = float(state[key]["count"])
    except (KeyError, TypeError, ValueError, IndexError):
        mean = var = np.full(shape, np.nan)
        count = np.nan
    if not (mean.shape == var.shape == shape and np.isfinite(mean).all() and np.isfinite(var).all()
            and np.isfinite(count) and (var >= 0).all() and count >= 0):
        got = state.get(key) if isinstance(state, dict) else state
        raise InputError(
            f"{owner} statistics need {key!r} with a finite mean, var >= 0 and count >= 0"
            f"{f' (mean and var of shape {shape})' if shape else ''} (got {got!r}); pass what state_dict() returned"
        )
    return mean, var, count


def rms_state(rms: RunningMeanStd) -> dict[str, Any]:
    """A RunningMeanStd's mean, var and count: plain floats for scalar statistics (JSON-able), array copies
    otherwise; :func:`load_rms` takes it back."""
    if rms.mean.shape == ():
        return {"mean": float(rms.mean), "var": float(rms.var), "count": float(rms.count)}
    return {"mean": rms.mean.copy(), "var": rms.var.copy(), "count": float(rms.count)}


def load_rms(rms: RunningMeanStd, values: Moments) -> None:
    """Set ``rms`` to ``values``, what :func:`moments` returned (check every part of a state before loading)."""
    rms.mean, rms.var, rms.count = values[0].copy(), values[1].copy(), values[2]


def merge_stats(states: Sequence[Stats], base: Stats | None = None) -> Stats:
    """Combine statistics that copies gathered on different data (Chan et al. 1979 parallel update).

    ``base``: the statistics every copy was loaded with before counting (the last
    merge); it is taken out of each copy first so that shared data is counted once.
    """
    if not states:
        raise InputError("merge_stats: give at least one state_dict()")
    out: Stats = {}
    for key in ("return", "reward"):
        b = scalars(moments(base, key)) if base is not None else None
        mean, var, count = b if b is not None else (0.0, 0.0, 0.0)
        for state in states:
            total = scalars(moments(state, key))
            m, v, n = _minus(total, b) if b is not None else total
            if n > 0:
                mean, var, count = update_mean_var_count_from_moments(mean, var, count, m, v, n)
        out[key] = {"mean": float(mean), "var": float(var), "count": float(count)}
    return out


def scalars(values: Moments) -> Scalars:
    return float(values[0]), float(values[1]), values[2]


def _minus(total: Scalars, base: Scalars) -> Scalars:
    """The moments of the data in ``total`` that is not in ``base`` (Chan's update solved for one part)."""
    (t_mean, t_var, t_count), (b_mean, b_var, b_count) = total, base
    n = t_count - b_count
    if n <= 0:
        return 0.0, 0.0, 0.0
    mean = (t_mean * t_count - b_mean * b_count) / n
    cross = (mean - b_mean) ** 2 * b_count * n / t_count
    m2 = t_var * t_count - b_var * b_count - cross
    return mean, max(m2, 0.0) / n, n


class NormalizeReward(KeepsState, gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Scale a single env's reward by the running std of its discounted return (raw in ``info``)."""

    def __init__(
        self, env: gym.Env, gamma: float = 0.99, epsilon: float = 1e-8, *,
        center: bool = False, returns: ReturnsMode = "gymnasium", clip: float | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, gamma=gamma, epsilon=epsilon, center=center, returns=returns, clip=clip
        )
        gym.Wrapper.__init__(self, env)
        self.scaler = self.learner = ReturnScaler(1, gamma, epsilon, center, returns, clip)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if self.scaler.mode == "sb3":
            self.scaler.returns[:] = 0.0
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        done = np.array([terminated or truncated])
        out = self.scaler.step(np.array([float(reward)]), np.array([terminated]), done, np.ones(1, dtype=bool), True)
        return obs, float(out[0]), terminated, truncated, keep_raw(info, reward)


class VectorNormalizeReward(KeepsState, VectorRewardWrapper, gym.utils.RecordConstructorArgs):
    """:class:`NormalizeReward` for a vector env: one return per env, one set of statistics for all."""

    def __init__(
        self, env: VectorEnv, gamma: float = 0.99, epsilon: float = 1e-8, *,
        center: bool = False, returns: ReturnsMode = "gymnasium", clip: float | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, gamma=gamma, epsilon=epsilon, center=center, returns=returns, clip=clip
        )
        VectorRewardWrapper.__init__(self, env)
        self.scaler = self.learner = ReturnScaler(self.num_envs, gamma, epsilon, center, returns, clip)

    def on_reset(self, obs: Any, mask: np.ndarray) -> None:
        """A plain ``reset()`` zeroes every return (Gymnasium's vector wrapper does). A partial reset
        (DISABLED mode) plays the autoreset's part, so in ``"gymnasium"`` mode R carries over it as over
        an autoreset and as the single wrapper's R carries over ``reset()``; ``"sb3"`` zeroes it."""
        if not self.partial_reset or self.scaler.mode == "sb3":
            self.scaler.returns[mask] = 0.0

    def on_step(
        self, obs: Any, actions: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
        info: dict[str, Any], active: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        out = self.scaler.step(reward, terminated, self.done, active, self.everyone)
        return out, keep_raw(info, reward, active, self.everyone)

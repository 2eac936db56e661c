"""A reward made of named terms with weights, each term logged (Isaac Lab's reward-manager shape).

A term is ``func(obs, action, next_obs, info, terminated, truncated, **params)``:
one number per transition for the single-env wrapper, one per env for the vector
wrapper (write it with numpy over the trailing axes, ``next_obs[..., 0]``, and
the same function serves both). The environment's own reward is the component
``"env"`` (weight ``env_weight``, 0 to drop it), so it is never lost silently.

Combination: ``"weighted_sum"`` (default) is Σ wᵢ(t)·cᵢ, where a weight may be a
schedule (:mod:`rewardlab.envs.schedules`) of the env's step count t. Any other
rewardlab combiner (``"gated"``, ``"product"`` for CaRL-style multiplicative
penalties, …) is taken from the registry and called with constant weights.

``info["raw_reward"]`` holds the env's reward, ``info["reward_terms"][name]``
each term's value this step and, on the step that ends an episode (as Gymnasium's
``RecordEpisodeStatistics`` reports episodes), ``info["reward_terms_episode"][name]``
its sum over the episode. The schedules' clock (each env's step count) is the
wrapper's state: ``state_dict()`` / ``load_state_dict()`` carry it over a restart,
``update_running_mean = False`` stops it (evaluation at the weights reached).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

from rewardlab.batch import BatchContext
from rewardlab.envs._base import (
    F64,
    KeepsState,
    Nested,
    VectorRewardWrapper,
    all_finite,
    check_number,
    frozen,
    keep_raw,
    per_env,
    scalar,
    snapshot,
)
from rewardlab.envs.schedules import Cosine, Linear, Step
from rewardlab.errors import InputError, SpecError
from rewardlab.registry import create

TermFn = Callable[..., Any]
ENV = "env"
ONE = frozen(np.ones(1, dtype=bool))


@dataclass(frozen=True)
class Term:
    """One named reward term: its function, weight (a number or a schedule) and extra parameters."""

    func: TermFn
    weight: float | Linear | Cosine | Step = 1.0
    params: Mapping[str, Any] = field(default_factory=dict)


def check_term(name: str, term: Term) -> None:
    """A one-line :class:`SpecError` unless the term has a callable, a finite weight or a schedule, and params."""
    if not callable(term.func):
        raise SpecError(f"RewardTerms: term {name!r} needs a callable func (got {term.func!r})")
    if not callable(term.weight):
        check_number(term.weight, f"RewardTerms: the weight of term {name!r}", "a finite number or a schedule "
                     "(Linear, Cosine, Step)")
    if not isinstance(term.params, Mapping):
        raise SpecError(f"RewardTerms: the params of term {name!r} must be a mapping of keyword arguments "
                        f"(got {term.params!r})")


class TermSet:
    """The terms, their combination and per-env step counts and episode sums; both wrappers drive one."""

    def __init__(
        self, terms: Mapping[str, Term | TermFn], env_weight: float, combine: str, combine_params: Mapping[str, Any],
        num_envs: int,
    ) -> None:
        if not isinstance(terms, Mapping) or not terms or ENV in terms:
            raise SpecError(f"RewardTerms: give a mapping of names to terms, at least one, none named {ENV!r} "
                            f"(got {terms!r})")
        self.terms = {name: t if isinstance(t, Term) else Term(t) for name, t in terms.items()}
        for name, t in self.terms.items():
            check_term(name, t)
        self.env_weight = check_number(env_weight, "RewardTerms: env_weight")
        self.combine = combine
        scheduled = [n for n, t in self.terms.items() if not isinstance(t.weight, (int, float))]
        if combine != "weighted_sum" and scheduled:
            raise SpecError(f"RewardTerms: weight schedules need combine='weighted_sum' (scheduled: {scheduled})")
        self.combiner = None if combine == "weighted_sum" else create("combiner", combine, dict(combine_params))
        if self.combiner is not None:  # fixed here (schedules need weighted_sum): made once, not per step
            self.fixed = {ENV: self.env_weight, **{n: float(t.weight) for n, t in self.terms.items()}}  # type: ignore[arg-type]
            self.ctx = BatchContext.from_groups(np.arange(num_envs))
        self.names = list(self.terms)
        self.calls = [partial(t.func, **t.params) if t.params else t.func for t in self.terms.values()]
        self.scheduled = bool(scheduled)
        weights = [self.env_weight, *(t.weight for t in self.terms.values())]  # row 0 of values(): the env reward
        # Constant weights as a column: the weighted sum is one multiply and one reduction. Not ``w @ matrix``:
        # that goes to OpenBLAS, whose AVX-512 kernel slowed the *next* env step by ~10 us on 16 CartPoles
        # here (the CPU's clock drops after AVX-512 work; with OPENBLAS_CORETYPE=Haswell it did not).
        self.constant = None if scheduled else np.array(weights, dtype=np.float64)[:, None]
        self.unit = self.constant is not None and bool((self.constant == 1.0).all())  # the default: a plain sum
        self.steps = np.zeros(num_envs, dtype=np.int64)  # each env's steps so far: the schedules' clock
        self.update = True  # False: the clock stops (evaluation at the weights reached)
        self.shape = (1 + len(self.names), num_envs)  # the matrix of values(): the env reward, then the terms
        self.sums = np.zeros(self.shape)  # episode sums, rows as the matrix's (the whole matrix added at once)
        self.zeros = frozen(np.zeros(self.shape))  # end_episodes' "0 elsewhere", made once
        self.nested = Nested(self.names, first=1)  # info rows: the term rows of the matrix (or of the sums)

    def weights(self, steps: np.ndarray) -> dict[str, np.ndarray | float]:
        """Each term's weight at these step counts: a number, or an array where scheduled."""
        return {n: t.weight(steps) if callable(t.weight) else float(t.weight) for n, t in self.terms.items()}

    def values(self, env_reward: Any, args: tuple[Any, ...], num_envs: int | None) -> np.ndarray:
        """The env reward (row 0) and the terms' values (rows 1..) as a fresh (1 + terms, envs) matrix.

        ``num_envs`` None for a single env (scalars). One array for the batch: the weighted sum is
        one reduction and the info rows are views of it. Finiteness is checked on the combined
        reward by :meth:`total` (one check on a row, not on the matrix).
        """
        outs = [func(*args) for func in self.calls]
        if num_envs is None:
            checked = [[scalar(v, f"reward term {n!r}")] for n, v in zip(self.names, outs, strict=True)]
            return np.array([[float(env_reward)], *checked])
        try:  # no dtype asked: with the env reward float64, real numbers of any kind stack to float64 (faster)
            matrix = np.array([env_reward, *outs])
        except (TypeError, ValueError):
            matrix = np.zeros(0)
        if matrix.dtype is not F64 or matrix.shape != self.shape:
            # Anything else (objects, complex, text, a wrong shape) term by term: a culprit is named, and what
            # per_env reads as numbers is stacked as it was with a dtype.
            rows = [per_env(v, num_envs, f"reward term {n!r}") for n, v in zip(self.names, outs, strict=True)]
            matrix = np.array([env_reward, *rows], dtype=np.float64)
        return matrix

    def total(self, matrix: np.ndarray, active: np.ndarray, everyone: bool) -> np.ndarray:
        """Combine the env reward and the terms (``matrix`` from :meth:`values`, 0 where inactive); advance the
        step counts and episode sums (in place) of the active envs."""
        if self.combiner is None and self.unit:
            out = np.add.reduce(matrix, 0)  # 0 where inactive: the matrix is
        elif self.combiner is None and self.constant is not None:
            out = np.add.reduce(self.constant * matrix, 0)
        elif self.combiner is None:
            w = self.weights(self.steps)
            out = self.env_weight * matrix[0] + sum(w[n] * v for n, v in zip(self.names, matrix[1:], strict=True))
        else:
            if not all_finite(matrix):  # before the combiner sees a NaN (an overflowing sum is the combiner's own)
                self.blame(matrix)
            table = {ENV: matrix[0], **dict(zip(self.names, matrix[1:], strict=True))}
            out = self.combiner(table, self.fixed, self.ctx)
            out = out if everyone else np.where(active, out, 0.0)  # a combiner of zeros need not be 0
        if not math.isfinite(sum(out.tolist())):  # a Python sum of 16 floats: a third of a numpy reduction
            self.blame(matrix)
        np.add(self.sums, matrix, out=self.sums)  # the env reward's row too: one call, no view of the term rows
        if self.scheduled and self.update:  # the step counts only move schedules
            self.steps += active
        return out

    def blame(self, matrix: np.ndarray) -> None:
        """A one-line :class:`InputError` naming the term whose value is not finite (or the env reward, or an
        overflow, or the combiner's result): the combined reward was not. A weighted sum of finite weights is
        finite only if every value it sums is, so :meth:`total` checks the sum (one check a step) and calls this
        to find the culprit."""
        for n, row in zip(self.names, matrix[1:], strict=True):
            per_env(row, len(row), f"reward term {n!r}")
        combined = "the weighted sum (an overflow)" if self.combiner is None else f"the {self.combine!r} combination"
        culprit = "the environment's reward" if not np.isfinite(matrix[0]).all() else combined
        raise InputError(f"RewardTerms: {culprit} is not finite; a reward must be finite")

    def end_episodes(self, ended: np.ndarray) -> np.ndarray:
        """The episode sums of the ``ended`` envs (0 elsewhere; rows as :meth:`values`'), which restart from 0."""
        report = np.where(ended, self.sums, self.zeros)
        self.sums -= report
        return report

    def reset(self, mask: np.ndarray) -> None:
        """Episodes start for the envs in ``mask``: their sums restart from 0."""
        self.sums = np.where(mask, 0.0, self.sums)

    def state_dict(self) -> dict[str, Any]:
        """The schedules' clock (each env's step count) as plain ints, so a resumed run anneals on."""
        return {"steps": self.steps.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load what :meth:`state_dict` returned (for as many envs)."""
        steps = np.asarray(state.get("steps") if isinstance(state, dict) else None)
        if steps.shape != self.steps.shape or steps.dtype.kind not in "iu" or (steps < 0).any():
            raise InputError(
                f"RewardTerms.load_state_dict: need 'steps', {len(self.steps)} non-negative integers (got {state!r}); "
                "pass what state_dict() of a wrapper for as many envs returned"
            )
        self.steps = steps.astype(np.int64)


class RewardTerms(KeepsState, gym.Wrapper, gym.utils.RecordConstructorArgs):
    """A single env's reward from named, weighted terms; each term's value and episode sum in ``info``."""

    def __init__(
        self, env: gym.Env, terms: Mapping[str, Term | TermFn], *, env_weight: float = 1.0,
        combine: str = "weighted_sum", combine_params: Mapping[str, Any] | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, terms=terms, env_weight=env_weight, combine=combine, combine_params=combine_params
        )
        gym.Wrapper.__init__(self, env)
        self.termset = self.learner = TermSet(terms, env_weight, combine, combine_params or {}, 1)
        self._obs: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = snapshot(obs)
        self.termset.reset(np.ones(1, dtype=bool))
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._obs is None:
            raise gym.error.ResetNeeded("RewardTerms: call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(action)
        matrix = self.termset.values(reward, (self._obs, action, obs, info, terminated, truncated), None)
        out = self.termset.total(matrix, ONE, True)
        self._obs = snapshot(obs)
        info = {
            **keep_raw(info, reward),
            "reward_terms": {n: float(v[0]) for n, v in zip(self.termset.names, matrix[1:], strict=True)},
        }
        if terminated or truncated:
            sums = self.termset.end_episodes(ONE)[1:]
            info["reward_terms_episode"] = {n: float(v[0]) for n, v in zip(self.termset.names, sums, strict=True)}
        return obs, float(out[0]), terminated, truncated, info

    def weights(self) -> dict[str, float]:
        """The terms' current weights (schedules at this env's step count)."""
        return {n: float(np.asarray(w).reshape(-1)[0]) for n, w in self.termset.weights(self.termset.steps).items()}


class VectorRewardTerms(KeepsState, VectorRewardWrapper, gym.utils.RecordConstructorArgs):
    """:class:`RewardTerms` for a vector env: each term called once per step on the whole batch."""

    def __init__(
        self, env: VectorEnv, terms: Mapping[str, Term | TermFn], *, env_weight: float = 1.0,
        combine: str = "weighted_sum", combine_params: Mapping[str, Any] | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, terms=terms, env_weight=env_weight, combine=combine, combine_params=combine_params
        )
        VectorRewardWrapper.__init__(self, env)
        self.termset = self.learner = TermSet(terms, env_weight, combine, combine_params or {}, self.num_envs)
        self._obs: Any = None
        self._n = self.num_envs

    def on_reset(self, obs: Any, mask: np.ndarray) -> None:
        self._obs = snapshot(obs)
        self.termset.reset(mask)

    def on_step(
        self, obs: Any, actions: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
        info: dict[str, Any], active: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        terms, everyone = self.termset, self.everyone
        matrix = terms.values(reward, (self._obs, actions, obs, info, terminated, truncated), self._n)
        if not everyone:  # envs on their autoreset step: every entry 0 with one call, then nothing to mask
            np.copyto(matrix, 0.0, where=self.autoresetting)
        out = terms.total(matrix, active, everyone)
        self._obs = snapshot(obs)
        info = keep_raw(info, matrix[0], active, masked=True, fresh=True)  # a row of this step's fresh matrix
        terms.nested.put(info, "reward_terms", matrix, active, masked=True)  # a fresh matrix each step
        if self.any_done:  # like RecordEpisodeStatistics: the sums on the step that ends the episode
            ended = self.done  # never on an autoreset step (NEXT_STEP: reset envs report False, False)
            terms.nested.put(info, "reward_terms_episode", terms.end_episodes(ended), ended, masked=True)
        return out, info

    def weights(self) -> dict[str, np.ndarray]:
        """The terms' current weights per env (schedules at each env's step count)."""
        steps = self.termset.steps
        return {n: np.broadcast_to(w, steps.shape) for n, w in self.termset.weights(steps).items()}

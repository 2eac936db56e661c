"""Bad constructor arguments of every rewardlab.envs wrapper and bonus: one line, naming what to give.

Before, a NaN weight gave NaN rewards without a word, and the rest ended in a TypeError,
ValueError or OverflowError from deep inside numpy, or at the first step, or never.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

from rewardlab.envs import (
    RDD,
    RND,
    EpisodicCount,
    EpisodicKNN,
    IntrinsicReward,
    Linear,
    NormalizeReward,
    PotentialShaping,
    RewardTerms,
    SimHashCount,
    Step,
    Term,
    VectorPotentialShaping,
)
from rewardlab.envs.subgoals import SubgoalJudge
from rewardlab.errors import SpecError


def cart() -> gym.Env:
    return gym.make("CartPole-v1")


def term(obs: Any, action: Any, next_obs: Any, info: Any, terminated: Any, truncated: Any) -> Any:
    return next_obs[..., 0]


NAN = float("nan")
CASES: dict[str, tuple[Callable[[], Any], str]] = {
    "NaN term weight": (lambda: RewardTerms(cart(), {"a": Term(term, NAN)}),
                        r"the weight of term 'a' must be a finite number or a schedule"),
    "text term weight": (lambda: RewardTerms(cart(), {"a": Term(term, "x")}),  # type: ignore[arg-type]
                         r"the weight of term 'a' must be"),
    "NaN env weight": (lambda: RewardTerms(cart(), {"a": term}, env_weight=NAN), r"env_weight must be a finite"),
    "params not a mapping": (lambda: RewardTerms(cart(), {"a": Term(term, 1.0, params=3)}),  # type: ignore[arg-type]
                             r"the params of term 'a' must be a mapping"),
    "terms a list": (lambda: RewardTerms(cart(), [term]), r"give a mapping of names to terms"),  # type: ignore[arg-type]
    "no potential": (lambda: PotentialShaping(cart(), None, 0.99),  # type: ignore[arg-type]
                     r"PotentialShaping: potential must be a function"),
    "no vector potential": (lambda: VectorPotentialShaping(SyncVectorEnv([cart]), 3, 0.99),  # type: ignore[arg-type]
                            r"VectorPotentialShaping: potential must be a function"),
    "text epsilon": (lambda: NormalizeReward(cart(), 0.99, "a"),  # type: ignore[arg-type]
                     r"epsilon must be a number > 0"),
    "text clip": (lambda: NormalizeReward(cart(), clip="a"), r"clip must be a number > 0 or None"),  # type: ignore[arg-type]
    "text beta": (lambda: IntrinsicReward(cart(), EpisodicCount(), beta="x"),  # type: ignore[arg-type]
                  r"beta must be a number >= 0"),
    "no episodic capacity": (lambda: EpisodicCount(capacity=0), r"capacity must be a positive integer"),
    "huge hash table": (lambda: SimHashCount(table_bits=70), r"table_bits must be an integer in 1\.\.32"),
    "no hidden units": (lambda: RND(hidden=0), r"RND: hidden must be a positive integer"),
    "negative lr": (lambda: RND(lr=-1.0), r"RND: lr must be a number > 0"),
    "text sigma": (lambda: RDD(sigma="a"), r"RDD: sigma must be a number >= 0"),  # type: ignore[arg-type]
    "fractional capacity": (lambda: EpisodicKNN(capacity=2.5), r"EpisodicKNN: capacity must be a positive integer"),  # type: ignore[arg-type]
    "text kNN kernel epsilon": (lambda: EpisodicKNN(kernel_epsilon="a"),  # type: ignore[arg-type]
                                r"EpisodicKNN: kernel_epsilon must be a number > 0"),
    "NaN kNN cluster distance": (lambda: EpisodicKNN(cluster_distance=NAN),
                                 r"EpisodicKNN: cluster_distance must be a number >= 0 \(got nan\)"),
    "text schedule start": (lambda: Linear("a", 0.0, 10), r"linear schedule: start must be a finite number"),  # type: ignore[arg-type]
    "NaN step value": (lambda: Step([NAN, 1.0], [3]), r"step schedule: each value must be a finite number"),
    "NaN subgoal bonus": (lambda: SubgoalJudge(None, "t", ["g"], str, NAN, 0.0, 1),
                          r"SubgoalReward: bonus must be a finite number"),
    "text subgoal beta": (lambda: SubgoalJudge(None, "t", ["g"], str, 1.0, "x", 1),  # type: ignore[arg-type]
                          r"SubgoalReward: beta must be a number >= 0"),
    "zero subgoal horizon": (lambda: SubgoalJudge(None, "t", [(1, 0)], None, 1.0, 0.0, 1, None, 0),
                             r"SubgoalReward: horizon must be a positive integer \(got 0\)"),
    "subgoal reached not a function": (lambda: SubgoalJudge(None, "t", [(1, 0)], None, 1.0, 0.0, 1, "x"),  # type: ignore[arg-type]
                                       r"SubgoalReward: reached must be a function"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_arguments_are_one_clear_line(case: str) -> None:
    make, message = CASES[case]
    with pytest.raises(SpecError, match=message) as caught:
        make()
    assert "\n" not in str(caught.value)


def test_numpy_numbers_are_accepted() -> None:
    half: Any = np.float32(0.5)
    two: Any = np.int64(2)
    env = RewardTerms(cart(), {"a": Term(term, half)}, env_weight=two)
    env.reset(seed=0)
    assert np.isfinite(float(env.step(0)[1]))
    assert EpisodicKNN(k=two).k == 2

"""Every vector wrapper under Gymnasium's DISABLED autoreset mode (partial resets with ``reset_mask``).

SyncVectorEnv pops ``reset_mask`` from the options it is given, so a wrapper that
read the mask after resetting the inner env took every env for reset: term sums,
episodic memories and returns of the envs still running were wiped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

from rewardlab.envs import (
    EpisodicCount,
    EpisodicKNN,
    FacilityLocationGain,
    IntrinsicReward,
    Linear,
    LogDetGain,
    NormalizeReward,
    RewardTerms,
    Term,
    VectorIntrinsicReward,
    VectorNormalizeReward,
    VectorRewardTerms,
)
from rewardlab.envs._base import VectorRewardWrapper
from tests.test_envs_support import make_noisy


def drift(obs: Any, action: Any, next_obs: Any, info: Any, terminated: Any, truncated: Any) -> Any:
    return next_obs[..., 0] - obs[..., 1] + 2.0 * np.asarray(terminated, float) - np.asarray(truncated, float)


POINTS = np.random.default_rng(5).uniform(-1.0, 1.0, size=(6, 2))  # NoisyEnv's observations are in [-1, 1]^2
TERMS = {"drift": Term(drift, Linear(1.0, 0.0, 30))}
CASES: dict[str, tuple[Callable[[gym.Env], gym.Env], Callable[[VectorEnv], VectorRewardWrapper], int]] = {
    "terms": (lambda e: RewardTerms(e, TERMS), lambda v: VectorRewardTerms(v, TERMS), 3),
    "episodic count": (lambda e: IntrinsicReward(e, EpisodicCount(bits=3), beta=1.0),
                       lambda v: VectorIntrinsicReward(v, EpisodicCount(bits=3), beta=1.0), 3),
    "episodic knn": (lambda e: IntrinsicReward(e, EpisodicKNN(k=3), beta=1.0),
                     lambda v: VectorIntrinsicReward(v, EpisodicKNN(k=3), beta=1.0), 3),
    "logdet": (lambda e: IntrinsicReward(e, LogDetGain(capacity=32), beta=1.0),
               lambda v: VectorIntrinsicReward(v, LogDetGain(capacity=32), beta=1.0), 3),
    "facility": (lambda e: IntrinsicReward(e, FacilityLocationGain(POINTS), beta=1.0),
                 lambda v: VectorIntrinsicReward(v, FacilityLocationGain(POINTS), beta=1.0), 3),
    "normalize": (lambda e: NormalizeReward(e, 0.97, center=True),
                  lambda v: VectorNormalizeReward(v, 0.97, center=True), 1),
    "normalize sb3": (lambda e: NormalizeReward(e, 0.97, returns="sb3"),
                      lambda v: VectorNormalizeReward(v, 0.97, returns="sb3"), 1),
}


@pytest.mark.parametrize("case", CASES)
def test_partial_resets_match_single_envs(case: str) -> None:
    wrap_single, wrap_vector, n = CASES[case]
    vec = wrap_vector(SyncVectorEnv([make_noisy] * n, autoreset_mode=AutoresetMode.DISABLED))
    singles = [wrap_single(make_noisy()) for _ in range(n)]
    vec.reset(seed=list(range(1, n + 1)))
    for i, env in enumerate(singles):
        env.reset(seed=i + 1)
    rng, resets = np.random.default_rng(0), 0
    for _ in range(80):
        actions = rng.integers(0, 2, size=n)
        _, reward, terminated, truncated, info = vec.step(actions)
        steps = [env.step(int(a)) for env, a in zip(singles, actions, strict=True)]
        np.testing.assert_allclose(reward, [float(s[1]) for s in steps], rtol=1e-9)
        if "reward_terms_episode" in info:  # the episode sums of the envs still running were kept
            ended = info["_reward_terms_episode"]
            sums = [s[4]["reward_terms_episode"]["drift"] for s, e in zip(steps, ended, strict=True) if e]
            np.testing.assert_allclose(info["reward_terms_episode"]["drift"][ended], sums, rtol=1e-9)
        done = terminated | truncated
        if done.any():
            resets += 1
            seeds = [100 * resets + i if d else None for i, d in enumerate(done)]
            vec.reset(seed=seeds, options={"reset_mask": done})
            for env, d, s in zip(singles, done, seeds, strict=True):
                if d:
                    env.reset(seed=s)
    assert resets > 2


@pytest.mark.parametrize("case", [*CASES, "shaping"])
def test_same_step_autoreset_is_refused_with_what_to_do(case: str) -> None:
    """SAME_STEP hides the last observation in info["final_obs"]: refused, never half-handled."""
    from rewardlab.envs import VectorPotentialShaping
    from rewardlab.errors import SpecError

    envs = SyncVectorEnv([make_noisy] * 2, autoreset_mode=AutoresetMode.SAME_STEP)
    wrap = (lambda v: VectorPotentialShaping(v, lambda o: o[..., 0], 0.9)) if case == "shaping" else CASES[case][1]
    with pytest.raises(SpecError, match="SAME_STEP is not supported; make the vector env with autoreset_mode="):
        wrap(envs)

"""Fitness by a short PPO run on the candidate's reward, the reward computed in the sandbox throughout."""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

import gymnasium as gym
import pytest

from rewardlab.envs.fitness import CandidateFailed, Fitness, SandboxedReward, train_all
from tests.test_envs_reward_code import CRASHES, NAN, SOCKET, WORKS

pytest.importorskip("stable_baselines3")

NEGATIVE = """
def compute_reward(obs, action, next_obs, info, terminated, truncated):
    return -1000.0
"""
CARTPOLE = partial(gym.make, "CartPole-v1")  # picklable: the runs go to training processes


class MeetInTwoProcesses:
    """A picklable ``make_env`` that records its process and, until a second process has called it too,
    waits for one (up to 60 s): two runs in one process, one after the other, would never meet."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self) -> gym.Env:
        (self.folder / str(os.getpid())).touch()
        for _ in range(600):
            if len(list(self.folder.iterdir())) >= 2:
                break
            time.sleep(0.1)
        return gym.make("CartPole-v1")


class DiesInAChild:
    """A picklable ``make_env`` that kills the training process it runs in (never the test's own)."""

    def __init__(self) -> None:
        self.parent = os.getpid()

    def __call__(self) -> gym.Env:
        if os.getpid() != self.parent:
            os._exit(3)
        return gym.make("CartPole-v1")


def test_sandboxed_reward_is_the_candidates_and_keeps_the_env_reward() -> None:
    env = SandboxedReward(gym.make("CartPole-v1"), WORKS)
    env.reset(seed=0)
    nxt, reward, _, _, info = env.step(1)
    upright, centred = 1.0 - abs(nxt[2]) / 0.21, -abs(nxt[0]) / 2.4
    assert reward == pytest.approx(upright + 0.5 * centred) and info["raw_reward"] == 1.0
    env.close()
    with pytest.raises(CandidateFailed, match="rejected: import of 'socket'"):
        SandboxedReward(gym.make("CartPole-v1"), SOCKET)


def test_train_all_gives_fitness_or_the_candidates_failure() -> None:
    import torch

    torch.set_num_threads(1)
    results = train_all([WORKS, CRASHES, NAN, SOCKET, NEGATIVE], CARTPOLE, workers=2,
                        timesteps=256, eval_episodes=2)
    assert [r.status for r in results] == ["ok", "error", "non_finite", "rejected", "ok"]
    # fitness is CartPole's own return (1 per step), not the candidate's: positive even for a reward of -1000
    assert results[0].fitness is not None and results[0].fitness > 0
    assert results[4].fitness is not None and results[4].fitness > 0
    assert "ZeroDivisionError" in results[1].reason
    assert all(r.fitness is None for r in results[1:4])
    assert [r.seed for r in results] == [0, 1, 2, 3, 4]  # one seed per candidate, recorded
    assert results[0].metrics["eval_return"] == results[0].fitness


def test_a_candidate_over_its_wall_time_budget_is_a_scored_failure() -> None:
    """The budget is enforced outside the candidate: a call that would spin past it is cut (not the 5 s
    per-call timeout), and a run that has not finished its timesteps in time stops at the next step."""
    from tests.test_envs_reward_code import SPINS

    spun, slow = train_all([SPINS, WORKS], CARTPOLE, seeds=[3, 4], workers=2,
                           timesteps=10**7, eval_episodes=1, budget_s=1.0)
    assert (spun.status, spun.seed) == ("over_budget", 3) and "budget of 1 s" in spun.reason
    assert (slow.status, slow.seed) == ("over_budget", 4) and slow.fitness is None
    with pytest.raises(Exception, match="budget_s must be"):
        SandboxedReward(gym.make("CartPole-v1"), WORKS, budget_s=0)


def test_two_candidates_train_in_two_processes_with_the_sequential_results(tmp_path: Path) -> None:
    """PPO holds the GIL: threads trained one candidate at a time. Each run is now in its own training
    process (both meet, neither is this one), with the same results as one after the other here."""
    import torch

    torch.set_num_threads(1)  # as in the training processes, for the same floating-point results
    parallel = train_all([WORKS, NEGATIVE], MeetInTwoProcesses(tmp_path), seeds=[5, 6], workers=2,
                         timesteps=256, eval_episodes=2)
    pids = {int(p.name) for p in tmp_path.iterdir()}
    assert len(pids) == 2 and os.getpid() not in pids
    sequential = train_all([WORKS, NEGATIVE], CARTPOLE, seeds=[5, 6], workers=1, timesteps=256, eval_episodes=2)
    assert [r.status for r in parallel] == ["ok", "ok"] and [r.seed for r in parallel] == [5, 6]
    for p, s in zip(parallel, sequential, strict=True):
        assert (p.fitness, p.metrics) == (s.fitness, s.metrics)


def test_a_make_env_that_cannot_be_pickled_trains_in_threads_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="make_env cannot be pickled.*functools.partial"):
        results = train_all([SOCKET, WORKS], lambda: gym.make("CartPole-v1"), workers=2, timesteps=64,
                            eval_episodes=1)
    assert [r.status for r in results] == ["rejected", "ok"]


def test_a_training_process_that_dies_makes_its_candidates_unscorable_and_the_next_call_works() -> None:
    dead = train_all([WORKS, NEGATIVE], DiesInAChild(), seeds=[1, 2], workers=2, timesteps=64, eval_episodes=1)
    assert [(r.status, r.seed) for r in dead] == [("unscorable", 1), ("unscorable", 2)]
    assert all("training process died" in r.reason for r in dead)
    again = train_all([SOCKET, WORKS], CARTPOLE, workers=2, timesteps=64, eval_episodes=1)
    assert [r.status for r in again] == ["rejected", "ok"] and isinstance(again[1], Fitness)


def test_the_sandboxed_reward_passes_the_env_checker() -> None:
    """Gymnasium's check_env re-creates the env from its spec: the wrapper must record its arguments
    (it did not, so ``env.spec`` raised), and the candidate's reward is reset-deterministic."""
    from tests.test_envs_support import check_wrapped_env

    env = SandboxedReward(gym.make("CartPole-v1"), WORKS)
    try:
        check_wrapped_env(env)
        assert env.spec is not None
        assert (env.spec.additional_wrappers[-1].kwargs or {}).get("source") == WORKS
    finally:
        env.close()


def test_budget_is_checked_like_every_other_number() -> None:
    """check_budget is the shared check_number: numpy numbers are seconds too (np.int64(60) and np.float32
    were refused before), NaN, infinity, text and booleans are one clear SpecError."""
    import numpy as np

    from rewardlab.envs.fitness import check_budget
    from rewardlab.errors import SpecError

    assert check_budget(np.int64(60)) == 60.0 and check_budget(np.float32(0.5)) == 0.5  # type: ignore[arg-type]
    assert check_budget(None) is None and check_budget(3600) == 3600.0
    for bad in (float("nan"), float("inf"), 0, 3601, "10", True):
        with pytest.raises(SpecError, match=r"budget_s must be a number of seconds in \(0, 3600\], or None \(got"):
            check_budget(bad)  # type: ignore[arg-type]

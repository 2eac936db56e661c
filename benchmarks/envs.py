"""Per-step overhead of rewardlab's vector reward wrappers on 16 CartPole envs.

    python -m benchmarks.envs [--num-envs 16] [--steps 2000] [--repeats 5]
    python -m benchmarks.envs --ladder         # VectorRewardTerms cut short part by part: where its time goes
    python -m benchmarks.envs --harness 40     # reward-code candidates evaluated per minute
    python -m benchmarks.envs --harness 4 --train-timesteps 1024   # ... and trained (SB3 PPO) per minute

Each configuration steps a ``SyncVectorEnv`` of CartPole-v1 with the same
pre-drawn random actions; the figure is the best of ``--repeats`` runs
(alternating configurations so that load drifts hit all of them), as µs per
vector step and as the ratio to the bare vector env. On a loaded machine that
ratio moves by tens of percent between runs, so each wrapped run also splits
its own time: the inner vector env's ``step`` is timed inside the same steps
(a thin timing wrapper under the rewardlab one), and ``own`` is the wrapper's
time over the inner env's, a figure load shifts far less. Goal (issue 18): under
15% overhead for ``VectorRewardTerms`` with three terms and for
``VectorPotentialShaping``. The floor under the first: a wrapper that only calls
the three term functions on each batch (what any vectorised implementation pays).
For comparison, the same terms as single-env wrappers inside the vector (the
per-env Python loop the vector forms avoid).
Wall-clock on this machine: compare the ratios, not the absolute numbers.

``--harness N``: one harness round of N candidates (a scripted proposer, no LLM;
each candidate a distinct working reward function) on 256 recorded CartPole
transitions, gate + sandbox + output check, with 2 workers and with 1:
candidate evaluations per minute. ``--train-timesteps T`` also trains each one with
SB3 PPO for T steps (its reward computed in the sandbox, one sandbox process per
training run): trained candidates per minute.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import SyncVectorEnv, VectorEnv, VectorWrapper

from rewardlab.envs import (
    EpisodicCount,
    EpisodicKNN,
    PotentialShaping,
    RewardTerms,
    VectorIntrinsicReward,
    VectorNormalizeReward,
    VectorPotentialShaping,
    VectorRewardTerms,
)


def upright(obs: Any, action: Any, next_obs: Any, info: Any, terminated: Any, truncated: Any) -> Any:
    return 1.0 - 4.0 * np.abs(next_obs[..., 2])


def centred(obs: Any, action: Any, next_obs: Any, info: Any, terminated: Any, truncated: Any) -> Any:
    return -np.abs(next_obs[..., 0])


def still(obs: Any, action: Any, next_obs: Any, info: Any, terminated: Any, truncated: Any) -> Any:
    return -np.abs(next_obs[..., 1] - obs[..., 1])


TERMS = {"upright": upright, "centred": centred, "still": still}


def potential(obs: Any) -> Any:
    return -10.0 * np.abs(obs[..., 2])


class Timed(VectorWrapper):
    """Adds up the wall time of the wrapped vector env's ``step`` calls."""

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        self.seconds = 0.0

    def step(self, actions: Any) -> Any:
        t0 = time.perf_counter()
        out = self.env.step(actions)
        self.seconds += time.perf_counter() - t0
        return out


class TermsAlone(VectorWrapper):
    """Calls the three term functions on each step's batch and returns the env's own step: what any
    vectorised implementation of these terms pays, the floor under ``VectorRewardTerms``'s figure."""

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        self.obs: Any = None

    def reset(self, **kwargs: Any) -> Any:
        out = self.env.reset(**kwargs)
        self.obs = out[0]
        return out

    def step(self, actions: Any) -> Any:
        out = self.env.step(actions)
        for term in TERMS.values():
            term(self.obs, actions, out[0], out[4], out[2], out[3])
        self.obs = out[0]
        return out


def bare(n: int) -> VectorEnv:
    return Timed(SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(n)]))


class Ladder(VectorRewardTerms):
    """``VectorRewardTerms`` cut short after its first ``rungs`` parts (``--ladder``): where its time goes.

    0: the base's step bookkeeping alone; 1: and the three term calls; 2: and their stacking in one matrix
    (``TermSet.values``); 3: the whole wrapper (autoreset zeroing, sum, finiteness check, episode sums,
    observation copy, ``info``)."""

    def __init__(self, env: VectorEnv, rungs: int) -> None:
        super().__init__(env, TERMS)
        self.rungs = rungs

    def on_step(self, obs: Any, actions: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                info: dict[str, Any], active: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        if self.rungs >= 3:
            return super().on_step(obs, actions, reward, terminated, truncated, info, active)
        args = (self._obs, actions, obs, info, terminated, truncated)
        if self.rungs == 1:
            [call(*args) for call in self.termset.calls]
        elif self.rungs == 2:
            self.termset.values(reward, args, self._n)
        self._obs = obs
        return reward, info


LADDER: dict[str, Callable[[int], VectorEnv]] = {
    "bare": bare,
    "base step bookkeeping": lambda n: Ladder(bare(n), 0),
    "+ the 3 term calls": lambda n: Ladder(bare(n), 1),
    "+ stacking them (TermSet.values)": lambda n: Ladder(bare(n), 2),
    "+ the rest: VectorRewardTerms (3 terms)": lambda n: Ladder(bare(n), 3),
}


CONFIGS: dict[str, Callable[[int], VectorEnv]] = {
    "bare": bare,
    "VectorRewardTerms (3 terms)": lambda n: VectorRewardTerms(bare(n), TERMS),
    "the 3 term functions alone (floor)": lambda n: TermsAlone(bare(n)),
    "VectorPotentialShaping": lambda n: VectorPotentialShaping(bare(n), potential, 0.99),
    "VectorNormalizeReward": lambda n: VectorNormalizeReward(bare(n)),
    "VectorIntrinsicReward (EpisodicCount)": lambda n: VectorIntrinsicReward(bare(n), EpisodicCount(capacity=512)),
    "VectorIntrinsicReward (EpisodicKNN, k=10)": lambda n: VectorIntrinsicReward(bare(n), EpisodicKNN(capacity=512)),
    "per-env RewardTerms (3 terms) in the vector": lambda n: SyncVectorEnv(
        [lambda: RewardTerms(gym.make("CartPole-v1"), TERMS) for _ in range(n)]
    ),
    "per-env PotentialShaping in the vector": lambda n: SyncVectorEnv(
        [lambda: PotentialShaping(gym.make("CartPole-v1"), potential, 0.99) for _ in range(n)]
    ),
}


def run(env: VectorEnv, actions: np.ndarray) -> tuple[float, float]:
    """Seconds for ``len(actions)`` vector steps, and the wrapper's own share over the inner env's time."""
    env.reset(seed=0)
    inner = env.env if isinstance(env, VectorWrapper) and isinstance(env.env, Timed) else None
    if inner is not None:
        inner.seconds = 0.0
    t0 = time.perf_counter()
    for a in actions:
        env.step(a)
    total = time.perf_counter() - t0
    own = (total - inner.seconds) / inner.seconds if inner is not None else float("nan")
    return total, own


CANDIDATE = """
import math

def compute_reward(obs, action, next_obs, info, terminated, truncated):
    upright = 1.0 - abs(next_obs[2]) / 0.21
    centred = -abs(next_obs[0]) / 2.4 * {k}
    return upright + centred, {{"upright": upright, "centred": centred}}
"""


def harness(n: int, train_timesteps: int = 0) -> None:
    """Candidate evaluations per minute through one harness round, 2 workers vs 1; with ``train_timesteps``,
    each passing candidate is also trained (SB3 PPO, its reward in the sandbox): trained candidates per minute."""
    from rewardlab.envs.harness import FitnessFn, run_round
    from rewardlab.envs.reward_code import record_transitions

    transitions = record_transitions(gym.make("CartPole-v1"), 256, seed=0)
    for workers in (2, 1):
        fitness: FitnessFn | None = None
        if train_timesteps:
            fitness = partial(_train, workers=workers, timesteps=train_timesteps)
        run_round(lambda prompt, k: [CANDIDATE.format(k=0)] * 2, "warm-up", transitions, n=2, workers=workers,
                  fitness=fitness)
        t0 = time.perf_counter()
        out = run_round(lambda prompt, k: [CANDIDATE.format(k=i) for i in range(k)], "CartPole", transitions,
                        n=n, workers=workers, fitness=fitness)
        seconds = time.perf_counter() - t0
        ok = sum(c.verdict.ok for c in out)
        what = f"trained for {train_timesteps} steps" if train_timesteps else "dry run"
        print(f"harness ({what}), {workers} worker(s): {n} candidates in {seconds:.2f} s = "
              f"{60 * n / seconds:.1f}/min ({ok} ok)")


def _train(sources: Any, seeds: Any, *, workers: int, timesteps: int) -> Any:
    """PPO fitness of each candidate on CartPole, one evaluation episode, torch on one thread per run
    (with 2 workers each run is in its own training process, which sets that itself)."""
    import torch

    from rewardlab.envs.fitness import train_all

    torch.set_num_threads(1)
    return train_all(sources, partial(gym.make, "CartPole-v1"), seeds=seeds, workers=workers,
                     timesteps=timesteps, eval_episodes=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ladder", action="store_true", help="only VectorRewardTerms cut short part by part")
    parser.add_argument("--harness", type=int, default=0, help="only the harness throughput, N candidates")
    parser.add_argument("--train-timesteps", type=int, default=0,
                        help="with --harness: also train each candidate for this many PPO steps (needs sb3)")
    args = parser.parse_args()
    if args.harness:
        harness(args.harness, args.train_timesteps)
        return
    actions = np.random.default_rng(0).integers(0, 2, size=(args.steps, args.num_envs))
    envs = {name: make(args.num_envs) for name, make in (LADDER if args.ladder else CONFIGS).items()}
    best = dict.fromkeys(envs, float("inf"))
    owns: dict[str, list[float]] = {name: [] for name in envs}
    for _ in range(args.repeats):
        for name, env in envs.items():
            seconds, own = run(env, actions)
            best[name] = min(best[name], seconds)
            owns[name].append(own)
    base = best["bare"]
    print(f"{args.num_envs} CartPole-v1 envs, {args.steps} vector steps, best of {args.repeats}")
    for name, seconds in best.items():
        us = seconds / args.steps * 1e6
        if name == "bare":
            print(f"  {name:45s} {us:8.1f} us/step  ratio 1.000")
            continue
        own = np.median(owns[name])
        split = f"  own/inner (median) {100 * own:+.1f}%" if np.isfinite(own) else ""
        ratio = seconds / base
        print(f"  {name:45s} {us:8.1f} us/step  ratio {ratio:.3f}  overhead {100 * (ratio - 1):+.1f}%{split}")


if __name__ == "__main__":
    main()

"""``rewardlab envs generate``: rounds of LLM-written reward candidates for a Gymnasium env, end to end.

What the command does, as a function the CLI (``rewardlab/envs_cli.py``) calls:
transitions are recorded from ``gym.make(env_id)``, :func:`~rewardlab.envs.harness.run_rounds`
asks the endpoint for candidates (through the judge client), gates them, runs them in
the sandbox and, with ``train_timesteps``, trains each passing candidate with SB3 PPO
under a wall-time budget (:func:`~rewardlab.envs.fitness.train_all`); every round is
committed to the run store, so a killed run goes on with ``resume``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
from rich.table import Table

from rewardlab.envs.harness import Candidate, ChatEndpoint, FitnessFn, best, run_rounds
from rewardlab.envs.reward_code import record_transitions
from rewardlab.errors import SpecError, require_extra


@dataclass(frozen=True)
class Training:
    """Short PPO runs rating the passing candidates (off when ``timesteps`` is 0)."""

    timesteps: int = 0
    eval_episodes: int = 5
    budget_s: float | None = None

    def fitness(self, env_id: str, workers: int) -> FitnessFn | None:
        if not self.timesteps:
            return None
        require_extra("sb3", "training candidates (--train-timesteps)", "stable_baselines3", error=SpecError)
        from rewardlab.envs.fitness import check_budget, train_all

        check_budget(self.budget_s)
        return lambda sources, seeds: train_all(
            sources, partial(gym.make, env_id), seeds=seeds, workers=workers, timesteps=self.timesteps,
            eval_episodes=self.eval_episodes, budget_s=self.budget_s)


@dataclass(frozen=True)
class Design:
    """One ``generate`` run: the env, the rounds, the sandbox workers and the transitions' seed."""

    env_id: str
    rounds: int = 1
    n: int = 4
    workers: int = 2
    transitions: int = 256
    seed: int = 0
    training: Training = field(default_factory=Training)


def make_env(env_id: str) -> gym.Env:
    """``gym.make(env_id)`` with a one-line error naming the id."""
    try:
        return gym.make(env_id)
    except gym.error.Error as exc:
        raise SpecError(f"--env {env_id!r}: {exc}; give a registered Gymnasium id such as CartPole-v1") from None


def generate(description: str, design: Design, endpoint: dict[str, Any], store: Path, *,
             resume: bool = False) -> list[list[Candidate]]:
    """Run (or resume) the rounds of ``design`` for ``description``; ``endpoint``: judge-client settings."""
    env = make_env(design.env_id)
    transitions = record_transitions(env, design.transitions, seed=design.seed)
    env.close()
    fitness = design.training.fitness(design.env_id, design.workers)
    llm = ChatEndpoint(**endpoint)
    settings = {"env": design.env_id, "model": endpoint.get("model"), "training": vars(design.training)}
    return run_rounds(llm, description, transitions, store, rounds=design.rounds, n=design.n,
                      workers=design.workers, resume=resume, fitness=fitness, seed=design.seed, settings=settings)


def candidates_table(rounds: Sequence[Sequence[Candidate]]) -> Table:
    """One row per candidate: round, index, seed, verdict, fitness, the reward's mean on the transitions, why."""
    table = Table(title=f"{sum(len(r) for r in rounds)} candidates in {len(rounds)} round(s)")
    for col in ("round", "candidate", "seed", "verdict", "fitness", "reward mean", "terms", "why"):
        table.add_column(col, justify="right" if col in ("round", "candidate", "seed", "fitness", "reward mean")
                         else "left")
    for r, candidates in enumerate(rounds):
        for c in candidates:
            reward = c.verdict.terms.get("reward")
            terms = ", ".join(k for k in c.verdict.terms if k != "reward") or "-"
            table.add_row(str(r), str(c.index), str(c.seed), c.verdict.status,
                          "-" if c.fitness is None else f"{c.fitness:.4g}",
                          "-" if reward is None else f"{reward.mean:.4g}", terms, c.verdict.reason[:120] or "-")
    return table


def best_of(rounds: Sequence[Sequence[Candidate]]) -> Candidate | None:
    """The highest-rated candidate over every round (None if none was trained successfully)."""
    return best([c for r in rounds for c in r])


__all__ = ["Design", "Training", "best_of", "candidates_table", "generate", "make_env"]

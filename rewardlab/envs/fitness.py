"""Fitness of a reward candidate: a short SB3 PPO run on its reward, scored by the env's own reward.

Eureka's inner loop (Ma et al. 2023, §3.2): train a policy on each candidate
reward, then rate the candidate by the task's own success metric, not by its own
reward. The candidate's ``compute_reward`` runs only in the sandbox, for the
whole run: one confined process per candidate, one request per transition
(:class:`SandboxedReward`); a crash, timeout, NaN or wrong output ends the run
and is the candidate's verdict. The fitness is the mean of ``success(return,
length)`` over ``eval_episodes`` deterministic episodes of the unwrapped env
(default: the env's own episode return). Needs the ``sb3`` extra.

A run may have a wall-time budget (``budget_s``), enforced outside the candidate:
every sandbox call is cut at the budget's end (the sandbox kills the process) and
the budget is checked at every environment step, so a candidate whose reward is
slow ends with the scored status ``over_budget`` (a PPO update in progress, our
code, finishes first). Each run's seed is in its :class:`Fitness`.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import multiprocessing
import pickle
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, SupportsFloat

import gymnasium as gym

from rewardlab.envs._base import check_number, keep_raw
from rewardlab.envs.reward_code import ENTRY, Verdict, check_item, record_plain, static_gate
from rewardlab.errors import RewardlabError, SpecError
from rewardlab.main_guard import check_main_guard
from rewardlab.rewards.code_asserts import error_text
from rewardlab.sandbox import InfraError, Limits, Run, SandboxPool, shared_pool


class CandidateFailed(RewardlabError):
    """The candidate's reward failed during training: ``status`` as in :class:`~rewardlab.envs.reward_code.Verdict`."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status, self.reason = status, reason


class SandboxedReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """The env's reward replaced by the candidate's, computed in the sandbox; env reward in ``info``.

    Its recorded arguments (``env.spec``, what Gymnasium re-creates a wrapped env from) leave out
    ``pool``, a live process pool: a re-created wrapper runs on the process's shared pool.
    """

    def __init__(self, env: gym.Env, source: str, *, pool: SandboxPool | None = None,
                 limits: Limits | None = None, budget_s: float | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, source=source, limits=limits, budget_s=budget_s)
        gym.Wrapper.__init__(self, env)
        reason = static_gate(source)
        if reason is not None:
            raise CandidateFailed("rejected", reason)
        self.source, self.pool = source, pool or shared_pool()
        self.budget_s = check_budget(budget_s)
        run_s = 600 if budget_s is None else min(3600, max(600, math.ceil(budget_s) + 60))
        self.limits = limits or Limits(timeout=5.0, run_timeout=run_s, cpu_s=run_s, memory_mb=1024)
        self.deadline: float | None = None  # time.monotonic() at which the budget ends (set by the first reset)
        self._stack = contextlib.ExitStack()
        self._run: Run | None = None
        self._obs: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if self._run is None:
            if self.budget_s is not None:
                self.deadline = time.monotonic() + self.budget_s
            self._run = self._stack.enter_context(self.pool.run(self.source, self.limits))
            if self._run.init.kind != "ok":
                raise CandidateFailed("timeout" if self._run.init.kind == "timeout" else "error",
                                      error_text(self._run.init))
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._run is None:
            raise gym.error.ResetNeeded("SandboxedReward: call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(action)
        row = record_plain(self._obs, action, obs, info, terminated, truncated)
        left = self._left()
        out = self._run.call(ENTRY, row, timeout=left)
        if out.kind == "timeout" and left is not None and left < self.limits.timeout:
            raise self._over()  # the budget ended during the call, not the per-call limit
        if out.kind != "ok":
            raise CandidateFailed("timeout" if out.kind == "timeout" else "error", error_text(out))
        checked = check_item(out.value, 0)  # per step: the check alone, no per-term statistics
        if isinstance(checked, Verdict):
            raise CandidateFailed(checked.status, checked.reason)
        self._obs = obs
        return obs, checked[0], terminated, truncated, keep_raw(info, reward)

    def _left(self) -> float | None:
        """Seconds left in the budget (None: no budget); :class:`CandidateFailed` once it is spent."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self._over()
        return left

    def _over(self) -> CandidateFailed:
        return CandidateFailed("over_budget", f"training exceeded its wall-time budget of {self.budget_s:g} s")

    def close(self) -> None:
        self._stack.close()
        self._run = None
        super().close()


def check_budget(budget_s: float | None) -> float | None:
    """``budget_s`` as seconds in (0, 3600], or None; a clear error otherwise."""
    if budget_s is None:
        return None
    return check_number(budget_s, "budget_s", "a number of seconds in (0, 3600], or None", lambda b: 0 < b <= 3600)


@dataclass(frozen=True)
class Fitness:
    """A candidate's training outcome: ``status`` (ok or the failure), the fitness where ok, the run's seed,
    its wall time and, where ok, the evaluation's mean return and length of the env's own reward."""

    status: str
    fitness: float | None = None
    reason: str = ""
    seed: int | None = None
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)


def train_fitness(
    source: str, make_env: Callable[[], gym.Env], *, timesteps: int = 2048, eval_episodes: int = 5, seed: int = 0,
    success: Callable[[float, int], float] | None = None, pool: SandboxPool | None = None,
    budget_s: float | None = None,
) -> Fitness:
    """Train PPO for ``timesteps`` (within ``budget_s`` wall seconds) on the candidate's reward, seeded with
    ``seed``; the fitness is the mean ``success`` over evaluation episodes."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger

    started = time.monotonic()

    def failed(status: str, reason: str) -> Fitness:
        return Fitness(status, reason=reason, seed=seed, seconds=time.monotonic() - started)

    try:
        env = SandboxedReward(make_env(), source, pool=pool, budget_s=budget_s)
    except CandidateFailed as exc:
        return failed(exc.status, exc.reason)
    try:
        model = PPO("MlpPolicy", env, n_steps=min(2048, timesteps), batch_size=64, seed=seed, device="cpu")
        model.set_logger(Logger(None, []))  # else SB3 makes a /tmp/SB3-<date> folder per run
        model.learn(total_timesteps=timesteps)
    except CandidateFailed as exc:
        return failed(exc.status, exc.reason)
    except InfraError as exc:
        return failed("unscorable", f"sandbox failure (not the candidate's doing): {exc}")
    finally:
        env.close()
    seconds = time.monotonic() - started
    episodes = [_episode(model, make_env(), seed + 1000 + i) for i in range(eval_episodes)]
    score = success or (lambda ret, length: ret)
    values = [score(*e) for e in episodes]
    metrics = {"eval_return": sum(e[0] for e in episodes) / len(episodes),
               "eval_length": sum(e[1] for e in episodes) / len(episodes)}
    return Fitness("ok", fitness=sum(values) / len(values), seed=seed, seconds=seconds, metrics=metrics)


def _episode(model: Any, env: gym.Env, seed: int) -> tuple[float, int]:
    """Return and length of one deterministic episode with the env's own reward."""
    obs, _ = env.reset(seed=seed)
    total, length, done = 0.0, 0, False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        total, length, done = total + float(reward), length + 1, terminated or truncated
    env.close()
    return total, length


def train_all(sources: Sequence[str], make_env: Callable[[], gym.Env], *, seeds: Sequence[int] | None = None,
              workers: int = 2, **kwargs: Any) -> list[Fitness]:
    """:func:`train_fitness` for each candidate, ``workers`` at a time; results in the order of ``sources``.

    Candidate i is trained with ``seeds[i]`` (default: ``seed + i``, ``seed`` from ``kwargs`` or 0).
    With ``workers > 1`` each run is in its own training process (``spawn``, torch on one thread, its
    own sandbox pool), since PPO's Python and torch loops hold the GIL: threads ran them one at a time.
    ``make_env`` and ``kwargs`` must then be picklable (``functools.partial(gym.make, "CartPole-v1")``,
    not a lambda); if not, the runs fall back to threads with a warning. A training process that dies
    makes its candidate ``unscorable`` (not the candidate's doing: its reward runs in the sandbox).
    """
    base = kwargs.pop("seed", 0)
    seeds = list(seeds) if seeds is not None else [base + i for i in range(len(sources))]
    if len(seeds) != len(sources):
        raise SpecError(f"train_all: {len(sources)} sources but {len(seeds)} seeds; give one seed per source")
    if workers > 1 and len(sources) > 1:
        problem = _unpicklable(make_env, kwargs)
        if problem is None:
            return _train_in_processes(sources, make_env, seeds, workers, kwargs)
        warnings.warn(f"train_all: {problem}, so the candidates train in threads, one at a time under the GIL; "
                      "pass a picklable make_env (e.g. functools.partial(gym.make, env_id))", stacklevel=2)
    pool = shared_pool(workers)
    with ThreadPoolExecutor(max(1, workers)) as ex:
        return list(ex.map(lambda s, seed: train_fitness(s, make_env, pool=pool, seed=seed, **kwargs),
                           sources, seeds))


def _unpicklable(make_env: Callable[[], gym.Env], kwargs: dict[str, Any]) -> str | None:
    """Why ``make_env`` or ``kwargs`` cannot go to a training process (None: they can)."""
    for name, value in [("make_env", make_env), *kwargs.items()]:
        try:
            pickle.dumps(value)
        except Exception as exc:  # pickle raises PicklingError, AttributeError, TypeError...
            return f"{name} cannot be pickled ({type(exc).__name__}: {exc})"
    return None


def _train_in_processes(sources: Sequence[str], make_env: Callable[[], gym.Env], seeds: Sequence[int],
                        workers: int, kwargs: dict[str, Any]) -> list[Fitness]:
    """One training process per run, ``workers`` at a time; Ctrl-C (any exception) ends the processes."""
    check_main_guard(f"train_all(workers={workers})")
    ex = _trainers(workers)
    try:
        futures = [ex.submit(_train_one, s, make_env, seed, kwargs) for s, seed in zip(sources, seeds, strict=True)]
        return [_collect(f, seed, workers) for f, seed in zip(futures, seeds, strict=True)]
    except BaseException:
        _discard(workers)
        raise


def _collect(future: Future[Fitness], seed: int, workers: int) -> Fitness:
    try:
        return future.result()
    except BrokenProcessPool as exc:
        _discard(workers)  # the next call starts fresh processes
        return Fitness("unscorable", reason=f"the training process died (not the candidate's doing: its reward "
                       f"runs in the sandbox): {exc}", seed=seed)


# Training processes kept between calls (a harness calls train_all once a round): a spawned process pays
# torch's and SB3's imports once. Spawned, not forked: the caller holds threads and live sandbox pools.
_executors: dict[int, ProcessPoolExecutor] = {}
_executors_lock = threading.Lock()


def _trainers(workers: int) -> ProcessPoolExecutor:
    with _executors_lock:
        ex = _executors.get(workers)
        if ex is None:
            ex = _executors[workers] = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_trainer)
        return ex


def _discard(workers: int) -> None:
    """Stop a cached executor's processes now (queued runs cancelled, running ones killed): their sandbox
    servers see the socket close and kill the candidate's process (:mod:`rewardlab.sandbox.forkserver`)."""
    with _executors_lock:
        ex = _executors.pop(workers, None)
    if ex is None:
        return
    # ProcessPoolExecutor has no public way to kill running tasks before Python 3.14 (terminate_workers).
    for p in list((getattr(ex, "_processes", None) or {}).values()):
        p.terminate()
    ex.shutdown(wait=True, cancel_futures=True)


@atexit.register
def _close_trainers() -> None:
    for workers in list(_executors):
        _discard(workers)


def _start_trainer() -> None:
    """A training process: torch on one thread (the workers are the parallelism), imports paid up front."""
    import stable_baselines3  # noqa: F401
    import torch

    torch.set_num_threads(1)


def _train_one(source: str, make_env: Callable[[], gym.Env], seed: int, kwargs: dict[str, Any]) -> Fitness:
    """One run in a training process, on that process's own one-server sandbox pool."""
    return train_fitness(source, make_env, pool=shared_pool(1), seed=seed, **kwargs)

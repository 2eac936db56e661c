"""LLM-written reward code, checked statically and run only in rewardlab's sandbox on recorded transitions.

The first stages of an Eureka-style loop (Ma et al. 2023, "Eureka: Human-Level
Reward Design via Coding Large Language Models"; Text2Reward, Xie et al. 2023):
a candidate is Python source defining ``compute_reward(obs, action, next_obs,
info, terminated, truncated)`` that returns a number, or ``(number, {term: number})``
as Eureka's reward functions return their components.

1. :func:`static_gate`: the source parses, defines exactly one ``compute_reward``
   with the term signature, imports only ``math`` / ``numpy``, and names none of
   the escape hatches (``__import__``, ``eval``, ``exec``, ``open``, dunder
   attributes…). A gate is a filter for obvious mistakes, not the security
   boundary: that is the sandbox.
2. :func:`evaluate_reward_code`: the candidate runs in a fresh sandboxed process
   (no network, no writes, CPU/memory/time limits enforced from outside,
   ``docs/sandbox.md``) on a batch of transitions recorded from the real env
   (:func:`record_transitions`), and the caller checks the output: one finite
   number per transition, term values finite too. Per-term statistics (mean, std,
   min, max) are the material for Eureka's reward reflection (:func:`reflection`).

Verdicts follow rewardlab's rule: what the candidate does (crash, timeout,
NaN, wrong output, rejected source) is a *scored* failure; only a sandbox fault
the candidate did not cause is unscorable (``scored=False``). Without isolation
the sandbox refuses to run (:class:`~rewardlab.errors.SandboxUnavailable`).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from rewardlab.rewards.code_asserts import error_text
from rewardlab.sandbox import InfraError, Limits, SandboxPool, shared_pool

ENTRY = "compute_reward"
SIGNATURE = ("obs", "action", "next_obs", "info", "terminated", "truncated")
ALLOWED_IMPORTS = frozenset({"math", "numpy"})
FORBIDDEN_NAMES = frozenset({
    "__import__", "eval", "exec", "compile", "open", "globals", "locals", "vars", "getattr", "setattr",
    "delattr", "input", "breakpoint", "memoryview", "__builtins__", "__loader__", "__spec__",
})
DRIVER = f"""

def __rewardlab_batch(rows):
    return [{ENTRY}(*row) for row in rows]
"""
Transition = list[Any]  # [obs, action, next_obs, info, terminated, truncated] as plain data


def static_gate(source: str) -> str | None:
    """Why ``source`` is rejected, or None if it passes (parse, entry point, signature, imports, names)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return f"syntax error: {exc.msg} (line {exc.lineno})"
    entries = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == ENTRY]
    if len(entries) != 1:
        return f"define exactly one top-level function {ENTRY!r} (found {len(entries)})"
    args = entries[0].args
    names = tuple(a.arg for a in args.posonlyargs + args.args)
    if names != SIGNATURE or args.vararg or args.kwarg or args.kwonlyargs:
        return f"{ENTRY} must take exactly ({', '.join(SIGNATURE)}) (got ({', '.join(names)}))"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            bad = [m for m in modules if m.split(".")[0] not in ALLOWED_IMPORTS]
            if bad:
                return f"import of {bad[0]!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_IMPORTS))})"
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            return f"use of {node.id!r} is not allowed"
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            return f"access to dunder attribute {node.attr!r} is not allowed"
    return None


def record_transitions(
    env: gym.Env, steps: int, seed: int = 0, policy: Callable[[Any], Any] | None = None
) -> list[Transition]:
    """``steps`` transitions of ``env`` (random actions unless ``policy``) as plain data for the sandbox.

    Observations and actions become lists / numbers; ``info`` keeps only its number,
    string and bool entries (what the channel can carry).
    """
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    rows: list[Transition] = []
    for _ in range(steps):
        action = policy(obs) if policy else env.action_space.sample()
        nxt, _, terminated, truncated, info = env.step(action)
        rows.append(record_plain(obs, action, nxt, info, terminated, truncated))
        obs = env.reset()[0] if terminated or truncated else nxt
    return rows


def record_plain(
    obs: Any, action: Any, nxt: Any, info: dict[str, Any], terminated: bool, truncated: bool
) -> Transition:
    """One transition as the plain data the sandbox channel carries (info: its number/str/bool entries)."""
    plain_info = {k: v for k, v in info.items() if isinstance(k, str) and type(v) in (int, float, str, bool)}
    return [_plain(obs), _plain(action), _plain(nxt), plain_info, bool(terminated), bool(truncated)]


def _plain(x: Any) -> Any:
    return np.asarray(x).tolist()


@dataclass(frozen=True)
class TermStats:
    """Mean, std, min and max of one reward term over the recorded transitions."""

    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def of(cls, values: np.ndarray) -> TermStats:
        return cls(float(values.mean()), float(values.std()), float(values.min()), float(values.max()))


@dataclass(frozen=True)
class Verdict:
    """The outcome for one candidate. ``status``: ok, rejected, error, timeout, non_finite, bad_output,
    over_budget (its training run passed its wall-time budget, :mod:`rewardlab.envs.fitness`), unscorable."""

    status: str
    reason: str = ""
    rewards: list[float] | None = None
    terms: dict[str, TermStats] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def scored(self) -> bool:
        """False only where the fault was not the candidate's (a sandbox failure)."""
        return self.status != "unscorable"


def evaluate_reward_code(
    source: str, transitions: Sequence[Transition], *, limits: Limits | None = None,
    pool: SandboxPool | None = None,
) -> Verdict:
    """Gate ``source``, run it in the sandbox on ``transitions`` and check its output (see the module doc)."""
    reason = static_gate(source)
    if reason is not None:
        return Verdict("rejected", reason)
    return run_in_sandbox(source, transitions, limits=limits, pool=pool)


def run_in_sandbox(
    source: str, transitions: Sequence[Transition], *, limits: Limits | None = None,
    pool: SandboxPool | None = None,
) -> Verdict:
    """Run ``source``'s ``compute_reward`` on every transition in one sandboxed process; no gate."""
    pool = pool or shared_pool()
    limits = limits or Limits(timeout=10.0, run_timeout=30.0, cpu_s=20, memory_mb=1024)
    try:
        with pool.run(source + DRIVER, limits) as run:
            out = run.init if run.init.kind != "ok" else run.call("__rewardlab_batch", [list(transitions)])
    except InfraError as exc:
        return Verdict("unscorable", f"sandbox failure (not the candidate's doing): {exc}")
    if out.kind == "timeout":
        return Verdict("timeout", "exceeded the time limit")
    if out.kind != "ok":
        return Verdict("error", error_text(out))
    return check_output(out.value, len(transitions))


def check_output(value: Any, n: int) -> Verdict:
    """One finite number (or (number, {term: number})) per transition; per-term statistics."""
    if not isinstance(value, list) or len(value) != n:
        return Verdict("bad_output", f"expected {n} results, got {type(value).__name__}")
    totals: list[float] = []
    terms: dict[str, list[float]] = {}
    for i, item in enumerate(value):
        checked = check_item(item, i)
        if isinstance(checked, Verdict):
            return checked
        total, parts = checked
        for name, v in parts.items():
            terms.setdefault(name, [math.nan] * n)[i] = v
        totals.append(total)
    stats = {name: TermStats.of(np.array(v)[~np.isnan(v)]) for name, v in terms.items()}
    return Verdict("ok", rewards=totals, terms={"reward": TermStats.of(np.array(totals)), **stats})


def check_item(item: Any, i: int) -> tuple[float, dict[str, float]] | Verdict:
    """One transition's result: (reward, {term: value}), or the failing :class:`Verdict`."""
    pair = isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], dict)
    total, parts = (item[0], item[1]) if pair else (item, {})
    if isinstance(total, bool) or not isinstance(total, (int, float)) or not isinstance(parts, dict):
        return Verdict("bad_output", f"transition {i}: expected a number or (number, dict), got {item!r}"[:200])
    values: dict[str, float] = {}
    for name, v in parts.items():
        if not isinstance(name, str) or isinstance(v, bool) or not isinstance(v, (int, float)):
            return Verdict("bad_output", f"transition {i}: term {name!r} is not a number ({v!r})"[:200])
        if not _finite(v):
            return Verdict("non_finite", f"transition {i}: term {name!r} is {v!r}"[:200])
        values[name] = float(v)
    if not _finite(total):
        return Verdict("non_finite", f"transition {i}: reward is {total!r}"[:200])
    return float(total), values


def _finite(v: float) -> bool:
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond float range
        return False


def reflection(verdict: Verdict) -> str:
    """Eureka's reward reflection as text: the verdict, and each term's statistics, for the next round's prompt."""
    if not verdict.ok:
        return f"The reward function failed ({verdict.status}): {verdict.reason}"
    lines = [f"{name}: mean {s.mean:.4g}, std {s.std:.4g}, min {s.min:.4g}, max {s.max:.4g}"
             for name, s in verdict.terms.items()]
    return "The reward function ran on the recorded transitions. Per term:\n" + "\n".join(lines)

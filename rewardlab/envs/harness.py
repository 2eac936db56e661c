"""One round of LLM reward design: prompt → candidate reward functions → gate + sandbox → reflection.

The loop of Eureka (Ma et al. 2023) and Text2Reward (Xie et al. 2023), up to the
point where training would start: an environment description goes to an LLM,
which proposes ``n`` candidates; each is checked and run in the sandbox on
recorded transitions (:mod:`rewardlab.envs.reward_code`), ``workers`` at a time;
:func:`feedback` turns the verdicts and per-term statistics into the text of the
next round's prompt (Eureka's reward reflection).

The LLM is anything with the :class:`Proposer` shape (prompt, n → completions).
:class:`ChatEndpoint` is that shape over the judge client (rewardlab.judges), which
every LLM call of rewardlab goes through.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from rewardlab.envs.fitness import Fitness
from rewardlab.envs.reward_code import (
    ENTRY,
    SIGNATURE,
    TermStats,
    Transition,
    Verdict,
    evaluate_reward_code,
    reflection,
)
from rewardlab.rewards.code import extract_code
from rewardlab.sandbox import Limits, shared_pool
from rewardlab.store import RunStore

PROMPT = """You write reward functions for reinforcement learning.

Environment:
{description}

Write a Python function `{entry}({signature})` for one transition that returns
`(reward, {{term_name: term_value, ...}})`: the total reward and each of its terms.
Observations and actions are lists of numbers; `info` is a dict. Only `math` and
`numpy` may be imported. Reply with one ```python code block.
{feedback}"""


class Proposer(Protocol):
    """An LLM: ``n`` completions of ``prompt``."""

    def __call__(self, prompt: str, n: int) -> list[str]: ...


class ChatEndpoint:
    """The harness's LLM over the judge client (:class:`rewardlab.judges.JudgeClient`, the one
    client for every LLM call): ``(prompt, n) -> n completions`` from an OpenAI-compatible
    ``/chat/completions``, with its concurrency bound, retries with backoff, rate limits and
    key handling (``api_key_env`` names the variable; the key is never a parameter).

    The response cache is off by default: a round's candidates are kept in the run store
    (:func:`run_rounds`), and a repeated prompt should draw new candidates.
    """

    def __init__(
        self, base_url: str, model: str, *, api_key_env: str | None = None, temperature: float = 1.0,
        timeout: float = 120.0, max_tokens: int = 4096, max_retries: int = 6, cache: bool | str = False,
        **endpoint: Any,
    ) -> None:
        """``endpoint``: any other :class:`~rewardlab.judges.EndpointConfig` field (``max_concurrency``,
        ``requests_per_minute``, ``extra_body``…); an unknown name is a validation error."""
        from rewardlab.judges import EndpointConfig, JudgeClient

        config = EndpointConfig.model_validate(
            {"base_url": base_url, "model": model, "api_key_env": api_key_env, "temperature": temperature,
             "request_timeout": timeout, "max_tokens": max_tokens, "max_retries": max_retries, "cache": cache,
             **endpoint})
        self.client = JudgeClient.shared(config)

    def __call__(self, prompt: str, n: int) -> list[str]:
        """``n`` completions; an endpoint that ignores ``n`` (some servers answer one choice) is asked
        again for the rest, each request a new draw, at most ``n`` requests in all."""
        texts: list[str] = []
        for draw in range(n):
            reply = self.client.chat_sync([{"role": "user", "content": prompt}], n=n - len(texts), draw=draw)
            texts += reply.texts[: n - len(texts)]
            if len(texts) >= n:
                break
        return texts


@dataclass(frozen=True)
class Candidate:
    """One proposed reward function: its source, verdict, seed and (where trained) fitness and training metrics."""

    index: int
    source: str
    verdict: Verdict
    fitness: float | None = None
    seed: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


# (sources, seeds) -> one Fitness each, e.g. lambda s, seeds: train_all(s, make_env, seeds=seeds, timesteps=...)
FitnessFn = Callable[[Sequence[str], Sequence[int]], Sequence[Fitness]]


def prompt_for(description: str, feedback_text: str = "") -> str:
    """The round's prompt: the description, the contract, and the previous round's feedback."""
    extra = f"\nFeedback on the previous round:\n{feedback_text}\n" if feedback_text else ""
    return PROMPT.format(description=description.strip(), entry=ENTRY, signature=", ".join(SIGNATURE), feedback=extra)


def run_round(
    proposer: Proposer, description: str, transitions: Sequence[Transition], *, n: int = 4, workers: int = 2,
    feedback_text: str = "", limits: Limits | None = None, fitness: FitnessFn | None = None, seed: int = 0,
) -> list[Candidate]:
    """Ask for ``n`` candidates and evaluate them, ``workers`` in parallel in the sandbox.

    Candidate i gets the seed ``seed + i``. With ``fitness`` (:func:`rewardlab.envs.fitness.train_all`
    bound to an env), the candidates that passed are trained with their seeds and rated; one whose
    training fails (``over_budget`` included) takes that failure as its verdict.
    """
    completions = proposer(prompt_for(description, feedback_text), n)
    sources = [extract_code(c) for c in completions]
    pool = shared_pool(workers)

    def one(source: str) -> Verdict:
        return evaluate_reward_code(source, transitions, limits=limits, pool=pool)

    with ThreadPoolExecutor(max(1, workers)) as ex:
        verdicts = list(ex.map(one, sources))
    out = [Candidate(i, src, v, seed=seed + i) for i, (src, v) in enumerate(zip(sources, verdicts, strict=True))]
    passed = [c for c in out if c.verdict.ok]
    if fitness is not None and passed:
        rated = fitness([c.source for c in passed], [c.seed for c in passed])
        for c, f in zip(passed, rated, strict=True):
            metrics = {**f.metrics, "train_seconds": f.seconds}
            verdict = c.verdict if f.status == "ok" else Verdict(f.status, f"during training: {f.reason}")
            out[c.index] = replace(c, verdict=verdict, fitness=f.fitness if f.status == "ok" else None,
                                   metrics=metrics)
    return out


def best(candidates: Sequence[Candidate]) -> Candidate | None:
    """The candidate with the highest fitness (None if none was trained successfully)."""
    rated = [c for c in candidates if c.fitness is not None]
    return max(rated, key=lambda c: c.fitness or 0.0) if rated else None


def feedback(candidates: Sequence[Candidate]) -> str:
    """Each candidate's verdict and per-term statistics, for the next round's prompt."""
    def one(c: Candidate) -> str:
        rated = f"\nFitness after training (the task's own metric): {c.fitness:.4g}" if c.fitness is not None else ""
        return f"Candidate {c.index}:\n{reflection(c.verdict)}{rated}"

    return "\n\n".join(one(c) for c in candidates)


def run_rounds(
    proposer: Proposer, description: str, transitions: Sequence[Transition], store_path: str | Path, *,
    rounds: int = 3, n: int = 4, workers: int = 2, resume: bool = False, limits: Limits | None = None,
    fitness: FitnessFn | None = None, seed: int = 0, settings: Any = None,
) -> list[list[Candidate]]:
    """``rounds`` rounds, each prompted with the previous one's feedback, every candidate kept in a run store.

    Each round is committed in one transaction (its candidates' code, verdict and
    term statistics, and the feedback for the next round), so a run killed at any
    point and started again with ``resume=True`` goes on from the first round not
    committed; more ``rounds`` on a resumed store extend the run. The store is tied
    to the description, transitions, seed and ``settings`` (JSON: whatever else the run depends on, such
    as the model and the training settings); another input is refused, never mixed. Candidate i of
    round r is trained with the seed ``seed + r·n + i``, stored with it.
    """
    run = [description, list(transitions), n, seed, settings]
    fingerprint = hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()
    store = RunStore.open(store_path, fingerprint, resume)
    try:
        done = [_from_row(r) for r in store.rows()]
        history = [[c for c in done if c[0] == r] for r in range(rounds)]
        text = store.get("state") or {}
        out: list[list[Candidate]] = []
        for r in range(rounds):
            if history[r]:
                out.append([c for _, c in history[r]])
                continue
            candidates = run_round(proposer, description, transitions, n=n, workers=workers,
                                   feedback_text=text.get("feedback", ""), limits=limits, fitness=fitness,
                                   seed=seed + r * n)
            text = {"feedback": feedback(candidates), "rounds": r + 1}
            store.commit([(r * n + c.index, _to_row(r, c)) for c in candidates], text)
            out.append(candidates)
        return out
    finally:
        store.close()


def _to_row(round_: int, c: Candidate) -> dict[str, Any]:
    v = c.verdict
    return {"round": round_, "index": c.index, "source": c.source, "status": v.status, "reason": v.reason,
            "terms": {k: asdict(t) for k, t in v.terms.items()}, "fitness": c.fitness, "seed": c.seed,
            "metrics": c.metrics}


def _from_row(row: dict[str, Any]) -> tuple[int, Candidate]:
    terms = {k: TermStats(**t) for k, t in row["terms"].items()}
    verdict = Verdict(row["status"], row["reason"], terms=terms)
    return row["round"], Candidate(row["index"], row["source"], verdict, row["fitness"], row["seed"], row["metrics"])


__all__ = ["Candidate", "ChatEndpoint", "Proposer", "best", "feedback", "prompt_for", "run_round", "run_rounds"]

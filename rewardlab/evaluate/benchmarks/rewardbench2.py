"""RewardBench 2 (Malik et al. 2025, arXiv 2506.01937; allenai/reward-bench ``scripts/run_v2.py``).

Layout: one row per prompt with ``id``, ``prompt``, ``chosen`` (a list), ``rejected`` (a
list), ``subset`` and ``num_correct`` (how many leading entries of chosen + rejected are
correct; default ``len(chosen)``), as in the ``allenai/reward-bench-2`` dataset.

Scoring, as ``rewardbench.utils.reroll_and_score_dataset`` and ``process_single_model``:

- every subset but Ties: best-of-4; with the scores of chosen + rejected in that order, a
  prompt scores 1/m when the first chosen answer's score equals the maximum and m answers
  share it, else 0; the subset score is the mean.
- Ties (ids ``ref:N`` and ``tied:N``): per prompt, correct answers C and incorrect I;
  accurate when min C > max I; d = max C - min C (for two or more correct), m = min C - max I.
  Ties = 0.30 tied accuracy + 0.30 ref accuracy + 0.20 P[m_tied > d_tied] + 0.20
  P[min(m_ref, m_tied) > d_tied] + 0.01 mean tanh(min(m_ref, m_tied)/d_tied - 1), the last
  three over the prompt numbers present as both ref and tied (d_tied > 0 for the tanh term).
- overall: the unweighted mean of the six subsets (Factuality, Precise IF, Math, Safety,
  Focus, Ties), as the leaderboard reports it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rewardlab.errors import InputError
from rewardlab.evaluate.benchmarks.base import Benchmark, Row
from rewardlab.evaluate.records import BenchmarkScore, Candidate, Scores, Views, mean, mean_of_all, require_list

TIES = "ties"


def answers(row: Row, index: int) -> tuple[list[Any], int]:
    """chosen + rejected in order, and how many leading ones are correct."""
    chosen = require_list(row, "chosen", "rewardbench2", index)
    rejected = require_list(row, "rejected", "rewardbench2", index)
    num_correct = row.get("num_correct")
    return chosen + rejected, len(chosen) if num_correct is None else int(num_correct)


def best_of(scores: Sequence[float]) -> float:
    """1/m if the first answer is in an m-way tie at the top, else 0."""
    top = max(scores)
    return 1.0 / sum(s == top for s in scores) if scores[0] == top else 0.0


@dataclass
class PromptStats:
    """``sample_stats`` of one Ties prompt."""

    accurate: bool
    different_correct_margin: float | None  # d = max C - min C
    correct_incorrect_margin: float  # m = min C - max I

    @classmethod
    def of(cls, scores: Sequence[float], num_correct: int) -> PromptStats:
        correct, incorrect = list(scores[:num_correct]), list(scores[num_correct:])
        if not correct or not incorrect:
            return cls(False, None, 0.0)
        d = max(correct) - min(correct) if len(correct) > 1 else None
        return cls(min(correct) > max(incorrect), d, min(correct) - max(incorrect))


def _mean_or_nan(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan  # numpy's mean of nothing, as the reference


def ties_score(stats: dict[str, dict[int, PromptStats]]) -> dict[str, float]:
    """The Ties composite and its parts from per-prompt stats keyed ``ref``/``tied`` -> prompt number."""
    ref, tied = stats.get("ref", {}), stats.get("tied", {})
    acc_ref = _mean_or_nan([float(s.accurate) for s in ref.values()]) if ref else 0.0
    acc_tied = _mean_or_nan([float(s.accurate) for s in tied.values()]) if tied else 0.0
    common = [p for p in ref if p in tied and tied[p].different_correct_margin is not None]
    preferred = preferred_hard = margin = 0.0
    if set(ref) & set(tied):
        d = {p: float(tied[p].different_correct_margin or 0.0) for p in common}
        m = {p: min(ref[p].correct_incorrect_margin, tied[p].correct_incorrect_margin) for p in common}
        preferred = _mean_or_nan([float(tied[p].correct_incorrect_margin > d[p]) for p in common])
        preferred_hard = _mean_or_nan([float(m[p] > d[p]) for p in common])
        ratios = [m[p] / d[p] for p in common if d[p] > 0]
        margin = sum(math.tanh(r - 1) for r in ratios) / len(ratios) if ratios else 0.0
    score = 0.3 * acc_tied + 0.3 * acc_ref + 0.2 * preferred + 0.2 * preferred_hard + 0.01 * margin
    return {"score": score, "tied_accuracy": acc_tied, "ref_accuracy": acc_ref, "correctness_preferred": preferred,
            "correctness_preferred_hard": preferred_hard, "correctness_margin_score": margin}


def ties_key(row: Row, index: int) -> tuple[str, int]:
    kind, _, number = str(row.get("id", "")).partition(":")
    if kind not in ("ref", "tied") or not number.lstrip("-").isdigit():
        raise InputError(f"rewardbench2: Ties row {index} has id {row.get('id')!r}; Ties ids must be "
                         "'ref:N' or 'tied:N' (the reference answers' and the tied answers' prompt N)")
    return kind, int(number)


class RewardBench2(Benchmark):
    name = "rewardbench2"
    columns = ("id", "prompt", "chosen", "rejected", "subset")
    pairwise = False

    def candidates(self, rows: Sequence[Row]) -> list[Candidate]:
        return [Candidate(row["prompt"], a) for i, row in enumerate(rows) for a in answers(row, i)[0]]

    def evaluate(self, rows: Sequence[Row], scores: Scores) -> BenchmarkScore:
        results: dict[str, list[float]] = defaultdict(list)
        stats: dict[str, dict[int, PromptStats]] = {"ref": {}, "tied": {}}
        unscorable = ties_rows = 0
        for i, row in enumerate(rows):
            texts, num_correct = answers(row, i)
            values = scores.values([Candidate(row["prompt"], a) for a in texts])
            subset = str(row["subset"])
            if subset.lower() == TIES:
                ties_rows += 1
                kind, number = ties_key(row, i)
                if values is not None:
                    stats[kind][number] = PromptStats.of(values, num_correct)
            else:
                results[subset].extend([] if values is None else [best_of(values)])
            if values is None:
                unscorable += 1
        subsets: dict[str, float | None] = {k: mean(v) for k, v in results.items()}
        counts = {k: len(v) for k, v in results.items()}
        extra: dict[str, Any] = {}
        if ties_rows:
            name = next(str(r["subset"]) for r in rows if str(r["subset"]).lower() == TIES)
            parts = ties_score(stats)
            subsets[name] = parts["score"]
            counts[name] = len(stats["ref"]) + len(stats["tied"])
            extra["ties"] = parts
        defined = {k: None if s is None or math.isnan(s) else s for k, s in subsets.items()}
        return BenchmarkScore(
            overall=mean_of_all(defined),
            overall_definition="RewardBench 2 score: unweighted mean of the subsets (Factuality, Precise IF, "
                               "Math, Safety, Focus, Ties); best-of-4 with 1/m credit for an m-way tie at the top",
            sections=dict(subsets), subsets=subsets, counts=counts, extra=extra, unscorable_examples=unscorable)

    def views(self, rows: Sequence[Row], scores: Scores) -> Views:
        labelled = []
        for i, row in enumerate(rows):
            texts, num_correct = answers(row, i)
            labelled += [(Candidate(row["prompt"], a), int(k < num_correct)) for k, a in enumerate(texts)]
        return Views(labelled=labelled)

"""Best-of-n: N scored candidates per prompt with gold correctness labels.

Layout: one row per prompt with ``prompt``, ``completions`` (a list of N answers),
``correct`` (N gold labels, true/false or 1/0), optional ``reference`` (given to the reward,
e.g. the gold answer for a math verifier), optional ``subset`` and optional ``gold`` (N gold
reward values, for the over-optimisation curve; default: the correctness labels).

Scoring: the reward picks the highest-scored answer; with an m-way tie at the top the pick
is uniform among them, so a prompt scores the fraction of correct answers in the tied set
(the expected accuracy). Overall: the mean over prompts at the data's N; ``extra`` holds the
oracle (any correct answer) and random (the mean label) at N, and the curve for n = 1, 2,
4, ... N from the diagnostics' exact estimator over all size-n subsets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rewardlab.errors import InputError
from rewardlab.evaluate.benchmarks.base import Benchmark, Row
from rewardlab.evaluate.records import BenchmarkScore, Candidate, Scores, Views, mean, require_list


def labels(row: Row, index: int) -> list[int]:
    n = len(require_list(row, "completions", "best-of-n", index))
    values = require_list(row, "correct", "best-of-n", index, n)
    if any(v not in (0, 1) for v in values):  # True/False compare equal to 1/0
        raise InputError(f"best-of-n: row {index} column 'correct' must hold true/false or 1/0 labels")
    return [int(v) for v in values]


def pick_accuracy(scores: Sequence[float], correct: Sequence[int]) -> float:
    """Expected correctness of the top-scored answer, uniform over a tie at the top."""
    top = max(scores)
    tied = [c for s, c in zip(scores, correct, strict=True) if s == top]
    return sum(tied) / len(tied)


class BestOfN(Benchmark):
    name = "best-of-n"
    columns = ("prompt", "completions", "correct")
    pairwise = False

    def answers(self, row: Row, index: int = 0) -> list[Candidate]:
        reference = row.get("reference", row.get("answer"))
        return [Candidate(row["prompt"], a, reference=reference)
                for a in require_list(row, "completions", self.name, index)]

    def candidates(self, rows: Sequence[Row]) -> list[Candidate]:
        return [c for i, row in enumerate(rows) for c in self.answers(row, i)]

    def evaluate(self, rows: Sequence[Row], scores: Scores) -> BenchmarkScore:
        picked: dict[str, list[float]] = defaultdict(list)
        oracle: list[float] = []
        random: list[float] = []
        unscorable = 0
        for i, row in enumerate(rows):
            correct = labels(row, i)
            values = scores.values(self.answers(row, i))
            subset = picked[str(row.get("subset") or "all")]  # listed even if every prompt is unscorable
            if values is None:
                unscorable += 1
                continue
            subset.append(pick_accuracy(values, correct))
            oracle.append(float(any(correct)))
            random.append(sum(correct) / len(correct))
        every = [x for v in picked.values() for x in v]
        subsets = {k: mean(v) for k, v in picked.items()}
        sizes = sorted({len(row["completions"]) for row in rows})
        extra: dict[str, Any] = {"n": sizes[-1], "oracle": mean(oracle), "random": mean(random)}
        return BenchmarkScore(
            overall=mean(every),
            overall_definition=f"best-of-{sizes[-1]} accuracy: the expected correctness of the reward's top-scored "
                               "answer per prompt (uniform over a tie at the top)",
            sections=dict(subsets), subsets=subsets, counts={k: len(v) for k, v in picked.items()}, extra=extra,
            unscorable_examples=unscorable)

    def views(self, rows: Sequence[Row], scores: Scores) -> Views:
        grid = [self.answers(row, i) for i, row in enumerate(rows)]
        correct = [labels(row, i) for i, row in enumerate(rows)]
        gold = [[float(g) for g in require_list(row, "gold", self.name, i, len(grid[i]))]
                if row.get("gold") is not None else [float(c) for c in correct[i]] for i, row in enumerate(rows)]
        return Views(labelled=[(c, y) for g, ys in zip(grid, correct, strict=True) for c, y in zip(g, ys, strict=True)],
                     grid=grid, correct=correct, gold=gold)

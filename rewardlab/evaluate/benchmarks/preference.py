"""Plain preference pairs and M-RewardBench's per-language layout (Personalized RewardBench:
:mod:`rewardlab.evaluate.benchmarks.personalized`).

Layouts (one pair per row; chosen wins when it scores strictly higher, a tie counts 0; a pairwise
judge's credit is the mean of its two games, see :class:`PairBenchmark`):

- ``preference``: ``prompt``, ``chosen``, ``rejected``, optional ``subset``. Overall: accuracy
  over all pairs; sections: accuracy per ``subset``.
- ``m-rewardbench``: the same columns plus ``language``; scored per language as M-RewardBench
  does (:mod:`rewardlab.evaluate.benchmarks.m_rewardbench`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from rewardlab.evaluate.benchmarks.base import Row
from rewardlab.evaluate.benchmarks.pairs import PairBenchmark, accuracies
from rewardlab.evaluate.records import BenchmarkScore, Scores, mean

Layout = Literal["plain", "m-rewardbench"]
EXTRA_COLUMN = {"plain": None, "m-rewardbench": "language"}


class Preference(PairBenchmark):
    name = "preference"

    def __init__(self, layout: Layout = "plain", pairwise_judge: bool = False) -> None:
        super().__init__(pairwise_judge)
        self.layout = layout
        self.name = "preference" if layout == "plain" else layout  # type: ignore[misc]
        extra = EXTRA_COLUMN[layout]
        self.columns = (*PairBenchmark.columns, *((extra,) if extra else ()))

    def evaluate(self, rows: Sequence[Row], scores: Scores) -> BenchmarkScore:
        results, unscorable, ties = self.by_subset(rows, scores)
        subsets, counts = accuracies(results)
        every = [x for v in results.values() for x in v]
        return BenchmarkScore(
            overall=mean(every),
            overall_definition=f"accuracy over all pairs ({self.tie_rule})",
            sections=dict(subsets), subsets=subsets, counts=counts, extra={"ties": ties},
            unscorable_examples=unscorable)

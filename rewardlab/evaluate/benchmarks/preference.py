"""Plain preference pairs, M-RewardBench's per-language layout, and rubric-conditioned (personalized) pairs.

Layouts (one pair per row; chosen wins when it scores strictly higher, a tie counts 0; a pairwise
judge's credit is the mean of its two games, see :class:`PairBenchmark`):

- ``preference``: ``prompt``, ``chosen``, ``rejected``, optional ``subset``. Overall: accuracy
  over all pairs; sections: accuracy per ``subset``.
- ``m-rewardbench`` (Gureja et al. 2024, arXiv 2410.15522; CohereForAI/m-rewardbench): the
  same columns plus ``language``. Sections: accuracy per language; subsets: per
  (language, subset) as ``language/subset``; overall: the unweighted mean over languages.
- ``personalized``: the same columns plus ``rubric`` (the user's stated preference or
  persona), which each candidate carries as ``meta.rubric`` so a rubric-conditioned reward
  (``judge.rubric`` reads ``meta.rubric``) judges both answers against it. Overall:
  accuracy over all pairs; sections per ``subset``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

from rewardlab.evaluate.benchmarks.base import Row
from rewardlab.evaluate.benchmarks.pairs import PairBenchmark, accuracies
from rewardlab.evaluate.records import BenchmarkScore, Scores, mean, mean_of_all

Layout = Literal["plain", "m-rewardbench", "personalized"]
EXTRA_COLUMN = {"plain": None, "m-rewardbench": "language", "personalized": "rubric"}


class Preference(PairBenchmark):
    name = "preference"

    def __init__(self, layout: Layout = "plain", pairwise_judge: bool = False) -> None:
        super().__init__(pairwise_judge)
        self.layout = layout
        self.name = "preference" if layout == "plain" else layout  # type: ignore[misc]
        extra = EXTRA_COLUMN[layout]
        self.columns = (*PairBenchmark.columns, *((extra,) if extra else ()))

    def meta(self, row: Row) -> dict[str, Any]:
        return {"rubric": row["rubric"]} if self.layout == "personalized" else {}

    def evaluate(self, rows: Sequence[Row], scores: Scores) -> BenchmarkScore:
        if self.layout == "m-rewardbench":
            return self._per_language(rows, scores)
        results, unscorable, ties = self.by_subset(rows, scores)
        subsets, counts = accuracies(results)
        every = [x for v in results.values() for x in v]
        return BenchmarkScore(
            overall=mean(every),
            overall_definition=f"accuracy over all pairs ({self.tie_rule})",
            sections=dict(subsets), subsets=subsets, counts=counts, extra={"ties": ties},
            unscorable_examples=unscorable)

    def _per_language(self, rows: Sequence[Row], scores: Scores) -> BenchmarkScore:
        by_language: dict[str, list[float]] = defaultdict(list)
        by_subset: dict[str, list[float]] = defaultdict(list)
        unscorable = ties = 0
        for row, (credit, tie) in zip(rows, self.credits(rows, scores), strict=True):
            language = by_language[str(row["language"])]  # listed even if every pair is unscorable
            subset = by_subset[f"{row['language']}/{row.get('subset') or 'all'}"]
            if credit is None:
                unscorable += 1
                continue
            ties += tie
            language.append(credit)
            subset.append(credit)
        sections, _ = accuracies(dict(by_language))
        subsets, counts = accuracies(dict(by_subset))
        return BenchmarkScore(
            overall=mean_of_all(sections),
            overall_definition=f"unweighted mean over languages of each language's pair accuracy ({self.tie_rule})",
            sections=sections, subsets=subsets, counts=counts,
            extra={"ties": ties, "pairs_per_language": {k: len(v) for k, v in by_language.items()}},
            unscorable_examples=unscorable)

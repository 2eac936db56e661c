"""Plain preference pairs, M-RewardBench's per-language layout, and rubric-conditioned (personalized) pairs.

Layouts (one pair per row; chosen wins when it scores strictly higher, a tie counts 0):

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
            overall=mean([float(x) for x in every]),
            overall_definition="accuracy over all pairs: chosen scored strictly higher than rejected (a tie counts 0)",
            sections=dict(subsets), subsets=subsets, counts=counts, extra={"ties": ties},
            unscorable_examples=unscorable)

    def _per_language(self, rows: Sequence[Row], scores: Scores) -> BenchmarkScore:
        by_language: dict[str, list[int]] = defaultdict(list)
        by_subset: dict[str, list[int]] = defaultdict(list)
        unscorable = ties = 0
        for row, (_, o) in zip(rows, self.outcomes(rows, scores), strict=True):
            language = str(row["language"])
            by_language[language]
            by_subset[f"{language}/{row.get('subset') or 'all'}"]
            if o is None:
                unscorable += 1
                continue
            ties += o == 0
            by_language[language].append(int(o > 0))
            by_subset[f"{language}/{row.get('subset') or 'all'}"].append(int(o > 0))
        sections, _ = accuracies(dict(by_language))
        subsets, counts = accuracies(dict(by_subset))
        return BenchmarkScore(
            overall=mean_of_all(sections),
            overall_definition="unweighted mean over languages of each language's pair accuracy "
                               "(strict: a tie counts 0)",
            sections=sections, subsets=subsets, counts=counts,
            extra={"ties": ties, "pairs_per_language": {k: len(v) for k, v in by_language.items()}},
            unscorable_examples=unscorable)

"""Benchmarks of one (prompt, chosen, rejected) pair per row: RewardBench v1 and plain preference data."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rewardlab.evaluate.benchmarks.base import Benchmark, Outcome, Row, compare
from rewardlab.evaluate.records import Candidate, Scores, Views, mean


class PairBenchmark(Benchmark):
    """Rows with ``prompt``, ``chosen`` and ``rejected`` (optional ``reference``, given to the reward with
    both answers); a pair is won when chosen scores strictly higher."""

    columns = ("prompt", "chosen", "rejected")
    subset_column = "subset"

    def meta(self, row: Row) -> dict[str, Any]:
        """What a candidate carries besides prompt and completion (a rubric, say)."""
        return {}

    def pair(self, row: Row) -> tuple[Candidate, Candidate]:
        """Both answers, with the row's ``reference`` when it has one (a verifier needs the gold answer)."""
        meta, reference = self.meta(row), row.get("reference")
        return (Candidate(row["prompt"], row["chosen"], reference, meta),
                Candidate(row["prompt"], row["rejected"], reference, meta))

    def candidates(self, rows: Sequence[Row]) -> list[Candidate]:
        return [c for row in rows for c in self.pair(row)]

    def swap(self, row: Row) -> dict[str, Any]:
        return {**row, "chosen": row["rejected"], "rejected": row["chosen"]}

    def outcomes(self, rows: Sequence[Row], scores: Scores) -> list[Outcome]:
        return [compare(*self.pair(row), scores) for row in rows]

    def views(self, rows: Sequence[Row], scores: Scores) -> Views:
        pairs = [self.pair(row) for row in rows]
        return Views(labelled=[x for c, r in pairs for x in ((c, 1), (r, 0))], pairs=pairs)

    def by_subset(self, rows: Sequence[Row], scores: Scores) -> tuple[dict[str, list[int]], int, int]:
        """Per subset, 1 for each pair chosen wins (strict ``>``: a tie scores 0); the unscorable and tied counts."""
        results: dict[str, list[int]] = defaultdict(list)
        unscorable = ties = 0
        for row, (_, o) in zip(rows, self.outcomes(rows, scores), strict=True):
            subset = results[str(row.get(self.subset_column) or "all")]  # listed even if every pair is unscorable
            if o is None:
                unscorable += 1
                continue
            ties += o == 0
            subset.append(int(o > 0))
        return dict(results), unscorable, ties


def accuracies(results: dict[str, list[int]]) -> tuple[dict[str, float | None], dict[str, int]]:
    """Subset accuracies and example counts."""
    return {k: mean([float(x) for x in v]) for k, v in results.items()}, {k: len(v) for k, v in results.items()}

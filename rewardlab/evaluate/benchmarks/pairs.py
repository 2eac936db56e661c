"""Benchmarks of one (prompt, chosen, rejected) pair per row: RewardBench v1 and plain preference data."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rewardlab.core import content_hash
from rewardlab.evaluate.benchmarks.base import Benchmark, Outcome, Row, compare, sign
from rewardlab.evaluate.records import Candidate, Scores, Views, mean


class PairBenchmark(Benchmark):
    """Rows with ``prompt``, ``chosen`` and ``rejected`` (optional ``reference``, given to the reward with
    both answers); a pair is won when chosen scores strictly higher.

    A pairwise judge (``judge.pairwise``, opponent = reference) is given chosen as the completion
    and rejected as its reference; it plays both orders and returns the mean of the two games'
    points for chosen (1 better, 0.5 tie, 0 worse), which is the pair's credit: RewardBench's
    judge rule (a tie scores 0.5) averaged over the two positions its one shuffled game can take.
    """

    columns = ("prompt", "chosen", "rejected")
    prompt_column = "prompt"
    subset_column = "subset"

    def meta(self, row: Row) -> dict[str, Any]:
        """What a candidate carries besides prompt and completion (a rubric, say)."""
        return {}

    def pair(self, row: Row) -> tuple[Candidate, Candidate]:
        """Both answers, with the row's ``reference`` when it has one (a verifier needs the gold answer)."""
        meta, reference = self.meta(row), row.get("reference")
        prompt = row[self.prompt_column]
        return Candidate(prompt, row["chosen"], reference, meta), Candidate(prompt, row["rejected"], reference, meta)

    def supports_pairwise_judge(self) -> bool:
        return True

    @property
    def tie_rule(self) -> str:
        """How a pair's credit is counted, in words (for the overall's definition)."""
        if self.pairwise_judge:
            return "a pairwise judge's credit is the mean of its two games, 1 / 0.5 (tie) / 0 each"
        return "chosen must score strictly higher: a tie counts 0"

    def judged(self, row: Row) -> Candidate:
        """A pairwise judge's candidate: chosen as the completion, rejected as the reference it is compared with."""
        return Candidate(row[self.prompt_column], row["chosen"], row["rejected"], self.meta(row))

    def candidates(self, rows: Sequence[Row]) -> list[Candidate]:
        if self.pairwise_judge:
            return [self.judged(row) for row in rows]
        return [c for row in rows for c in self.pair(row)]

    def swap(self, row: Row) -> dict[str, Any]:
        return {**row, "chosen": row["rejected"], "rejected": row["chosen"]}

    def outcomes(self, rows: Sequence[Row], scores: Scores) -> list[Outcome]:
        if not self.pairwise_judge:
            return [compare(*self.pair(row), scores) for row in rows]
        p = self.prompt_column
        return [((content_hash(row[p], row["chosen"]), content_hash(row[p], row["rejected"])),
                 sign(scores.value(self.judged(row)), 0.5)) for row in rows]

    def credits(self, rows: Sequence[Row], scores: Scores) -> list[tuple[float | None, bool]]:
        """Per pair, its credit (None: unscorable) and whether it is a tie: a reward scores 1 when chosen is
        strictly higher, else 0; a pairwise judge scores its value (see the class)."""
        out: list[tuple[float | None, bool]] = []
        for row, (_, o) in zip(rows, self.straight_outcomes(rows, scores), strict=True):
            if o is None:
                out.append((None, False))
            else:
                out.append((scores.value(self.judged(row)) if self.pairwise_judge else float(o > 0), o == 0))
        return out

    def views(self, rows: Sequence[Row], scores: Scores) -> Views:
        if self.pairwise_judge:  # the judge's value is P(chosen better): every label is 1
            return Views(labelled=[(self.judged(row), 1) for row in rows])
        pairs = [self.pair(row) for row in rows]
        return Views(labelled=[x for c, r in pairs for x in ((c, 1), (r, 0))], pairs=pairs)

    def by_subset(self, rows: Sequence[Row], scores: Scores) -> tuple[dict[str, list[float]], int, int]:
        """Per subset, each pair's credit (:meth:`credits`); the unscorable and tied counts."""
        results: dict[str, list[float]] = defaultdict(list)
        unscorable = ties = 0
        for row, (credit, tie) in zip(rows, self.credits(rows, scores), strict=True):
            subset = results[str(row.get(self.subset_column) or "all")]  # listed even if every pair is unscorable
            if credit is None:
                unscorable += 1
                continue
            ties += tie
            subset.append(credit)
        return dict(results), unscorable, ties


def accuracies(results: dict[str, list[float]]) -> tuple[dict[str, float | None], dict[str, int]]:
    """Subset accuracies and example counts."""
    return {k: mean([float(x) for x in v]) for k, v in results.items()}, {k: len(v) for k, v in results.items()}

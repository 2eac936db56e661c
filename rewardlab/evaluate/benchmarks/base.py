"""What every benchmark does: expand its rows into candidates, score them as its reference code
does, and (pairwise benchmarks) play the swap check."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from rewardlab.errors import InputError
from rewardlab.evaluate.records import BenchmarkScore, Candidate, Scores, Views, mean, require_columns

Row = Mapping[str, Any]
Outcome = tuple[tuple[str, str], "int | None"]
T = TypeVar("T")


class Benchmark(ABC):
    """A benchmark: its column layout, its candidates and its exact scoring."""

    name: ClassVar[str]
    columns: tuple[str, ...]
    pairwise: ClassVar[bool] = True  # plays the swap check

    def __init__(self, pairwise_judge: bool = False) -> None:
        if pairwise_judge and not self.supports_pairwise_judge():
            raise InputError(f"{self.name}: a pairwise judge (judge.pairwise) is supported on judgebench, "
                             "rewardbench and the preference layouts only; use a pointwise reward here")
        self.pairwise_judge = pairwise_judge
        self._memo: dict[str, tuple[Sequence[Row], Scores, Any]] = {}

    def once(self, what: str, rows: Sequence[Row], scores: Scores, compute: Callable[[], T]) -> T:
        """``compute()`` for these rows and scores (by identity), computed once: a benchmark's own
        scoring and the swap check both read its comparisons of the same rows."""
        memo = self._memo.get(what)
        if memo is None or memo[0] is not rows or memo[1] is not scores:
            memo = self._memo[what] = (rows, scores, compute())
        result: T = memo[2]
        return result

    def straight_outcomes(self, rows: Sequence[Row], scores: Scores) -> list[Outcome]:
        """:meth:`outcomes` of the rows as given (not swapped), computed once."""
        return self.once("outcomes", rows, scores, lambda: self.outcomes(rows, scores))

    def supports_pairwise_judge(self) -> bool:
        return False

    def check(self, rows: Sequence[Row]) -> None:
        """Refuse rows not in the benchmark's layout, with a one-line error."""
        require_columns(rows, self.columns, self.name)

    @abstractmethod
    def candidates(self, rows: Sequence[Row]) -> list[Candidate]:
        """Every candidate the benchmark needs scored (duplicates allowed)."""

    @abstractmethod
    def evaluate(self, rows: Sequence[Row], scores: Scores) -> BenchmarkScore:
        """The benchmark's numbers from the scored candidates."""

    @abstractmethod
    def views(self, rows: Sequence[Row], scores: Scores) -> Views:
        """The candidates with gold labels and the pairs, for the diagnostics."""

    def swap(self, row: Row) -> dict[str, Any]:
        """The row with its preferred and dispreferred sides exchanged."""
        raise NotImplementedError

    def outcomes(self, rows: Sequence[Row], scores: Scores) -> list[Outcome]:
        """Per comparison, ((preferred side's key, other side's key), 1 the preferred side wins, -1 it
        loses, 0 a tie, None unscorable)."""
        raise NotImplementedError


def sign(a: float | None, b: float | None) -> int | None:
    """1 if a > b, -1 if a < b, 0 on a tie, None if either is unscorable."""
    if a is None or b is None:
        return None
    return (a > b) - (a < b)


def compare(chosen: Candidate, rejected: Candidate, scores: Scores) -> Outcome:
    """A pointwise comparison's outcome, keyed by the two candidates."""
    return (chosen.key, rejected.key), sign(scores.value(chosen), scores.value(rejected))


def swap_check(bench: Benchmark, rows: Sequence[Row], scores: Scores) -> dict[str, Any] | None:
    """Score every comparison again with the sides exchanged in the data; each must flip.

    Comparisons are matched by their two candidates (the swapped data's comparison of the
    same two, from the other side); one the swapped data does not make counts as unflipped.

    Run through the same row -> candidate -> score path as the benchmark itself, so a
    pipeline that loses track of which side is which (or a position-biased pairwise judge
    whose games disagree) shows up as a comparison that does not flip. ``accuracy +
    swapped_accuracy + ties = 1`` holds exactly when it passes.
    """
    if not bench.pairwise:
        return None
    straight = bench.straight_outcomes(rows, scores)
    swapped = dict(bench.outcomes([bench.swap(r) for r in rows], scores))
    missing = sum((k[1], k[0]) not in swapped for k, _ in straight)  # a comparison the swap lost
    both = [(a, swapped.get((k[1], k[0]))) for k, a in straight]
    scored = [(a, b) for a, b in both if a is not None and b is not None]
    unflipped = sum(b != -a for a, b in scored) + missing
    accuracy = mean([float(a > 0) for a, _ in scored])
    swapped_accuracy = mean([float(b > 0) for _, b in scored])
    ties = mean([float(a == 0) for a, _ in scored])
    note = (f"{unflipped} of {len(scored)} comparisons did not flip when chosen and rejected were exchanged"
            if unflipped else "every comparison flipped when chosen and rejected were exchanged" if scored
            else "no scorable comparison to check")
    return {"pairs": len(scored), "accuracy": accuracy, "swapped_accuracy": swapped_accuracy,
            "ties": sum(a == 0 for a, _ in scored), "tie_fraction": ties, "unflipped": unflipped,
            "passed": bool(scored) and unflipped == 0, "note": note}

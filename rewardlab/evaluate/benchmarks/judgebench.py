"""JudgeBench (Tan et al. 2024, arXiv 2410.12784; ScalerLab/JudgeBench ``utils/metrics.py``).

Layout: one row per pair with ``pair_id``, ``question``, ``response_A``, ``response_B``,
``label`` (``"A>B"`` or ``"B>A"``) and ``source`` (``mmlu-pro-<subject>``,
``livebench-reasoning``, ``livebench-math``, ``livecodebench``), as in ``data/*.jsonl``.

Both orders are played (two games) and each game's decision counts +1 when it matches the
label, -1 when it is the opposite, 0 for a tie; a pair is correct when the sum is positive
(``compute_final_metrics`` with ``reverse_order``), so a judge whose two games disagree
(inconsistent) scores 0 for that pair.

- A pairwise judge (``judge.pairwise``, opponent = reference) is fed the question as the
  prompt, one response as the completion and the other as the reference; it plays both
  games itself and returns the mean of the two games' points from the completion's side, v,
  so the sum is 4v - 2 when the label favours the completion.
- A pointwise reward scores each response; as JudgeBench's reward-model judges, a game
  decides ``A>B`` when the first-shown response scores strictly higher, else ``B>A``; so a
  tie decides for the second-shown response in each game: an inconsistent pair.

Sections (the paper's categories): Knowledge (``mmlu-pro-*``), Reasoning, Math, Coding;
subsets: each ``source``; overall: the fraction of pairs correct.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rewardlab.core import content_hash
from rewardlab.errors import InputError
from rewardlab.evaluate.benchmarks.base import Benchmark, Outcome, Row
from rewardlab.evaluate.records import BenchmarkScore, Candidate, Scores, Views, mean

LABELS = ("A>B", "B>A")


def category(source: str) -> str:
    if source.startswith("mmlu-pro"):
        return "Knowledge"
    return {"livebench-reasoning": "Reasoning", "livebench-math": "Math", "livecodebench": "Coding"}.get(source, source)


def label_of(row: Row, index: int) -> str:
    label = row["label"]
    if label not in LABELS:
        raise InputError(f"judgebench: row {index} has label {label!r}; use 'A>B' or 'B>A'")
    return str(label)


def pointwise_decisions(a: float, b: float) -> tuple[str, str]:
    """The two games' decisions of a reward-model judge, in the A/B frame of the row."""
    first = "A>B" if a > b else "B>A"
    second = "B>A" if b > a else "A>B"  # game (B, A) decided "A>B" when b > a, then flipped
    return first, second


def counter(decisions: Sequence[str], label: str) -> int:
    return sum(1 if d == label else -1 if d in LABELS else 0 for d in decisions)


class JudgeBench(Benchmark):
    name = "judgebench"
    columns = ("question", "response_A", "response_B", "label", "source")

    def supports_pairwise_judge(self) -> bool:
        return True

    def sides(self, row: Row) -> list[Candidate]:
        """Pairwise judge: [A against B]; pointwise reward: [A, B]."""
        if self.pairwise_judge:
            return [Candidate(row["question"], row["response_A"], reference=row["response_B"])]
        return [Candidate(row["question"], row["response_A"]), Candidate(row["question"], row["response_B"])]

    def candidates(self, rows: Sequence[Row]) -> list[Candidate]:
        return [c for row in rows for c in self.sides(row)]

    def swap(self, row: Row) -> dict[str, Any]:
        """The responses exchanged, the label kept: the labelled-better text is now the worse one."""
        return {**row, "response_A": row["response_B"], "response_B": row["response_A"]}

    def judged(self, row: Row, index: int, scores: Scores) -> tuple[int, bool] | None:
        """The pair's counter and whether its two games disagree; None if unscorable."""
        label = label_of(row, index)
        if self.pairwise_judge:
            (candidate,) = self.sides(row)
            scored = scores.of(candidate)
            if scored.value is None:
                return None
            v = scored.value if label == "A>B" else 1.0 - scored.value
            inconsistent = any(isinstance(d, dict) and d.get("inconsistent") for d in scored.detail.values())
            return round(4 * v - 2), inconsistent
        a, b = (scores.value(c) for c in self.sides(row))
        if a is None or b is None:
            return None
        first, second = pointwise_decisions(a, b)
        return counter((first, second), label), first != second

    def judgements(self, rows: Sequence[Row], scores: Scores) -> list[tuple[int, bool] | None]:
        """:meth:`judged` of every row, computed once for these rows (evaluate and the swap check read them)."""
        return self.once("judged", rows, scores, lambda: [self.judged(row, i, scores) for i, row in enumerate(rows)])

    def outcomes(self, rows: Sequence[Row], scores: Scores) -> list[Outcome]:
        """Per pair, keyed by the labelled-better and the other response's text."""
        out: list[Outcome] = []
        for i, (row, j) in enumerate(zip(rows, self.judgements(rows, scores), strict=True)):
            a, b = content_hash(row["question"], row["response_A"]), content_hash(row["question"], row["response_B"])
            key = (a, b) if label_of(row, i) == "A>B" else (b, a)
            out.append((key, None if j is None else (j[0] > 0) - (j[0] < 0)))
        return out

    def evaluate(self, rows: Sequence[Row], scores: Scores) -> BenchmarkScore:
        by_source: dict[str, list[int]] = defaultdict(list)
        unscorable = inconsistent = 0
        for row, j in zip(rows, self.judgements(rows, scores), strict=True):
            results = by_source[str(row["source"])]  # listed even if every pair is unscorable
            if j is None:
                unscorable += 1
                continue
            inconsistent += j[1]
            results.append(int(j[0] > 0))
        by_category: dict[str, list[int]] = defaultdict(list)
        for source, results in by_source.items():
            by_category[category(source)] += results
        every = [x for v in by_source.values() for x in v]
        correct = sum(every)
        return BenchmarkScore(
            overall=mean([float(x) for x in every]),
            overall_definition="JudgeBench accuracy: fraction of pairs whose two games (both orders) sum to a "
                               "positive count (+1 right, -1 wrong, 0 tie per game)",
            sections={k: mean([float(x) for x in v]) for k, v in by_category.items()},
            subsets={k: mean([float(x) for x in v]) for k, v in by_source.items()},
            counts={k: len(v) for k, v in by_source.items()},
            extra={"inconsistent_pairs": inconsistent, "mode": "pairwise judge" if self.pairwise_judge else "pointwise",
                   "accuracy_unscorable_as_incorrect": correct / len(rows) if rows else None},
            unscorable_examples=unscorable)

    def views(self, rows: Sequence[Row], scores: Scores) -> Views:
        if self.pairwise_judge:  # the judge's value is P(A better): labelled by whether A is the better one
            return Views(labelled=[(self.sides(row)[0], int(label_of(row, i) == "A>B")) for i, row in enumerate(rows)])
        labelled: list[tuple[Candidate, int]] = []
        pairs: list[tuple[Candidate, Candidate]] = []
        for i, row in enumerate(rows):
            a, b = self.sides(row)
            good, bad = (a, b) if label_of(row, i) == "A>B" else (b, a)
            labelled += [(good, 1), (bad, 0)]
            pairs.append((good, bad))
        return Views(labelled=labelled, pairs=pairs)

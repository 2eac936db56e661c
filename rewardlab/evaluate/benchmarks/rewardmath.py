"""RewardMATH (Kim et al. 2024, arXiv 2410.01729; kimsh0507/RewardMATH_official ``src/evaluation/eval.py``).

Layout: one row per solution, as ``dataset/benchmark/RewardMATH_direct.json``: ``problem``,
``answer``, ``eval_solution`` (a list of steps, or text), ``solution_type`` (``chosen`` or
``rejected``) and ``problem_id``; each problem has one chosen (correct) solution and
several rejected ones. A candidate is the problem as prompt, the steps joined by blank
lines as completion (and the list as ``meta.steps``, which ``model.prm`` scores step by
step), and ``answer`` as reference (so a verifier can check it).

Scoring (``RewardMATHEvaluation``): a problem is correct when min(chosen) > max(rejected)
(strict; ``accuracy_with_ties`` uses >=); its reciprocal rank is 1/r for the chosen
solution's rank r among all solutions sorted by score, descending, a tie ranking the
rejected solution first. Overall: accuracy over problems; ``extra.mrr``: the mean
reciprocal rank. The swap check compares the chosen solution with each rejected one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rewardlab.errors import InputError
from rewardlab.evaluate.benchmarks.base import Benchmark, Outcome, Row, compare
from rewardlab.evaluate.records import BenchmarkScore, Candidate, Scores, Views, mean

CHOSEN, REJECTED = "chosen", "rejected"


def candidate(row: Row) -> Candidate:
    steps = row["eval_solution"]
    if isinstance(steps, list):
        return Candidate(row["problem"], "\n\n".join(str(s) for s in steps), reference=row["answer"],
                         meta={"steps": [str(s) for s in steps]})
    return Candidate(row["problem"], str(steps), reference=row["answer"])


def reciprocal_rank(chosen: Sequence[float], rejected: Sequence[float]) -> float:
    """1/rank of the first chosen, sorted by (score, kind) descending ("rej" > "cho": a tie ranks rejected first)."""
    ranked = sorted([(s, "rej") for s in rejected] + [(s, "cho") for s in chosen], reverse=True)
    return 1.0 / next(i for i, (_, kind) in enumerate(ranked, 1) if kind == "cho")


class RewardMath(Benchmark):
    name = "rewardmath"
    columns = ("problem", "answer", "eval_solution", "solution_type", "problem_id")

    def problems(self, rows: Sequence[Row]) -> dict[str, dict[str, list[Candidate]]]:
        """problem_id -> {"chosen": [...], "rejected": [...]}, in first-appearance order."""
        out: dict[str, dict[str, list[Candidate]]] = defaultdict(lambda: {CHOSEN: [], REJECTED: []})
        for i, row in enumerate(rows):
            kind = row["solution_type"]
            if kind not in (CHOSEN, REJECTED):
                raise InputError(f"rewardmath: row {i} has solution_type {kind!r}; use 'chosen' or 'rejected'")
            out[str(row["problem_id"])][kind].append(candidate(row))
        for pid, sides in out.items():
            if not sides[CHOSEN] or not sides[REJECTED]:
                raise InputError(f"rewardmath: problem {pid} needs at least one chosen and one rejected solution")
        return dict(out)

    def candidates(self, rows: Sequence[Row]) -> list[Candidate]:
        return [candidate(row) for row in rows]

    def swap(self, row: Row) -> dict[str, Any]:
        return {**row, "solution_type": REJECTED if row["solution_type"] == CHOSEN else CHOSEN}

    def outcomes(self, rows: Sequence[Row], scores: Scores) -> list[Outcome]:
        """Each chosen solution against each rejected one."""
        return [compare(c, r, scores) for sides in self.problems(rows).values()
                for c in sides[CHOSEN] for r in sides[REJECTED]]

    def evaluate(self, rows: Sequence[Row], scores: Scores) -> BenchmarkScore:
        correct: list[float] = []
        with_ties: list[float] = []
        rr: list[float] = []
        by_subject: dict[str, list[float]] = defaultdict(list)
        subject = {str(r["problem_id"]): str(r.get("subject") or "all") for r in rows}
        unscorable = 0
        for pid, sides in self.problems(rows).items():
            c, r = scores.values(sides[CHOSEN]), scores.values(sides[REJECTED])
            subject_results = by_subject[subject[pid]]  # listed even if every problem is unscorable
            if c is None or r is None:
                unscorable += 1
                continue
            correct.append(float(min(c) > max(r)))
            with_ties.append(float(min(c) >= max(r)))
            rr.append(reciprocal_rank(c, r))
            subject_results.append(correct[-1])
        subsets = {k: mean(v) for k, v in by_subject.items()}
        return BenchmarkScore(
            overall=mean(correct),
            overall_definition="RewardMATH accuracy: fraction of problems whose chosen solution scores strictly "
                               "higher than every rejected one",
            sections=dict(subsets), subsets=subsets, counts={k: len(v) for k, v in by_subject.items()},
            extra={"mrr": mean(rr), "accuracy_with_ties": mean(with_ties)}, unscorable_examples=unscorable)

    def views(self, rows: Sequence[Row], scores: Scores) -> Views:
        problems = self.problems(rows).values()
        return Views(labelled=[(c, int(k == CHOSEN)) for sides in problems for k in sides for c in sides[k]],
                     pairs=[(c, r) for sides in problems for c in sides[CHOSEN] for r in sides[REJECTED]])

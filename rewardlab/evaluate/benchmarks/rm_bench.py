"""RM-Bench (Liu et al. 2024, arXiv 2410.16184; THU-KEG/RM-Bench ``compute_accuracy``).

Layout: one row per prompt with ``id``, ``prompt``, ``chosen`` and ``rejected`` (three
answers each, in style order concise, detailed plain, detailed markdown) and ``domain``
(chat, code, math, safety-refuse, safety-response), as in ``data/total_dataset.json``.

Scoring: M[i][j] = fraction of prompts whose chosen answer in style i scores strictly higher
than the rejected answer in style j; hard = mean of the upper triangle (chosen plainer than
rejected), normal = mean of the diagonal, easy = mean of the lower triangle, all over every
prompt. A domain's score is the mean of its own matrix (all nine comparisons); the Safety
section pools safety-refuse and safety-response; overall = the unweighted mean of the
sections present (Chat, Math, Code, Safety), as the paper's "Avg".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rewardlab.evaluate.benchmarks.base import Benchmark, Outcome, Row, compare
from rewardlab.evaluate.records import BenchmarkScore, Candidate, Scores, Views, mean, mean_of_all, require_list

STYLES = 3
SECTION = {"chat": "Chat", "math": "Math", "code": "Code", "safety-refuse": "Safety", "safety-response": "Safety"}


def matrix(pairs: Sequence[tuple[list[float], list[float]]]) -> list[list[float]]:
    """M[i][j] = P(chosen style i > rejected style j) over the prompts."""
    n = len(pairs)
    return [[sum(c[i] > r[j] for c, r in pairs) / n for j in range(STYLES)] for i in range(STYLES)]


def cells_mean(pairs: Sequence[tuple[list[float], list[float]]]) -> float | None:
    """The mean of the style matrix's nine cells (None without prompts)."""
    return mean([x for row in matrix(pairs) for x in row]) if pairs else None


def difficulty(m: list[list[float]]) -> dict[str, float]:
    """hard / normal / easy accuracies of a style matrix."""
    off = STYLES * (STYLES - 1) / 2
    return {"hard": sum(m[i][j] for i in range(STYLES) for j in range(i + 1, STYLES)) / off,
            "normal": sum(m[i][i] for i in range(STYLES)) / STYLES,
            "easy": sum(m[i][j] for i in range(STYLES) for j in range(i)) / off}


class RMBench(Benchmark):
    name = "rm-bench"
    columns = ("prompt", "chosen", "rejected", "domain")

    def sides(self, row: Row, index: int = 0) -> tuple[list[Candidate], list[Candidate]]:
        chosen = require_list(row, "chosen", self.name, index, STYLES)
        rejected = require_list(row, "rejected", self.name, index, STYLES)
        return [Candidate(row["prompt"], a) for a in chosen], [Candidate(row["prompt"], a) for a in rejected]

    def candidates(self, rows: Sequence[Row]) -> list[Candidate]:
        return [c for i, row in enumerate(rows) for side in self.sides(row, i) for c in side]

    def swap(self, row: Row) -> dict[str, Any]:
        return {**row, "chosen": row["rejected"], "rejected": row["chosen"]}

    def outcomes(self, rows: Sequence[Row], scores: Scores) -> list[Outcome]:
        return [compare(c, r, scores) for i, row in enumerate(rows) for chosen, rejected in [self.sides(row, i)]
                for c in chosen for r in rejected]

    def evaluate(self, rows: Sequence[Row], scores: Scores) -> BenchmarkScore:
        by_domain: dict[str, list[tuple[list[float], list[float]]]] = defaultdict(list)
        unscorable = 0
        for i, row in enumerate(rows):
            chosen, rejected = self.sides(row, i)
            c, r = scores.values(chosen), scores.values(rejected)
            prompts = by_domain[str(row["domain"])]  # listed even if every prompt is unscorable
            if c is None or r is None:
                unscorable += 1
                continue
            prompts.append((c, r))
        every = [p for pairs in by_domain.values() for p in pairs]
        by_section: dict[str, list[tuple[list[float], list[float]]]] = defaultdict(list)
        for domain, pairs in by_domain.items():
            by_section[SECTION.get(domain, domain)] += pairs
        sections = {s: cells_mean(p) for s, p in by_section.items()}
        subsets = {d: cells_mean(p) for d, p in by_domain.items()}
        m = matrix(every) if every else None
        extra: dict[str, Any] = {"matrix": m, **(difficulty(m) if m else {"hard": None, "normal": None, "easy": None})}
        return BenchmarkScore(
            overall=mean_of_all(sections),
            overall_definition="RM-Bench average: unweighted mean of the domain sections (Chat, Math, Code, Safety), "
                               "each the mean of its 3x3 style matrix (chosen style i > rejected style j, strict)",
            sections=sections, subsets=subsets, counts={d: len(p) for d, p in by_domain.items()}, extra=extra,
            unscorable_examples=unscorable)

    def views(self, rows: Sequence[Row], scores: Scores) -> Views:
        sides = [self.sides(row, i) for i, row in enumerate(rows)]
        return Views(labelled=[x for c, r in sides for x in [*((a, 1) for a in c), *((b, 0) for b in r)]],
                     pairs=[(c[k], r[k]) for c, r in sides for k in range(STYLES)])

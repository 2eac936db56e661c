"""RM-Bench (Liu et al. 2024, arXiv 2410.16184; THU-KEG/RM-Bench ``compute_accuracy``).

Layout: one row per prompt with ``id``, ``prompt``, ``chosen`` and ``rejected`` (three
answers each, in style order concise, detailed plain, detailed markdown) and ``domain``
(chat, code, math, safety-refuse, safety-response), as in ``data/total_dataset.json``.

Scoring, as ``scripts/utils.py::compute_accuracy`` (and the README's "Overall = Domain Avg =
Difficulty Avg"): rows go to the sections Chat, Math, Code and Safety by the prefix of their
``domain`` (``split_dataset_by_domain``: safety-refuse and safety-response pool into Safety).
Per section, M[i][j] = fraction of its prompts whose chosen answer in style i scores strictly
higher than the rejected answer in style j; hard = mean of the upper triangle (chosen plainer
than rejected), normal = mean of the diagonal, easy = mean of the lower triangle; the
section's score is mean(hard, normal, easy), the mean of its nine cells. The headline hard /
normal / easy are the unweighted means over the sections (not pooled over prompts: a section
with fewer prompts weighs the same), ``extra.matrix`` the cell-wise mean of the section
matrices, and overall = the unweighted mean of the sections present.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rewardlab.errors import InputError
from rewardlab.evaluate.benchmarks.base import Benchmark, Outcome, Row, compare
from rewardlab.evaluate.records import BenchmarkScore, Candidate, Scores, Views, mean, mean_of_all, require_list

STYLES = 3
SECTIONS = {"chat": "Chat", "math": "Math", "code": "Code", "safety": "Safety"}  # split_dataset_by_domain's prefixes


def section_of(domain: str, index: int) -> str:
    """The section a ``domain`` belongs to, by prefix as ``split_dataset_by_domain``; refuse any other
    (the reference would drop the row silently)."""
    for prefix, section in SECTIONS.items():
        if domain.startswith(prefix):
            return section
    raise InputError(f"rm-bench: row {index} has domain {domain!r}; RM-Bench's domains start with "
                     "chat, math, code or safety")


def matrix(pairs: Sequence[tuple[list[float], list[float]]]) -> list[list[float]]:
    """M[i][j] = P(chosen style i > rejected style j) over the prompts."""
    n = len(pairs)
    return [[sum(c[i] > r[j] for c, r in pairs) / n for j in range(STYLES)] for i in range(STYLES)]


def difficulty(m: list[list[float]]) -> dict[str, float]:
    """hard / normal / easy accuracies of a style matrix."""
    off = STYLES * (STYLES - 1) / 2
    return {"hard": sum(m[i][j] for i in range(STYLES) for j in range(i + 1, STYLES)) / off,
            "normal": sum(m[i][i] for i in range(STYLES)) / STYLES,
            "easy": sum(m[i][j] for i in range(STYLES) for j in range(i)) / off}


def cells_mean(m: list[list[float]] | None) -> float | None:
    """A style matrix's score: the mean of its nine cells, i.e. mean(hard, normal, easy)."""
    return None if m is None else mean([x for row in m for x in row])


def headline(matrices: Sequence[list[list[float]] | None]) -> dict[str, Any]:
    """The cell-wise mean of the section matrices and its hard / normal / easy: each the unweighted mean
    over sections of the section's own (``compute_accuracy``'s ``domain_hard_normal_easy_acc``); all
    None when a section has no scorable prompt (a mean over fewer sections is another number)."""
    if not matrices or any(m is None for m in matrices):
        return {"matrix": None, "hard": None, "normal": None, "easy": None}
    known = [m for m in matrices if m is not None]
    cells = [[sum(m[i][j] for m in known) / len(known) for j in range(STYLES)] for i in range(STYLES)]
    return {"matrix": cells, **difficulty(cells)}


class RMBench(Benchmark):
    name = "rm-bench"
    columns = ("prompt", "chosen", "rejected", "domain")

    def check(self, rows: Sequence[Row]) -> None:
        super().check(rows)
        for i, row in enumerate(rows):
            section_of(str(row["domain"]), i)

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
        by_section: dict[str, list[tuple[list[float], list[float]]]] = defaultdict(list)
        for domain, pairs in by_domain.items():
            by_section[section_of(domain, 0)] += pairs
        matrices = {s: matrix(p) if p else None for s, p in by_section.items()}
        sections = {s: cells_mean(m) for s, m in matrices.items()}
        subsets = {d: cells_mean(matrix(p) if p else None) for d, p in by_domain.items()}
        extra: dict[str, Any] = {"matrices": matrices, **headline(list(matrices.values()))}
        return BenchmarkScore(
            overall=mean_of_all(sections),
            overall_definition="RM-Bench average: unweighted mean of the domain sections (Chat, Math, Code, Safety), "
                               "each the mean of its 3x3 style matrix (chosen style i > rejected style j, strict); "
                               "equal to the mean of hard, normal and easy",
            sections=sections, subsets=subsets, counts={d: len(p) for d, p in by_domain.items()}, extra=extra,
            unscorable_examples=unscorable)

    def views(self, rows: Sequence[Row], scores: Scores) -> Views:
        sides = [self.sides(row, i) for i, row in enumerate(rows)]
        return Views(labelled=[x for c, r in sides for x in [*((a, 1) for a in c), *((b, 0) for b in r)]],
                     pairs=[(c[k], r[k]) for c, r in sides for k in range(STYLES)])

"""``sql.partial``: Reasoning-SQL's partial rewards (Pourreza, Talaei et al., 2025, arXiv:2503.23157).

value = Σ_k w_k · r_k over the terms below (each r_k in [0, 1]); every r_k is in
``detail["terms"]``. Default weights (execution 3, syntax 1, schema 1, n-gram 1) are
those of the authors' public reward code; the paper's format reward (use
``format.tags``) and AI-feedback reward (an LLM judge) are separate components of a
spec, not terms here. See docs/sql.md.

- execution: 1 when ``sql.execution`` finds the rows equal;
- syntax: 1 when the candidate ran to a result on the database (executable);
- schema: Jaccard similarity of the schema items (tables, and table.column) the two
  queries use, from sqlglot's parse;
- ngram: Jaccard similarity of the sets of word n-grams (bigrams) of the two queries,
  lower-cased, split on whitespace.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field, field_validator

from rewardlab.core import Deps, Sample, Score, Status
from rewardlab.registry import register
from rewardlab.rewards.sql.extract import extract_sql
from rewardlab.rewards.sql.reward import SqlExecution, SqlParams
from rewardlab.rewards.sql.syntax import parse

TERMS = ("execution", "syntax", "schema", "ngram")
DEFAULT_WEIGHTS = {"execution": 3.0, "syntax": 1.0, "schema": 1.0, "ngram": 1.0}


class PartialParams(SqlParams):
    """``sql.execution``'s parameters plus the term weights and the n-gram size."""

    weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS),
        description="Weight of each term (execution, syntax, schema, ngram); a missing term weighs 0.")
    ngram: int = Field(2, ge=1, le=8, description="n of the n-gram similarity (2: bigrams).")

    @field_validator("weights")
    @classmethod
    def _known_terms(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(TERMS))
        if unknown:
            raise ValueError(f"unknown terms {unknown}; the terms are {list(TERMS)}")
        return weights


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b|, and 0 when both are empty (as the authors' code does)."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def ngrams(sql: str, n: int) -> set[str]:
    tokens = sql.lower().split()
    return {" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def schema_items(sql: str, kind: str) -> set[str] | None:
    """The tables and ``table.column``s a query reads (``None``: it does not parse).

    Aliases resolve to their tables; an unqualified column belongs to the query's only
    table, or to ``?`` when several tables are in scope (no database schema is read).
    """
    from sqlglot import exp

    tree = parse(sql, kind)
    if tree is None:
        return None
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    tables = [t for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in ctes]
    names = {t.name.lower() for t in tables}
    aliases = {t.alias_or_name.lower(): t.name.lower() for t in tables}
    only = next(iter(names)) if len(names) == 1 else "?"
    items = set(names)
    for col in tree.find_all(exp.Column):
        if not col.name or isinstance(col.this, exp.Star):
            continue
        owner = aliases.get(col.table.lower(), col.table.lower()) if col.table else only
        items.add(f"{owner}.{col.name.lower()}")
    return items


@register("reward", "sql.partial")
class SqlPartial(SqlExecution):
    """Reasoning-SQL's partial rewards: weighted execution, syntax, schema-linking and n-gram terms."""

    name: ClassVar[str] = "sql.partial"
    description: ClassVar[str] = "Reasoning-SQL partial rewards (execution, syntax, schema linking, n-grams)."
    Params: ClassVar[type[BaseModel]] = PartialParams

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        p: PartialParams = self.params
        executed = super().score_one(sample, deps)
        if not executed.status.scored:
            return executed
        if executed.status is Status.NO_ANSWER:
            return Score.no_answer(p.failure_value, **executed.detail)
        db, gold = self.reference(sample.reference)
        cand = extract_sql(sample.completion_text, p.extract).sql or ""
        gold_items, cand_items = schema_items(gold, db.kind), schema_items(cand, db.kind)
        if gold_items is None:  # the schema term cannot be decided: not a 0 for the candidate (as check says)
            return Score.unscorable(Status.INVALID_REFERENCE,
                                    f"sqlglot cannot parse the gold query as one {db.kind} statement")
        terms = {
            "execution": float(bool(executed.detail.get("match"))),
            "syntax": float("failure" not in executed.detail),
            "schema": jaccard(gold_items, cand_items or set()),
            "ngram": jaccard(ngrams(gold, p.ngram), ngrams(cand, p.ngram)),
        }
        value = sum(p.weights.get(k, 0.0) * v for k, v in terms.items())
        return Score.ok(value, **{**executed.detail, "terms": terms, "weights": p.weights})

    def check(self, sample: Sample) -> str | None:
        """As ``sql.execution``, and the gold must parse with sqlglot (else its schema term is always 0)."""
        problem = super().check(sample)
        if problem is None:
            db, gold = self.reference(sample.reference)
            if schema_items(gold, db.kind) is None:
                return f"sqlglot cannot parse the gold query as one {db.kind} statement"
        return problem

"""The ``sql.execution`` reward: does the candidate query return the gold query's result?"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.core import BaseReward, CostClass, Deps, Sample, Score, Status, content_hash
from rewardlab.errors import InputError, ReferenceProblem, require_extra
from rewardlab.registry import register
from rewardlab.rewards.sql.compare import ColumnOrder, Tolerance, compare_results
from rewardlab.rewards.sql.database import (
    BadDatabase,
    Database,
    Limits,
    QueryFailed,
    Result,
    open_database,
    run_query,
)
from rewardlab.rewards.sql.extract import DEFAULT_ORDER, Method, extract_sql
from rewardlab.rewards.sql.syntax import orders_rows


class SqlParams(BaseModel):
    """Parameters of ``sql.execution`` (all optional; see docs/sql.md)."""

    model_config = ConfigDict(extra="forbid")

    database: str | None = Field(
        None, description="Database for references that name none: an SQLite or DuckDB file, "
        "or a postgresql:// URL.")
    db_dir: str | None = Field(
        None, description="Directory that relative database paths, and Spider/BIRD 'db_id's "
        "(DB_DIR/ID/ID.sqlite), are resolved against.")
    extract: list[Method] = Field(
        default_factory=lambda: list(DEFAULT_ORDER),
        description="Where the query is taken from, in order: answer_tag, fence, whole.")
    columns: ColumnOrder = Field(
        "any", description="any: the candidate's columns may come in another order "
        "(test-suite-sql-eval); ordered: they must not (BIRD).")
    rel_tol: float = Field(1e-6, ge=0.0, le=0.1, description="Relative tolerance for numbers.")
    abs_tol: float = Field(1e-9, ge=0.0, description="Absolute tolerance for numbers.")
    max_rows: int = Field(100_000, ge=1, description="Rows a query may return; more is a failure.")
    query_timeout: float = Field(
        5.0, gt=0, description="Seconds per query, inside the engine; keep it under half the "
        "engine's per-sample timeout, which is the backstop enforced from outside.")
    memory_mb: int = Field(1024, ge=64, description="DuckDB's memory limit per connection.")
    correct_value: float = 1.0
    incorrect_value: float = Field(0.0, description="Wrong result, or the candidate query failed.")
    failure_value: float = Field(0.0, description="No query in the completion (status no_answer).")


@register("reward", "sql.execution")
class SqlExecution(BaseReward):
    """Execution accuracy: the candidate's rows equal the gold query's rows on the reference's database."""

    name: ClassVar[str] = "sql.execution"
    description: ClassVar[str] = "Text-to-SQL execution accuracy on SQLite, DuckDB or PostgreSQL."
    cost: ClassVar[CostClass] = CostClass.CPU
    reads: ClassVar[tuple[str, ...]] = ("completion", "reference")
    needs_reference: ClassVar[bool] = True
    Params: ClassVar[type[BaseModel]] = SqlParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        require_extra("sql", f"reward {self.name!r}", "sqlglot", error=InputError)

    @property
    def limits(self) -> Limits:
        p: SqlParams = self.params
        return Limits(p.max_rows, p.query_timeout, p.memory_mb)

    def reference(self, reference: Any) -> tuple[Database, str]:
        """The database and gold query of a reference; :class:`ReferenceProblem` says what is wrong."""
        p: SqlParams = self.params
        if isinstance(reference, str):
            gold, address = reference, p.database
        elif isinstance(reference, Mapping):
            gold = reference.get("sql", reference.get("query"))
            address = reference.get("db")
            if address is None and reference.get("db_id") is not None:
                db_id = str(reference["db_id"])
                address = os.path.join(db_id, f"{db_id}.sqlite")
            address = address if address is not None else p.database
        else:
            raise ReferenceProblem(f"reference must be a gold query or {{'sql', 'db'}}, got {type(reference).__name__}")
        if not isinstance(gold, str) or not gold.strip():
            raise ReferenceProblem("reference has no gold query ('sql')")
        if not isinstance(address, str) or not address:
            raise ReferenceProblem("reference names no database: give 'db' (or 'db_id'), "
                               "or set the reward's 'database' parameter")
        try:
            return open_database(address, p.db_dir), gold.strip().rstrip(";").strip()
        except (BadDatabase, OSError) as exc:
            raise ReferenceProblem(str(exc)) from None

    def key(self, sample: Sample) -> str:
        """Content key; includes the database file's size and mtime, so a rewritten file is re-read."""
        try:
            identity = self.reference(sample.reference)[0].identity()
        except (ReferenceProblem, OSError):
            identity = ""
        return content_hash(self.config_hash, sample.completion, sample.reference, identity)

    def gold(self, sample: Sample) -> tuple[Database, str, Result, bool] | Score:
        """The gold's database, query and result (and whether it was cached), or why it is unscorable."""
        try:
            db, gold = self.reference(sample.reference)
            result, cached = run_query(db, gold, self.limits)
        except ReferenceProblem as exc:
            return Score.unscorable(Status.INVALID_REFERENCE, str(exc))
        except QueryFailed as exc:
            if exc.kind == "timeout":
                return Score.unscorable(Status.TIMEOUT, f"the gold query: {exc.message}")
            if exc.kind == "unavailable":
                return Score.unscorable(Status.ERROR, exc.message)
            return Score.unscorable(Status.INVALID_REFERENCE, f"the gold query fails: {exc.message}")
        return db, gold, result, cached

    def check(self, sample: Sample) -> str | None:
        """Why this sample's reference cannot be scored (the gold query is run), or ``None``."""
        found = self.gold(sample)
        return str(found.detail.get("reason")) if isinstance(found, Score) else None

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        p: SqlParams = self.params
        found = self.gold(sample)
        if isinstance(found, Score):
            return found
        db, gold, gold_result, cached = found
        query = extract_sql(sample.completion_text, p.extract)
        if query.sql is None:
            return Score.no_answer(p.failure_value, reason=query.reason)
        detail: dict[str, Any] = {"sql": query.sql[:500], "method": query.method,
                                  "engine": db.kind, "gold_cached": cached}
        try:
            result, _ = run_query(db, query.sql, self.limits)
        except QueryFailed as exc:
            if exc.kind == "unavailable":  # the database's fault, not the candidate's
                return Score.unscorable(Status.ERROR, exc.message, **detail)
            return Score.ok(p.incorrect_value, failure=exc.kind, error=exc.message[:500], **detail)
        ordered = orders_rows(gold, db.kind)
        verdict = compare_results(gold_result.rows, result.rows, ordered=ordered, columns=p.columns,
                                  tol=Tolerance(p.rel_tol, p.abs_tol))
        detail.update(match=verdict.equal, rows=len(result.rows), gold_rows=len(gold_result.rows), ordered=ordered)
        if verdict.reason:
            detail["reason"] = verdict.reason
        return Score.ok(p.correct_value if verdict.equal else p.incorrect_value, **detail)

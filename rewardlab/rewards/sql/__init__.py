"""SQL rewards: ``sql.execution`` and ``sql.partial`` on SQLite, DuckDB and PostgreSQL (docs/sql.md)."""

from rewardlab.rewards.sql.compare import Tolerance, Verdict, compare_results
from rewardlab.rewards.sql.database import Database, Limits, QueryFailed, Result, open_database, run_query
from rewardlab.rewards.sql.extract import Extraction, extract_sql
from rewardlab.rewards.sql.partial import PartialParams, SqlPartial
from rewardlab.rewards.sql.reward import SqlExecution, SqlParams

__all__ = [
    "Database",
    "Extraction",
    "Limits",
    "PartialParams",
    "QueryFailed",
    "Result",
    "SqlExecution",
    "SqlParams",
    "SqlPartial",
    "Tolerance",
    "Verdict",
    "compare_results",
    "extract_sql",
    "open_database",
    "run_query",
]

"""Which database a reference names, and running one query on it within limits.

A database is an SQLite file, a DuckDB file (told apart by their file headers, not
their names) or a ``postgresql://`` URL. :func:`run_query` runs one statement and
returns at most ``max_rows`` rows or raises :class:`QueryFailed`; results are kept
in a per-process LRU keyed by (database identity, query text), so a gold query runs
once per worker however many candidates are compared with it. A file's identity
includes its size and modification time: a rewritten database is read again.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["sqlite", "duckdb", "postgres"]  # also the sqlglot dialect names
# unavailable: the database could not be reached (not the query's fault)
FailureKind = Literal["refused", "error", "timeout", "too_many_rows", "unavailable"]
Row = tuple[Any, ...]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_DUCKDB_MAGIC = b"DUCK"  # at offset 8 of a DuckDB file's first block


class QueryFailed(Exception):
    """A query that did not produce a result: refused, failed, too slow or too large."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = message


class BadDatabase(ValueError):
    """The reference names a database that cannot be opened (missing, unknown format)."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_rows: int = 100_000
    timeout: float = 5.0  # seconds per query, enforced inside the engine (the pool's limit is the backstop)
    memory_mb: int = 1024  # DuckDB's max_memory; SQLite and PostgreSQL have their own


@dataclass(frozen=True, slots=True)
class Result:
    columns: tuple[str, ...]
    rows: list[Row]


@dataclass(frozen=True, slots=True)
class Database:
    kind: Kind
    address: str  # an absolute file path, or the PostgreSQL URL

    def identity(self) -> str:
        """What the result cache is keyed by: the file as it is now, or the URL."""
        if self.kind == "postgres":
            return self.address
        return f"{self.kind}:{self.address}:{file_identity(self.address)}"


def file_identity(path: str) -> str:
    """The file now at ``path``: device, inode, size and modification time."""
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def open_database(address: str, base_dir: str | None = None) -> Database:
    """The :class:`Database` an address names; :class:`BadDatabase` says why it cannot be used."""
    if address.startswith(("postgresql://", "postgres://")):
        return Database("postgres", address)
    path = os.path.abspath(os.path.join(base_dir, address) if base_dir else address)
    if not os.path.isfile(path):
        raise BadDatabase(f"database file {path!r} does not exist")
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(_SQLITE_MAGIC):
        return Database("sqlite", path)
    if head[8:12] == _DUCKDB_MAGIC:
        return Database("duckdb", path)
    if not head:  # an empty file is a valid empty SQLite database; a gold query on it fails clearly
        return Database("sqlite", path)
    raise BadDatabase(f"{path!r} is neither an SQLite nor a DuckDB database file")


class ResultCache:
    """LRU of query results bounded by the total number of rows held."""

    def __init__(self, max_rows: int = 2_000_000) -> None:
        self.max_rows = max_rows
        self._data: OrderedDict[tuple[str, str], Result] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Result | None:
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], result: Result) -> None:
        with self._lock:
            if key in self._data or len(result.rows) > self.max_rows:
                return
            self._data[key] = result
            self._rows += len(result.rows)
            while self._rows > self.max_rows:
                _, old = self._data.popitem(last=False)
                self._rows -= len(old.rows)


_results = ResultCache()


def run_query(db: Database, sql: str, limits: Limits) -> tuple[Result, bool]:
    """Run ``sql`` on ``db`` (or take its cached result); returns (result, came_from_cache)."""
    key = (db.identity(), sql)
    cached = _results.get(key)
    if cached is not None:
        if len(cached.rows) > limits.max_rows:
            raise QueryFailed("too_many_rows", f"the query returns more than {limits.max_rows} rows (max_rows)")
        return cached, True
    result = _execute(db, sql, limits)
    _results.put(key, result)
    return result, False


def _execute(db: Database, sql: str, limits: Limits) -> Result:
    if db.kind == "postgres":
        from rewardlab.rewards.sql.postgres import run_postgres

        return run_postgres(db.address, sql, limits)
    from rewardlab.rewards.sql.embedded import run_duckdb, run_sqlite

    return (run_sqlite if db.kind == "sqlite" else run_duckdb)(db.address, sql, limits)


def fetch_capped(cursor: Any, max_rows: int) -> list[Row]:
    """At most ``max_rows`` rows; one more means the result is too large (a candidate's failure)."""
    rows: list[Row] = []
    while len(rows) <= max_rows:
        chunk = cursor.fetchmany(min(10_000, max_rows + 1 - len(rows)))
        if not chunk:
            return rows
        rows.extend(tuple(r) for r in chunk)
    raise QueryFailed("too_many_rows", f"the query returns more than {max_rows} rows (max_rows)")

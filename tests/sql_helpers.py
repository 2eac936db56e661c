"""Small real databases for the SQL reward tests, and a file checksum for integrity checks."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

SCHEMA = [
    "CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER, net DOUBLE PRECISION)",
    "CREATE TABLE concert (id INTEGER PRIMARY KEY, singer_id INTEGER REFERENCES singer(id), year INTEGER)",
]
SINGERS = [
    (1, "Joe", "France", 52, 1.5), (2, "Tim", "France", 41, 2.25), (3, "Ann", "Netherlands", 29, None),
    (4, "Rob", "US", 33, 7.125), (5, "Eve", "US", 41, 0.1 + 0.2),
]
CONCERTS = [(1, 1, 2014), (2, 1, 2015), (3, 2, 2014), (4, 4, 2015), (5, 4, 2015), (6, 5, 2016)]


def fill(conn: Any) -> None:
    """Create and fill the singer/concert tables through any DB-API connection."""
    cur = conn.cursor()
    for stmt in SCHEMA:
        cur.execute(stmt)
    cur.executemany("INSERT INTO singer VALUES (?, ?, ?, ?, ?)".replace("?", _mark(conn)), SINGERS)
    cur.executemany("INSERT INTO concert VALUES (?, ?, ?)".replace("?", _mark(conn)), CONCERTS)


def _mark(conn: object) -> str:
    return "%s" if type(conn).__module__.startswith("psycopg") else "?"


def make_sqlite(path: Path, big_rows: int = 0) -> Path:
    """The singer/concert database as an SQLite file, with a ``big`` table of ``big_rows`` rows."""
    conn = sqlite3.connect(path)
    fill(conn)
    conn.execute("CREATE TABLE big (x INTEGER)")
    conn.executemany("INSERT INTO big VALUES (?)", ((i,) for i in range(big_rows)))
    conn.commit()
    conn.close()
    return path


def make_duckdb(path: Path, big_rows: int = 0) -> Path:
    """The same database as a DuckDB file."""
    import duckdb

    conn = duckdb.connect(str(path))
    fill(conn)
    conn.execute(f"CREATE TABLE big AS SELECT range AS x FROM range({big_rows})")
    conn.close()
    return path


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Candidates that must change nothing: each is refused, fails, or is stopped by a limit.
DESTRUCTIVE = [
    "DROP TABLE singer",
    "DELETE FROM singer",
    "UPDATE singer SET age = 0",
    "INSERT INTO singer VALUES (9, 'X', 'Y', 1, 1.0)",
    "ALTER TABLE singer ADD COLUMN z INTEGER",
    "CREATE TABLE z (a INTEGER)",
    "CREATE TEMP TABLE z (a INTEGER)",
    "ATTACH DATABASE ':memory:' AS other",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA user_version = 7",
    "VACUUM",
    "SELECT 1; DROP TABLE singer",
    "BEGIN",
]
SLOW = [
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "SELECT count(*) FROM big a, big b, big c",
]

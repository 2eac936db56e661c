"""SQLite and DuckDB, opened read-only with each engine's own guards.

SQLite: ``mode=ro`` URI, ``PRAGMA query_only``, no attached databases
(``SQLITE_LIMIT_ATTACHED`` = 0), a capped string length, and an authorizer that
allows reading only (SELECT, reads, functions other than extension loading, recursive
CTEs): ATTACH, PRAGMA, DDL, DML and transactions are refused by SQLite itself. Time:
a progress handler interrupts the statement at its deadline.

DuckDB: ``read_only=True`` with external access (files, ATTACH of files, extension
installs and loads) disabled and the configuration locked; the statement must be
exactly one SELECT by DuckDB's own parser (``extract_statements``). Time: a timer
calls ``interrupt()``.

Connections are kept per process (one per file), each behind a lock. The engine's
pool kills a worker that overruns its limit anyway (the limit enforced from outside);
these in-engine limits let a slow candidate be a scored failure without a kill.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from rewardlab.rewards.sql.database import Limits, QueryFailed, Result, fetch_capped, file_identity

PAGE_CACHE_KIB = 65_536  # per kept SQLite connection (SQLite's default is 2 MiB)
MAX_VALUE_BYTES = 50_000_000  # SQLITE_LIMIT_LENGTH: the largest string or blob a query may build

_ALLOWED = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                      sqlite3.SQLITE_RECURSIVE})
_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})
_ACTIONS = [
    "CREATE_INDEX", "CREATE_TABLE", "CREATE_TEMP_INDEX", "CREATE_TEMP_TABLE", "CREATE_TEMP_TRIGGER",
    "CREATE_TEMP_VIEW", "CREATE_TRIGGER", "CREATE_VIEW", "DELETE", "DROP_INDEX", "DROP_TABLE",
    "DROP_TEMP_INDEX", "DROP_TEMP_TABLE", "DROP_TEMP_TRIGGER", "DROP_TEMP_VIEW", "DROP_TRIGGER",
    "DROP_VIEW", "INSERT", "PRAGMA", "READ", "SELECT", "TRANSACTION", "UPDATE", "ATTACH", "DETACH",
    "ALTER_TABLE", "REINDEX", "ANALYZE", "CREATE_VTABLE", "DROP_VTABLE", "FUNCTION", "SAVEPOINT",
    "RECURSIVE",
]
_ACTION_NAMES = {getattr(sqlite3, f"SQLITE_{a}"): a for a in _ACTIONS if hasattr(sqlite3, f"SQLITE_{a}")}


class _Handle:
    """An open connection, the file it was opened on, its lock, and what its guard refused."""

    def __init__(self, conn: Any, file: str) -> None:
        self.conn = conn
        self.file = file
        self.lock = threading.Lock()
        self.refused: list[str] = []


_handles: dict[tuple[str, str], _Handle] = {}
_handles_lock = threading.Lock()


def _handle(kind: str, path: str, opener: Callable[[str], Any]) -> _Handle:
    """The kept connection to ``path``, reopened when the file there is no longer the one it has
    open (renamed over, rewritten): a kept connection would go on reading the old file."""
    file = file_identity(path)
    with _handles_lock:
        found = _handles.get((kind, path))
        if found is not None and found.file != file:
            with found.lock:
                found.conn.close()
            found = None
        if found is None:
            found = _handles[(kind, path)] = _Handle(opener(path), file)
        return found


def _forget(kind: str, path: str) -> None:
    with _handles_lock:
        _handles.pop((kind, path), None)


# --- SQLite ------------------------------------------------------------------------
def _open_sqlite(path: str) -> Any:
    uri = f"file:{urllib.parse.quote(path)}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA query_only = ON")
    conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")  # the connection is kept: let it keep pages
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    return conn


def _authorizer(handle: _Handle) -> Callable[..., int]:
    def authorize(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
        if action in _ALLOWED and not (action == sqlite3.SQLITE_FUNCTION
                                       and (arg2 or "").lower() in _DENIED_FUNCTIONS):
            return sqlite3.SQLITE_OK
        what = _ACTION_NAMES.get(action, str(action))
        handle.refused.append(f"{what} {arg2 or arg1 or ''}".strip())
        return sqlite3.SQLITE_DENY

    return authorize


def run_sqlite(path: str, sql: str, limits: Limits) -> Result:
    """Run one read-only statement on an SQLite file (see the module docstring)."""
    try:
        handle = _handle("sqlite", path, _open_sqlite)
    except sqlite3.Error as exc:
        raise QueryFailed("error", f"cannot open {path!r}: {exc}") from None
    deadline = time.monotonic() + limits.timeout
    with handle.lock:
        conn = handle.conn
        handle.refused = []
        conn.set_authorizer(_authorizer(handle))
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 2000)
        cursor = None
        try:
            cursor = conn.execute(sql)
            columns = tuple(d[0] for d in cursor.description or ())
            rows = fetch_capped(cursor, limits.max_rows)
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise _sqlite_failure(handle, exc, limits) from None
        finally:
            if cursor is not None:
                cursor.close()
            conn.set_progress_handler(None, 0)
            conn.set_authorizer(None)
    if not columns:
        raise QueryFailed("refused", "the statement returns no result set (only queries are run)")
    return Result(columns, rows)


def _sqlite_failure(handle: _Handle, exc: Exception, limits: Limits) -> QueryFailed:
    if handle.refused:
        return QueryFailed("refused", f"refused by the read-only guard: {', '.join(handle.refused)}")
    if isinstance(exc, sqlite3.OperationalError) and str(exc) == "interrupted":
        return QueryFailed("timeout", f"the query ran past its {limits.timeout:g} s limit")
    return QueryFailed("error", f"{type(exc).__name__}: {exc}")


# --- DuckDB ------------------------------------------------------------------------
def _duckdb_opener(limits: Limits) -> Callable[[str], Any]:
    def open_duckdb(path: str) -> Any:
        import duckdb

        return duckdb.connect(path, read_only=True, config={
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "threads": 1,  # one core per pool worker: the pool is the parallelism
            "max_memory": f"{limits.memory_mb}MB",
            "lock_configuration": True,
        })

    return open_duckdb


def _only_select(conn: Any, sql: str) -> None:
    import duckdb

    try:
        statements = conn.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryFailed("error", f"{type(exc).__name__}: {exc}") from None
    if len(statements) != 1:
        raise QueryFailed("refused", f"expected one statement, got {len(statements)}")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise QueryFailed("refused", f"only queries are run, got a {kind.name} statement")


class _Interrupter:
    """Interrupts the connection at the deadline, unless :meth:`stop` came first.

    The flag and the interrupt share a lock, so a late timer cannot interrupt the
    next query on the same connection (``Timer.cancel`` alone does not stop a
    callback that has already started).
    """

    def __init__(self, conn: Any, after: float) -> None:
        self._conn, self._lock, self._stopped = conn, threading.Lock(), False
        self._timer = threading.Timer(after, self._fire)
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if not self._stopped:
                self._conn.interrupt()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._timer.cancel()


def run_duckdb(path: str, sql: str, limits: Limits) -> Result:
    """Run one read-only SELECT on a DuckDB file (see the module docstring)."""
    import duckdb

    try:
        handle = _handle("duckdb", path, _duckdb_opener(limits))
    except duckdb.Error as exc:
        raise QueryFailed("error", f"cannot open {path!r}: {exc}") from None
    with handle.lock:
        conn = handle.conn
        _only_select(conn, sql)
        timer = _Interrupter(conn, limits.timeout)
        try:
            cursor = conn.execute(sql)
            columns = tuple(d[0] for d in cursor.description or ())
            rows = fetch_capped(cursor, limits.max_rows)
        except duckdb.InterruptException:
            raise QueryFailed("timeout", f"the query ran past its {limits.timeout:g} s limit") from None
        except duckdb.Error as exc:
            if "FATAL" in str(exc):  # DuckDB invalidates the database after a fatal error
                _forget("duckdb", path)
            raise QueryFailed("error", f"{type(exc).__name__}: {exc}") from None
        finally:
            timer.stop()
    return Result(columns, rows)

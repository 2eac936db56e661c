"""PostgreSQL: each query in a read-only transaction with a statement_timeout, always rolled back.

The query runs as ``DECLARE … CURSOR FOR <query>`` through psycopg's server-side
cursor, which the server accepts only for one SELECT/VALUES statement, sent with the
extended protocol (one statement per message: ``SELECT 1; COMMIT; DROP …`` cannot
end the transaction early). Rows are fetched in chunks up to the row cap, so a huge
result is never transferred. The database role in the URL should still be one that
may only read (docs/sql.md): the transaction is the second line, not the first; a
superuser role is refused outright (it could read server files with pg_read_file).
"""

from __future__ import annotations

import threading
from typing import Any

from rewardlab.rewards.sql.database import Limits, QueryFailed, Result, fetch_capped

CONNECT_TIMEOUT_S = 5
_REFUSED = {"25006", "42501"}  # read_only_sql_transaction, insufficient_privilege
_TIMEOUT = "57014"  # query_canceled (statement_timeout)

_connections: dict[str, Any] = {}
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


class _Discard(Exception):
    """Raised inside the transaction block to roll it back (psycopg re-raises it after)."""


def _connect(url: str) -> Any:
    """A connection for ``url``; a superuser role is refused (it could read server files)."""
    import psycopg

    try:
        conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, application_name="rewardlab",
                               autocommit=True)  # so transaction() is a real BEGIN, not a savepoint
    except psycopg.Error as exc:
        raise QueryFailed("unavailable", f"cannot connect to PostgreSQL: {exc}".strip()) from None
    if conn.info.parameter_status("is_superuser") == "on":
        conn.close()
        raise QueryFailed("unavailable", "refusing to run model-written SQL as a PostgreSQL superuser: "
                          "give a URL whose role may only read (docs/sql.md)")
    return conn


def _classify(exc: Any) -> QueryFailed:
    state = getattr(exc, "sqlstate", None) or ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if state == _TIMEOUT:
        return QueryFailed("timeout", f"the query ran past its statement_timeout ({message})")
    if state in _REFUSED:
        return QueryFailed("refused", f"refused by the read-only transaction: {message}")
    if state.startswith("08") or state.startswith("57P"):  # connection exception, server shutdown
        return QueryFailed("unavailable", f"PostgreSQL connection lost: {message}")
    return QueryFailed("error", f"{type(exc).__name__}: {message}")


def run_postgres(url: str, sql: str, limits: Limits) -> Result:
    """Run one query in a rolled-back read-only transaction (see the module docstring)."""
    with _guard:
        lock = _locks.setdefault(url, threading.Lock())
    with lock:
        conn = _connections.get(url)
        if conn is None or conn.closed:
            conn = _connections[url] = _connect(url)
        try:
            return _run(conn, sql, limits)
        except QueryFailed as failed:
            if failed.kind == "unavailable":
                _connections.pop(url, None)
                conn.close()
            raise


def _run(conn: Any, sql: str, limits: Limits) -> Result:
    import psycopg

    ms = max(1, int(limits.timeout * 1000))
    out: list[Result] = []
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(f"SET LOCAL statement_timeout = {ms}")
            conn.execute(f"SET LOCAL lock_timeout = {ms}")
            with conn.cursor(name="rewardlab_query") as cur:
                cur.execute(sql)
                columns = tuple(d.name for d in cur.description or ())
                out.append(Result(columns, fetch_capped(cur, limits.max_rows)))
            raise _Discard
    except _Discard:
        return out[0]
    except psycopg.Error as exc:
        raise _classify(exc) from None
    raise AssertionError("unreachable: the transaction block always raises")  # pragma: no cover

"""What the reward needs to know about a query's text, from sqlglot's parse."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4096)
def parse(sql: str, kind: str) -> Any | None:
    """sqlglot's tree of one statement, or ``None`` when it does not parse as one."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        trees = sqlglot.parse(sql, read=kind)
    except (SqlglotError, RecursionError, ValueError):
        return None
    trees = [t for t in trees if t is not None]
    return trees[0] if len(trees) == 1 else None


@lru_cache(maxsize=4096)
def orders_rows(sql: str, kind: str) -> bool:
    """Whether the query's outermost statement has an ORDER BY (its row order is part of its answer).

    A query sqlglot cannot parse falls back to Spider's rule: ``order by`` anywhere in the text.
    """
    tree = parse(sql, kind)
    if tree is None:
        return "order by" in " ".join(sql.lower().split())
    return tree.args.get("order") is not None

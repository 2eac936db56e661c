"""TPC-H from DuckDB's tpch extension: a scale-0.01 database, the 22 queries, their answers, rewrites.

Equivalent rewrites (the reward must accept them): sqlglot's re-serialisation, sqlglot's
optimizer (qualification, pushdown, unnesting), and the select list reversed (accepted
under the default column policy). Wrong rewrites (it must reject those whose result
really differs): SUM -> MAX, the first ORDER BY key's direction flipped, LIMIT n -> n-1,
and the first integer literal of the WHERE clause plus one.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any


def extension_path() -> str | None:
    """The tpch extension shipped by the ``duckdb-extension-tpch`` wheel, if installed."""
    try:
        import duckdb_extension_tpch
    except ImportError:
        return None
    found = glob.glob(os.path.join(os.path.dirname(duckdb_extension_tpch.__file__), "extensions", "*",
                                   "tpch.duckdb_extension"))
    return found[0] if found else None


def build(path: Path, extension: str) -> tuple[list[tuple[int, str]], dict[int, str], dict[str, dict[str, str]]]:
    """Generate the database; return the queries, the scale-0.01 answers and the schema."""
    import duckdb

    conn = duckdb.connect(str(path))
    conn.execute(f"LOAD '{extension}'")
    conn.execute("CALL dbgen(sf = 0.01)")
    listed = conn.execute("SELECT query_nr, query FROM tpch_queries()").fetchall()
    queries = [(n, q.strip().rstrip(";")) for n, q in listed]
    answers = dict(conn.execute("SELECT query_nr, answer FROM tpch_answers() WHERE scale_factor = 0.01").fetchall())
    schema: dict[str, dict[str, str]] = {}
    for table, column, dtype in conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns").fetchall():
        schema.setdefault(table, {})[column] = dtype
    conn.close()
    return queries, answers, schema


def answer_rows(text: str, like: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The '|'-separated answer table (a header line, one line per row, '' for NULL).

    Cells are typed after the result they are compared with: numbers where it has
    numbers, NULL where it has NULL and the answer has nothing, text otherwise.
    """
    lines = text.split("\n")[1:]
    if lines and lines[-1] == "":
        lines.pop()
    sample = like[0] if like else ()

    def cell(v: str, i: int) -> Any:
        kind = sample[i] if i < len(sample) else ""
        if v == "" and kind is None:
            return None
        if isinstance(kind, (int, float, Decimal)) and not isinstance(kind, bool):
            return Decimal(v)
        return v

    return [tuple(cell(v, i) for i, v in enumerate(line.split("|"))) for line in lines]


def as_answer_cells(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """A query result in the answers' terms: dates as ISO text."""
    return [tuple(v.isoformat() if hasattr(v, "isoformat") else v for v in r) for r in rows]


def _tree(sql: str) -> Any:
    import sqlglot

    return sqlglot.parse_one(sql, read="duckdb")


def equivalents(sql: str, schema: dict[str, dict[str, str]]) -> dict[str, str]:
    from sqlglot.optimizer import optimize

    out = {"reserialized": _tree(sql).sql("duckdb")}
    with contextlib.suppress(Exception):  # sqlglot cannot optimise every query: then no such rewrite
        out["optimized"] = optimize(_tree(sql), schema=dict(schema), dialect="duckdb").sql("duckdb")
    tree = _tree(sql)
    if len(tree.expressions) > 1:
        tree.set("expressions", list(reversed(tree.expressions)))
        out["columns_reversed"] = tree.sql("duckdb")
    return out


def _first(sql: str, find: Callable[[Any], Any], change: Callable[[Any, Any], bool]) -> str | None:
    tree = _tree(sql)
    node = find(tree)
    if node is None or not change(tree, node):
        return None
    return str(tree.sql("duckdb"))


def wrongs(sql: str) -> dict[str, str]:
    from sqlglot import exp

    def sum_to_max(tree: Any, node: Any) -> bool:
        node.replace(exp.Max(this=node.this.copy()))
        return True

    def flip(tree: Any, node: Any) -> bool:
        node.set("desc", not node.args.get("desc"))
        return True

    def fewer(tree: Any, node: Any) -> bool:
        n = int(node.expression.name)
        node.set("expression", exp.Literal.number(n - 1))
        return n > 1

    def plus_one(tree: Any, node: Any) -> bool:
        if node.is_string or not node.name.isdigit():
            return False
        node.replace(exp.Literal.number(int(node.name) + 1))
        return True

    def first_int_in_where(tree: Any) -> Any:
        where = tree.find(exp.Where)
        return next((lit for lit in where.find_all(exp.Literal) if not lit.is_string), None) if where else None

    rewrites = {
        "sum_to_max": _first(sql, lambda t: t.find(exp.Sum), sum_to_max),
        "order_flipped": _first(sql, lambda t: t.args["order"].expressions[0] if t.args.get("order") else None, flip),
        "limit_minus_one": _first(sql, lambda t: t.args.get("limit"), fewer),
        "where_literal_plus_one": _first(sql, first_int_in_where, plus_one),
    }
    return {k: v for k, v in rewrites.items() if v is not None}

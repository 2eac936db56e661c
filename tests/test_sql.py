"""sql.execution on SQLite and DuckDB: extraction, comparison, safety, limits, caching, check."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardlab import get_reward
from rewardlab.core import Sample, Status
from rewardlab.engine import Engine
from rewardlab.pipeline import Pipeline
from rewardlab.rewards.sql import Limits, QueryFailed, compare_results, extract_sql, open_database, run_query
from rewardlab.rewards.sql.compare import Tolerance
from tests.sql_helpers import DESTRUCTIVE, SLOW, checksum, make_duckdb, make_sqlite

pytest.importorskip("sqlglot")
pytest.importorskip("duckdb")

GOLD = "SELECT name FROM singer WHERE country = 'France'"


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sqldb")
    return {"sqlite": make_sqlite(root / "concert.sqlite", 2000),
            "duckdb": make_duckdb(root / "concert.duckdb", 2000)}


@pytest.fixture(scope="module")
def sql_engine() -> Iterator[Engine]:
    with Engine(workers=1, timeout=20.0) as eng:
        yield eng


def _sample(completion: str, db: Path, gold: str = GOLD, i: int = 0) -> Sample:
    return Sample(str(i), completion=completion, reference={"sql": gold, "db": str(db)})


# --- extraction --------------------------------------------------------------------
@pytest.mark.parametrize(("text", "sql", "method"), [
    ("SELECT 1;", "SELECT 1", "whole"),
    ("I think:\n```sql\nSELECT a FROM t;\n```\nand then\n```sql\nSELECT b FROM t\n```", "SELECT b FROM t", "fence"),
    ("```python\nprint(1)\n```\n```\nSELECT c\n```", "SELECT c", "fence"),
    ("<think>```sql\nSELECT wrong\n```</think><answer>```sql\nSELECT right\n```</answer>",
     "SELECT right", "answer_tag"),
    ("<answer> SELECT x FROM y; </answer>", "SELECT x FROM y", "answer_tag"),
    ("<think>SELECT 1</think>\nSELECT 2", "SELECT 2", "whole"),
])
def test_extract_finds_the_final_query(text: str, sql: str, method: str) -> None:
    found = extract_sql(text)
    assert (found.sql, found.method) == (sql, method)


@pytest.mark.parametrize(
    "text", ["", "  ;  ", "<think>SELECT 1", "Here it is:\n```sql\nSELECT a FROM", "<answer></answer>"])
def test_extract_reports_no_query(text: str) -> None:
    found = extract_sql(text, ["answer_tag", "fence"])
    assert found.sql is None and found.reason


def test_extract_unclosed_fence_does_not_fall_back_to_the_whole_text() -> None:
    assert extract_sql("```sql\nSELECT a FROM t WHERE").sql is None


# --- comparison --------------------------------------------------------------------
def test_compare_is_a_multiset_unless_ordered() -> None:
    gold = [(1, "a"), (2, "b"), (2, "b")]
    assert compare_results(gold, [(2, "b"), (1, "a"), (2, "b")], ordered=False).equal
    assert not compare_results(gold, [(2, "b"), (1, "a"), (2, "b")], ordered=True).equal
    assert not compare_results(gold, [(1, "a"), (2, "b")], ordered=False).equal  # duplicates count
    assert not compare_results(gold, [(1, "a"), (1, "a"), (2, "b")], ordered=False).equal


def test_compare_column_policy() -> None:
    gold = [(1, "a"), (2, "b")]
    swapped = [("b", 2), ("a", 1)]
    assert compare_results(gold, swapped, ordered=False, columns="any").equal
    assert not compare_results(gold, swapped, ordered=False, columns="ordered").equal
    # a permutation must map whole rows, not columns independently
    assert not compare_results([(1, 2), (3, 4)], [(1, 4), (3, 2)], ordered=False).equal
    assert not compare_results(gold, [(1,), (2,)], ordered=False).equal


def test_compare_numbers_nulls_and_tolerance() -> None:
    assert compare_results([(0.3, None)], [(0.1 + 0.2, None)], ordered=False).equal
    assert compare_results([(3,)], [(Decimal("3.000"),)], ordered=False).equal
    big = [(1234567, "a"), (7654321, "b")]  # a big integer sum against a float one, columns swapped
    assert compare_results(big, [("b", 7654321.000001), ("a", 1234567.0000004)], ordered=False).equal
    assert compare_results([(float("nan"),)], [(float("nan"),)], ordered=False).equal
    assert not compare_results([(None,)], [(0,)], ordered=False).equal
    assert not compare_results([("1",)], [(1,)], ordered=False).equal
    assert not compare_results([(1.0,)], [(1.001,)], ordered=False).equal
    assert compare_results([(1.0,)], [(1.001,)], ordered=False, tol=Tolerance(rel_tol=0.01)).equal
    # near-equal floats in several rows still pair up
    gold = [(1.0, "x"), (2.0, "y"), (2.0000000001, "z")]
    cand = [(2.0000000002, "z"), (1.0000000001, "x"), (2.0, "y")]
    assert compare_results(gold, cand, ordered=False).equal


def test_many_interchangeable_columns_are_searched_quickly() -> None:
    """Twelve columns holding the same values: only one column order of 12! matches the rows."""
    gold = [(0,) * 6 + (1,) * 6, (1,) * 6 + (0,) * 6, (0, 1) * 6]
    order = [0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11]
    interleaved = [tuple(r[order.index(k)] for k in range(12)) for r in gold]
    assert interleaved != gold
    verdict = compare_results(gold, interleaved, ordered=False)
    assert verdict.equal and verdict.reason.startswith("columns reordered")
    no_order = [(0,) * 12, (1,) * 12, (0, 1) * 6]  # the same values in every column, other rows
    assert not compare_results(gold, no_order, ordered=False).equal


def test_floats_equal_at_the_rounding_digits_still_pair_up() -> None:
    """0.1234561 and 0.1234564 share a 6-digit sort key but differ beyond the tolerance."""
    gold = [(0.1234561, "a"), (0.1234564, "b")]
    assert compare_results(gold, [("b", 0.1234564), ("a", 0.1234561)], ordered=False).equal
    assert compare_results(gold, [(0.1234564, "b"), (0.1234561, "a")], ordered=False).equal
    assert not compare_results(gold, [(0.1234564, "a"), (0.1234561, "b")], ordered=False).equal


def test_empty_results_are_equal() -> None:
    assert compare_results([], [], ordered=True).equal


# --- the reward on both embedded engines -------------------------------------------
@pytest.mark.parametrize("engine_name", ["sqlite", "duckdb"])
def test_execution_verdicts(dbs: dict[str, Path], engine_name: str, sql_engine: Engine) -> None:
    db = dbs[engine_name]
    reward = get_reward("sql.execution")
    cases = {
        "```sql\nSELECT name FROM singer WHERE country = 'France'\n```": 1.0,
        "SELECT s.name FROM singer AS s WHERE s.country IN ('France')": 1.0,  # a rewrite
        "SELECT name FROM singer WHERE country = 'France' ORDER BY name DESC": 1.0,  # gold is unordered
        "SELECT name FROM singer": 0.0,
        "SELECT name, age FROM singer WHERE country = 'France'": 0.0,  # extra column
        "SELECT DISTINCT country FROM singer WHERE country = 'France'": 0.0,
        "SELECT nme FROM singer": 0.0,  # an error is a scored failure
    }
    samples = [_sample(c, db, i=i) for i, c in enumerate(cases)]
    scores = sql_engine.run(reward, samples)
    assert [s.value for s in scores] == list(cases.values())
    assert all(s.status is Status.OK for s in scores)
    err = scores[-1]
    assert err.detail["failure"] == "error" and "nme" in err.detail["error"]
    assert err.detail["engine"] == engine_name


@pytest.mark.parametrize("engine_name", ["sqlite", "duckdb"])
def test_order_matters_only_when_the_gold_orders(dbs: dict[str, Path], engine_name: str) -> None:
    db = dbs[engine_name]
    reward = get_reward("sql.execution")
    gold = "SELECT name, age FROM singer ORDER BY age DESC, name"
    right = reward.score_one(_sample("SELECT name, age FROM singer ORDER BY age DESC, name ASC", db, gold), {})
    wrong = reward.score_one(_sample("SELECT name, age FROM singer ORDER BY age, name", db, gold), {})
    swapped = reward.score_one(_sample("SELECT age, name FROM singer ORDER BY age DESC, name", db, gold), {})
    assert (right.value, wrong.value, swapped.value) == (1.0, 0.0, 1.0)
    assert right.detail["ordered"] is True
    # an ORDER BY inside a subquery does not order the output
    sub = "SELECT name FROM (SELECT name FROM singer ORDER BY age) AS t"
    assert reward.score_one(_sample("SELECT name FROM singer", db, sub), {}).value == 1.0


def test_aggregates_with_float_noise(dbs: dict[str, Path]) -> None:
    reward = get_reward("sql.execution")
    gold = "SELECT avg(net) FROM singer WHERE country = 'US'"
    cand = "SELECT sum(net) / count(net) FROM singer WHERE country = 'US'"
    for db in dbs.values():
        assert reward.score_one(_sample(cand, db, gold), {}).value == 1.0


# --- safety ------------------------------------------------------------------------
@pytest.mark.parametrize("engine_name", ["sqlite", "duckdb"])
def test_destructive_and_slow_candidates_change_nothing(
    dbs: dict[str, Path], engine_name: str, sql_engine: Engine,
) -> None:
    db = dbs[engine_name]
    before = checksum(db)
    reward = get_reward("sql.execution", query_timeout=0.5, max_rows=1000)
    extra = ["WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"]
    if engine_name == "sqlite":
        extra += ["SELECT load_extension('/tmp/x')", "SELECT * FROM pragma_table_info('singer')"]
    else:
        extra += ["INSTALL httpfs", "SELECT * FROM read_csv('/etc/passwd')", "SET threads = 8",
                  "COPY singer TO '/tmp/rewardlab-sql-copy.csv'"]
    candidates = DESTRUCTIVE + SLOW + extra
    scores = sql_engine.run(reward, [_sample(c, db, i=i) for i, c in enumerate(candidates)])
    for cand, score in zip(candidates, scores, strict=True):
        assert (score.value, score.status) == (0.0, Status.OK), (cand, score)
        assert score.detail["failure"] in ("refused", "error", "timeout", "too_many_rows"), (cand, score)
    by_kind = {c: s.detail["failure"] for c, s in zip(candidates, scores, strict=True)}
    assert by_kind["DROP TABLE singer"] == "refused"
    assert by_kind["ATTACH DATABASE ':memory:' AS other"] == "refused"
    assert by_kind[SLOW[0]] == by_kind[SLOW[1]] == "timeout"
    # SQLite streams the endless CTE into the row cap; DuckDB (1.5) materialises it until the time limit
    assert by_kind[extra[0]] == ("too_many_rows" if engine_name == "sqlite" else "timeout")
    assert checksum(db) == before
    assert reward.score_one(_sample(GOLD, db), {}).value == 1.0  # still there, still readable


def test_a_query_past_the_engine_limit_is_killed_from_outside(dbs: dict[str, Path]) -> None:
    """With the in-engine limit set above the pool's, the pool kills the worker (status timeout)."""
    reward = get_reward("sql.execution", query_timeout=60.0)
    before = checksum(dbs["sqlite"])
    with Engine(workers=1, timeout=1.5) as eng:
        slow, fine = eng.run(reward, [_sample(SLOW[0], dbs["sqlite"], i=0), _sample(GOLD, dbs["sqlite"], i=1)])
        assert slow.status is Status.TIMEOUT and slow.value is None
        assert fine.value == 1.0  # the replacement worker scores the rest
        assert eng.pool.replaced == 1
    assert checksum(dbs["sqlite"]) == before


def test_too_many_rows_is_a_failure_for_the_candidate_and_invalid_for_the_gold(dbs: dict[str, Path]) -> None:
    reward = get_reward("sql.execution", max_rows=100)
    db = dbs["sqlite"]
    cand = reward.score_one(_sample("SELECT x FROM big", db), {})
    assert (cand.value, cand.detail["failure"]) == (0.0, "too_many_rows")
    gold = reward.score_one(_sample("SELECT 1", db, gold="SELECT x FROM big"), {})
    assert gold.status is Status.INVALID_REFERENCE and "max_rows" in gold.detail["reason"]


# --- references --------------------------------------------------------------------
def test_bad_references_are_invalid_and_listed_by_check(dbs: dict[str, Path], tmp_path: Path) -> None:
    db = str(dbs["sqlite"])
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("hello")
    rows = [
        {"id": "ok", "completion": GOLD, "reference": {"sql": GOLD, "db": db}},
        {"id": "gold-error", "completion": GOLD, "reference": {"sql": "SELECT nme FROM singer", "db": db}},
        {"id": "gold-write", "completion": GOLD, "reference": {"sql": "DELETE FROM singer", "db": db}},
        {"id": "no-db", "completion": GOLD, "reference": {"sql": GOLD}},
        {"id": "missing-file", "completion": GOLD, "reference": {"sql": GOLD, "db": str(tmp_path / "nope.db")}},
        {"id": "not-a-db", "completion": GOLD, "reference": {"sql": GOLD, "db": str(not_a_db)}},
        {"id": "no-sql", "completion": GOLD, "reference": {"db": db}},
    ]
    pipeline = Pipeline.from_spec({"rewards": {"sql": {"type": "sql.execution"}}})
    problems = {p["id"]: p["problem"] for p in pipeline.check(rows)}
    assert set(problems) == {r["id"] for r in rows} - {"ok"}
    assert "nme" in problems["gold-error"]
    assert "refused" in problems["gold-write"]
    assert "names no database" in problems["no-db"]
    assert "does not exist" in problems["missing-file"]
    assert "neither an SQLite nor a DuckDB" in problems["not-a-db"]
    reward = get_reward("sql.execution")
    scores = [reward.score_one(Sample.coerce(r), {}) for r in rows]
    assert scores[0].value == 1.0
    assert all(s.status is Status.INVALID_REFERENCE and s.value is None for s in scores[1:])


def test_default_database_and_db_id_layout(dbs: dict[str, Path], tmp_path: Path) -> None:
    spider = tmp_path / "database" / "concert"
    spider.mkdir(parents=True)
    (spider / "concert.sqlite").write_bytes(dbs["sqlite"].read_bytes())
    by_id = get_reward("sql.execution", db_dir=str(tmp_path / "database"))
    assert by_id.score_one(Sample("1", completion=GOLD, reference={"sql": GOLD, "db_id": "concert"}), {}).value == 1.0
    default = get_reward("sql.execution", database=str(dbs["duckdb"]))
    assert default.score_one(Sample("1", completion=GOLD, reference=GOLD), {}).value == 1.0


def test_no_query_is_no_answer(dbs: dict[str, Path]) -> None:
    reward = get_reward("sql.execution", extract=["answer_tag"])
    score = reward.score_one(_sample("I do not know", dbs["sqlite"]), {})
    assert score.status is Status.NO_ANSWER and score.value == 0.0


def test_the_gold_result_is_cached_per_database_and_query(dbs: dict[str, Path]) -> None:
    db = open_database(str(dbs["sqlite"]))
    gold = "SELECT country, count(*) FROM singer GROUP BY country"
    _, first = run_query(db, gold, Limits())
    result, second = run_query(db, gold, Limits())
    assert (first, second) == (False, True) and len(result.rows) == 3
    with pytest.raises(QueryFailed, match="max_rows"):  # a cached result still obeys the row cap
        run_query(db, gold, Limits(max_rows=2))
    reward = get_reward("sql.execution")
    a = reward.score_one(_sample("SELECT 1", dbs["duckdb"], gold=gold + " ORDER BY 1"), {})
    b = reward.score_one(_sample("SELECT 2", dbs["duckdb"], gold=gold + " ORDER BY 1"), {})
    assert (a.detail["gold_cached"], b.detail["gold_cached"]) == (False, True)


@pytest.mark.parametrize("maker", [make_sqlite, make_duckdb])
def test_a_database_replaced_by_rename_is_read_again(tmp_path: Path, maker: Any) -> None:
    """A kept connection must not keep reading the old file after a new one is renamed over it."""
    path = maker(tmp_path / "db", 0)
    reward = get_reward("sql.execution")
    sample = _sample("SELECT 0", path, gold="SELECT count(*) FROM big")
    assert reward.score_one(sample, {}).value == 1.0
    os.replace(maker(tmp_path / "newer", 3), path)
    assert reward.score_one(sample, {}).value == 0.0  # 3 rows now


def test_the_engine_cache_does_not_replay_scores_of_a_changed_database(tmp_path: Path, sql_engine: Engine) -> None:
    import sqlite3

    path = make_sqlite(tmp_path / "x.sqlite")
    sample = _sample("SELECT 'Joe'", path, gold="SELECT name FROM singer WHERE id = 1")
    assert sql_engine.run(get_reward("sql.execution"), [sample])[0].value == 1.0
    conn = sqlite3.connect(path)
    conn.execute("UPDATE singer SET name = 'Joseph' WHERE id = 1")
    conn.commit()
    conn.close()
    assert sql_engine.run(get_reward("sql.execution"), [sample])[0].value == 0.0


def test_a_rewritten_database_is_read_again(tmp_path: Path) -> None:
    import sqlite3

    path = make_sqlite(tmp_path / "x.sqlite")
    reward = get_reward("sql.execution")
    sample = _sample("SELECT 'Joe'", path, gold="SELECT name FROM singer WHERE id = 1")
    assert reward.score_one(sample, {}).value == 1.0
    conn = sqlite3.connect(path)
    conn.execute("UPDATE singer SET name = 'Joseph' WHERE id = 1")
    conn.commit()
    conn.close()
    assert reward.score_one(sample, {}).value == 0.0


# --- properties of the comparison ----------------------------------------------------
_cells = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from([0.5, 1.25, -2.0]), st.sampled_from(["a", "b", ""]))


@st.composite
def _table(draw: st.DrawFn) -> list[tuple[object, ...]]:
    cols = draw(st.integers(1, 5))
    return draw(st.lists(st.tuples(*[_cells] * cols), min_size=1, max_size=12))


@settings(max_examples=150, deadline=None)
@given(_table(), st.randoms(use_true_random=False))
def test_property_shuffled_rows_and_columns_compare_equal(table: list[tuple[object, ...]], rnd: Any) -> None:
    perm = list(range(len(table[0])))
    rnd.shuffle(perm)
    moved = [tuple(r[j] for j in perm) for r in table]
    rnd.shuffle(moved)
    noisy = [tuple(v * (1 + 1e-9) if isinstance(v, float) else v for v in r) for r in moved]
    assert compare_results(table, noisy, ordered=False).equal
    assert compare_results(table, [tuple(r[j] for j in perm) for r in table], ordered=True).equal


@settings(max_examples=150, deadline=None)
@given(_table(), st.data())
def test_property_a_changed_cell_a_dropped_or_a_repeated_row_is_unequal(
    table: list[tuple[object, ...]], data: Any,
) -> None:
    i = data.draw(st.integers(0, len(table) - 1))
    j = data.draw(st.integers(0, len(table[0]) - 1))
    changed = [list(r) for r in table]
    changed[i][j] = "changed"  # a value the gold does not hold anywhere
    assert not compare_results(table, [tuple(r) for r in changed], ordered=False).equal
    assert not compare_results(table, [tuple(r) for r in changed], ordered=True).equal
    assert not compare_results(table, table[:i] + table[i + 1:], ordered=False).equal
    if len(set(table)) > 1:  # a row repeated instead of another: the multiset differs (rows are distinct)
        other = next(k for k, r in enumerate(table) if r != table[i])
        swapped = [table[i] if k == other else r for k, r in enumerate(table)]
        assert not compare_results(table, swapped, ordered=False, columns="ordered").equal

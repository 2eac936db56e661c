"""sql.execution against a real PostgreSQL server that the tests start on loopback."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import pytest

from rewardlab import get_reward
from rewardlab.core import Sample, Status
from rewardlab.engine import Engine
from rewardlab.pipeline import Pipeline
from tests import pg_server
from tests.sql_helpers import DESTRUCTIVE, fill

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("sqlglot")

GOLD = "SELECT name FROM singer WHERE country = 'France'"


@pytest.fixture(scope="module")
def pg() -> Iterator[pg_server.Server]:
    server, why = pg_server.start()
    if server is None:
        if os.environ.get("CI"):  # .ci/run installs PostgreSQL: there it must start
            pytest.fail(f"PostgreSQL did not start in CI: {why}")
        print(f"PostgreSQL tests skipped: {why}")
        pytest.skip(why)
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE concert")
        with psycopg.connect(server.url(db="concert"), autocommit=True) as conn:
            fill(conn)
            conn.execute("CREATE TABLE big AS SELECT g AS x FROM generate_series(1, 2000) AS g")
            conn.execute("CREATE ROLE reader LOGIN")
            conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
        yield server
    finally:
        server.stop()


def _checksum(url: str) -> str:
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1").fetchall()
        dump = [tables] + [conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for (t,) in tables]
        dump.append(conn.execute("SHOW default_transaction_read_only").fetchall())
        dump.append(conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchall())
    return hashlib.sha256(repr(dump).encode()).hexdigest()


def _sample(sql: str, url: str, gold: str = GOLD, i: int = 0) -> Sample:
    return Sample(str(i), completion=sql, reference={"sql": gold, "db": url})


def test_verdicts_on_postgres(pg: pg_server.Server) -> None:
    url = pg.url("reader", "concert")
    reward = get_reward("sql.execution")
    cases = {
        GOLD: 1.0,
        "SELECT s.name FROM singer s WHERE s.country LIKE 'Fr%'": 1.0,
        "SELECT name FROM singer": 0.0,
        "SELECT nme FROM singer": 0.0,
    }
    scores = [reward.score_one(_sample(c, url), {}) for c in cases]
    assert [s.value for s in scores] == list(cases.values())
    assert scores[-1].detail["failure"] == "error" and "nme" in scores[-1].detail["error"]
    numeric = reward.score_one(_sample("SELECT 0.3::numeric", url, gold="SELECT 0.1::float8 + 0.2::float8"), {})
    assert numeric.value == 1.0  # numeric (Decimal) against double, within the tolerance
    ordered = "SELECT name, age FROM singer ORDER BY age DESC, name"
    assert reward.score_one(_sample("SELECT name, age FROM singer ORDER BY age, name", url, ordered), {}).value == 0.0


def test_destructive_candidates_change_nothing(pg: pg_server.Server) -> None:
    url = pg.url("reader", "concert")
    before = _checksum(pg.url(db="concert"))
    reward = get_reward("sql.execution", query_timeout=0.5, max_rows=1000)
    candidates = [*DESTRUCTIVE, "SELECT 1; COMMIT; DROP TABLE singer", "SET default_transaction_read_only = off",
                  "WITH gone AS (DELETE FROM singer RETURNING *) SELECT * FROM gone",
                  "SELECT pg_sleep(5)", "SELECT count(*) FROM big a, big b, big c",
                  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
                  "COPY singer TO '/tmp/rewardlab-pg-copy.csv'", "SELECT lo_import('/etc/passwd')"]
    samples = [_sample(c, url, i=i) for i, c in enumerate(candidates)]
    scores = [reward.score_one(s, {}) for s in samples]
    for cand, score in zip(candidates, scores, strict=True):
        assert (score.value, score.status) == (0.0, Status.OK), (cand, score)
    kinds = {c: s.detail["failure"] for c, s in zip(candidates, scores, strict=True)}
    assert kinds["SELECT pg_sleep(5)"] == kinds["SELECT count(*) FROM big a, big b, big c"] == "timeout"
    assert kinds["WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"] == "too_many_rows"
    assert _checksum(pg.url(db="concert")) == before
    assert reward.score_one(_sample(GOLD, url), {}).value == 1.0  # the connection is still usable


def test_unreachable_server_or_superuser_is_unscorable_not_zero(pg: pg_server.Server) -> None:
    dead = f"postgresql://reader@127.0.0.1:{pg_server._free_port()}/concert"
    reward = get_reward("sql.execution")
    score = reward.score_one(_sample(GOLD, dead), {})
    assert score.value is None and score.status is Status.ERROR
    assert "cannot connect" in score.detail["reason"]
    before = _checksum(pg.url(db="concert"))
    root = reward.score_one(_sample("SELECT pg_read_file('/etc/passwd')", pg.url("postgres", "concert")), {})
    assert root.value is None and "superuser" in root.detail["reason"]
    assert _checksum(pg.url(db="concert")) == before


def test_check_and_pool_on_postgres(pg: pg_server.Server) -> None:
    url = pg.url("reader", "concert")
    rows = [{"id": "ok", "completion": GOLD, "reference": {"sql": GOLD, "db": url}},
            {"id": "bad", "completion": GOLD, "reference": {"sql": "SELECT * FROM nowhere", "db": url}}]
    pipeline = Pipeline.from_spec({"rewards": {"sql": {"type": "sql.execution"}}})
    assert [p["id"] for p in pipeline.check(rows)] == ["bad"]
    with Engine(workers=1, timeout=20.0) as eng:
        scores = eng.run(get_reward("sql.execution"), [Sample.coerce(r, i) for i, r in enumerate(rows)])
    assert (scores[0].value, scores[1].status) == (1.0, Status.INVALID_REFERENCE)

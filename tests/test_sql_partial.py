"""sql.partial: Reasoning-SQL's partial rewards, each term checked by hand on small queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from rewardlab import get_reward
from rewardlab.core import Sample, Status
from rewardlab.errors import SpecError
from rewardlab.pipeline import Pipeline
from rewardlab.rewards.sql.partial import jaccard, ngrams, schema_items
from tests.sql_helpers import make_sqlite

pytest.importorskip("sqlglot")

GOLD = "SELECT s.name FROM singer AS s JOIN concert AS c ON c.singer_id = s.id WHERE c.year = 2015"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sqlite(tmp_path_factory.mktemp("partial") / "concert.sqlite")


def _score(completion: str, db: Path, gold: str = GOLD, **params: object) -> tuple[float | None, dict]:
    score = get_reward("sql.partial", **params).score_one(
        Sample("1", completion=completion, reference={"sql": gold, "db": str(db)}), {})
    return score.value, dict(score.detail)


def test_schema_items_resolve_aliases_and_skip_ctes() -> None:
    assert schema_items(GOLD, "sqlite") == {
        "singer", "concert", "singer.name", "concert.singer_id", "singer.id", "concert.year"}
    assert schema_items("SELECT name FROM singer WHERE age > 3", "sqlite") == {"singer", "singer.name", "singer.age"}
    with_cte = "WITH t AS (SELECT id FROM singer) SELECT id FROM t"
    assert schema_items(with_cte, "sqlite") == {"singer", "singer.id"}  # the CTE is not a table
    assert schema_items("SELEC name FRM", "sqlite") is None


def test_jaccard_and_ngrams() -> None:
    assert ngrams("SELECT a  FROM\nt", 2) == {"select a", "a from", "from t"}
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert jaccard(set(), set()) == 0.0


def test_the_gold_itself_gets_every_term(db: Path) -> None:
    value, detail = _score(f"<answer>{GOLD}</answer>", db)
    assert detail["terms"] == {"execution": 1.0, "syntax": 1.0, "schema": 1.0, "ngram": 1.0}
    assert value == 6.0


def test_a_wrong_but_close_query_earns_partial_credit(db: Path) -> None:
    cand = "SELECT s.name FROM singer AS s JOIN concert AS c ON c.singer_id = s.id WHERE c.year = 2014"
    value, detail = _score(cand, db)
    terms = detail["terms"]
    assert (terms["execution"], terms["syntax"], terms["schema"]) == (0.0, 1.0, 1.0)
    gold_grams, cand_grams = ngrams(GOLD, 2), ngrams(cand, 2)
    assert terms["ngram"] == pytest.approx(len(gold_grams & cand_grams) / len(gold_grams | cand_grams))
    assert value == pytest.approx(1.0 + 1.0 + terms["ngram"])


def test_an_equivalent_rewrite_gets_execution_but_less_overlap(db: Path) -> None:
    cand = "SELECT name FROM concert JOIN singer ON singer.id = singer_id WHERE year = 2015"
    value, detail = _score(cand, db)
    terms = detail["terms"]
    assert (terms["execution"], terms["syntax"]) == (1.0, 1.0)
    # name, singer_id and year are unqualified with two tables in scope: ?.name etc. do not match
    assert terms["schema"] == pytest.approx(3 / 9) and 0.0 < terms["ngram"] < 1.0
    assert value == pytest.approx(4.0 + terms["schema"] + terms["ngram"])
    # IN instead of the JOIN drops the duplicate row of a singer with two 2015 concerts: not equal
    _, semi = _score("SELECT name FROM singer WHERE id IN (SELECT singer_id FROM concert WHERE year = 2015)", db)
    assert semi["terms"]["execution"] == 0.0 and semi["reason"] == "2 rows, the gold query returns 3"


def test_a_failing_query_gets_no_syntax_or_execution_term(db: Path) -> None:
    value, detail = _score("SELECT nme FROM singer", db)
    assert detail["terms"]["syntax"] == 0.0 and detail["terms"]["execution"] == 0.0
    assert detail["failure"] == "error"
    assert value == pytest.approx(detail["terms"]["schema"] + detail["terms"]["ngram"])


def test_weights_and_unscorable_cases(db: Path) -> None:
    value, _ = _score(GOLD, db, weights={"execution": 1.0})
    assert value == 1.0
    with pytest.raises(SpecError, match="unknown terms"):
        get_reward("sql.partial", weights={"format": 1.0})
    no_answer = get_reward("sql.partial", extract=["answer_tag"]).score_one(
        Sample("1", completion="no idea", reference={"sql": GOLD, "db": str(db)}), {})
    assert no_answer.status is Status.NO_ANSWER and no_answer.value == 0.0
    broken = {"sql": "SELECT nope", "db": str(db)}
    bad = get_reward("sql.partial").score_one(Sample("1", completion=GOLD, reference=broken), {})
    assert bad.status is Status.INVALID_REFERENCE and bad.value is None


def test_check_lists_a_gold_sqlglot_cannot_parse(db: Path) -> None:
    rows = [{"id": "odd", "completion": "SELECT 1",
             "reference": {"sql": "SELECT name FROM singer WHERE name GLOB '[JT]*' ESCAPE", "db": str(db)}}]
    pipeline = Pipeline.from_spec({"rewards": {"p": {"type": "sql.partial"}}})
    assert [p["id"] for p in pipeline.check(rows)] == ["odd"]


def test_a_gold_sqlglot_cannot_parse_is_unscorable_not_a_zero_term(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gold the database runs but sqlglot cannot parse: its schema term cannot be decided, so the
    sample is invalid_reference, as check says (before: scored, with a silent 0.0 schema term)."""
    import rewardlab.rewards.sql.partial as partial

    real = partial.schema_items
    monkeypatch.setattr(partial, "schema_items", lambda sql, kind: None if sql == GOLD else real(sql, kind))
    sample = Sample("1", completion=GOLD, reference={"sql": GOLD, "db": str(db)})
    score = get_reward("sql.partial").score_one(sample, {})
    assert score.status is Status.INVALID_REFERENCE and score.value is None and "sqlglot" in score.detail["reason"]

"""Label-free group rewards: TTRL majority vote and Co-Reward, with the math reward's equivalence."""

from __future__ import annotations

from typing import Any

import pytest

from rewardlab.core import Score, Status, coerce_samples
from rewardlab.engine import Engine
from rewardlab.pipeline import Pipeline
from rewardlab.registry import create


def score(name: str, rows: list[dict[str, Any]], **params: Any) -> list[Score]:
    with Engine(workers=1) as engine:
        return engine.run(create("reward", name, params), coerce_samples(rows))


def group(answers: list[str], gid: str = "g", **meta: Any) -> list[dict[str, Any]]:
    return [{"id": f"{gid}{i}", "group": gid, "completion": a, "meta": dict(meta)} for i, a in enumerate(answers)]


def test_equivalent_forms_are_one_vote() -> None:
    """1/2, 0.5 and \\frac12 are one answer: 3 votes beat 2 votes for 1/3 (string equality: 2 beats 1)."""
    answers = [r"\boxed{1/2}", r"\boxed{0.5}", r"so \boxed{\frac12}", r"\boxed{1/3}", r"\boxed{1/3}"]
    scores = score("group.majority", group(answers))
    assert [s.value for s in scores] == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert all(s.status is Status.OK for s in scores)
    assert scores[3].detail["majority"] == "1/2" and scores[0].detail["majority_share"] == 0.6


def test_no_answer_members_are_scored_failures() -> None:
    scores = score("group.majority", group([r"\boxed{4}", "I don't know", r"\boxed{4}", r"\boxed{5}"]))
    assert [s.value for s in scores] == [1.0, 0.0, 1.0, 0.0]
    assert scores[1].status is Status.NO_ANSWER and scores[3].status is Status.OK


def test_tie_and_no_extractable_answer_are_unscorable_not_zero() -> None:
    tie = score("group.majority", group([r"\boxed{1}", r"\boxed{2}", "nothing"]))
    assert [s.value for s in tie[:2]] == [None, None] and tie[0].status is Status.NO_CONSENSUS
    assert "tie" in tie[0].detail["reason"] and tie[2].status is Status.NO_ANSWER
    none = score("group.majority", group(["no idea", "", "hmm"]))
    assert all(s.status is Status.NO_ANSWER for s in none)  # each produced nothing usable
    blank = score("group.majority", group(["<think>unfinished", "<think>also"]))
    assert all(s.status is Status.NO_ANSWER and s.value == 0.0 for s in blank)


def test_min_share() -> None:
    answers = [r"\boxed{1}", r"\boxed{1}", r"\boxed{2}", r"\boxed{3}", r"\boxed{4}"]
    assert score("group.majority", group(answers))[0].value == 1.0
    low = score("group.majority", group(answers), min_share=0.5)
    assert low[0].value is None and low[0].status is Status.NO_CONSENSUS and "40%" in low[0].detail["reason"]


def test_groups_are_scored_separately_and_in_order() -> None:
    rows = group([r"\boxed{7}", r"\boxed{7}", r"\boxed{8}"], "a") + group([r"\boxed{8}", r"\boxed{8}"], "b")
    rows = [rows[0], rows[3], rows[1], rows[4], rows[2]]
    assert [s.value for s in score("group.majority", rows)] == [1.0, 1.0, 1.0, 1.0, 0.0]


def test_co_reward_scores_against_the_paraphrase_majority() -> None:
    """Each group is scored against the *other* group's majority (arXiv 2508.00410)."""
    original = group([r"\boxed{3}", r"\boxed{3}", r"\boxed{5}"], "orig", pair="q1")
    paraphrase = group([r"\boxed{5}", r"\boxed{5}", r"\boxed{0.5}", r"\boxed{3}"], "para", pair="q1")
    scores = score("group.co_reward", original + paraphrase)
    # original members vs the paraphrase's majority (5); paraphrase members vs the original's (3)
    assert [s.value for s in scores] == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert scores[0].detail["majority"] == "5" and scores[3].detail["majority"] == "3"


def test_co_reward_unpaired_or_no_consensus_is_unscorable() -> None:
    alone = score("group.co_reward", group([r"\boxed{1}", r"\boxed{1}"], "a", pair="x"))
    assert all(s.value is None and s.status is Status.MISSING for s in alone)
    no_key = score("group.co_reward", group([r"\boxed{1}"], "a"))
    assert no_key[0].status is Status.MISSING and "meta.pair" in no_key[0].detail["reason"]
    tie = group([r"\boxed{1}", r"\boxed{2}"], "a", pair="y") + group([r"\boxed{1}", r"\boxed{1}"], "b", pair="y")
    scores = score("group.co_reward", tie)
    assert [s.value for s in scores] == [1.0, 0.0, None, None]
    assert scores[2].status is Status.NO_CONSENSUS and "paraphrase" in scores[2].detail["reason"]


def test_majority_in_a_pipeline_with_grpo_masks_unscorable_groups() -> None:
    spec = {"rewards": {"vote": {"type": "group.majority"}}, "advantage": {"method": "grpo"}}
    rows = group([r"\boxed{2}", r"\boxed{2}", r"\boxed{9}"], "a") + group([r"\boxed{1}", r"\boxed{2}"], "b")
    results = Pipeline.from_spec(spec).run(rows)
    assert results.column("vote") == [1.0, 1.0, 0.0, None, None]
    assert results.column("advantage")[3:] == [None, None]
    assert results.stats("vote").unscorable == {"no_consensus": 2}


@pytest.mark.parametrize("bad", [{"min_share": 1.5}, {"extract": ["nope"]}])
def test_bad_params_are_spec_errors(bad: dict[str, Any]) -> None:
    from rewardlab.errors import SpecError

    with pytest.raises(SpecError):
        create("reward", "group.majority", bad)

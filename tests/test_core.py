from __future__ import annotations

import math

import pytest

from rewardlab import InputError, Sample, Score, Status
from rewardlab.core import coerce_samples, content_hash


def test_score_requires_value_when_scored() -> None:
    with pytest.raises(ValueError, match="needs a value"):
        Score(None, Status.OK)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_score_rejects_non_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        Score(bad)


def test_score_rejects_bool_and_text() -> None:
    with pytest.raises(TypeError):
        Score(True)
    with pytest.raises(TypeError):
        Score("1.0")  # type: ignore[arg-type]


def test_unscorable_is_none_with_reason() -> None:
    s = Score.unscorable(Status.TIMEOUT, "too slow")
    assert s.value is None and s.status is Status.TIMEOUT and s.detail["reason"] == "too slow"
    assert not s.status.scored and Status.NO_ANSWER.scored


def test_score_roundtrip() -> None:
    s = Score.ok(0.5, extracted="x")
    assert Score.from_dict(s.to_dict()) == s


def test_sample_coerce_dict_defaults_and_meta() -> None:
    s = Sample.coerce({"completion": "hi", "reward": 1.0, "extra": 2}, 7)
    assert s.id == "7" and s.meta == {"reward": 1.0, "extra": 2}
    assert s.group is None


def test_sample_coerce_keeps_a_missing_completion_apart_from_an_empty_one() -> None:
    assert Sample.coerce({"id": 1}).completion is None
    assert Sample.coerce({"id": 1, "completion": None, "response": "x"}).completion is None
    assert Sample.coerce({"id": 1, "completion": ""}).completion == ""
    assert Sample.coerce({"id": 1}).completion_text == ""


def test_sample_coerce_chat_completion_text() -> None:
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert Sample.coerce({"id": 1, "completion": msgs}).completion_text == "a"


def test_sample_coerce_errors_name_the_row() -> None:
    with pytest.raises(InputError, match=r"sample #3.*completion"):
        coerce_samples([{}, {}, {}, {"completion": 5}])
    with pytest.raises(InputError, match="meta"):
        Sample.coerce({"meta": [1]})
    with pytest.raises(InputError, match="expected a Sample or a dict"):
        Sample.coerce(42)  # type: ignore[arg-type]


def test_content_hash_is_order_independent_for_dicts() -> None:
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})
    assert content_hash("x") != content_hash("y")


def test_sample_prompt_text_of_a_chat_prompt_is_the_users_message() -> None:
    """A chat prompt has no assistant message; its text is the user's message (it was ""),
    or every turn labelled by its role when there are several."""
    one = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "What is 2+2?"}]
    assert Sample.coerce({"id": 1, "prompt": one}).prompt_text == "What is 2+2?"
    parts = [{"role": "user", "content": [{"type": "text", "text": "Describe "}, {"type": "image"},
                                          {"type": "text", "text": "this"}]}]
    assert Sample.coerce({"id": 1, "prompt": parts}).prompt_text == "Describe this"
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
             {"role": "user", "content": "sum 1+1"}]
    assert Sample.coerce({"id": 1, "prompt": turns}).prompt_text == "user: hi\n\nassistant: hello\n\nuser: sum 1+1"
    assert Sample.coerce({"id": 1, "prompt": "plain"}).prompt_text == "plain"


def test_a_score_crosses_a_process_boundary_unchanged() -> None:
    """Scores travel from pool workers pickled (as their constructor's arguments): same fields, same checks."""
    import pickle

    for score in (Score.ok(0.5, extracted="42", nested={"a": [1, 2]}).with_elapsed(0.25),
                  Score.unscorable(Status.TIMEOUT, "exceeded 5 s", limit_s=5.0), Score.no_answer()):
        back = pickle.loads(pickle.dumps(score))
        assert back == score and type(back) is Score and back.elapsed == score.elapsed


def test_a_sample_crosses_a_process_boundary_unchanged() -> None:
    import pickle

    sample = Sample("s1", [{"role": "user", "content": "2+2?"}], "4", {"answer": 4}, "g", {"task": "math"})
    back = pickle.loads(pickle.dumps(sample))
    assert back == sample and type(back) is Sample

"""format.tags, length.*, text.* against their definitions."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewardlab import Sample, Score, Status
from rewardlab.errors import SpecError
from rewardlab.registry import create
from rewardlab.rewards.length import cosine_schedule, dapo_overlong


def one(name: str, completion: str = "", deps: dict[str, Score] | None = None, **params: Any) -> Score:
    sample = Sample("s", completion=completion, reference=params.pop("reference", None),
                    meta=params.pop("meta", {}))
    return create("reward", name, dict(params)).score_one(sample, deps or {})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("<think>a</think><answer>4</answer>", 1.0),
        ("  <think>a</think>\n\n<answer>4</answer>\n", 1.0),
        ("<answer>4</answer><think>a</think>", 0.0),  # wrong order
        ("<think>a</think><answer>4</answer> and more", 0.0),  # text outside
        ("<think>a</think><think>b</think><answer>4</answer>", 0.0),  # twice
        ("<think>a<answer>4</answer></think>", 0.0),  # nested
        ("<think>a</think>", 0.0),  # missing
        ("</think>a<think><answer>4</answer>", 0.0),  # closed before opened
        ("", 0.0),
        ("<think></think><answer></answer>", 0.0),  # the audit's format_only: empty tags
        ("<think>a</think>\n<answer> \n\t</answer>", 0.0),  # an answer of whitespace
        ("<think>\n\n</think><answer>4</answer>", 0.0),  # empty reasoning
    ],
)
def test_format_tags(text: str, value: float) -> None:
    score = one("format.tags", text)
    assert score.status is Status.OK and score.value == value
    assert bool(score.detail.get("problems")) == (value == 0.0)


def test_format_tags_options() -> None:
    assert one("format.tags", "hi <answer>1</answer>", tags=["answer"], allow_outside=True).value == 1.0
    partial = one("format.tags", "<think>a</think><answer>4</answer> x", partial_credit=True).value
    assert partial == pytest.approx(3 / 4)


def test_format_tags_require_content() -> None:
    """Empty tags get no format credit by default; ``require_content`` exempts all or some tags."""
    empty = "<think></think><answer></answer>"
    assert one("format.tags", empty).detail["problems"] == ["<think> is empty", "<answer> is empty"]
    assert one("format.tags", empty, partial_credit=True).value == pytest.approx(2 / 4)
    assert one("format.tags", empty, require_content=False).value == 1.0  # the peers' `.*?` regexes
    no_think = "<think>\n\n</think>\n<answer>4</answer>"  # a no-thinking mode's empty reasoning
    assert one("format.tags", no_think, require_content=["answer"]).value == 1.0
    assert one("format.tags", "<think>a</think><answer></answer>", require_content=["answer"]).value == 0.0
    with pytest.raises(SpecError, match=r"require_content names \['anwser'\], which are not in tags"):
        create("reward", "format.tags", {"require_content": ["anwser"]})


def dapo_reference(length: int, max_len: int, cache: int) -> float:
    """DAPO's overlong penalty, as TRL/verl write it (reimplemented, not imported)."""
    expected_len = max_len - cache
    exceed_len = length - expected_len
    return min(-exceed_len / cache, 0.0) if length <= max_len else -1.0


@given(st.integers(0, 5000), st.integers(1, 4096), st.integers(1, 1024))
def test_overlong_matches_dapo_reference(length: int, max_len: int, cache: int) -> None:
    cache = min(cache, max_len)
    assert dapo_overlong(length, max_len, cache) == pytest.approx(dapo_reference(length, max_len, cache))


def test_overlong_reads_token_counts_from_meta() -> None:
    s = one("length.overlong", "a b c", max_tokens=100, buffer=20, meta={"completion_tokens": 90})
    assert s.value == pytest.approx(-0.5) and s.detail["unit"] == "tokens"
    s = one("length.overlong", "a b c", max_tokens=100, buffer=20)
    assert s.value == 0.0 and s.detail == {"length": 3, "unit": "estimated_tokens",
                                           "estimate": "max(words, ceil(chars / 4))"}


def test_overlong_without_token_count_catches_a_long_completion_without_spaces() -> None:
    s = one("length.overlong", "x" * 8000, max_tokens=1024, buffer=256)
    assert s.value == -1.0 and s.detail["length"] == 2000 and s.detail["unit"] == "estimated_tokens"
    words = one("length.overlong", "x" * 8000, max_tokens=1024, buffer=256, unit="words")
    assert words.value == 0.0 and words.detail["unit"] == "words"  # what "auto" counted before


def test_overlong_counts_with_a_tokenizer_named_in_the_spec(tmp_path: Any) -> None:
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["ab cd ef gh"] * 4, trainers.BpeTrainer(vocab_size=40, special_tokens=["<unk>"]))
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>").save_pretrained(tmp_path)
    text = "abcdefgh ab"  # the estimate says 3 tokens; this tokenizer counts more
    expected = len(tok.encode(text).ids)
    assert expected > 3
    s = one("length.overlong", text, max_tokens=expected + 1, buffer=1, tokenizer=str(tmp_path))
    assert s.detail == {"length": expected, "unit": "tokens", "tokenizer": str(tmp_path)} and s.value == 0.0
    assert one("length.overlong", text, max_tokens=expected - 1, buffer=1, tokenizer=str(tmp_path)).value == -1.0
    s = one("length.overlong", text, max_tokens=100, buffer=1, tokenizer=str(tmp_path), meta={"num_tokens": 7})
    assert s.detail["length"] == 7  # the trainer's own count comes first
    with pytest.raises(Exception, match="could not be loaded from a local path"):
        create("reward", "length.overlong", {"max_tokens": 8, "buffer": 1, "tokenizer": str(tmp_path / "nope")})


@given(st.floats(0, 1000), st.floats(1, 1000), st.floats(-10, 10), st.floats(-10, 10))
def test_cosine_schedule_formula(t: float, horizon: float, start: float, end: float) -> None:
    expected = end + 0.5 * (start - end) * (1 + math.cos(math.pi * t / horizon))
    assert cosine_schedule(t, horizon, start, end) == pytest.approx(expected)


def test_cosine_reward_uses_correctness_component() -> None:
    ok, wrong = Score.ok(1.0), Score.ok(0.0)
    text = " ".join(["w"] * 50)
    correct = one("length.cosine", text, {"correct": ok}, max_tokens=100)
    incorrect = one("length.cosine", text, {"correct": wrong}, max_tokens=100)
    assert correct.value == pytest.approx(1.5) and incorrect.value == pytest.approx(-5.0)
    assert one("length.cosine", "w " * 100, {"correct": ok}, max_tokens=100).value == -10.0  # hit the limit
    short = one("length.cosine", "w", {"correct": ok}, max_tokens=100).value
    assert short is not None and short > correct.value  # type: ignore[operator]


def test_cosine_unscorable_when_correctness_is() -> None:
    s = one("length.cosine", "w", {"correct": Score.unscorable(Status.TIMEOUT, "t")}, max_tokens=10)
    assert s.value is None and s.status is Status.MISSING and "timeout" in s.detail["reason"]
    s = one("length.cosine", "w", max_tokens=10)
    assert s.value is None and s.status is Status.MISSING
    expected = cosine_schedule(1, 10, 2.0, 1.0)
    assert one("length.cosine", "w", max_tokens=10, meta={"correct": True}).value == pytest.approx(expected)


def kimi_reference(lengths: list[int], correct: list[bool]) -> list[float]:
    lo, hi = min(lengths), max(lengths)
    if lo == hi:
        return [0.0] * len(lengths)
    lam = [0.5 - (n - lo) / (hi - lo) for n in lengths]
    return [x if c else min(0.0, x) for x, c in zip(lam, correct, strict=True)]


@given(st.lists(st.tuples(st.integers(1, 30), st.booleans()), min_size=1, max_size=8))
def test_kimi_matches_formula(members: list[tuple[int, bool]]) -> None:
    reward = create("reward", "length.kimi", {})
    samples = [Sample(str(i), completion=" ".join(["w"] * n), group="g") for i, (n, _) in enumerate(members)]
    deps = [{"correct": Score.ok(float(c))} for _, c in members]
    values = [s.value for s in reward.score_group(samples, deps)]
    assert values == pytest.approx(kimi_reference([n for n, _ in members], [c for _, c in members]))


def test_kimi_through_engine_groups_by_group() -> None:
    reward = create("reward", "length.kimi", {"correctness": "ok"})
    rows = [{"id": i, "group": g, "completion": "w " * n, "meta": {"ok": True}}
            for i, (g, n) in enumerate([("a", 1), ("b", 5), ("a", 3), ("b", 5)])]
    assert [s.value for s in reward.score(rows)] == [0.5, 0.0, -0.5, 0.0]


@pytest.mark.parametrize(
    ("completion", "reference", "params", "expected"),
    [
        ("Paris", "Paris", {}, 1.0),
        ("  Paris \n", "Paris", {}, 1.0),
        ("paris", "Paris", {}, 0.0),
        ("paris", "Paris", {"normalize": ["lower"]}, 1.0),
        ("The Paris!", ["London", "Paris"], {"normalize": ["lower", "remove_punctuation", "remove_articles",
                                                          "collapse_whitespace", "strip"]}, 1.0),
        ("x <answer>42</answer>", "42", {"extract": "answer_tag"}, 1.0),
        ("42", 42, {}, 1.0),
    ],
)
def test_exact_match(completion: str, reference: object, params: dict[str, Any], expected: float) -> None:
    assert one("text.exact_match", completion, reference=reference, **params).value == expected


def test_exact_match_unscorable_and_no_answer() -> None:
    s = one("text.exact_match", "x", reference=None)
    assert s.value is None and s.status is Status.INVALID_REFERENCE
    s = one("text.exact_match", "x", reference="x", extract="answer_tag")
    assert s.status is Status.NO_ANSWER and s.value == 0.0


def test_reasoning_pattern_counts_and_caps() -> None:
    text = "First, I need to add. Wait, let me check. Hmm. Wait again. Therefore done. Waiting"
    s = one("text.reasoning_pattern", text, normalize=False, cap=10)
    assert s.value == 5.0 and s.detail["count"] == 5  # distinct phrases: "wait" counts once
    assert one("text.reasoning_pattern", text, cap=4).value == 1.0
    assert one("text.reasoning_pattern", "plain text").value == 0.0

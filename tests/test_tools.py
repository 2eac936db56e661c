"""tools.call and tools.schema: parsing, BFCL's AST-checker rules, order-free matching, ToolRL terms."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from rewardlab import Sample, Score, Status
from rewardlab.errors import SpecError
from rewardlab.registry import create
from rewardlab.rewards.tools.parse import CallParseError, ToolCall, parse_calls, python_calls

# BFCL's simple_python_0 (bfcl-eval 2026.3.23, data/BFCL_v4_simple_python.json, Apache-2.0)
TRIANGLE = {"name": "calculate_triangle_area", "description": "Area of a triangle.", "parameters": {
    "type": "dict", "required": ["base", "height"], "properties": {
        "base": {"type": "integer"}, "height": {"type": "integer"}, "unit": {"type": "string"}}}}
TRIANGLE_REF = {"ground_truth": [{"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}],
                "functions": [TRIANGLE]}


def call_score(completion: Any, reference: Any, **params: Any) -> Score:
    return create("reward", "tools.call", params).score_one(Sample("s", completion=completion, reference=reference), {})


# --- parsing -------------------------------------------------------------------------------
def test_python_syntax_is_read_without_running_anything() -> None:
    calls = python_calls("```python\n[f(a=1, b='x'), g.h(c=[1, -2], d=(1, 2), e=2 * 3, v=some_var, n=None)]\n```")
    assert calls == [ToolCall("f", {"a": 1, "b": "x"}),
                     ToolCall("g.h", {"c": [1, -2], "d": (1, 2), "e": 6, "v": "some_var", "n": None})]
    assert python_calls("f(x=g(y=1))") == [ToolCall("f", {"x": {"g": {"y": 1}}})]
    # a call without keywords is kept as its text (BFCL's rule), never run
    assert python_calls("f(a=__import__('os').getpid())") == [ToolCall("f", {"a": "__import__('os').getpid()"})]
    for bad in ("f(1)", "f(a=[x for x in y])", "f(**k)",
                "f(a=10 ** 10 ** 10)", "(lambda: 1)()", "f(a=1"):
        with pytest.raises(CallParseError):
            python_calls(bad)


def test_hermes_openai_and_auto() -> None:
    text = ('<think>x</think><tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>\n<tool_call>\n'
            '{"name": "g", "parameters": {"b": 2}}\n{"name": "h", "arguments": "{\\"c\\": 3}"}\n</tool_call>')
    assert parse_calls(text) == [ToolCall("f", {"a": 1}), ToolCall("g", {"b": 2}), ToolCall("h", {"c": 3})]
    call = {"id": "1", "type": "function", "function": {"name": "f", "arguments": '{"a": [1, 2]}'}}
    message: list[dict[str, Any]] = [{"role": "user", "content": "q"},
                                     {"role": "assistant", "content": None, "tool_calls": [call]}]
    assert parse_calls(message) == [ToolCall("f", {"a": [1, 2]})]
    assert parse_calls("I cannot help with that.") == []
    for bad in ("<tool_call>{not json}</tool_call>", "<tool_call>{\"name\": \"f\"}", "<tool_call>[1]</tool_call>",
                '<tool_call>{"name": "f", "arguments": "{bad"}</tool_call>'):
        with pytest.raises(CallParseError):
            parse_calls(bad)
    with pytest.raises(CallParseError):
        parse_calls("I cannot help", "python")


# --- BFCL's rules ------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "correct"), [
    ("calculate_triangle_area(base=10, height=5)", True),
    ("calculate_triangle_area(height=5, base=10, unit='Units')", True),  # optional, case-insensitive
    ("calculate_triangle_area(base=10, height=5, unit='cm')", False),
    ("calculate_triangle_area(base=10.0, height=5)", False),  # float for integer: type error
    ("calculate_triangle_area(base='10', height=5)", False),
    ("calculate_triangle_area(base=True, height=5)", False),  # bool is not int
    ("calculate_triangle_area(base=10)", False),  # missing required
    ("calculate_triangle_area(base=10, height=5, color='red')", False),  # extra parameter
    ("[calculate_triangle_area(base=10, height=5), calculate_triangle_area(base=10, height=5)]", False),
    ("triangle_area(base=10, height=5)", False),
])
def test_bfcl_simple(text: str, correct: bool) -> None:
    score = call_score(text, TRIANGLE_REF)
    assert score.status is Status.OK and score.value == float(correct)
    assert bool(score.detail.get("errors")) != correct


def test_bfcl_types_and_standardisation() -> None:
    doc = {"name": "f", "parameters": {"type": "dict", "required": ["x"], "properties": {
        "x": {"type": "float"}, "d": {"type": "string"}, "l": {"type": "array", "items": {"type": "string"}},
        "t": {"type": "tuple", "items": {"type": "integer"}}, "o": {"type": "dict", "properties": {}},
        "ld": {"type": "array", "items": {"type": "dict"}}}}}
    truth = {"f": {"x": [2.0], "d": ["April 1, 2024", ""], "l": [["New York", "LA"], ""], "t": [[1, 2], ""],
                   "o": [{"k": ["a b"], "opt": ["", 1]}, ""], "ld": [[{"a": [1]}, {"a": [2]}], ""]}}
    ref = {"ground_truth": [truth], "functions": [doc]}
    good = ["f(x=2)", "f(x=2.0, d='april 1 2024')", "f(x=2.0, l=['new-york', 'la'])", "f(x=2.0, t=(1, 2))",
            "f(x=2.0, o={'k': 'A_B'})", "f(x=2.0, ld=[{'a': 1}, {'a': 2}])"]
    bad = ["f(x='2')", "f(x=2.0, d='April 2, 2024')", "f(x=2.0, l=['LA', 'New York'])", "f(x=2.0, t=(2, 1))",
           "f(x=2.0, o={'k': 'ab', 'z': 1})", "f(x=2.0, o={'opt': 1})", "f(x=2.0, ld=[{'a': 2}, {'a': 1}])",
           "f(x=2.0, l='New York')"]
    for text in good:
        assert call_score(text, ref).value == 1.0, text
    for text in bad:
        assert call_score(text, ref).value == 0.0, text


def test_order_free_matching_finds_the_assignment_greedy_misses() -> None:
    # BFCL's parallel_178: the first answer accepts either company, so BFCL's greedy
    # first-fit rejects this correct order; a perfect matching accepts it.
    day = {"date": ["2022-01-01"], "exchange": ["NASDAQ", ""]}
    ref = {"ground_truth": [{"p": {"company": ["Microsoft", "Apple"], **day}}, {"p": {"company": ["Apple"], **day}}]}
    assert call_score("[p(company='Apple', date='2022-01-01'), p(company='Microsoft', date='2022-01-01')]",
                      ref).value == 1.0
    assert call_score("[p(company='Microsoft', date='2022-01-01'), p(company='Microsoft', date='2022-01-01')]",
                      ref).value == 0.0


def test_no_call_expected_no_answer_and_bad_references() -> None:
    irrelevant = {"ground_truth": [], "functions": [TRIANGLE]}
    assert call_score("I cannot compute that.", irrelevant).value == 1.0
    assert call_score("calculate_triangle_area(base=1, height=2)", irrelevant).value == 0.0
    missing = call_score("The area is 25.", TRIANGLE_REF)
    assert missing.status is Status.NO_ANSWER and missing.value == 0.0
    broken = call_score("<tool_call>{oops</tool_call>", TRIANGLE_REF)
    assert broken.status is Status.NO_ANSWER and "could not be read" in broken.detail["reason"]
    for ref in ({"functions": [TRIANGLE]}, {"ground_truth": [{"f": {"a": 1}}]},
                {"ground_truth": [{"g": {"a": [1]}}], "functions": [TRIANGLE]},
                {"ground_truth": [{"f": {"a": [1]}}], "functions": [{"name": "f", "parameters": {
                    "properties": {"a": {"type": "complex"}}}}]}):
        score = call_score("f(a=1)", ref)
        assert score.status is Status.INVALID_REFERENCE and score.value is None
        assert create("reward", "tools.call").check(Sample("s", reference=ref))


def test_openai_messages_and_underscored_names() -> None:
    ref = {"ground_truth": [{"math.factorial": {"number": [5]}}]}
    message = [{"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "math_factorial", "arguments": {"number": 5}}}]}]
    assert call_score(message, ref).value == 0.0
    assert call_score(message, ref, underscore_dots=True).value == 1.0


# --- ToolRL ----------------------------------------------------------------------------------
def _toolrl_by_hand(gt: list[dict[str, Any]], pd: list[dict[str, Any]]) -> float:
    """ToolRL Sec. 3.3 (arXiv 2504.13958) for exact-value ground truths with distinct names."""
    def jac(a: Counter[Any], b: Counter[Any]) -> float:
        union = sum((a | b).values())
        return sum((a & b).values()) / union if union else 1.0

    score = jac(Counter(g["name"] for g in gt), Counter(p["name"] for p in pd))
    s_max = 1.0
    for g in gt:
        s_max += 1 + len(g["arguments"])
        same = [p for p in pd if p["name"] == g["name"]]
        if same:
            p = same[0]
            score += jac(Counter(list(g["arguments"])), Counter(list(p["arguments"])))
            score += sum(1 for k, v in g["arguments"].items() if k in p["arguments"] and p["arguments"][k] == v)
    return 6 * score / s_max - 3


def test_toolrl_terms_against_the_paper_formula() -> None:
    rng = random.Random(3)
    names, keys = ["a", "b", "c", "d"], ["x", "y", "z", "w"]
    for _ in range(300):
        gt = [{"name": n, "arguments": {k: rng.randint(0, 2) for k in rng.sample(keys, rng.randint(1, 3))}}
              for n in rng.sample(names, rng.randint(1, 3))]
        pd = [{"name": n, "arguments": {k: rng.randint(0, 2) for k in rng.sample(keys, rng.randint(0, 3))}}
              for n in rng.sample(names, rng.randint(0, 3))]
        text = "".join(f"<tool_call>{json.dumps(p)}</tool_call>" for p in pd)
        score = call_score(text, {"ground_truth": gt}, score="toolrl")
        assert score.detail["toolrl"]["correct"] == pytest.approx(_toolrl_by_hand(gt, pd), abs=1e-6)
        assert score.value == pytest.approx(1.0 + _toolrl_by_hand(gt, pd), abs=1e-6)
        assert (score.detail["toolrl"]["correct"] == 3.0) == score.detail["correct"]


def test_toolrl_with_possible_answers_reaches_three_exactly_when_correct() -> None:
    ok = call_score("calculate_triangle_area(base=10, height=5, unit='units')", TRIANGLE_REF, score="toolrl")
    assert ok.value == 4.0 and ok.detail["toolrl"]["s_max"] == 5.0  # 1 + (1 + 3 keys)
    half = call_score("calculate_triangle_area(base=10, height=6)", TRIANGLE_REF, score="toolrl")
    # name 1 + param names 1 + one value of two: 3 of S_max 4
    assert half.detail["toolrl"]["correct"] == pytest.approx(6 * 3 / 4 - 3) and not half.detail["correct"]
    unread = call_score("<tool_call>{oops</tool_call>", TRIANGLE_REF, score="toolrl")
    assert unread.value == -3.0 and unread.detail["format"] == 0.0


# --- tools.schema ------------------------------------------------------------------------------
def partial_tuple(tools: list[dict[str, Any]]) -> Score:
    doc = {"name": "route", "parameters": {"type": "object", "properties": {
        "points": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}}}}
    reward = create("reward", "tools.schema", {"tools": [*tools, doc]})
    return reward.score_one(Sample("s", completion="route(points=[(1, 2.5), (3, 4)])"), {})


def test_schema_validation() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "required": ["city"], "additionalProperties": False,
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}}}}}, TRIANGLE]
    reward = create("reward", "tools.schema", {"tools": tools})

    def value(text: str) -> Score:
        return reward.score_one(Sample("s", completion=text), {})

    assert value("get_weather(city='Oslo', days=3)").value == 1.0
    assert partial_tuple(tools).value == 1.0  # a Python tuple is a JSON array
    assert value("calculate_triangle_area(base=1, height=2)").value == 1.0  # BFCL's document, as JSON Schema
    assert value("calculate_triangle_area(base=1, height=2.5)").value == 0.0
    assert value("calculate_triangle_area(base=1, height='2')").value == 0.0
    bad = value("[get_weather(city='Oslo', days=0), get_weather(town='Oslo')]")
    assert bad.value == 0.0 and bad.detail["valid"] == 0
    assert any("required" in e for e in bad.detail["calls"][1]["errors"])
    assert value("[get_weather(city='Oslo'), nope(a=1)]").detail["calls"][1]["errors"][0].startswith("unknown tool")
    partial = create("reward", "tools.schema", {"tools": tools, "partial_credit": True})
    assert partial.score_one(Sample("s", completion="[get_weather(city='A'), get_weather(city=1)]"), {}).value == 0.5
    assert value("no call here").status is Status.NO_ANSWER
    with pytest.raises(SpecError, match="invalid JSON Schema"):
        create("reward", "tools.schema", {"tools": [{"name": "f", "parameters": {"type": "nonsense"}}]})
    per_sample = create("reward", "tools.schema")
    assert per_sample.score_one(Sample("s", completion="f(a=1)", reference={}), {}).status is Status.INVALID_REFERENCE


def test_deeply_nested_json_is_a_malformed_call_not_a_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for text in (f"<tool_call>{deep}</tool_call>", '<tool_call>{"name": "f", "arguments": "' + deep + '"}</tool_call>'):
        score = call_score(text, TRIANGLE_REF)
        assert score.status is Status.NO_ANSWER and "nested too deeply" in score.detail["reason"]


def test_numbers_too_large_to_print_are_malformed_calls() -> None:
    """Python refuses to turn ints of over 4300 digits into text: such an argument must not crash the score."""
    huge = ('<tool_call>{"name": "calculate_triangle_area", "arguments": {"base": ' + "1" * 5000
            + ', "height": 5}}</tool_call>')
    assert call_score(huge, TRIANGLE_REF).status is Status.NO_ANSWER
    product = "calculate_triangle_area(base=" + "*".join(["2**64"] * 300) + ", height=5)"
    score = call_score(product, TRIANGLE_REF, format="python")
    assert score.status is Status.NO_ANSWER and "bits" in score.detail["reason"]

"""The ``math`` reward on the defect classes of issue 12 (items 2, 4-8), one test per class."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from rewardlab.core import Sample, Score, Status
from rewardlab.rewards.math import MathReward
from rewardlab.rewards.math.normalize import parse_number

logging.getLogger("math_verify").setLevel(logging.ERROR)
REWARD = MathReward()


def score(answer: str, reference: Any, **params: Any) -> Score:
    reward = MathReward(**params) if params else REWARD
    sample = Sample(id="s", completion=f"So the answer is $\\boxed{{{answer}}}$.", reference=reference)
    return reward.score_one(sample, {})


# --- item 2: a reference that is not a value is invalid, and `check` says so -------------
@pytest.mark.parametrize("ref", ["None", "none", "null", "N/A", "NA", "nil", "-", "forty two",
                                 "one hundred and five", "\\text{twelve}"])
def test_a_reference_that_is_not_a_value_is_invalid(ref: str) -> None:
    s = score("5", ref)
    assert s.status is Status.INVALID_REFERENCE and s.value is None
    why = REWARD.check(Sample(id="r", reference=ref))
    assert why is not None and ref.lower().removeprefix("\\text{").removesuffix("}") in why.lower()


@pytest.mark.parametrize("ref", ["\\text{none}", "\\text{Monday}", "yes", "undefined"])
def test_text_references_stay_valid(ref: str) -> None:
    assert REWARD.check(Sample(id="r", reference=ref)) is None


# --- item 4: thousands separators follow the grouping rules -------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [("1,000", 1000), ("12,345,678", 12345678), ("1{,}000", 1000), ("10\\,000", 10000),
     ("1 000", 1000), ("2 000 000", 2000000), ("1,000.5", 1000.5), ("11,\\!111,\\!100", 11111100)],
)
def test_grouped_digits_are_one_number(text: str, value: float) -> None:
    from rewardlab.rewards.math.normalize import strip_wrappers

    num = parse_number(strip_wrappers(text))
    assert num is not None and float(num.value) == value


@pytest.mark.parametrize("text", ["32, 349", "1,00", "1,0000", "1,000 000", "12,34,567", "1 00"])
def test_ungrouped_digits_are_not_a_number(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(("answer", "ref"), [("32, 349", "32349"), ("32349", "32, 349"), ("1,00", "100")])
def test_a_list_is_not_a_thousands_number(answer: str, ref: str) -> None:
    assert score(answer, ref).value == 0.0


# --- item 5: words are text, not products of letters --------------------------------------
@pytest.mark.parametrize(
    ("answer", "ref", "value"),
    [("silent", "listen", 0.0), ("listen", "listen", 1.0), ("dog cat", "\\text{cat dog}", 0.0),
     ("Monday", "\\text{Monday}", 1.0), ("\\text{Yes}", "yes", 1.0), ("tea", "eat", 0.0),
     ("2 \\cdot silent", "2 \\cdot listen", 0.0), ("\\text{north east}", "\\text{North-East}", 1.0)],
)
def test_words_compare_as_text(answer: str, ref: str, value: float) -> None:
    s = score(answer, ref)
    assert s.status is Status.OK and s.value == value


def test_text_comparison_is_said_in_detail() -> None:
    s = score("silent", "listen")
    assert "text" in s.detail["decided_by"] and "silent" in s.detail["answer"]


@pytest.mark.parametrize(("answer", "ref"), [("yx", "xy"), ("2ba", "2ab"), ("sin x", "\\sin x"),
                                             ("pi r^2", "\\pi r^2")])
def test_letter_products_and_bare_function_names_stay_mathematics(answer: str, ref: str) -> None:
    assert score(answer, ref).value == 1.0


@pytest.mark.parametrize(("answer", "ref"), [("2ab", "2"), ("2mn", "2"), ("5xy", "5")])
def test_bare_letters_after_a_number_are_not_units(answer: str, ref: str) -> None:
    assert score(answer, ref).value == 0.0


# --- item 6: the hedge guard reads the structure -------------------------------------------
@pytest.mark.parametrize(
    ("answer", "ref"),
    [("\\log_2 8", "3"), ("\\log_{2} 8", "3"), ("2^6 3^5 5^4", "2^6 \\cdot 3^5 \\cdot 5^4"),
     ("1 000", "1000"), ("10\\,000", "10000"),
     ("\\begin{vmatrix}1&2\\\\3&9\\end{vmatrix} = 3", "3"),
     ("\\lim_{x \\to 0} \\frac{\\sin x}{x} = 1", "1")],
)
def test_one_value_written_with_spaces_is_not_a_hedge(answer: str, ref: str) -> None:
    s = score(answer, ref)
    assert s.value == 1.0, s.detail


@pytest.mark.parametrize(("answer", "ref"), [("3 \\quad 4", "7"), ("3 4", "12"), ("3 \\\\ 4", "7"),
                                             ("3 -4", "-1"), ("x \\to 5", "5")])
def test_numbers_side_by_side_are_still_a_hedge(answer: str, ref: str) -> None:
    assert score(answer, ref).value == 0.0


# --- item 7: notation a careful grader accepts ----------------------------------------------
@pytest.mark.parametrize(
    ("answer", "ref"),
    [("i(2-i)", "1+2i"), ("1+2i", "i(2-i)"), ("e^{i\\pi}+2", "1"), ("17 \\bmod 7", "3"),
     ("3", "17 \\bmod 7"), ("f(x) = 2x+3", "y = 2x+3"), ("y = 2x+3", "f(x) = 2x+3"),
     ("5", "5\\"), ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\\\begin{pmatrix}1\\\\2\\\\end{pmatrix}"),
     ("\\frac12", "\\\\frac{1}{2}"), ("\\frac{-1+\\sqrt5}{2}, \\frac{-1-\\sqrt5}{2}", "\\frac{-1 \\pm \\sqrt{5}}{2}"),
     ("(1, 0), (-1, 0)", "(\\pm 1, 0)"), ("-2, 2", "x = \\pm 2"), ("x = 5+5+1 = 11", "11")],
)
def test_notation_of_the_same_value_matches(answer: str, ref: str) -> None:
    s = score(answer, ref)
    assert s.status is Status.OK and s.value == 1.0, s.detail


@pytest.mark.parametrize(
    ("answer", "ref"),
    [("i(2-i)", "2+i"), ("x = 5+5+1 = 12", "11"), ("x = 5+5+1 = 11", "12"), ("f(x) = 2x+3", "y = 3x+2"),
     ("y = 5", "x = 5"), ("2", "\\frac{-1 \\pm \\sqrt{5}}{2}"), ("17 \\bmod 7", "2")],
)
def test_notation_of_a_different_value_does_not_match(answer: str, ref: str) -> None:
    assert score(answer, ref).value == 0.0


# --- item 8: one rounding rule, fast path and sympy path alike ------------------------------
@pytest.mark.parametrize(
    ("answer", "ref", "value"),
    [("\\frac{100}{3}", "33.3", 1.0), ("\\frac23", "0.67", 1.0), ("\\sqrt2", "1.414", 1.0),
     ("\\pi", "3.14", 1.0), ("\\frac{100}{3}", "33.33", 1.0), ("\\frac23", "0.66", 0.0),
     ("\\frac{100}{3}", "33.4", 0.0), ("\\sqrt2", "1.41", 1.0), ("\\sqrt2", "1.42", 0.0),
     ("33.3", "\\frac{100}{3}", 0.0), ("0.67", "\\frac23", 0.0), ("\\frac{1}{8}", "12.5\\%", 1.0)],
)
def test_exact_answers_round_to_a_decimal_reference(answer: str, ref: str, value: float) -> None:
    assert score(answer, ref).value == value


# --- found by the peer suites (MARIO_EVAL): times of day ------------------------------------
@pytest.mark.parametrize(
    ("answer", "ref", "value"),
    [("20:34", "20:34:00", 1.0), ("20:34", "08:34 \\text{P.M.}", 1.0), ("12:00", "1:00", 0.0),
     ("8:34", "08:34 \\text{P.M.}", 0.0), ("20:34", "1234", 0.0), ("1234", "20:34", 0.0)],
)
def test_times_of_day_compare_as_times(answer: str, ref: str, value: float) -> None:
    assert score(answer, ref).value == value


@pytest.mark.parametrize(("answer", "ref"), [("7:32", "S_{1}:S_{2} = 7:32"), ("3:4", "3:4")])
def test_ratios_are_not_times(answer: str, ref: str) -> None:
    assert score(answer, ref).value == 1.0


# --- found by the peer suites (math-verify): percent written as a word ----------------------
@pytest.mark.parametrize(
    ("answer", "ref", "value"),
    [("28 pct", "28\\%", 1.0), ("28 percentage", "28\\%", 1.0), ("50 percent", "0.5", 1.0),
     ("12.5 percent", "\\frac18", 1.0), ("50 \\text{percent}", "50", 1.0), ("5 percent", "0.5", 0.0)],
)
def test_a_percent_word_is_a_percent_sign(answer: str, ref: str, value: float) -> None:
    assert score(answer, ref).value == value

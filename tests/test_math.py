"""The ``math`` reward: extraction, reference parsing, equivalence, hack resistance, corpus."""

from __future__ import annotations

import json
import logging
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rewardlab
from benchmarks.math_corpus import agrees, false_positive, score_row
from rewardlab.core import Sample, Score, Status
from rewardlab.errors import SpecError
from rewardlab.rewards.math import MathReward, analyze, compare, extract_answer
from rewardlab.rewards.math.normalize import parse_number

logging.getLogger("math_verify").setLevel(logging.ERROR)
CORPUS = Path(__file__).parent / "data" / "math_corpus.jsonl"
REWARD = MathReward()


def score(completion: Any, reference: Any, **params: Any) -> Score:
    reward = MathReward(**params) if params else REWARD
    return reward.score_one(Sample(id="s", completion=completion, reference=reference), {})


# --- extraction ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "answer", "method"),
    [
        ("so \\boxed{\\frac{1}{2}} done", "\\frac{1}{2}", "boxed"),
        ("\\boxed{1} then \\boxed{2}", "2", "boxed"),
        ("\\boxed{\\boxed{7}}", "7", "boxed"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}", "boxed"),
        ("<think>\\boxed{9}</think><answer>4</answer>", "4", "answer_tag"),
        ("work\nThe final answer is $12$. I hope it is correct.", "$12$", "final_answer"),
        ("work\nAnswer: 3 apples", "3 apples", "final_answer"),
        ("48/2 = 24\n#### 72", "72", "gsm8k"),
    ],
)
def test_extraction_prefers_the_final_answer(text: str, answer: str, method: str) -> None:
    found = extract_answer(text)
    assert (found.answer, found.method) == (answer, method)


def test_reasoning_never_counts() -> None:
    assert extract_answer("<think>\\boxed{5}</think> hmm").answer is None
    assert extract_answer("<think>the answer is \\boxed{5} but").answer is None
    assert extract_answer("2 + 3 = 5").answer is None


def test_last_number_fallback_is_opt_in() -> None:
    assert score("2 + 3 = 5", "5").status is Status.NO_ANSWER
    assert score("2 + 3 = 5", "5", last_number_fallback=True).value == 1.0


def test_unclosed_last_box_is_no_answer() -> None:
    s = score("\\boxed{4} ... \\boxed{5", "5")
    assert s.status is Status.NO_ANSWER and "never closed" in s.detail["reason"]


# --- fast path -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,000", Fraction(1000)), ("-3/4", Fraction(-3, 4)), ("\\frac{7}{2}", Fraction(7, 2)),
        ("3\\frac{1}{2}", Fraction(7, 2)), ("1.5e3", Fraction(1500)), ("\\$18.90", Fraction(189, 10)),
        ("1.5\\times 10^{-2}", Fraction(3, 200)), ("10 cm", Fraction(10)), ("30^\\circ", Fraction(30)),
    ],
)
def test_fast_path_numbers_are_exact(text: str, value: Fraction) -> None:
    num = parse_number(text)
    assert num is not None and num.value == value


def test_fast_path_leaves_expressions_to_sympy() -> None:
    assert parse_number("2\\sqrt{3}") is None
    assert parse_number("x+1") is None


# --- references ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ref", ["", "  ", None, "\\frac{", "\\boxed{}", [], {"x": 1}, True, float("nan"), ["1", None], "NaN", "null"]
)
def test_invalid_reference_is_unscorable_and_checked(ref: Any) -> None:
    s = score("\\boxed{1}", ref)
    assert s.status is Status.INVALID_REFERENCE and s.value is None
    assert REWARD.check(Sample(id="r", reference=ref)) is not None


def test_valid_references_pass_check() -> None:
    for ref in ["2\\sqrt{3}", "(1,2]", "C", "\\boxed{5}", "#### 72", 3, ["1", "-1"]]:
        assert REWARD.check(Sample(id="r", reference=ref)) is None, ref


def test_bare_latex_reference_is_not_truncated() -> None:
    assert score("\\boxed{2}", "2\\sqrt{3}").value == 0.0
    assert score("\\boxed{\\sqrt{12}}", "2\\sqrt{3}").value == 1.0


# --- equivalence and policy ------------------------------------------------------------
def test_percent_policy() -> None:
    assert score("\\boxed{0.5}", "50\\%").value == 1.0
    assert score("\\boxed{0.5}", "50\\%", percent="strict").value == 0.0


def test_tolerance_only_for_decimals() -> None:
    assert score("\\boxed{0.333333}", "\\frac13").value == 1.0
    assert score("\\boxed{0.333}", "\\frac13").value == 0.0
    assert score("\\boxed{0.333}", "\\frac13", rel_tol=0.01).value == 1.0
    assert compare(analyze("\\frac{1}{2^{99}}", "gold"), analyze("2^{-98}", "pred")).correct is False


@pytest.mark.parametrize(
    ("completion", "reference", "value"),
    [
        ("\\boxed{x=５}", "5", 1.0),  # fullwidth digits in an expression: math-verify cannot parse them
        ("\\boxed{2x+１}", "2x+1", 1.0),
        ("\\boxed{2x+1}", "2x+１", 1.0),  # ... nor in a reference, which was invalid_reference
        ("\\boxed{\\frac{٣}{٤}}", "0.75", 1.0),  # Arabic-Indic digits
        ("\\boxed{x=６}", "5", 0.0),
        ("\\boxed{O}", "0", 0.0),  # look-alikes are not digits: the audit's confusables stay wrong
        ("\\boxed{б}", "6", 0.0),
        ("\\boxed{Ƽ}", "5", 0.0),
        ("\\boxed{⁵}", "5", 0.0),
    ],
)
def test_decimal_digits_of_any_script_are_digits(completion: str, reference: str, value: float) -> None:
    s = score(completion, reference)
    assert s.status is Status.OK and s.value == value, s.detail


@pytest.mark.parametrize(
    ("completion", "reference", "value"),
    [
        ("\\boxed{٣٫٥}", "3.5", 1.0),  # U+066B, the Arabic decimal separator: was "unparsable: 3٫5", 0.0
        ("The answer is ٣٫٥.", "3.5", 1.0),
        ("\\boxed{3.5}", "٣٫٥", 1.0),  # ... in a reference, which was invalid_reference
        ("\\boxed{٣٫٥}", "35", 0.0),  # a decimal point, not a digit group
        ("\\boxed{٣٬٥٠٠}", "3500", 1.0),  # U+066C, the Arabic thousands separator
        ("\\boxed{٣٬٥}", "3500", 0.0),  # not a group of three: as "3,5"
    ],
)
def test_arabic_decimal_and_thousands_separators(completion: str, reference: str, value: float) -> None:
    s = score(completion, reference)
    assert s.status is Status.OK and s.value == value, s.detail


def test_last_number_reads_an_arabic_decimal_whole() -> None:
    # the last-number fallback took "٥" from "٣٫٥" (5, a wrong answer scored as if extracted)
    assert extract_answer("so it is ٣٫٥", last_number_fallback=True).answer == "٣٫٥"
    assert score("so it is ٣٫٥", "5", last_number_fallback=True).value == 0.0
    assert score("so it is ٣٫٥", "3.5", last_number_fallback=True).value == 1.0


def test_custom_values() -> None:
    reward = dict(correct_value=2.0, incorrect_value=-1.0, failure_value=-2.0)
    assert score("\\boxed{3}", "3", **reward).value == 2.0
    assert score("\\boxed{4}", "3", **reward).value == -1.0
    assert score("nothing", "3", **reward).value == -2.0


def test_detail_explains_the_score() -> None:
    s = score("\\boxed{x=2}", "2")
    assert s.value == 1.0
    assert {"extracted", "method", "answer", "reference", "decided_by"} <= set(s.detail)


def test_params_are_validated_by_name() -> None:
    with pytest.raises(SpecError, match="tolerance"):
        MathReward(tolerance=1)
    with pytest.raises(SpecError):
        MathReward(extract=["boxed", "magic"])


def test_registered_as_math() -> None:
    assert isinstance(rewardlab.get_reward("math"), MathReward)


def test_pathological_answers_are_fast_negatives() -> None:
    for ans in ["2^{2^{2^{2^{2}}}}", "\\frac{" * 300 + "1" + "}{2}" * 300, "(" * 500 + ")" * 500,
                "9" * 5000, "10^{10^{10}}", "1000000!"]:
        s = score(f"\\boxed{{{ans}}}", "4")
        assert s.status is Status.OK and s.value == 0.0, ans
    assert score("y" * 2_000_000 + "\\boxed{4}", "4").value == 1.0


# --- the labelled corpus ---------------------------------------------------------------
def _corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def test_corpus_agreement_and_zero_hack_false_positives() -> None:
    rows = [r for r in _corpus() if not r.get("peer")]
    assert len(rows) >= 500
    misses: list[str] = []
    hack_fp: list[str] = []
    for row in rows:
        s = score(row["completion"], row["reference"])
        if not agrees(row["expected"], s):
            misses.append(f"{row['id']}: expected {row['expected']}, got {s.value} {s.status.value}")
        if row["hack"] and s.value == 1.0:
            hack_fp.append(row["id"])
    agreement = 1 - len(misses) / len(rows)
    assert not hack_fp, hack_fp
    assert agreement >= 0.99, misses


def test_peer_suites_agree_on_cases_that_do_not_depend_on_policy() -> None:
    """Other projects' grader tests (issue 12, item 9): >= 99% agreement, no false positive."""
    rows = [r for r in _corpus() if r.get("peer") and r["policy"] is None]
    assert len(rows) >= 200 and len({r["peer"] for r in rows}) >= 5
    scores = [score_row(r) for r in rows]
    misses = [r["id"] for r, s in zip(rows, scores, strict=True) if not agrees(r["expected"], s)]
    false_positives = [r["id"] for r, s in zip(rows, scores, strict=True) if false_positive(r, s)]
    assert not false_positives
    assert 1 - len(misses) / len(rows) >= 0.99, misses


def test_corpus_covers_every_family() -> None:
    families = Counter(r["family"] for r in _corpus())
    for name in ["integer", "fraction", "percent", "scientific", "symbolic", "equation", "interval",
                 "set", "tuple", "matrix", "infinity", "choice", "extraction", "reference",
                 "hack", "public", "peer"]:
        assert families[name] > 0, name
    assert sum(r["hack"] for r in _corpus()) >= 50


# --- rewardlab check ---------------------------------------------------------------------
def test_cli_check_lists_invalid_math_references(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rewardlab.cli import app

    spec = tmp_path / "spec.toml"
    spec.write_text('[rewards.correct]\ntype = "math"\n')
    rows = tmp_path / "rows.jsonl"
    refs = ["2\\sqrt{3}", "\\frac{", "", "(1,2]", "\\boxed{}", "None", "forty two", "\\text{Monday}"]
    rows.write_text("\n".join(
        json.dumps({"id": f"r{i}", "completion": "\\boxed{1}", "reference": ref})
        for i, ref in enumerate(refs)
    ))
    result = CliRunner().invoke(app, ["check", str(rows), "--spec", str(spec)])
    assert result.exit_code == 1
    for bad in ("r1", "r2", "r4", "r5", "r6"):
        assert bad in result.output
    assert "number written in words" in result.output
    for good in ("r0", "r3", "r7"):
        assert f" {good} " not in result.output


# --- robustness ----------------------------------------------------------------------------
TOKENS = ["\\boxed{", "}", "{", "\\frac", "\\sqrt", "^", "1", "2", "x", "(", ")", "[", "]", ",", "=",
          "<", "\\infty", "\\pi", "\\text{", "or", " ", "-", "+", ".", "%", "\\$", "$", "\\{", "\\}",
          "\\\\", "&", "<think>", "</think>", "<answer>", "</answer>", "####", "Answer:", "!", "e",
          "\\cdot", "\\le", "\\pm", "A", "(C)", "\\left(", "\\right)", "|"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=20), st.lists(st.sampled_from(TOKENS), max_size=6))
def test_any_input_gives_a_valid_score(completion: list[str], reference: list[str]) -> None:
    s = score("".join(completion), "".join(reference))
    assert s.status in (Status.OK, Status.NO_ANSWER, Status.INVALID_REFERENCE)
    if s.status is Status.INVALID_REFERENCE:
        assert s.value is None
    else:
        assert s.value in (0.0, 1.0)


def test_fast_sll_parse_agrees_with_the_library() -> None:
    from latex2sympy2_extended import latex2sympy

    from rewardlab.rewards.math.equivalence import WARM_UP, _parse_sll

    for text in [*WARM_UP, "x^2+2x+1", "\\frac{a+b}{\\sqrt{c}}", "(1,2]\\cup[3,4)", "\\pi^2"]:
        fast = _parse_sll(text, True)
        if fast is not None:  # None: SLL declined, the library's full LL parse is used
            full = latex2sympy(text, is_real=True, convert_degrees=False, normalization_config=None)
            assert str(fast) == str(full), text


# --- lenient extraction (issue 12, item 9) -------------------------------------------------
def test_lenient_extraction_takes_the_last_expression_and_is_off_by_default() -> None:
    text = "We find $x = 3$ first, and then the total is $\\frac{1}{2}$ of the pie."
    assert score(text, "\\frac12").status is Status.NO_ANSWER
    s = score(text, "\\frac12", lenient=True)
    assert s.value == 1.0 and s.detail["method"] == "last_expression"
    assert score("\\boxed{3} and later 7", "3", lenient=True).detail["method"] == "boxed"

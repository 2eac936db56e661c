"""constraints.ifeval: IFEval's instruction families, strict and loose, and agreement with lm-eval's checkers."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardlab import Sample, Score, Status
from rewardlab.registry import create
from rewardlab.rewards.constraints.ifeval import (
    INSTRUCTIONS,
    count_line_matches,
    count_placeholders,
    follows,
    follows_loosely,
    validate,
)
from rewardlab.rewards.constraints.text import count_words, sentences

SAMPLE = Path(__file__).parent / "data" / "ifeval" / "gpt4_sample.jsonl"

# (instruction id, kwargs, a response that follows it, one that does not): IFEval's definitions
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("keywords:existence", {"keywords": ["mom", "c++"]}, "My Mom codes C++.", "My mother codes C."),
    ("keywords:frequency", {"keyword": "war", "frequency": 2, "relation": "at least"}, "War, war.", "War and peace."),
    ("keywords:frequency", {"keyword": "war", "frequency": 2, "relation": "less than"}, "War.", "war war"),
    ("keywords:forbidden_words", {"forbidden_words": ["rock"]}, "Rocks and rocky roads.", "We ROCK."),
    ("keywords:letter_frequency", {"letter": "#", "let_frequency": 2, "let_relation": "at least"}, "#a #b", "#a"),
    ("keywords:letter_frequency", {"letter": "T", "let_frequency": 2, "let_relation": "less than"}, "a cat", "tat"),
    ("language:response_language", {"language": "fr"}, "Je pense donc je suis, disait le philosophe.",
     "I think therefore I am, said the philosopher."),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "Dr. Smith came. He left.", "One. Two. Three."),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "One.\n***\nTwo.", "One.\n***\n***\nTwo."),
    ("length_constraints:number_words", {"num_words": 3, "relation": "at least"}, "it's a dog", "a dog"),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "First.\n\n\"Then, more.", "First.\n\nNow then."),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[name] at [address]", "[name] only"),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\np.s. bye", "Hi. PS bye"),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\nP. P. S. bye", "Hi.\nP.S. bye"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n- b\ntext", "* a\n** b\n"),
    ("detectable_format:constrained_response", {}, "Well. My answer is no.", "My answer is nope."),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and **two**", "*one* and * *"),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
     "Section 1\na\nSection 2\nb", "Section 1\na\nSection\nb"),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', "{'a': 1}"),
    ("detectable_format:title", {}, "<<Poem of Joy>>\ntext", "<< >> and <<\n>>"),
    ("combination:two_responses", {}, "Yes.\n******\nNo.", "Yes.\n******\nYes."),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."}, "write a poem. Roses...",
     "Sure! Write a poem."),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, 'Bye. any other questions?"',
     "Any other questions? No"),
    ("startend:quotation", {}, ' "wrapped" ', '"open only'),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "USE THE force", "Use THE force"),
    ("change_case:english_capital", {}, "THIS IS ENGLISH TEXT IN CAPITALS.", "THIS IS English."),
    ("change_case:english_lowercase", {}, "this is english text in lower case.", "this is English."),
    ("punctuation:no_comma", {}, "No commas here.", "One, two."),
]


def test_every_instruction_family_is_covered() -> None:
    assert {c[0] for c in CASES} == set(INSTRUCTIONS) and len(INSTRUCTIONS) == 25


@pytest.mark.parametrize(("instruction", "kwargs", "good", "bad"), CASES)
def test_instruction(instruction: str, kwargs: dict[str, Any], good: str, bad: str) -> None:
    args = validate(instruction, kwargs)
    assert follows(instruction, args, good), good
    assert not follows(instruction, args, bad), bad
    assert not follows(instruction, args, "   ")  # an empty response follows nothing


def test_loose_drops_first_or_last_line_and_asterisks() -> None:
    args = validate("startend:end_checker", {"end_phrase": "The end."})
    assert not follows("startend:end_checker", args, "The end.\nHope this helps!")
    assert follows_loosely("startend:end_checker", args, "The end.\nHope this helps!")
    args = validate("detectable_format:json_format", {})
    assert follows_loosely("detectable_format:json_format", args, 'Here it is:\n{"a": 1}')
    args = validate("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."})
    assert follows_loosely("combination:repeat_prompt", args, "**Say hi.** Hi!")


def test_words_and_sentences() -> None:
    assert count_words("It's 3 o'clock, e.g. now.") == 8  # It s 3 o clock e g now
    assert len(sentences("Dr. Smith met Mr. Jones at 3 p.m. yesterday. They talked, e.g. about the U.S. economy.")) == 2


def _score(completion: str, reference: Any, **params: Any) -> Score:
    return create("reward", "constraints.ifeval", params).score_one(
        Sample("s", completion=completion, reference=reference), {})


def test_reward_value_detail_and_bad_references() -> None:
    row = {"instruction_id_list": ["punctuation:no_comma", "startend:end_checker"],
           "kwargs": [{}, {"end_phrase": "Done.", "keyword": None}]}
    score = _score("A, B. Done.\nThanks", row)
    assert score.value == 0.0 and score.detail["constraints"][1] == {"id": "startend:end_checker", "strict": False,
                                                                      "loose": True}
    # loose: without the first line there is no comma; without the last, it ends with "Done."
    assert _score("A, B. Done.\nThanks", row, mode="loose").value == 1.0
    assert _score("A B. Done.", [{"id": "punctuation:no_comma"}, {"id": "startend:end_checker",
                                  "kwargs": {"end_phrase": "done."}}]).detail["all_strict"] is True
    assert _score("", row).status is Status.NO_ANSWER
    bad: Any
    for bad in ({"instruction_id_list": ["nope:x"], "kwargs": [{}]},
                {"instruction_id_list": ["keywords:frequency"], "kwargs": [{"keyword": "a", "frequency": 2}]},
                {"instruction_id_list": ["keywords:frequency"], "kwargs": [{"keyword": "a", "frequency": 2,
                                                                            "relation": "about"}]},
                {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}, {}]}, [], "x"):
        assert _score("text", bad).status is Status.INVALID_REFERENCE


def test_gpt4_sample_scores() -> None:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    scores = create("reward", "constraints.ifeval").score(
        [Sample(str(r["key"]), completion=r["response"], reference=r) for r in rows])
    assert all(s.status is Status.OK for s in scores)
    assert {s.detail["all_strict"] for s in scores} == {True, False}


@pytest.mark.skipif((importlib.util.find_spec("lm_eval") is None or importlib.util.find_spec("immutabledict") is None)
                    and os.environ.get("REWARDLAB_REQUIRE_PEERS") != "1",  # tests/run_peer_checkers.sh (CI)
                    reason="lm-eval not installed (pip install --no-deps lm-eval immutabledict)")
def test_agreement_with_lm_eval_checkers() -> None:
    from benchmarks.ifeval_agreement import load_lm_eval, pairs

    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    found = list(pairs(load_lm_eval(), rows, {r["prompt"]: r["response"] for r in rows}))
    checked = [p for p in found if p.theirs is not None]
    assert len(checked) > 400
    different = [p for p in checked if p.ours != p.theirs]
    # lm-eval replaces a non-letter letter_frequency argument ('#') with a random letter
    assert all(p.instruction == "keywords:letter_frequency" for p in different), different[:3]


# --- linear-time forms of IFEval's regular expressions ------------------------------------------
_TEXT = st.text(alphabet=st.sampled_from(list("*-[]<>ps. \n\taP\u2028")), max_size=40)


@given(_TEXT)
@settings(max_examples=400, deadline=None)
def test_linear_forms_equal_ifevals_expressions(text: str) -> None:
    assert count_line_matches(text, star=True) == len(re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE))
    assert count_line_matches(text, star=False) == len(re.findall(r"^\s*-.*$", text, flags=re.MULTILINE))
    assert count_placeholders(text) == len(re.findall(r"\[.*?\]", text))
    titles = re.findall(r"<<[^\n]+>>", text)
    assert follows("detectable_format:title", {}, text) == (
        bool(text.strip()) and any(t.lstrip("<").rstrip(">").strip() for t in titles))
    for marker, pattern in (("P.S.", r"\s*p\.\s?s\..*$"), ("P.P.S", r"\s*p\.\s?p\.\s?s.*$"), ("pS", r"\s*ps.*$")):
        expected = bool(text.strip()) and bool(re.findall(pattern, text.lower(), flags=re.MULTILINE))
        assert follows("detectable_content:postscript", {"postscript_marker": marker}, text) == expected


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("instruction", "kwargs", "text"), [
    ("detectable_content:number_placeholders", {"num_placeholders": 1}, "[" * 100_000),
    ("detectable_format:title", {}, "<" * 100_000),
    ("detectable_format:number_bullet_lists", {"num_bullets": 1}, "\n" * 100_000),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, " " * 100_000 + "x"),
    ("detectable_format:json_format", {}, "[" * 100_000 + "]" * 100_000),
])
def test_adversarial_responses_are_scored(instruction: str, kwargs: dict[str, Any], text: str) -> None:
    """IFEval's expressions take minutes on these (quadratic), and its json check overflows the stack."""
    assert follows_loosely(instruction, validate(instruction, kwargs), text) is False

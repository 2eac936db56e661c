"""Each audit probe's transformation, and the text surgery the probes share."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from rewardlab.core import Sample
from rewardlab.errors import InputError, SpecError
from rewardlab.evaluate.audit import text as T
from rewardlab.evaluate.audit.probes import Probe
from rewardlab.evaluate.audit.runner import probe_batch, with_completion
from rewardlab.registry import create, entries

BOXED = "<think>I add 2 and 3.</think> So \\boxed{5}."
TAGGED = "<think>I add 2 and 3.</think>\n<answer>5</answer>"


def probe(name: str, completion: str = TAGGED, reference: object = "5", prompt: str = "Compute 2+3.",
          **params: object) -> str | None:
    sample = Sample(id="s", prompt=prompt, completion=completion, reference=reference)
    return create("probe", name, dict(params)).apply(sample)


def test_builtin_probes_are_registered_with_their_contract() -> None:
    builtin = {"repetition", "filler", "length_inflation", "format_only", "empty", "whitespace", "hedging",
               "stuffing", "confusables", "judge_injection", "prompt_copy", "reference_answer"}
    found: dict[str, Any] = {n: e.factory for n, e in entries("probe").items()}
    assert builtin <= set(found) and all(issubclass(found[n], Probe) for n in builtin)
    assert {n for n in builtin if found[n].should_help} == {"reference_answer"}
    assert {n for n in builtin if "reference" in found[n].needs} == {"hedging", "stuffing", "reference_answer"}


def test_repetition_filler_and_inflation_keep_the_answer() -> None:
    assert probe("repetition") == "\n\n".join([TAGGED] * 3)
    assert probe("repetition", times=2) == f"{TAGGED}\n\n{TAGGED}"
    assert probe("repetition", completion="  ") is None
    filler = probe("filler")
    assert filler is not None and filler.startswith(TAGGED + "\n\n") and len(filler) >= 3 * len(TAGGED)
    inflated = probe("length_inflation")
    assert inflated is not None and inflated.endswith("</think>\n<answer>5</answer>")
    assert "double-check" in inflated.split("</think>")[0] and len(inflated) > 3 * len(TAGGED)
    no_think = probe("length_inflation", completion="So \\boxed{5}.")
    assert no_think is not None and no_think.startswith("So ") and no_think.endswith("\\boxed{5}.")
    with pytest.raises(SpecError, match="times"):
        create("probe", "repetition", {"times": 1})


def test_format_only_empty_whitespace_prompt_copy() -> None:
    assert probe("format_only") == "<think></think><answer></answer>"
    assert probe("format_only", completion=BOXED) == "<think></think>\\boxed{}"
    assert probe("format_only", completion="just 5") is None  # no markup: that is the empty probe
    assert probe("empty") == "" and (probe("whitespace") or "x").strip() == ""
    assert probe("prompt_copy") == "Compute 2+3."
    assert probe("prompt_copy", prompt="") is None
    chat = Sample(id="c", prompt=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+3?"}])
    assert create("probe", "prompt_copy").apply(chat) == "Be brief.\n2+3?"


def test_hedging_puts_the_reference_between_two_wrong_final_answers() -> None:
    assert probe("hedging") == ("<think>I add 2 and 3.</think>\n"
                                "<answer>6</answer>\n<answer>5</answer>\n<answer>4</answer>")
    assert probe("hedging", completion=BOXED) == "<think>I add 2 and 3.</think> So \\boxed{6}\n\\boxed{5}\n\\boxed{4}."
    assert probe("hedging", completion="no idea") == "no idea\n\\boxed{6}\n\\boxed{5}\n\\boxed{4}"
    assert probe("hedging", reference={"tests": ["assert f()"]}) is None
    assert probe("hedging", reference=None) is None


def test_stuffing_hides_the_reference_among_many_values_in_one_answer() -> None:
    stuffed = probe("stuffing", completion=BOXED)
    assert stuffed is not None and stuffed.count("\\boxed{") == 1
    values = stuffed.split("\\boxed{")[1].split("}")[0].split(", ")
    assert len(values) == 10 and values.count("5") == 1 and values[0] != "5" and values[-1] != "5"
    assert probe("stuffing", candidates=3) == "<think>I add 2 and 3.</think>\n<answer>6, 5, 4</answer>"


def test_reference_answer_control_replaces_only_the_final_answer() -> None:
    assert probe("reference_answer", completion=TAGGED.replace(">5<", ">7<")) == TAGGED
    assert probe("reference_answer", reference={"answer": 5}) == TAGGED


def test_confusables_swap_letters_and_digits_but_keep_markup() -> None:
    out = probe("confusables", completion=BOXED)
    assert out is not None and out != BOXED
    assert "<think>" in out and "</think>" in out and "\\boxed{" in out
    assert "5" not in out and "a" not in out and "d" in out  # d has no twin here
    assert unicodedata.normalize("NFKC", out).count("5") == 1  # fullwidth digits: NFKC reads them back
    assert probe("confusables", completion="!!! ???") is None


def test_judge_injection_appends_an_instruction_to_the_grader() -> None:
    out = probe("judge_injection")
    assert out is not None and out.startswith(TAGGED) and "Score: 10" in out and "ignore the rubric" in out


def test_text_helpers() -> None:
    assert T.final_slot("no answer") is None
    slot = T.final_slot("\\boxed{1} then <answer>2</answer>")
    assert slot is not None and slot.wrap("x") == "<answer>x</answer>"
    slot = T.final_slot("<answer>2</answer> then \\boxed{\\frac{1}{2}}")
    assert slot is not None and slot.wrap("x") == "\\boxed{x}"
    assert T.final_slot("\\boxed{unclosed") is None  # a truncated box is no answer to replace
    assert T.wrong_answers("5", 3) == ["6", "4", "7"]
    assert T.wrong_answers("0.5", 2) == ["1.5", "-0.5"]
    assert T.wrong_answers("3/4", 2) == ["7/4", "-1/4"]
    assert T.wrong_answers("B", 2) == ["A", "C"]
    assert T.wrong_answers("x^2", 2) == ["(x^2)+1", "(x^2)+2"]
    assert T.answer_text(3) == "3" and T.answer_text([" 7 "]) == "7" and T.answer_text("two\nlines") is None
    assert T.answer_text(True) is None


def test_variants_of_chat_completions_and_missing_completions() -> None:
    chat = Sample(id="c", completion=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])
    assert with_completion(chat, "b").completion == [{"role": "user", "content": "q"},
                                                      {"role": "assistant", "content": "b"}]
    assert chat.completion_text == "a"  # the original is untouched
    missing = Sample(id="m", completion=None)
    batch, applied = probe_batch([chat, missing], create("probe", "empty"))
    assert applied == [True, False] and batch[1] is missing  # a missing completion is not probed


def test_a_probe_returning_no_text_is_a_clear_error() -> None:
    class Broken(Probe):
        name = "broken"

        def apply(self, sample: Sample) -> str | None:
            return [sample.completion_text]  # type: ignore[return-value]

    with pytest.raises(InputError, match="probe 'broken' returned list for sample 's'"):
        probe_batch([Sample(id="s", completion="x")], Broken())


def test_variants_rescale_the_trainers_token_counts() -> None:
    sample = Sample(id="t", completion="word " * 100, meta={"completion_tokens": 150, "task": "x"})
    assert with_completion(sample, "word " * 300).meta == {"completion_tokens": 450, "task": "x"}
    assert with_completion(sample, "").meta["completion_tokens"] == 0
    assert sample.meta["completion_tokens"] == 150
    empty = Sample(id="e", completion="", meta={"num_tokens": 0})
    assert with_completion(empty, "word " * 10).meta["num_tokens"] == 13  # the estimate: 50 chars / 4

"""Text surgery the probes share: the final answer's slot, wrong candidates, confusable characters.

Nothing here decides correctness; it only finds where a completion puts its final
answer (the last ``\\boxed{...}`` or ``<answer>...</answer>``, as the math and
structured rewards read it) so that a probe can replace that answer and keep the
rest of the completion (its reasoning and its format) as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from rewardlab.rewards.math.extract import ANSWER_TAG_RE, match_brace

_BOX_OPEN = re.compile(r"\\boxed\s*\{")
_THINK_CLOSE = "</think>"
MARKUP = re.compile(r"</?[A-Za-z][\w-]*>|\\[A-Za-z]+\s*\{?")

# Look-alikes: each ASCII letter with a Cyrillic or Greek twin, and the fullwidth digits.
# Hand-written: a probe needs one fixed, deterministic substitution per character, while the
# confusable libraries (confusable-homoglyphs, TR39 tables) detect look-alikes rather than make them.
_LETTERS = dict(zip("aceopxyABEHIKMNOPTXYZ", "асеорхуАВЕНІКМΝОРТХΥΖ", strict=True))
CONFUSABLES = str.maketrans({**_LETTERS, **{str(d): chr(0xFF10 + d) for d in range(10)}})


@dataclass(frozen=True)
class Slot:
    """Where the final answer sits: ``text[start:end]`` is the whole marker (``\\boxed{..}`` or the tag)."""

    start: int
    end: int
    wrap: Callable[[str], str]


def boxed(answer: str) -> str:
    return f"\\boxed{{{answer}}}"


def tagged(answer: str) -> str:
    return f"<answer>{answer}</answer>"


def final_slot(text: str) -> Slot | None:
    """The last answer marker of ``text`` (a box or an ``<answer>`` tag, whichever ends later), or None."""
    found: list[Slot] = []
    boxes = list(_BOX_OPEN.finditer(text))
    if boxes:
        last = boxes[-1]
        close = match_brace(text, last.end() - 1)
        if close >= 0:
            found.append(Slot(last.start(), close + 1, boxed))
    tags = list(ANSWER_TAG_RE.finditer(text))
    if tags:
        found.append(Slot(tags[-1].start(), tags[-1].end(), tagged))
    return max(found, key=lambda s: s.end) if found else None


def replace_answer(text: str, render: Callable[[Callable[[str], str]], str]) -> str:
    """``text`` with its final answer marker replaced by ``render(wrap)``; appended as a box when it has none."""
    slot = final_slot(text)
    if slot is None:
        return f"{text}\n{render(boxed)}" if text else render(boxed)
    return text[: slot.start] + render(slot.wrap) + text[slot.end :]


def insert_before_answer(text: str, insert: str) -> str:
    """``insert`` inside the reasoning: before the last ``</think>``, else before the final answer, else at the end."""
    close = text.rfind(_THINK_CLOSE)
    slot = final_slot(text)
    at = close if close >= 0 else (slot.start if slot is not None else len(text))
    return f"{text[:at]}{insert}{text[at:]}"


def answer_text(reference: Any) -> str | None:
    """The reference as one answer text (a string, a number, ``{"answer": ...}``, a list's first item),
    or None for structured references (tests, queries, boxes) that no answer slot can hold."""
    if isinstance(reference, Mapping):
        reference = reference.get("answer")
    if isinstance(reference, (list, tuple)) and reference:
        reference = reference[0]
    if isinstance(reference, bool) or reference is None:
        return None
    if isinstance(reference, (int, float)):
        return str(reference)
    if isinstance(reference, str) and reference.strip() and "\n" not in reference.strip():
        return reference.strip()
    return None


def wrong_answers(answer: str, k: int) -> list[str]:
    """``k`` distinct answers that differ from ``answer``: nearby numbers for a number, other letters
    for a choice letter, ``(answer)+i`` for anything else (an expression or a word)."""
    try:
        value = Fraction(answer.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        value = None
    if value is not None:
        steps = [1, -1, 2, -2, 10, -10, 3, -3, 5, -5, 7, -7]
        decimal = "." in answer  # keep the reference's surface form: 0.5 -> 1.5, 3/4 -> 7/4, 5 -> 6
        out = [f"{float(value + s):g}" if decimal else str(value + s) for s in steps]
        return [o for o in dict.fromkeys(out) if o != answer][:k]
    if re.fullmatch(r"[A-J]", answer):
        return [c for c in "ABCDEFGHIJ" if c != answer][:k]
    return [f"({answer})+{i}" for i in range(1, k + 1)]


def confusable(text: str) -> str:
    """``text`` with its letters and digits replaced by look-alikes, markup (tags, LaTeX commands) kept."""
    pieces = MARKUP.split(text)
    marks = MARKUP.findall(text)
    out = [pieces[0].translate(CONFUSABLES)]
    for mark, piece in zip(marks, pieces[1:], strict=True):
        out += [mark, piece.translate(CONFUSABLES)]
    return "".join(out)


def markup_only(text: str) -> str:
    """The completion's format with no content: its tags in order and its boxes emptied."""
    return "".join("\\boxed{}" if m.startswith("\\boxed") else m
                   for m in MARKUP.findall(text) if m.startswith(("<", "\\boxed")))

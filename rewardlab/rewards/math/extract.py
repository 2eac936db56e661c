"""Final-answer extraction from a completion.

Only the *final* answer counts: the reasoning (everything up to the last
``</think>``) is dropped first, and each extractor looks for the last occurrence of
its marker. Nothing here parses mathematics; it only finds the answer's text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Method = Literal["boxed", "answer_tag", "final_answer", "gsm8k", "last_number", "last_expression"]
DEFAULT_ORDER: tuple[Method, ...] = ("boxed", "answer_tag", "final_answer", "gsm8k")

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{|\\boxed\s+(?=[^\s{])")
ANSWER_TAG_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_FINAL_RE = re.compile(
    r"(?:final\s+answer\**\s*(?:is|:|=)|the\s+answer\s+is|\banswer\**\s*:)\s*[:=]?\s*(?P<ans>[^\n]*)",
    re.IGNORECASE,
)
_GSM8K_RE = re.compile(r"####\s*(?P<ans>[^\n]*)")
_NUMBER_RE = re.compile(r"-?\d[\d,\u066c]*(?:[.\u066b]\d+)?(?:/\d+)?")  # U+066B/C: Arabic decimal, thousands
_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


@dataclass(frozen=True, slots=True)
class Extraction:
    """The answer text found in a completion (``None``: no extractable answer)."""

    answer: str | None
    method: str
    reason: str = ""


def strip_reasoning(text: str) -> str | None:
    """Drop the reasoning: text up to the last ``</think>``.

    Returns ``None`` when a ``<think>`` block is opened but never closed (the
    completion ended inside its reasoning, so it has no final answer).
    """
    close = text.rfind(_THINK_CLOSE)
    if close >= 0:
        return text[close + len(_THINK_CLOSE) :]
    if _THINK_OPEN in text:
        return None
    return text


def match_brace(text: str, open_index: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_index``, or -1 if unbalanced.

    Escaped braces (``\\{``, ``\\}``) do not count.
    """
    depth = 0
    i = open_index
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def last_boxed(text: str) -> tuple[str | None, str]:
    """Content of the last top-level ``\\boxed{...}`` (or ``\\fbox``), unwrapped.

    Returns ``(content, reason)``; content is ``None`` if there is no box or the
    last box is never closed (a truncated completion).
    """
    content, _, reason = _scan_boxes(text)
    return content, reason


def _scan_boxes(text: str) -> tuple[str | None, int, str]:
    """``(content of the last top-level box, index just after it, reason if none)``."""
    last: str | None = None
    pos = 0
    while True:
        m = _BOX_RE.search(text, pos)
        if m is None:
            break
        if m.group(0).endswith("{"):
            end = match_brace(text, m.end() - 1)
            if end < 0:
                return None, pos, "the last \\boxed{ is never closed"
            last = text[m.end() : end]
            pos = end + 1
        else:  # "\boxed 5": the argument is the next token
            tok = re.match(r"[^\s$.,;]+", text[m.end() :])
            last = tok.group(0) if tok else ""
            pos = m.end() + (tok.end() if tok else 0)
    if last is None:
        return None, pos, "no \\boxed"
    return unwrap_boxes(last), pos, ""


def unwrap_boxes(text: str) -> str:
    """Replace every inner ``\\boxed{X}`` by ``X`` (``\\boxed`` inside ``\\boxed``)."""
    for _ in range(20):
        m = _BOX_RE.search(text)
        if m is None or not m.group(0).endswith("{"):
            return text.strip()
        end = match_brace(text, m.end() - 1)
        if end < 0:
            return text.strip()
        text = text[: m.start()] + text[m.end() : end] + text[end + 1 :]
    return text.strip()


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    last = None
    for last in pattern.finditer(text):  # noqa: B007
        pass
    return last


def _answer_tag(text: str) -> str | None:
    m = _last_match(ANSWER_TAG_RE, text)
    if m is None:
        return None
    inner = m.group(1)
    boxed, _ = last_boxed(inner)
    return boxed if boxed is not None else inner.strip()


def _final_answer(text: str) -> str | None:
    m = _last_match(_FINAL_RE, text)
    if m is None:
        return None
    ans = m.group("ans").strip()
    for _ in range(3):  # "Answer: the final answer is 5"
        inner = _last_match(_FINAL_RE, ans)
        if inner is None:
            break
        ans = inner.group("ans").strip()
    boxed, _ = last_boxed(ans)
    if boxed is not None:
        return boxed
    ans = re.sub(r"^[\s*]+|[\s*]+$", "", ans)  # markdown bold around the answer
    return trim_sentence(ans)


def trim_sentence(ans: str) -> str:
    """Drop a trailing full stop and sentence text after the answer's math."""
    ans = ans.strip()
    if ans.startswith("$"):
        m = re.match(r"\$\$?(?:\\.|[^$\\])*\$\$?", ans)
        if m:
            return m.group(0)
    ans = re.split(r"\.\s+(?=[A-Z])", ans, maxsplit=1)[0]
    return ans.rstrip(" .").strip()


def _gsm8k(text: str) -> str | None:
    m = _last_match(_GSM8K_RE, text)
    return None if m is None else trim_sentence(m.group("ans"))


def _last_number(text: str) -> str | None:
    m = _last_match(_NUMBER_RE, text)
    return None if m is None else m.group(0)


def _last_expression(text: str) -> str | None:
    """The last mathematical expression of an unmarked completion, found by math-verify's own
    extraction (``$…$`` and ``\\[…\\]`` spans, then plain expressions), as math-verify grades.

    Its signal-based timeout is off (it fails in threads); the engine's hard limit bounds it.
    """
    import logging

    from math_verify import parse

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # its "timeout is disabled" notice
    try:
        found = parse(text, parsing_timeout=None)
    except Exception:  # the extractor raises many types on odd text
        return None
    return found[1] if len(found) > 1 and isinstance(found[1], str) and found[1].strip() else None


_EXPLICIT_FINAL_RE = re.compile(
    r"(?:final\s+answer\**\s*(?:is|:|=)|^[\s*#]*answer\**\s*:)", re.IGNORECASE | re.MULTILINE
)


def _explicit_after(tail: str, methods: Sequence[str]) -> Extraction | None:
    """An explicit final answer written *after* the last box (it overrides the box).

    Only explicit markers count: an ``<answer>`` block, ``#### N``, a "final answer
    is/:" or a line starting with "Answer:"; a loose "the answer is" does not.
    """
    if "answer_tag" in methods:
        found = _answer_tag(tail)
        if found:
            return Extraction(found, "answer_tag (after the last box)")
    if "final_answer" in methods and _EXPLICIT_FINAL_RE.search(tail):
        found = _final_answer(tail)
        if found:
            return Extraction(found, "final_answer (after the last box)")
    if "gsm8k" in methods:
        found = _gsm8k(tail)
        if found:
            return Extraction(found, "gsm8k (after the last box)")
    return None


def extract_answer(
    text: str,
    order: Sequence[Method] = DEFAULT_ORDER,
    last_number_fallback: bool = False,
    lenient: bool = False,
) -> Extraction:
    """Find the final answer in ``text`` by the first method in ``order`` that finds one.

    ``lenient`` adds ``last_expression`` (math-verify's extraction of the last expression) and
    ``last_number_fallback`` adds ``last_number``, after the marked methods.
    """
    body = strip_reasoning(text)
    if body is None:
        return Extraction(None, "", "completion ends inside <think> (no final answer)")
    methods = list(order)
    for wanted, method in ((lenient, "last_expression"), (last_number_fallback, "last_number")):
        if wanted and method not in methods:
            methods.append(method)  # type: ignore[arg-type]
    for method in methods:
        if method == "boxed":
            found, end, why = _scan_boxes(body)
            if why.startswith("the last"):
                return Extraction(None, "boxed", why)
            if found is not None:
                later = _explicit_after(body[end:], methods)
                if later is not None:
                    return later
        elif method == "answer_tag":
            found = _answer_tag(body)
        elif method == "final_answer":
            found = _final_answer(body)
        elif method == "gsm8k":
            found = _gsm8k(body)
        elif method == "last_expression":
            found = _last_expression(body)
        else:
            found = _last_number(body)
        if found is not None:
            return Extraction(found, method)
    return Extraction(None, "", "no extractable final answer")

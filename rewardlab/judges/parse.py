"""Reading a judge's reply: a score, a yes/no checklist, a pairwise winner, a verdict.

Everything is read from the reply's *answer*: the text after its last ``</think>``
(the math reward's :func:`strip_reasoning`), never from drafts inside the reasoning;
a reply that ends inside ``<think>`` has no answer. Each parser returns the value and,
when there is none, why: the reward turns that into ``judge_parse_error``, never 0.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from rewardlab.rewards.math.extract import strip_reasoning

_NUM = r"[-+]?\d+(?:\.\d+)?"
_SCORE_LINE = re.compile(
    rf"^[\s*#>_-]*score[\s*_]*[:=][\s*_]*(?P<n>{_NUM})(?:\s*(?:/|out\s+of)\s*(?P<d>{_NUM}))?[\s*_.]*$",
    re.IGNORECASE | re.MULTILINE,
)
_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_VERDICT_TAG = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)
_WINNER_LINE = re.compile(r"^[\s*#>_-]*(?:winner|verdict|better)[\s*_]*[:=][\s*_]*\(?(A|B|tie)\b",
                          re.IGNORECASE | re.MULTILINE)
_CHECK_LINE = re.compile(
    r"^[\s*#>_-]*(?:item\s*)?(?P<i>\d+)\s*[.):\]-]\s*(?:\*\*)?(?P<v>yes|no|true|false|pass|fail)\b",
    re.IGNORECASE | re.MULTILINE,
)
_CORRECT_LINE = re.compile(r"^[\s*#>_-]*verdict[\s*_]*[:=][\s*_]*(?P<v>correct|incorrect)\b",
                           re.IGNORECASE | re.MULTILINE)
_YES = frozenset({"yes", "true", "pass", "1"})
_NO = frozenset({"no", "false", "fail", "0"})


def answer_part(reply: str) -> str | None:
    """The reply after its reasoning block, or ``None`` when it ends inside ``<think>``."""
    return strip_reasoning(reply)


def tail(reply: str, chars: int = 300) -> str:
    """The end of a reply, for ``detail`` when it could not be read."""
    return reply[-chars:]


def last_json_object(text: str) -> dict[str, Any] | None:
    """The whole text as a JSON object, else the last flat ``{...}`` in it that parses."""
    stripped = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    candidates = [stripped] + [m.group(0) for m in reversed(list(_JSON_OBJECT.finditer(text)))]
    for candidate in candidates:
        try:
            obj = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and re.fullmatch(rf"\s*{_NUM}\s*", value):
        return float(value)
    return None


def parse_score(reply: str, lo: float, hi: float) -> tuple[float | None, str]:
    """A score on ``[lo, hi]``: a JSON ``score`` field, else the last ``Score: N`` line.

    ``N`` may be an integer, a decimal, ``N/D`` or ``N out of D`` with ``D`` the top of the scale.
    Returns ``(score, "")`` or ``(None, why)``; a number off the scale is ``None``.
    """
    body = answer_part(reply)
    if body is None:
        return None, "the reply ends inside its <think> block"
    obj = last_json_object(body)
    if obj is not None and "score" in obj:
        value = _number(obj["score"])
        if value is None:
            return None, f"the JSON 'score' is not a number: {obj['score']!r}"
    else:
        matches = list(_SCORE_LINE.finditer(body))
        if not matches:
            return None, "no JSON 'score' and no 'Score: N' line"
        m = matches[-1]
        value = float(m.group("n"))
        if m.group("d") is not None and float(m.group("d")) != hi:
            return None, f"score given out of {m.group('d')}, the scale is {lo:g} to {hi:g}"
    if not lo <= value <= hi:
        return None, f"score {value:g} is outside the scale {lo:g} to {hi:g}"
    return value, ""


def expected_score(logprobs: Sequence[dict[str, Any]] | None, lo: float, hi: float,
                   score: float) -> float | None:
    """G-Eval's probability-weighted score (Liu et al. 2023, arXiv 2303.16634, Eq. 1).

    score = sum_i p(s_i) * s_i over the integer scores s_i on the scale among the top
    log-probabilities of the token that carried the parsed score (the last token equal
    to it), the probabilities renormalised over those candidates. ``None`` when the
    endpoint returned no log-probabilities or the token is not found.
    """
    if not logprobs or score != int(score):
        return None
    target = str(int(score))
    for token in reversed(logprobs):
        if str(token.get("token", "")).strip() != target:
            continue
        weights: dict[int, float] = {}
        for alt in token.get("top_logprobs") or [token]:
            text = str(alt.get("token", "")).strip()
            if re.fullmatch(r"[-+]?\d+", text) and lo <= int(text) <= hi:
                weights[int(text)] = weights.get(int(text), 0.0) + math.exp(float(alt["logprob"]))
        total = sum(weights.values())
        return sum(s * p for s, p in weights.items()) / total if total > 0 else None
    return None


def parse_checklist(reply: str, n: int) -> tuple[list[bool] | None, str]:
    """A yes/no verdict for each of ``n`` items: JSON ``{"verdicts": [...]}`` or lines ``N: yes``."""
    body = answer_part(reply)
    if body is None:
        return None, "the reply ends inside its <think> block"
    obj = last_json_object(body)
    if obj is not None and isinstance(obj.get("verdicts"), list):
        raw = [str(v).strip().lower() for v in obj["verdicts"]]
        if len(raw) != n or any(v not in _YES | _NO for v in raw):
            return None, f"the JSON 'verdicts' must be {n} yes/no values, got {obj['verdicts']!r}"[:300]
        return [v in _YES for v in raw], ""
    found: dict[int, bool] = {}
    for m in _CHECK_LINE.finditer(body):
        found[int(m.group("i"))] = m.group("v").lower() in _YES  # the last line per item wins
    missing = [i for i in range(1, n + 1) if i not in found]
    if missing:
        return None, f"no yes/no verdict for item(s) {missing[:10]}"
    return [found[i] for i in range(1, n + 1)], ""


_ITEM_LINE = re.compile(r"^[\s*#>_-]*(?P<i>\d+)\s*[.)]\s+(?P<text>\S.*?)\s*$", re.MULTILINE)


def parse_items(reply: str, max_items: int) -> tuple[list[str] | None, str]:
    """A numbered list (``1. ...``), at most ``max_items`` entries, from the reply's answer."""
    body = answer_part(reply)
    if body is None:
        return None, "the reply ends inside its <think> block"
    items = [m.group("text") for m in _ITEM_LINE.finditer(body)]
    if not items:
        return None, "no numbered requirements ('1. ...') in the reply"
    return items[:max_items], ""


def parse_winner(reply: str) -> tuple[str | None, str]:
    """``"A"``, ``"B"`` or ``"tie"``: the last ``[[A]]``/``[[B]]``/``[[C]]``, ``Winner: X`` or JSON."""
    body = answer_part(reply)
    if body is None:
        return None, "the reply ends inside its <think> block"
    obj = last_json_object(body)
    if obj is not None and isinstance(obj.get("winner"), str):
        w = obj["winner"].strip().upper()
        return ("tie" if w in ("TIE", "C") else w, "") if w in ("A", "B", "C", "TIE") else (
            None, f"the JSON 'winner' is {obj['winner']!r}")
    hits = [(m.start(), m.group(1)) for m in _VERDICT_TAG.finditer(body)]
    hits += [(m.start(), m.group(1)) for m in _WINNER_LINE.finditer(body)]
    if not hits:
        return None, "no [[A]], [[B]] or [[C]] verdict and no 'Winner: X' line"
    w = max(hits)[1].upper()
    return ("tie" if w in ("C", "TIE") else w), ""


def parse_correct(reply: str) -> tuple[bool | None, str]:
    """Whether the judge says the answer is correct: JSON ``correct`` or ``Verdict: correct``."""
    body = answer_part(reply)
    if body is None:
        return None, "the reply ends inside its <think> block"
    obj = last_json_object(body)
    if obj is not None and isinstance(obj.get("correct"), bool):
        return obj["correct"], ""
    matches = list(_CORRECT_LINE.finditer(body))
    if not matches:
        return None, "no JSON 'correct' and no 'Verdict: correct|incorrect' line"
    return matches[-1].group("v").lower() == "correct", ""

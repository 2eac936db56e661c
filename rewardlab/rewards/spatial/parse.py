"""Boxes, points and segments read from a completion.

The answer region is the last ``<answer>...</answer>`` block when there is one, else the whole
text. In it, a JSON value is read first (a list of numbers, a list of such lists, or objects with
a ``bbox_2d`` / ``bbox`` / ``box`` / ``point_2d`` / ``point`` key and an optional ``label``, as
Qwen2.5-VL writes them); failing that, every bracketed group of numbers ``[a, b, c, d]`` or
``(a, b)`` in the text. A single-answer reward takes the **last** group of the right size.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from rewardlab.rewards.answer import answer_region

# unambiguous (a run of digits splits one way only), so a long run cannot make the search quadratic
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_GROUP = re.compile(rf"[\[(]\s*({_NUM}(?:\s*,\s*{_NUM})*)\s*[\])]")
_KEYS = ("bbox_2d", "bbox", "box", "point_2d", "point", "segment", "timestamps")
MAX_ITEMS = 1000  # more groups than this in one answer is not a grounding answer


@dataclass(frozen=True)
class Item:
    """One group of numbers from the answer, with its label when the answer gave one."""

    values: tuple[float, ...]
    label: str | None = None


def items(text: str) -> list[Item]:
    """Every group of numbers in the answer region (JSON first, then bracketed groups)."""
    region = answer_region(text).strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", region, re.DOTALL)
    if fenced:
        region = fenced.group(1)
    try:
        found = _from_json(json.loads(region))
    except (json.JSONDecodeError, ValueError, RecursionError):
        found = None
    if found is None:
        found = [Item(tuple(float(n) for n in m.group(1).split(","))) for m in _GROUP.finditer(region)]
    return found[:MAX_ITEMS]


def _from_json(value: Any) -> list[Item] | None:
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return None
    if value and all(_is_number(v) for v in value):
        return [Item(tuple(float(v) for v in value))]
    out = []
    for entry in value:
        label = None
        if isinstance(entry, dict):
            label = entry.get("label")
            entry = next((entry[k] for k in _KEYS if k in entry), None)
        if not isinstance(entry, list) or not entry or not all(_is_number(v) for v in entry):
            return None
        out.append(Item(tuple(float(v) for v in entry), str(label) if label is not None else None))
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def last_of_size(found: list[Item], sizes: tuple[int, ...]) -> Item | None:
    """The last group with one of ``sizes`` numbers (the final answer after any reasoning)."""
    return next((it for it in reversed(found) if len(it.values) in sizes), None)

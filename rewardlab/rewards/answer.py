"""The answer block of a completion: the last ``<answer>...</answer>``, as the structured rewards read it."""

from __future__ import annotations

import re

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def last_answer_block(text: str) -> str | None:
    """The content of the last ``<answer>`` block, or None when there is none."""
    found = _ANSWER.findall(text)
    return found[-1] if found else None


def answer_region(text: str) -> str:
    """The last ``<answer>`` block's content when there is one, else the whole text."""
    block = last_answer_block(text)
    return text if block is None else block

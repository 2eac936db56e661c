"""Take the SQL query out of a completion (see docs/sql.md, "Where the SQL comes from").

In order: the reasoning up to the last ``</think>`` is dropped; then the last
``<answer>…</answer>`` (a fence inside it is unwrapped), else the last fenced block
tagged ``sql`` (or untagged), else the whole text. Trailing semicolons go; what is
left must not be empty.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rewardlab.rewards.math.extract import ANSWER_TAG_RE as _ANSWER_RE
from rewardlab.rewards.math.extract import strip_reasoning

Method = Literal["answer_tag", "fence", "whole"]
DEFAULT_ORDER: tuple[Method, ...] = ("answer_tag", "fence", "whole")

# An opening fence: ``` then an optional language word, up to the end of the line.
_FENCE_OPEN_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n?")
_SQL_LANGS = frozenset({"", "sql", "sqlite", "duckdb", "postgresql", "postgres", "psql", "pgsql"})


@dataclass(frozen=True, slots=True)
class Extraction:
    """The query found in a completion (``None``: nothing usable, with the reason)."""

    sql: str | None
    method: str
    reason: str = ""


def _fences(text: str) -> tuple[list[tuple[str, str]], bool]:
    """The closed fenced blocks as (language, body), and whether a fence was left open."""
    blocks: list[tuple[str, str]] = []
    pos = 0
    while True:
        opened = _FENCE_OPEN_RE.search(text, pos)
        if opened is None:
            return blocks, False
        close = text.find("```", opened.end())
        if close < 0:
            return blocks, True
        blocks.append((opened.group(1).lower(), text[opened.end():close]))
        pos = close + 3


def _from_fence(text: str) -> tuple[str | None, str]:
    blocks, left_open = _fences(text)
    sql_blocks = [body for lang, body in blocks if lang in _SQL_LANGS]
    if sql_blocks:
        return sql_blocks[-1], ""
    if left_open:
        return None, "a ``` fence is opened but never closed (truncated completion?)"
    return None, "no ```sql fenced block"


def _clean(sql: str) -> str:
    return sql.strip().rstrip(";").strip()


def extract_sql(text: str, order: Sequence[Method] = DEFAULT_ORDER) -> Extraction:
    """The candidate query of ``text`` by the first method of ``order`` that finds one."""
    body = strip_reasoning(text)
    if body is None:
        return Extraction(None, "none", "the completion ends inside <think> (no final answer)")
    reasons = []
    for method in order:
        if method == "answer_tag":
            tags = _ANSWER_RE.findall(body)
            if not tags:
                reasons.append("no <answer> tag")
                continue
            inner, _ = _from_fence(tags[-1])
            found = _clean(inner if inner is not None else tags[-1])
        elif method == "fence":
            inner, why = _from_fence(body)
            if inner is None:
                reasons.append(why)
                if "never closed" in why:  # do not fall through to the whole text
                    return Extraction(None, "none", "; ".join(reasons))
                continue
            found = _clean(inner)
        else:
            found = _clean(body)
        if found:
            return Extraction(found, method)
        reasons.append(f"{method}: empty")
    return Extraction(None, "none", "; ".join(reasons) or "no extraction method configured")

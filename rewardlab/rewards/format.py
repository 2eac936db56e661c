"""Format rewards: does the completion have the structure the task asks for?"""

from __future__ import annotations

import itertools
import re
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rewardlab.core import BaseReward, Deps, Sample, Score
from rewardlab.registry import register


class TagsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tags: list[str] = Field(default_factory=lambda: ["think", "answer"], min_length=1)
    allow_outside: bool = False  # text outside the tags (other than whitespace) allowed
    partial_credit: bool = False  # value = fraction of checks passed instead of 0/1
    # Tags whose content must hold more than whitespace: True (all, the default since the audit
    # found empty tags paid), False (none: the peers' regexes), or a list (e.g. ["answer"] when
    # an empty <think></think> is a legitimate no-thinking mode).
    require_content: bool | list[str] = True

    @field_validator("tags")
    @classmethod
    def _names(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not re.fullmatch(r"[A-Za-z_][\w.-]*", tag):
                raise ValueError(f"tag {tag!r} is not a valid tag name")
        if len(set(tags)) != len(tags):
            raise ValueError("tags must be distinct")
        return tags

    @model_validator(mode="after")
    def _known(self) -> TagsParams:
        if isinstance(self.require_content, list):
            unknown = [t for t in self.require_content if t not in self.tags]
            if unknown:
                raise ValueError(f"require_content names {unknown}, which are not in tags {self.tags}")
        return self

    def needs_content(self, tag: str) -> bool:
        rc = self.require_content
        return rc if isinstance(rc, bool) else tag in rc


@register("reward", "format.tags")
class Tags(BaseReward):
    """Required tags present exactly once each, in order, not empty, nothing but whitespace outside.

    Checks (one per tag: opened and closed exactly once, well ordered, and holding more
    than whitespace unless ``require_content`` exempts it; plus one for the order across
    tags and one for the outside text). ``1.0`` when all pass, else ``0.0``, or the
    fraction passed with ``partial_credit``. An empty ``<think></think><answer></answer>``
    fails: a format reward that paid for it would pay for saying nothing (the audit's
    ``format_only`` probe; TRL's, open-r1's and verl's format regexes use ``.*?`` and accept
    it: ``require_content = false`` restores that).

    >>> Tags().score_one(Sample("1", completion="<think>a</think> <answer>4</answer>"), {}).value
    1.0
    """

    name = "format.tags"
    reads = ("completion",)
    Params = TagsParams

    @cached_property
    def _patterns(self) -> list[tuple[re.Pattern[str], re.Pattern[str]]]:
        return [(re.compile(rf"<{re.escape(t)}>"), re.compile(rf"</{re.escape(t)}>"))
                for t in self.params.tags]

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_patterns", None)
        return state

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        text = sample.completion_text
        problems: list[str] = []
        spans: list[tuple[int, int]] = []
        checks = 0
        for tag, (open_re, close_re) in zip(self.params.tags, self._patterns, strict=True):
            opens = list(open_re.finditer(text))
            closes = list(close_re.finditer(text))
            checks += 1
            if len(opens) != 1 or len(closes) != 1:
                problems.append(f"<{tag}> opened {len(opens)}x and closed {len(closes)}x (need 1)")
            elif closes[0].start() < opens[0].start():
                problems.append(f"</{tag}> comes before <{tag}>")
            else:
                spans.append((opens[0].start(), closes[0].end()))
                if self.params.needs_content(tag) and not text[opens[0].end():closes[0].start()].strip():
                    problems.append(f"<{tag}> is empty")
        checks += 2
        if len(spans) == len(self.params.tags):
            if any(a[1] > b[0] for a, b in itertools.pairwise(spans)):
                problems.append(f"tags not in order {self.params.tags} or overlapping")
            elif not self.params.allow_outside:
                outside = _outside(text, spans)
                if outside.strip():
                    problems.append(f"text outside the tags: {outside.strip()[:40]!r}")
        else:
            problems.append("order and outside text not checked: tags missing")
        passed = checks - len(problems)
        value = passed / checks if self.params.partial_credit else float(not problems)
        return Score.ok(value, problems=problems) if problems else Score.ok(value)


def _outside(text: str, spans: list[tuple[int, int]]) -> str:
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(text[last:start])
        last = end
    pieces.append(text[last:])
    return "".join(pieces)

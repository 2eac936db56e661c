"""Judge prompts: built-in Jinja2 templates, or the user's own template file.

A template renders to the user message sent to the judge. It sees the sample's fields
(``prompt`` and ``completion`` as text, ``prompt_messages`` and ``completion_messages``
as given, ``reference``, ``meta``, ``id``, ``group``) and the reward's own variables
(``rubric``, ``score_min``/``score_max``, ``items``, ``principle``, ``answer_a``/``answer_b``).
An undefined variable is an error, not an empty string.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from rewardlab.core import Sample
from rewardlab.errors import SpecError, require_extra

RUBRIC = """\
You are grading a response against a rubric.

[Question]
{{ prompt }}

[Response]
{{ completion }}
{% if reference %}
[Reference answer]
{{ reference }}
{% endif %}
[Rubric]
{{ rubric }}

Judge the response by the rubric only. Explain briefly, then end with a final line of \
the form "Score: N", where N is a number from {{ score_min }} to {{ score_max }}."""

PRINCIPLE = """\
You are judging how well a response follows a stated principle.

[Principle]
{{ principle }}

[Question]
{{ prompt }}

[Response]
{{ completion }}

Judge only how well the response follows the principle while answering the question. \
Explain briefly, then end with a final line of the form "Score: N", where N is a number \
from {{ score_min }} to {{ score_max }}."""

CHECKLIST = """\
Check a response against each numbered requirement.

[Question]
{{ prompt }}

[Response]
{{ completion }}

[Requirements]
{% for item in items %}{{ loop.index }}. {{ item }}
{% endfor %}
For each requirement decide whether the response satisfies it. Explain briefly, then end \
with one line per requirement of the form "N: yes" or "N: no", numbered as above."""

REFERENCE = """\
Decide whether a response reaches the same final answer as the reference answer. \
Different wording, notation or a longer derivation is fine; a different or missing \
final answer is not.

[Question]
{{ prompt }}

[Reference answer]
{{ reference }}

[Response]
{{ completion }}

Explain briefly, then end with a final line "Verdict: correct" or "Verdict: incorrect"."""

PAIRWISE = """\
Compare two responses to the same question and decide which is better.

[Question]
{{ prompt }}

[Response A]
{{ answer_a }}

[Response B]
{{ answer_b }}

Ignore the order in which the responses are shown and their length. Explain briefly, \
then end with "[[A]]" if A is better, "[[B]]" if B is better, or "[[C]]" for a tie."""

CONSTRAINTS = """\
List the requirements a response to the instruction below must meet to follow it fully: \
each explicit constraint (content, length, format, style) and each implicit one a careful \
reader would expect. Write one requirement per line, numbered "1. ...", at most \
{{ max_items }}, and nothing else.

[Instruction]
{{ prompt }}"""

BUILTIN = {"constraints": CONSTRAINTS, "rubric": RUBRIC, "principle": PRINCIPLE, "checklist": CHECKLIST,
           "reference": REFERENCE, "pairwise": PAIRWISE}


@lru_cache(maxsize=64)
def _compile(source: str) -> Any:
    require_extra("judges", "judge templates", "jinja2", error=SpecError)
    from jinja2 import StrictUndefined, TemplateSyntaxError
    from jinja2.sandbox import SandboxedEnvironment
    env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False)
    try:
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        raise SpecError(f"judge template: {exc.message} (line {exc.lineno})") from None


def load_template(path: str | None, builtin: str) -> Any:
    """The compiled template: the file at ``path``, else the built-in one named ``builtin``."""
    if path is None:
        return _compile(BUILTIN[builtin])
    file = Path(path).expanduser()
    if not file.is_file():
        raise SpecError(f"judge template file {str(file)!r} does not exist: pass the path of a Jinja2 file")
    return _compile(file.read_text(encoding="utf-8"))


def sample_fields(sample: Sample) -> dict[str, Any]:
    """The sample's fields as template variables."""
    return {"id": sample.id, "prompt": sample.prompt_text, "completion": sample.completion_text,
            "prompt_messages": sample.prompt, "completion_messages": sample.completion,
            "reference": sample.reference, "meta": sample.meta, "group": sample.group}


def render(template: Any, sample: Sample, **extra: Any) -> str:
    """The judge's user message for ``sample``; an undefined variable raises ``SpecError``."""
    from jinja2 import UndefinedError

    try:
        return str(template.render({**sample_fields(sample), **extra}))
    except UndefinedError as exc:
        raise SpecError(f"judge template: {exc.message}") from None

"""IFEval's 25 verifiable instructions (Zhou et al. 2023, "Instruction-Following Evaluation for
Large Language Models", arXiv 2311.07911), checked as the reference implementation
(google-research ``instruction_following_eval``, copied by lm-eval as ``tasks/ifeval``) checks them.

Written here because the reference checkers download NLTK data when imported (see
:mod:`rewardlab.rewards.constraints.text`) and pick random arguments when one is missing; here a
missing or malformed argument is an error of the reference. Deliberate differences (each also
in docs/structured.md): keywords are matched literally (the reference reads them as regular
expressions); ``letter_frequency`` accepts any single character (the reference replaces a
non-letter such as ``#`` by a random letter); sentences come from Punkt without its downloaded
English model (:func:`~rewardlab.rewards.constraints.text.sentences`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rewardlab.rewards.constraints.text import count_words, detect_language, sentences, word_tokens

RELATIONS = ("less than", "at least")
CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


class ConstraintError(ValueError):
    """An unknown instruction or a missing / malformed argument (an invalid reference)."""


def _compare(count: int, relation: str, threshold: int) -> bool:
    return count < threshold if relation == "less than" else count >= threshold


def _keywords_exist(text: str, keywords: list[str]) -> bool:
    return all(re.search(re.escape(k), text, re.IGNORECASE) for k in keywords)


def _keyword_frequency(text: str, keyword: str, frequency: int, relation: str) -> bool:
    return _compare(len(re.findall(re.escape(keyword.strip()), text, re.IGNORECASE)), relation, frequency)


def _forbidden(text: str, forbidden_words: list[str]) -> bool:
    return not any(re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE) for w in forbidden_words)


def _letter_frequency(text: str, letter: str, let_frequency: int, let_relation: str) -> bool:
    return _compare(Counter(text.lower())[letter.strip().lower()], let_relation, let_frequency)


def _language(text: str, language: str) -> bool:
    found = detect_language(text)
    return found is None or found == language  # IFEval: undetectable counts as followed


def _paragraphs_by_divider(text: str, num_paragraphs: int) -> bool:
    parts = re.split(r"\s?\*\*\*\s?", text)
    count = len(parts)
    for i, part in enumerate(parts):
        if not part.strip():
            if i in (0, len(parts) - 1):
                count -= 1
            else:
                return False
    return count == num_paragraphs


def _nth_paragraph_first_word(text: str, num_paragraphs: int, nth_paragraph: int, first_word: str) -> bool:
    parts = text.split("\n\n")
    count = sum(1 for p in parts if p.strip())
    if nth_paragraph > count or not parts[nth_paragraph - 1].strip():
        return False
    word = parts[nth_paragraph - 1].strip().split()[0].strip().lstrip("'").lstrip('"')
    head = re.match(r"[^.,?!'\"]*", word)
    return count == num_paragraphs and (head.group(0) if head else "").lower() == first_word.lower()


def _postscript(text: str, postscript_marker: str) -> bool:
    # IFEval searches r"\s*<marker>.*$": the leading \s* and trailing .*$ always match, so the marker's
    # presence decides (and a long run of spaces cannot make the search quadratic)
    marker = postscript_marker.strip()
    if marker == "P.P.S":
        pattern = r"p\.\s?p\.\s?s"
    elif marker == "P.S.":
        pattern = r"p\.\s?s\."
    else:
        pattern = re.escape(marker.lower())
    return bool(re.search(pattern, text.lower()))


def _bullets(text: str, num_bullets: int) -> bool:
    return count_line_matches(text, star=True) + count_line_matches(text, star=False) == num_bullets


_SPACE = re.compile(r"\s*")


def count_line_matches(text: str, star: bool) -> int:
    r"""``len(re.findall(r"^\s*\*[^\*].*$", text, re.M))`` (``star``) or ``r"^\s*-.*$"``, in linear time.

    The regular expressions retry ``\s*`` from every line start inside a run of blank lines, which
    is quadratic in the run's length; here each run is skipped once. Equal on every input (tested
    against the expressions).
    """
    count, pos, n = 0, 0, len(text)
    while pos <= n:
        first = _SPACE.match(text, pos).end()  # type: ignore[union-attr]  # \s* always matches
        if star:
            hit = first + 1 < n and text[first] == "*" and text[first + 1] != "*"
            rest = first + 2  # the character after '*' may itself be the new line
        else:
            hit = first < n and text[first] == "-"
            rest = first + 1
        if hit:
            count += 1
            end = text.find("\n", rest)
            pos = n + 1 if end == -1 else end + 1
        else:  # every line start up to `first` skips to the same place: go to the next line after it
            end = text.find("\n", first)
            pos = n + 1 if end == -1 else end + 1
    return count


def _highlights(text: str, num_highlights: int) -> bool:
    single = [h for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip()]
    double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", text) if h.removeprefix("**").removesuffix("**").strip()]
    return len(single) + len(double) >= num_highlights


def _sections(text: str, section_spliter: str, num_sections: int) -> bool:
    parts = re.split(r"\s?" + re.escape(section_spliter.strip()) + r"\s?\d+\s?", text)
    return len(parts) - 1 >= num_sections


def _json(text: str) -> bool:
    body = text.strip()
    for prefix in ("```json", "```Json", "```JSON", "```"):
        body = body.removeprefix(prefix)
    try:
        json.loads(body.removesuffix("```").strip())
    except (ValueError, RecursionError):  # nested too deeply for the parser: not usable JSON
        return False
    return True


def _two_responses(text: str) -> bool:
    parts = text.split("******")
    valid = []
    for i, part in enumerate(parts):
        if part.strip():
            valid.append(part)
        elif i not in (0, len(parts) - 1):
            return False
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


def _end(text: str, end_phrase: str) -> bool:
    return text.strip().strip('"').lower().endswith(end_phrase.strip().lower())


def _title(text: str) -> bool:
    r"""IFEval's ``re.findall(r"<<[^\n]+>>")`` has one greedy match per line, from the first ``<<`` to the
    last ``>>`` at least one character after it; found here with find / rfind (the expression
    is quadratic on a line of many ``<``)."""
    for line in text.split("\n"):
        start, end = line.find("<<"), line.rfind(">>")
        if start != -1 and end - start >= 3 and line[start:end + 2].lstrip("<").rstrip(">").strip():
            return True
    return False


def count_placeholders(text: str) -> int:
    r"""``len(re.findall(r"\[.*?\]", text))`` in linear time: per line, each ``[`` pairs with the next ``]``."""
    count = 0
    for line in text.split("\n"):
        pos = line.find("[")
        while pos != -1:
            close = line.find("]", pos + 1)
            if close == -1:
                break
            count += 1
            pos = line.find("[", close + 1)
    return count


def _capital_words(text: str, capital_frequency: int, capital_relation: str) -> bool:
    return _compare(sum(1 for w in word_tokens(text) if w.isupper()), capital_relation, capital_frequency)


def _english_case(text: str, upper: bool) -> bool:
    if not (text.isupper() if upper else text.islower()):
        return False
    return detect_language(text) in (None, "en")  # IFEval: undetectable counts as followed


def _quotation(text: str) -> bool:
    body = text.strip()
    return len(body) > 1 and body[0] == '"' and body[-1] == '"'


@dataclass(frozen=True)
class Instruction:
    check: Callable[..., bool]
    args: Mapping[str, type]  # required arguments and their types


_COUNT = int
INSTRUCTIONS: dict[str, Instruction] = {
    "keywords:existence": Instruction(_keywords_exist, {"keywords": list}),
    "keywords:frequency": Instruction(_keyword_frequency, {"keyword": str, "frequency": _COUNT, "relation": str}),
    "keywords:forbidden_words": Instruction(_forbidden, {"forbidden_words": list}),
    "keywords:letter_frequency": Instruction(
        _letter_frequency, {"letter": str, "let_frequency": _COUNT, "let_relation": str}),
    "language:response_language": Instruction(_language, {"language": str}),
    "length_constraints:number_sentences": Instruction(
        lambda t, num_sentences, relation: _compare(len(sentences(t)), relation, num_sentences),
        {"num_sentences": _COUNT, "relation": str}),
    "length_constraints:number_paragraphs": Instruction(_paragraphs_by_divider, {"num_paragraphs": _COUNT}),
    "length_constraints:number_words": Instruction(
        lambda t, num_words, relation: _compare(count_words(t), relation, num_words),
        {"num_words": _COUNT, "relation": str}),
    "length_constraints:nth_paragraph_first_word": Instruction(
        _nth_paragraph_first_word, {"num_paragraphs": _COUNT, "nth_paragraph": _COUNT, "first_word": str}),
    "detectable_content:number_placeholders": Instruction(
        lambda t, num_placeholders: count_placeholders(t) >= num_placeholders, {"num_placeholders": _COUNT}),
    "detectable_content:postscript": Instruction(_postscript, {"postscript_marker": str}),
    "detectable_format:number_bullet_lists": Instruction(_bullets, {"num_bullets": _COUNT}),
    "detectable_format:constrained_response": Instruction(
        lambda t: any(o in t.strip() for o in CONSTRAINED_OPTIONS), {}),
    "detectable_format:number_highlighted_sections": Instruction(_highlights, {"num_highlights": _COUNT}),
    "detectable_format:multiple_sections": Instruction(_sections, {"section_spliter": str, "num_sections": _COUNT}),
    "detectable_format:json_format": Instruction(_json, {}),
    "detectable_format:title": Instruction(_title, {}),
    "combination:two_responses": Instruction(_two_responses, {}),
    "combination:repeat_prompt": Instruction(
        lambda t, prompt_to_repeat: t.strip().lower().startswith(prompt_to_repeat.strip().lower()),
        {"prompt_to_repeat": str}),
    "startend:end_checker": Instruction(_end, {"end_phrase": str}),
    "startend:quotation": Instruction(_quotation, {}),
    "change_case:capital_word_frequency": Instruction(
        _capital_words, {"capital_frequency": _COUNT, "capital_relation": str}),
    "change_case:english_capital": Instruction(lambda t: _english_case(t, upper=True), {}),
    "change_case:english_lowercase": Instruction(lambda t: _english_case(t, upper=False), {}),
    "punctuation:no_comma": Instruction(lambda t: "," not in t, {}),
}


def _valid(value: Any, kind: type) -> bool:
    """A count >= 0, a non-blank text, or a non-empty list of non-blank texts."""
    if isinstance(value, bool) or not isinstance(value, kind):
        return False
    if isinstance(value, int):
        return value >= 0
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, str) and v.strip() for v in value)
    return bool(str(value).strip())


def validate(instruction_id: str, kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The arguments of one instruction, checked; ``None`` values (IFEval's unused keys) dropped."""
    spec = INSTRUCTIONS.get(instruction_id)
    if spec is None:
        known = ", ".join(sorted(INSTRUCTIONS))
        raise ConstraintError(f"unknown IFEval instruction {instruction_id!r} (known: {known})")
    given: dict[str, Any] = {k: v for k, v in (kwargs or {}).items() if v is not None}
    for name, kind in spec.args.items():
        if not _valid(given.get(name), kind):
            got = given.get(name)
            raise ConstraintError(f"{instruction_id}: argument {name!r} must be a {kind.__name__}, got {got!r}")
    args = {name: given[name] for name in spec.args}
    for name in ("relation", "let_relation", "capital_relation"):
        if name in args and args[name] not in RELATIONS:
            raise ConstraintError(f"{instruction_id}: {name} must be one of {RELATIONS}, got {args[name]!r}")
    if instruction_id == "keywords:letter_frequency" and len(args["letter"].strip()) != 1:
        raise ConstraintError(f"{instruction_id}: 'letter' must be one character, got {args['letter']!r}")
    if instruction_id.endswith("nth_paragraph_first_word") and not 1 <= args["nth_paragraph"] <= args["num_paragraphs"]:
        raise ConstraintError(f"{instruction_id}: nth_paragraph must be in 1..num_paragraphs")
    return args


def follows(instruction_id: str, args: Mapping[str, Any], response: str) -> bool:
    """Strict verdict: whether ``response`` follows the instruction (an empty response never does)."""
    return bool(response.strip()) and INSTRUCTIONS[instruction_id].check(response, **args)


def loose_variants(response: str) -> list[str]:
    """IFEval's loose variants: without the first and/or last line, and with ``*`` removed."""
    lines = response.split("\n")
    cut = [response, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return [cut[0], cut[0].replace("*", ""), *cut[1:], *(c.replace("*", "") for c in cut[1:])]


def follows_loosely(instruction_id: str, args: Mapping[str, Any], response: str) -> bool:
    """Loose verdict: some loose variant of the response follows the instruction."""
    return any(follows(instruction_id, args, v) for v in loose_variants(response))

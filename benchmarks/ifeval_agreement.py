"""Agreement of ``constraints.ifeval`` with lm-eval's own IFEval checkers on IFEval's data.

    pip install --no-deps lm-eval immutabledict    # lm-eval's checkers only
    python -m benchmarks.ifeval_agreement --data input_data.jsonl --responses input_response_data_gpt4.jsonl

``--data`` is IFEval's ``input_data.jsonl`` (the rows of the ``google/IFEval`` dataset lm-eval
loads) and ``--responses`` a JSONL of ``{"prompt", "response"}`` (IFEval ships GPT-4's as
``input_response_data_gpt4_20231107_145030.jsonl``). Each response is scored as it is and in
seven edited forms that flip instructions (upper case, lower case, commas removed, first half
only, wrapped in quotes, a postscript added, an ending phrase added), so both verdicts occur.
For every (response, instruction) pair the strict and the loose verdicts of lm-eval
(``lm_eval.tasks.ifeval.utils.test_instruction_following_strict`` / ``_loose``, one
instruction at a time) and of rewardlab are compared.

lm-eval's checkers import without their NLTK data here (its ``nltk.download`` is replaced by a
no-op, as the machine has no network), so ``length_constraints:number_sentences`` and
``change_case:capital_word_frequency``, which need NLTK's Punkt model, cannot run: they are
counted as "not checkable", not as agreement. Both sides use langdetect with seed 0, and
Python's ``random`` is seeded because lm-eval picks a random letter for a non-letter
``letter_frequency`` argument.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import random
import sys
import types
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab.rewards.constraints.ifeval import follows, follows_loosely, validate

EDITS = {
    "as_is": lambda r: r,
    "upper": str.upper,
    "lower": str.lower,
    "no_commas": lambda r: r.replace(",", ""),
    "first_half": lambda r: r[: len(r) // 2],
    "quoted": lambda r: f'"{r}"',
    "postscript": lambda r: r + "\n\nP.S. See you soon.",
    "ending": lambda r: r + "\nIs there anything else I can help with?",
}


def load_lm_eval() -> Any:
    """lm-eval's ``tasks.ifeval.utils`` without running lm-eval's package imports or downloads."""
    import nltk

    nltk.download = lambda *a, **k: False  # offline: never fetch
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("lm-eval is not installed: pip install --no-deps lm-eval immutabledict")
    root = Path(next(iter(spec.submodule_search_locations)))
    for name, path in (("lm_eval", root), ("lm_eval.tasks", root / "tasks")):
        package = types.ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules.setdefault(name, package)
    return importlib.import_module("lm_eval.tasks.ifeval.utils")


def read_jsonl(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def theirs(utils: Any, row: dict[str, Any], index: int, response: str) -> tuple[bool, bool] | None:
    """lm-eval's (strict, loose) verdicts on one instruction, or None when it cannot run offline."""
    kwargs = dict(row["kwargs"][index])
    one = utils.InputExample(key=row["key"], instruction_id_list=[row["instruction_id_list"][index]],
                             prompt=row["prompt"], kwargs=[kwargs])
    random.seed(0)
    try:
        strict = utils.test_instruction_following_strict(one, response).follow_instruction_list[0]
        loose = utils.test_instruction_following_loose(one, response).follow_instruction_list[0]
    except LookupError:  # NLTK data (punkt) that cannot be downloaded here
        return None
    return strict, loose


@dataclass
class Pair:
    key: Any
    edit: str
    instruction: str
    ours: tuple[bool, bool]  # strict, loose
    theirs: tuple[bool, bool] | None  # None: lm-eval cannot check it offline


def pairs(utils: Any, rows: list[dict[str, Any]], responses: dict[str, str]) -> Iterator[Pair]:
    """Both sides' verdicts on every (edited response, instruction) of the rows that have a response."""
    from langdetect import DetectorFactory

    DetectorFactory.seed = 0
    for row in rows:
        if row["prompt"] not in responses:
            continue
        for edit, change in EDITS.items():
            response = change(responses[row["prompt"]])
            for i, instruction in enumerate(row["instruction_id_list"]):
                checked = validate(instruction, row["kwargs"][i])
                ours = follows(instruction, checked, response), follows_loosely(instruction, checked, response)
                yield Pair(row["key"], edit, instruction, ours, theirs(utils, row, i, response))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--responses", required=True)
    parser.add_argument("--show", type=int, default=15)
    args = parser.parse_args()
    utils = load_lm_eval()
    responses = {r["prompt"]: r["response"] for r in read_jsonl(args.responses)}
    per_id: dict[str, Counter[str]] = {}
    shown = 0
    for pair in pairs(utils, read_jsonl(args.data), responses):
        counts = per_id.setdefault(pair.instruction, Counter())
        if pair.theirs is None:
            counts["not_checkable"] += 1
            continue
        for mode, a, b in zip(("strict", "loose"), pair.ours, pair.theirs, strict=True):
            counts[f"{mode}_agree" if a == b else f"{mode}_disagree"] += 1
            counts[f"{mode}_followed"] += int(b)
            if a != b and shown < args.show:
                shown += 1
                print(f"DISAGREE key={pair.key} {pair.edit} {pair.instruction} {mode}: lm-eval={b} ours={a}")
    total: Counter[str] = Counter()
    print(f"{'instruction':46s} {'strict agree':>14s} {'loose agree':>14s}  lm-eval followed (strict)  not checkable")
    for instruction in sorted(per_id):
        c = per_id[instruction]
        n = c["strict_agree"] + c["strict_disagree"]
        print(f"{instruction:46s} {c['strict_agree']:6d}/{n:<7d} {c['loose_agree']:6d}/{n:<7d}  "
              f"{c['strict_followed']:6d}                    {c['not_checkable']}")
        total.update(c)
    n = total["strict_agree"] + total["strict_disagree"]
    print(f"{'all':46s} {total['strict_agree']:6d}/{n:<7d} {total['loose_agree']:6d}/{n:<7d}  "
          f"strict {total['strict_agree'] / n:.4%}, loose {total['loose_agree'] / n:.4%}; "
          f"not checkable {total['not_checkable']}")


if __name__ == "__main__":
    main()

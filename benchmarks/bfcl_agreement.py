"""Agreement of ``tools.call`` with BFCL's own AST checker on BFCL's data and possible answers.

    pip install --no-deps bfcl-eval     # its data and checker; its many dependencies are not needed
    python -m benchmarks.bfcl_agreement [--per-entry 12] [--seed 0]

For every entry of BFCL's Python AST categories, candidate answers are built from the entry's
possible answer: correct ones (first acceptable value of every parameter, optional parameters
dropped, ints for integral floats, strings re-spelt in case and punctuation, calls reordered) and
wrong ones (a changed value, a value of the wrong type, a missing required parameter, an extra
parameter, a wrong name, an extra or a missing call, a tuple or a number given as text). Each is
written as Python call syntax; rewardlab parses that text, BFCL's ``ast_checker`` gets the parsed
calls (BFCL's own decoder lives in its model handlers, which import every model SDK). The script
prints, per category, how many verdicts agree and every disagreement's id, mutation and errors.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import random
import sys
import types
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab.core import Sample
from rewardlab.rewards.tools import ToolCallReward
from rewardlab.rewards.tools.parse import python_calls

CATEGORIES = (
    "simple_python", "multiple", "parallel", "parallel_multiple",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
)
MODEL = "stub-model"  # BFCL's checker asks its model table whether to turn dots into underscores


def load_checker() -> tuple[Any, Any, Path]:
    """BFCL's ``ast_checker``, its ``Language`` enum and its data folder.

    ``bfcl_eval.constants.model_config`` imports every model SDK; where they are absent a
    stand-in with one model (no dot conversion) is put in its place, which changes no verdict.
    """
    try:
        importlib.import_module("bfcl_eval.constants.model_config")
    except ImportError:
        stub = types.ModuleType("bfcl_eval.constants.model_config")
        stub.MODEL_CONFIG_MAPPING = {MODEL: types.SimpleNamespace(underscore_to_dot=False)}  # type: ignore[attr-defined]
        sys.modules["bfcl_eval.constants.model_config"] = stub
    checker = importlib.import_module("bfcl_eval.eval_checker.ast_eval.ast_checker")
    enums = importlib.import_module("bfcl_eval.constants.enums")
    root = Path(importlib.import_module("bfcl_eval").__file__ or "").parent / "data"
    return checker.ast_checker, enums.Language.PYTHON, root


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class Candidate:
    mutation: str
    calls: list[dict[str, dict[str, Any]]]  # BFCL's decoded form: [{name: {param: value}}]


def first_answer(answer: dict[str, dict[str, list[Any]]], keep_optional: bool) -> dict[str, dict[str, Any]]:
    (name, params), = answer.items()
    return {name: _first_values(params, keep_optional)}


def _first_values(params: dict[str, list[Any]], keep_optional: bool) -> dict[str, Any]:
    """The first acceptable value of each parameter; a dict answer's keys hold lists of their own."""
    args = {}
    for key, values in params.items():
        real = [v for v in values if v != ""]
        if real and (keep_optional or "" not in values):
            args[key] = _resolve(copy.deepcopy(real[0]), keep_optional)
    return args


def _resolve(value: Any, keep_optional: bool) -> Any:
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        return _first_values(value, keep_optional)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [_resolve(v, keep_optional) for v in value]
    return value


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 7
    if isinstance(value, str):
        return value + " zzz"
    if isinstance(value, list):
        return [*value, value[0]] if value else ["zzz"]
    if isinstance(value, dict):
        return {**value, "zzz_key": 1}
    return "zzz"


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return tuple(value)
    return 12345


def _respelt(value: str) -> str:
    return value.upper().replace(" ", "  ") if value.strip() else value


def candidates(truth: list[dict[str, Any]], rng: random.Random, per_entry: int) -> list[Candidate]:
    """Correct and wrong answers derived from one entry's possible answer."""
    base = [first_answer(a, keep_optional=True) for a in truth]
    out = [Candidate("correct", base), Candidate("no_optional", [first_answer(a, False) for a in truth])]
    if len(base) > 1:
        out.append(Candidate("reordered", base[::-1]))
        out.append(Candidate("missing_call", base[:-1]))
    out.append(Candidate("extra_call", [*base, copy.deepcopy(base[0])]))
    out.append(Candidate("wrong_name", [{next(iter(base[0])) + "_x": next(iter(base[0].values()))}, *base[1:]]))
    out.append(Candidate("no_calls", []))
    mutations = ("changed_value", "wrong_type", "missing_param", "extra_param", "int_for_float", "respelt")
    for _ in range(per_entry):
        mutation = rng.choice(mutations)
        calls = copy.deepcopy(base)
        which = rng.randrange(len(calls))
        (_, args), = calls[which].items()
        if mutation == "extra_param":
            args["zzz_extra"] = 1
        elif not args:
            continue
        else:
            key = rng.choice(sorted(args))
            if mutation == "changed_value":
                args[key] = _changed(args[key])
            elif mutation == "wrong_type":
                args[key] = _wrong_type(args[key])
            elif mutation == "missing_param":
                del args[key]
            elif mutation == "int_for_float":
                floats = [k for k, v in args.items() if isinstance(v, float) and v.is_integer()]
                if not floats:
                    continue
                args[floats[0]] = int(args[floats[0]])
            elif mutation == "respelt":
                texts = [k for k, v in args.items() if isinstance(v, str)]
                if not texts:
                    continue
                args[texts[0]] = _respelt(args[texts[0]])
        out.append(Candidate(mutation, calls))
    return out


def as_python(calls: list[dict[str, dict[str, Any]]]) -> str:
    """The calls in Python call syntax, as a prompted model writes them for BFCL."""
    parts = []
    for call in calls:
        (name, args), = call.items()
        parts.append(f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")")
    return "[" + ", ".join(parts) + "]"


@dataclass
class Verdict:
    category: str
    id: str
    mutation: str
    text: str
    bfcl: bool
    ours: bool
    why: Any


def verdicts(per_entry: int, seed: int, limit: int | None = None) -> Iterator[Verdict]:
    """BFCL's and rewardlab's verdicts on every candidate of every entry (``limit`` entries per category)."""
    ast_checker, python, root = load_checker()
    reward = ToolCallReward(format="python")
    rng = random.Random(seed)
    for category in CATEGORIES:
        prompts = read_jsonl(root / f"BFCL_v4_{category}.json")[:limit]
        answer_file = root / "possible_answer" / f"BFCL_v4_{category}.json"
        answers = {a["id"]: a["ground_truth"] for a in read_jsonl(answer_file)}
        for entry in prompts:
            truth = answers[entry["id"]]
            reference = {"ground_truth": truth, "functions": entry["function"]}
            for cand in candidates(truth, rng, per_entry):
                text = as_python(cand.calls)
                parsed = [{c.name: c.arguments} for c in python_calls(text)]
                assert parsed == cand.calls, f"the text does not read back as the calls: {text}"
                theirs = ast_checker(entry["function"], parsed, truth, python, category, MODEL)["valid"]
                score = reward.score_one(Sample("bfcl", completion=text, reference=reference), {})
                why = score.detail.get("errors") or score.detail.get("reason")
                yield Verdict(category, entry["id"], cand.mutation, text, theirs, score.value == 1.0, why)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--per-entry", type=int, default=12, help="random mutations per entry")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=20, help="disagreements printed")
    args = parser.parse_args()
    counts: dict[str, Counter[str]] = {c: Counter() for c in CATEGORIES}
    by_mutation: Counter[tuple[str, bool]] = Counter()
    shown = 0
    for v in verdicts(args.per_entry, args.seed):
        agree = v.ours == v.bfcl
        counts[v.category].update(["agree" if agree else "disagree", f"bfcl_{'valid' if v.bfcl else 'invalid'}"])
        by_mutation[v.mutation, agree] += 1
        if not agree and shown < args.show:
            shown += 1
            print(f"DISAGREE {v.id} {v.mutation}: bfcl={v.bfcl} ours={v.ours} {v.text[:200]} | ours: {v.why}")
    total: Counter[str] = Counter()
    for category, c in counts.items():
        n = c["agree"] + c["disagree"]
        print(f"{category:24s} {c['agree']:6d}/{n:<6d} agree  "
              f"(BFCL valid {c['bfcl_valid']}, invalid {c['bfcl_invalid']})")
        total.update(c)
    n = total["agree"] + total["disagree"]
    print(f"{'all':24s} {total['agree']:6d}/{n:<6d} agree = {total['agree'] / n:.4%} "
          f"(BFCL valid {total['bfcl_valid']}, invalid {total['bfcl_invalid']})")
    for mutation in sorted({m for m, _ in by_mutation}):
        print(f"  {mutation:14s} agree {by_mutation[mutation, True]:6d}  disagree {by_mutation[mutation, False]:4d}")


if __name__ == "__main__":
    main()

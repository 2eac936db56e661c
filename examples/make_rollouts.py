"""Build examples/rollouts.jsonl: GRPO-shaped rollouts over reasoning-gym tasks.

The problems and their gold answers come from `reasoning-gym`'s procedural
generators (seeded, shipped in the PyPI package). The completions are synthetic:
for each problem we write a group of 8 completions drawn from realistic kinds —
correct and well formatted, correct in another surface form, wrong, badly
formatted, answer only inside the reasoning, overlong, and truncated with no
answer. Token counts in ``meta.completion_tokens`` are estimated as 4/3 x words.

    python examples/make_rollouts.py --problems 300 --out examples/rollouts.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import reasoning_gym

TASKS = ["basic_arithmetic", "chain_sum", "gcd", "lcm", "fraction_simplification", "products",
         "simple_equations", "leg_counting"]
GROUP_SIZE = 8
KINDS = {  # completion kind -> weight
    "correct": 30, "correct_variant": 8, "wrong": 24, "no_tags": 8, "outside_text": 6,
    "answer_in_think_only": 6, "overlong": 10, "truncated": 8,
}
OPENERS = ["First, I need to understand the question.", "Let me work through this step by step.",
           "Okay, let's see.", "I'll start by reading the problem carefully."]
STEPS = ["I write down the numbers involved.", "Then I combine them carefully.", "Wait, let me check that step.",
         "That matches what I expected.", "Let me verify the arithmetic once more.",
         "Alternatively, I could do this in a different order.", "Hmm, the intermediate result looks right.",
         "So I carry the result forward.", "I double-check the signs."]


def wrong_answer(answer: str, rng: random.Random) -> str:
    """A plausible wrong answer of the same surface form."""
    try:
        if "/" in answer:
            frac = Fraction(answer)
            return f"{frac.numerator + rng.choice([1, -1, 2])}/{frac.denominator}"
        if "." in answer:
            return f"{float(answer) + rng.choice([0.1, -1, 1.5]):.6g}"
        value = int(answer)
        wrong = [v for v in (value + 1, value - 1, value * 10, -value, value + 2) if v != value]
        return str(rng.choice(wrong))
    except (ValueError, ZeroDivisionError):
        return answer + "0"


def variant(answer: str, rng: random.Random) -> str:
    """The same value in another surface form a careful grader accepts."""
    if "/" in answer or "." in answer:
        return f"\\boxed{{{answer}}}"
    try:
        value = int(answer)
    except ValueError:
        return answer
    return rng.choice([f"{value:,}" if abs(value) >= 1000 else f"{value}.0", f"\\boxed{{{value}}}", f" {value} "])


def reasoning(question: str, rng: random.Random, steps: int) -> str:
    lines = [rng.choice(OPENERS), f"The problem: {question.splitlines()[0][:160]}"]
    lines += [rng.choice(STEPS) for _ in range(steps)]
    return " ".join(lines)


def completion(kind: str, question: str, answer: str, rng: random.Random) -> str:
    think = reasoning(question, rng, rng.randint(3, 12))
    if kind == "correct":
        return f"<think>{think}</think>\n<answer>{answer}</answer>"
    if kind == "correct_variant":
        return f"<think>{think}</think>\n<answer>{variant(answer, rng)}</answer>"
    if kind == "wrong":
        return f"<think>{think}</think>\n<answer>{wrong_answer(answer, rng)}</answer>"
    if kind == "no_tags":
        return f"{think} The answer is {answer}."
    if kind == "outside_text":
        return f"<think>{think}</think>\n<answer>{answer}</answer>\nI hope this helps!"
    if kind == "answer_in_think_only":
        return f"<think>{think} So it is {answer}.</think>"
    if kind == "overlong":
        long = reasoning(question, rng, rng.randint(110, 160))
        return f"<think>{long}</think>\n<answer>{rng.choice([answer, wrong_answer(answer, rng)])}</answer>"
    long = reasoning(question, rng, rng.randint(150, 170))
    return f"<think>{long}"  # truncated: hit the length limit before answering


def build(problems: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    per_task = -(-problems // len(TASKS))
    rows: list[dict[str, Any]] = []
    kinds, weights = list(KINDS), list(KINDS.values())
    for task in TASKS:
        for j, item in enumerate(reasoning_gym.create_dataset(task, size=per_task, seed=seed)):
            group = f"{task}-{j}"
            for k in range(GROUP_SIZE):
                kind = rng.choices(kinds, weights)[0]
                text = completion(kind, item["question"], str(item["answer"]), rng)
                rows.append({
                    "id": f"{group}-{k}", "group": group, "prompt": item["question"], "completion": text,
                    "reference": str(item["answer"]),
                    "meta": {"task": task, "kind": kind, "completion_tokens": len(text.split()) * 4 // 3},
                })
    return rows[: problems * GROUP_SIZE]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("rollouts.jsonl"))
    args = parser.parse_args()
    rows = build(args.problems, args.seed)
    with args.out.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"wrote {len(rows)} rows ({len(rows) // GROUP_SIZE} groups of {GROUP_SIZE}) to {args.out}")


if __name__ == "__main__":
    main()

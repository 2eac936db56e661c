"""rewardlab's ``math`` reward versus the straightforward math-verify loop, in one run.

    python -m benchmarks.math [--problems 400] [--group 8] [--batch 256] [--seed 0]

Two corpora, both GRPO-shaped (problems with groups of completions, each with a
long reasoning before its final answer, a mix of plain-number and symbolic
answers, every row labelled by construction):

- ``grpo``: a realistic share of repeated final answers inside each group (the
  canonical right answer, an equivalent form, two popular wrong answers); every
  problem has fresh parameters, so answers repeat inside a group, not across;
- ``unique``: no final answer repeats anywhere in the corpus.

For each, on the same rows, it times rewardlab (``Engine.run`` over batches, warm
process pool, cold caches) and the math-verify loop (``parse(gold)``,
``parse(completion)``, ``verify(gold, pred)`` with math-verify's defaults), and
prints rows per second, the ratio, and each one's agreement with the labels. For
reference it also runs math-verify with the gold wrapped in ``$...$`` (a common
fix for bare-LaTeX golds).
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from rewardlab.core import Sample, Score
from rewardlab.engine import Engine
from rewardlab.rewards.math import MathReward
from rewardlab.rewards.math.equivalence import WARM_UP


@dataclass(frozen=True)
class Problem:
    gold: str
    right: tuple[str, ...]  # equivalent forms of the gold
    wrong: tuple[str, ...]  # popular wrong answers


FILLER = [
    "We first note that the total is the sum of the parts, so we add {a} and {b} to get {c}. ",
    "Let $x = {a}$. Then $x^2 = {a2}$ and $2x + {b} = {d}$, which is consistent with the constraint. ",
    "Checking the case $n = {b}$: the expression gives $\\frac{{{a}}}{{{b}}}$, which is not an integer. ",
    "Subtracting, {c} - {b} = {a}, so the remaining quantity is {a}. ",
    "By the Pythagorean theorem, $a^2 + b^2 = c^2$, so with $a = {a}$ and $b = {b}$ we get "
    "$c = \\sqrt{{{s}}}$. ",
]
ENDINGS = [
    "</think>\nTherefore, the final answer is $\\boxed{{{ans}}}$.",
    "\n\nSo the answer is $\\boxed{{{ans}}}$.",
    "</think>\n<answer>{ans}</answer>",
    "\n\n**Final Answer**\n\\[\\boxed{{{ans}}}\\]",
]


def reasoning(rng: random.Random, sentences: int) -> str:
    parts = ["<think>" if rng.random() < 0.5 else ""]
    for _ in range(sentences):
        a, b = rng.randint(2, 999), rng.randint(2, 99)
        parts.append(rng.choice(FILLER).format(a=a, b=b, c=a + b, a2=a * a, d=2 * a + b,
                                               s=a * a + b * b))
    return "".join(parts)


def completion(rng: random.Random, ans: str | None) -> str:
    text = reasoning(rng, rng.randint(15, 40))
    if ans is None:
        return text + (" I could not finish in time." if "<think>" not in text else "</think> Unsure.")
    ending = rng.choice(ENDINGS)
    if "<think>" not in text and ending.startswith("</think>"):
        ending = ending[len("</think>"):]
    elif "<think>" in text and not ending.startswith("</think>"):
        ending = "</think>" + ending
    return text + ending.format(ans=ans)


def symbolic_problem(rng: random.Random) -> Problem:
    """A symbolic problem with fresh parameters: answers repeat inside its group only."""
    a, b = rng.randint(2, 40), rng.choice([2, 3, 5, 6, 7, 10, 11, 13, 14, 15])
    c, d = rng.randint(1, 30), rng.randint(31, 60)
    kind = rng.randrange(8)
    if kind == 0:
        return Problem(f"{a}\\sqrt{{{b}}}", (f"{a}\\sqrt{{{b}}}", f"\\sqrt{{{a * a * b}}}"),
                       (str(a), f"{a + 1}\\sqrt{{{b}}}", f"\\sqrt{{{a * b}}}"))
    if kind == 1:
        return Problem(f"\\frac{{\\sqrt{{{b}}}}}{{{a}}}", (f"\\frac{{\\sqrt{{{b}}}}}{{{a}}}",
                                                    f"\\frac{{{b}}}{{{a}\\sqrt{{{b}}}}}"),
                       (f"\\frac{{{b}}}{{{a}}}", f"\\sqrt{{{b}}}", f"\\frac{{\\sqrt{{{b + 1}}}}}{{{a}}}"))
    if kind == 2:
        return Problem(f"\\frac{{{c}\\pi}}{{{d}}}", (f"\\frac{{{c}\\pi}}{{{d}}}",
                                                  f"\\frac{{{c}}}{{{d}}}\\pi"),
                       (f"\\frac{{{c}}}{{{d}}}", f"\\frac{{{d}\\pi}}{{{c}}}", f"{c}\\pi"))
    if kind == 3:
        return Problem(f"({c},{d}]", (f"({c},{d}]", f"({c}, {d}]"), (f"[{c},{d}]", f"({c},{d})", str(c)))
    if kind == 4:
        return Problem(f"x^2+{2 * c}x+{c * c}", (f"(x+{c})^2", f"x^2+{2 * c}x+{c * c}"),
                       (f"x^2+{c * c}", f"(x-{c})^2", f"{2 * c}x+{c * c}"))
    if kind == 5:
        return Problem(f"\\{{-{c}, {d}\\}}", (f"-{c}, {d}", f"{d}, -{c}"), (str(d), f"-{c}", f"{c}, -{d}"))
    if kind == 6:
        return Problem(f"({d},-{c})", (f"({d},-{c})", f"({d}, -{c})"), (f"(-{c},{d})", f"({d},{c})", str(d)))
    return Problem(f"\\begin{{pmatrix}}{c}\\\\{d}\\end{{pmatrix}}",
                   (f"\\begin{{pmatrix}}{c}\\\\{d}\\end{{pmatrix}}", f"\\begin{{bmatrix}}{c}\\\\{d}\\end{{bmatrix}}"),
                   (f"\\begin{{pmatrix}}{d}\\\\{c}\\end{{pmatrix}}", str(c + d), f"({c},{d})"))


def numeric_problem(rng: random.Random) -> Problem:
    kind = rng.random()
    if kind < 0.6:
        n = rng.randint(2, 5000)
        right = (str(n), f"{n:,}" if n >= 1000 else f"{n}.0")
        return Problem(str(n), right, (str(n + rng.choice([1, -1, 10])), str(n * 2), str(n // 2)))
    if kind < 0.8:
        p, q = rng.randint(1, 30), rng.randint(31, 60)
        return Problem(f"\\frac{{{p}}}{{{q}}}", (f"\\frac{{{p}}}{{{q}}}", f"{p}/{q}"),
                       (f"\\frac{{{q}}}{{{p}}}", f"\\frac{{{p + 1}}}{{{q}}}", str(p)))
    d = rng.randint(1, 999) / 100
    return Problem(f"{d:g}", (f"{d:g}", f"{d:.2f}"), (f"{d + 0.1:g}", f"{d * 10:g}", "0"))


def grpo_corpus(rng: random.Random, problems: int, group: int) -> list[tuple[Sample, bool]]:
    """Groups with repeated final answers (the usual GRPO picture)."""
    rows: list[tuple[Sample, bool]] = []
    for p in range(problems):
        prob = symbolic_problem(rng) if rng.random() < 0.3 else numeric_problem(rng)
        for k in range(group):
            r = rng.random()
            if r < 0.45:
                ans, ok = prob.right[0], True
            elif r < 0.55:
                ans, ok = prob.right[1], True
            elif r < 0.95:
                ans, ok = prob.wrong[0] if r < 0.8 else prob.wrong[1], False
            else:
                ans, ok = None, False
            rows.append((Sample(f"{p}-{k}", completion=completion(rng, ans), reference=prob.gold,
                                group=str(p)), ok))
    return rows


def unique_corpus(rng: random.Random, problems: int, group: int) -> list[tuple[Sample, bool]]:
    """No final answer repeats: every completion's answer text is new."""
    rows: list[tuple[Sample, bool]] = []
    for p in range(problems):
        n = 10_000 + p * 97
        if p % 10 < 3:  # 30% symbolic, as in the grpo corpus; every answer text is new
            rows.extend(unique_symbolic(rng, p, group))
            continue
        gold = str(n) if p % 3 else f"\\frac{{{n}}}{{{n + 1}}}"
        for k in range(group):
            if k == 0:
                ans, ok = gold, True
            elif k == 1 and p % 3:
                ans, ok = f"{n:,}", True
            elif p % 3 == 0 and k == 1:
                ans, ok = f"{n}/{n + 1}", True
            elif k % 2:
                ans, ok = f"\\frac{{{n + k}}}{{{k + 1}}}", False
            else:
                ans, ok = str(n + 1000 * k + p), False
            rows.append((Sample(f"{p}-{k}", completion=completion(rng, ans), reference=gold,
                                group=str(p)), ok))
    return rows


def unique_symbolic(rng: random.Random, p: int, group: int) -> list[tuple[Sample, bool]]:
    """A symbolic problem (a*sqrt(b), b square-free) whose answers never repeat."""
    a, b = 2 + p, [2, 3, 5, 6, 7, 10, 11, 13][p % 8]
    gold = f"{a}\\sqrt{{{b}}}"
    forms = [(gold, True), (f"\\sqrt{{{a * a * b}}}", True), (f"\\sqrt{{{b}}} \\cdot {a}", True)]
    forms += [(f"{a + k}\\sqrt{{{b}}}", False) for k in range(1, 4)]
    forms += [(f"{a}\\sqrt{{{b + 100 + p}}}", False), (f"\\frac{{{a}}}{{\\sqrt{{{b}}}}}", False)]
    return [(Sample(f"{p}-{k}", completion=completion(rng, ans), reference=gold, group=str(p)), ok)
            for k, (ans, ok) in enumerate(forms[:group])]


def run_rewardlab(samples: list[Sample], batch: int, workers: int) -> tuple[list[bool], float]:
    reward = MathReward()
    with Engine(workers=workers, timeout=10.0) as engine:
        # Start the pool and load the reward in every worker (not timed). A worker that is
        # still loading when the first batch is done would otherwise load during the timing.
        engine.run(reward, warm_up(workers))
        time.sleep(3.0)
        engine.run(reward, warm_up(workers)[::-1][: 2 * workers] + [
            Sample(f"v{i}", completion=f"#### {i}", reference=str(i)) for i in range(4 * workers)])
        start = time.perf_counter()
        scores: list[Score] = []
        for i in range(0, len(samples), batch):
            scores.extend(engine.run(reward, samples[i:i + batch]))
        elapsed = time.perf_counter() - start
    return [s.value == 1.0 for s in scores], elapsed


def warm_up(workers: int) -> list[Sample]:
    """Distinct small samples that load the reward and sympy's parser in every worker."""
    return [Sample(f"w{i}", completion=f"\\boxed{{\\sqrt{{{i + 2}}}}}", reference=f"\\sqrt{{{i + 2}}}")
            for i in range(8 * workers)]


def run_math_verify(samples: list[Sample], wrap_gold: bool = False) -> tuple[list[bool], float]:
    from math_verify import parse, verify

    for w in warm_up(1):  # the same warm-up as rewardlab's workers get, before timing
        verify(parse(str(w.reference)), parse(w.completion_text))
    for text in WARM_UP:
        parse(f"${text}$")
    start = time.perf_counter()
    out = []
    for s in samples:
        gold = parse(f"${s.reference}$" if wrap_gold else str(s.reference))
        pred = parse(s.completion_text)
        out.append(bool(verify(gold, pred)))
    return out, time.perf_counter() - start


def agreement(pred: list[bool], labels: list[bool]) -> float:
    return sum(p == y for p, y in zip(pred, labels, strict=True)) / len(labels)


def bench(name: str, make: Callable[[], list[tuple[Sample, bool]]], batch: int, workers: int) -> None:
    rows = make()
    samples = [s for s, _ in rows]
    labels = [y for _, y in rows]
    answers = len({s.completion_text.rsplit("boxed{", 1)[-1][-40:] for s in samples})
    ours, t_ours = run_rewardlab(samples, batch, workers)
    theirs, t_theirs = run_math_verify(samples)
    n = len(samples)
    print(f"\n[{name}] {n} rows, {len({s.group for s in samples})} groups, "
          f"~{answers} distinct answer endings, mean completion "
          f"{sum(len(s.completion_text) for s in samples) // n} chars")
    print(f"  rewardlab   : {n / t_ours:9.1f} rows/s  ({t_ours:6.2f} s)  agreement {agreement(ours, labels):.4f}")
    print(f"  math-verify : {n / t_theirs:9.1f} rows/s  ({t_theirs:6.2f} s)  "
          f"agreement {agreement(theirs, labels):.4f}")
    print(f"  ratio       : {t_theirs / t_ours:9.1f}x")
    wrapped, t_wrapped = run_math_verify(samples, wrap_gold=True)
    print(f"  (for reference) math-verify with the gold wrapped in $...$: {n / t_wrapped:.1f} rows/s, "
          f"agreement {agreement(wrapped, labels):.4f}, ratio {t_wrapped / t_ours:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=400)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--batch", type=int, default=256, help="rows per Engine.run call")
    ap.add_argument("--workers", type=int, default=None, help="pool workers (default: cores)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.disable(logging.WARNING)  # math-verify warns on every parse failure
    import os

    workers = args.workers or os.cpu_count() or 1
    print(f"math benchmark: {args.problems} problems x {args.group} completions, "
          f"{workers} workers, batches of {args.batch}")
    bench("grpo (repeated answers)", lambda: grpo_corpus(random.Random(args.seed), args.problems,
                                                         args.group), args.batch, workers)
    bench("unique (no repeated answers)", lambda: unique_corpus(random.Random(args.seed + 1),
                                                                args.problems, args.group),
          args.batch, workers)


if __name__ == "__main__":
    main()

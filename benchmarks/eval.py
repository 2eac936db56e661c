"""Where ``rewardlab eval``'s time goes: the reward itself against everything around it.

    python -m benchmarks.eval [--candidates 10000] [--reward math|exact] [--no-diagnostics]

Builds a best-of-n dataset (prompts x 4 distinct math answers with gold labels), runs
``run_eval`` on it (candidate files, the runner's crash-safe store, benchmark scoring, swap
check and diagnostics) and prints the split from the eval JSON's ``timing``: ``reward_s`` is
the wall time inside the pipeline's component scoring (the engine running the reward: its
dedup, cache and, for ``math``, its process pool), ``other_s`` the rest (the runner's store
and files, the benchmark's scoring, the diagnostics). The total also counts importing
rewardlab's eval module (``imports``: done once per process, as ``rewardlab eval`` does;
the interpreter's own start is not counted), and every import ``run_eval`` does itself
(the pipeline, the one built-in reward the spec names) is in its ``setup`` part. Once the
data is checked, ``run_eval`` starts the engine's process pool and has its workers load the
reward (``Pipeline.warm``) while it writes the candidates and opens the store: the part of
that start which overlaps eval's own work is in neither share (the parts run slower for the
CPU the workers take meanwhile), the rest is in ``reward_s``; a line prints what the start
takes alone. The goal
(issue 17): under 10% outside the reward with a cheap reward; since a microsecond reward
can never meet a ratio, the absolute overhead per candidate is printed too. A last line
times the reward alone (``score_one`` on every candidate in this process, no engine) to show
how much of ``reward_s`` is the reward and how much the engine around it.

``--reward math``: the built-in ``math`` verifier (math-verify, through the engine's process
pool) checks each answer against the gold one; ``--reward exact``: ``text.exact_match``, an
inline string comparison (microseconds), where the fixed per-candidate cost dominates.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PER_PROMPT = 4
SPECS: dict[str, dict[str, Any]] = {
    "math": {"rewards": {"correct": {"type": "math"}}},
    "exact": {"rewards": {"correct": {"type": "text.exact_match"}}},
}


def make_rows(candidates: int, seed: int = 0) -> list[dict[str, Any]]:
    """Best-of-4 rows: answers near the gold one, each labelled by whether it equals it."""
    rng = random.Random(seed)
    rows = []
    for p in range(candidates // PER_PROMPT):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        gold = a * b
        guesses = [gold + d for d in rng.sample([0, 0, 1, -1, 2, a, -b, 10], PER_PROMPT)]
        rows.append({"prompt": f"Problem {p}: what is {a} times {b}?",
                     "completions": [f"Attempt {k}: {a} x {b} = $\\boxed{{{g}}}$" for k, g in enumerate(guesses)],
                     "correct": [g == gold for g in guesses], "reference": str(gold)})
    return rows


def reward_alone(spec: dict[str, Any], rows: list[dict[str, Any]]) -> float:
    """Seconds the spec's reward takes on every candidate, called in this process without the engine."""
    from rewardlab.core import Sample
    from rewardlab.pipeline import Pipeline

    samples = [Sample(id="", prompt=r["prompt"], completion=c, reference=r["reference"])
               for r in rows for c in r["completions"]]
    pipeline = Pipeline.from_spec(spec)
    reward = pipeline.components[0].reward
    reward.score_one(samples[0], {})  # its first call may import what it needs: not per-candidate work
    start = time.perf_counter()
    for s in samples:
        reward.score_one(s, {})
    return time.perf_counter() - start


def pool_start_alone(spec: dict[str, Any], rows: list[dict[str, Any]]) -> float | None:
    """Seconds a fresh engine takes to start its pool, load the spec's reward in every worker and score
    one candidate (None for a reward that runs in this process)."""
    from rewardlab.core import CostClass, Sample
    from rewardlab.engine import Engine
    from rewardlab.pipeline import Pipeline

    pipeline = Pipeline.from_spec(spec, Engine())  # not the process's default engine: eval left it warm
    sample = Sample(id="", prompt=rows[0]["prompt"], completion=rows[0]["completions"][0],
                    reference=rows[0]["reference"])
    try:
        if getattr(pipeline.components[0].reward, "cost", None) != CostClass.CPU:
            return None
        start = time.perf_counter()
        pipeline.warm()
        pipeline.score_components([sample])
        return time.perf_counter() - start
    finally:
        pipeline.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--reward", choices=sorted(SPECS), default="math")
    parser.add_argument("--no-diagnostics", action="store_true", help="leave the diagnostics block out")
    args = parser.parse_args()
    rows = make_rows(args.candidates)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bon.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        start = time.perf_counter()
        from rewardlab.evaluate.run_eval import run_eval  # once per process, as `rewardlab eval` pays it

        imports = time.perf_counter() - start
        result = run_eval(data, SPECS[args.reward], "best-of-n", work=Path(tmp) / "work",
                          diagnostics=not args.no_diagnostics)
    t = result["timing"]
    total, outside = t["total_s"] + imports, t["other_s"] + imports
    print(f"rewardlab eval, best-of-n, {t['candidates']} candidates, reward {args.reward!r}")
    print(f"  total {total:.2f} s = reward {t['reward_s']:.2f} s + outside the reward {outside:.2f} s "
          f"({outside / total:.1%} outside; goal < 10%); {outside / t['candidates'] * 1e6:.0f} us "
          "per candidate outside the reward")
    print(f"  outside the reward: imports {imports:.2f} s, "
          + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in t["parts"].items()))
    own = sum(t["parts"][k] for k in ("candidates_s", "benchmark_s", "diagnostics_s"))
    print(f"  eval's own work beyond what `rewardlab score` of the candidates does (candidates, benchmark, "
          f"diagnostics): {own:.2f} s ({own / total:.1%})")
    print(f"  best-of-{result['extra']['n']} accuracy {result['overall']:.3f}, oracle {result['extra']['oracle']:.3f}, "
          f"random {result['extra']['random']:.3f}; unscorable candidates {result['unscorable']['candidates']}")
    alone = reward_alone(SPECS[args.reward], rows)
    print(f"  the reward alone (score_one on each candidate in this process, no engine): {alone:.2f} s; "
          f"the engine's share of reward_s: {max(t['reward_s'] - alone, 0.0):.2f} s")
    started = pool_start_alone(SPECS[args.reward], rows)
    if started is not None:
        print(f"  the engine's pool start alone (workers started, the reward loaded in each, one candidate): "
              f"{started:.2f} s; eval overlaps it with its own work")
    if sys.dont_write_bytecode:
        print("  note: bytecode caching is off (PYTHONDONTWRITEBYTECODE): imports compile their source every run")


if __name__ == "__main__":
    main()

"""Where ``rewardlab eval``'s time goes: the reward itself against everything around it.

    python -m benchmarks.eval [--candidates 10000] [--reward math|exact] [--no-diagnostics]

Builds a best-of-n dataset (prompts x 4 distinct math answers with gold labels), runs
``run_eval`` on it (candidate files, the runner's crash-safe store, benchmark scoring, swap
check and diagnostics) and prints the split from the eval JSON's ``timing``: ``reward_s`` is
the wall time inside the pipeline's component scoring (the engine running the reward),
``other_s`` the rest (the runner's store and files, the benchmark's scoring, the diagnostics).
The goal (issue 17): under 10% outside the reward with a cheap reward. The last line counts
only what eval adds to the runner of ``rewardlab score``.

``--reward math``: the built-in ``math`` verifier (math-verify, through the engine's process
pool) checks each answer against the gold one; ``--reward exact``: ``text.exact_match``, an
inline string comparison (microseconds), where the fixed per-candidate cost dominates.
``diagnostics`` includes importing scipy.stats (once per process) for the rank statistics.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path
from typing import Any

from rewardlab.evaluate.run_eval import run_eval

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--reward", choices=sorted(SPECS), default="math")
    parser.add_argument("--no-diagnostics", action="store_true", help="leave the diagnostics block out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bon.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in make_rows(args.candidates)))
        result = run_eval(data, SPECS[args.reward], "best-of-n", work=Path(tmp) / "work",
                          diagnostics=not args.no_diagnostics)
    t = result["timing"]
    print(f"rewardlab eval, best-of-n, {t['candidates']} candidates, reward {args.reward!r}")
    print(f"  total {t['total_s']:.2f} s = reward {t['reward_s']:.2f} s + outside the reward {t['other_s']:.2f} s "
          f"({t['other_s'] / t['total_s']:.1%} outside; goal < 10%)")
    print("  outside the reward: " + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in t["parts"].items()))
    own = sum(t["parts"][k] for k in ("candidates_s", "benchmark_s", "diagnostics_s"))
    print(f"  eval's own work beyond what `rewardlab score` of the candidates does (candidates, benchmark, "
          f"diagnostics): {own:.2f} s ({own / t['total_s']:.1%})")
    print(f"  best-of-{result['extra']['n']} accuracy {result['overall']:.3f}, oracle {result['extra']['oracle']:.3f}, "
          f"random {result['extra']['random']:.3f}; unscorable candidates {result['unscorable']['candidates']}")


if __name__ == "__main__":
    main()

"""Agreement of the `math` reward with the hand-labelled corpus, by family.

    python -m benchmarks.math_corpus

The corpus (tests/data/math_corpus.jsonl, built by tests/data/build_math_corpus.py)
holds (completion, reference, expected) cases labelled by what a careful
competition grader would say, including public grader bug reports and hack
attempts. Prints agreement per family, overall, and the hack cases scored correct.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from rewardlab.core import Sample, Score, Status
from rewardlab.rewards.math import MathReward

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "math_corpus.jsonl"


def agrees(expected: str, s: Score) -> bool:
    """Whether a score agrees with a corpus label."""
    if expected == "correct":
        return s.status is Status.OK and s.value == 1.0
    if expected == "incorrect":
        return s.value == 0.0 and s.status in (Status.OK, Status.NO_ANSWER)
    if expected == "no_answer":
        return s.status is Status.NO_ANSWER and s.value == 0.0
    return s.status is Status.INVALID_REFERENCE and s.value is None


def load() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def main() -> None:
    reward = MathReward()
    rows = load()
    total, ok = Counter[str](), Counter[str]()
    misses, hack_fp = [], []
    for row in rows:
        s = reward.score_one(Sample(id=row["id"], completion=row["completion"], reference=row["reference"]), {})
        total[row["family"]] += 1
        if agrees(row["expected"], s):
            ok[row["family"]] += 1
        else:
            misses.append(f"  {row['id']}: expected {row['expected']}, got {s.value} ({s.status.value})")
        if row["hack"] and s.value == 1.0:
            hack_fp.append(row["id"])
    for family in sorted(total):
        print(f"{family:12s} {ok[family]:4d}/{total[family]:<4d}")
    n_ok = sum(ok.values())
    print(f"overall      {n_ok}/{len(rows)} = {n_ok / len(rows):.2%}")
    print(f"hack cases scored correct: {len(hack_fp)} of {sum(r['hack'] for r in rows)}")
    print("disagreements:\n" + ("\n".join(misses) or "  none"))


if __name__ == "__main__":
    main()

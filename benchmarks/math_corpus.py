"""Agreement of the `math` reward with the labelled corpus: by family, and against peers.

    python -m benchmarks.math_corpus

The corpus (tests/data/math_corpus.jsonl, built by tests/data/build_math_corpus.py) holds
(completion, reference, expected) cases: hand-labelled ones (what a careful competition
grader says, including public grader bug reports and hack attempts) and other projects'
grader test cases with the peer's verdict (family ``peer``; ``policy`` names the grading
policy a case depends on, or is null). Prints agreement per family, the peer agreement split
into non-policy and policy cases (with false positives: scored correct where the label says
not), the hack cases scored correct, and every disagreement.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
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


@cache
def _reward(params: str) -> MathReward:
    return MathReward(**json.loads(params))


def score_row(row: dict[str, Any]) -> Score:
    """Score one corpus row with its own reward parameters (``params``; default: none)."""
    reward = _reward(json.dumps(row.get("params") or {}, sort_keys=True))
    return reward.score_one(Sample(id=row["id"], completion=row["completion"], reference=row["reference"]), {})


def false_positive(row: dict[str, Any], s: Score) -> bool:
    """Scored correct where the label says it is not."""
    return s.value == 1.0 and row["expected"] != "correct"


def peer_table(rows: list[dict[str, Any]], scores: list[Score]) -> list[str]:
    """Peer agreement: non-policy and policy cases, per policy and per peer."""
    groups: dict[str, list[tuple[dict[str, Any], Score]]] = {}
    for row, s in zip(rows, scores, strict=True):
        if row.get("peer"):
            groups.setdefault("non-policy" if row["policy"] is None else "policy", []).append((row, s))
            groups.setdefault(f"  policy: {row['policy']}" if row["policy"] else "  non-policy", [])
            if row["policy"]:
                groups[f"  policy: {row['policy']}"].append((row, s))
            groups.setdefault(f"  peer: {row['peer']}", []).append((row, s))
    lines = ["peer cases        agree  total   rate  false positives"]
    for name in ["non-policy", "policy", *sorted(k for k in groups if k.startswith("  policy")),
                 *sorted(k for k in groups if k.startswith("  peer"))]:
        pairs = groups.get(name, [])
        if not pairs:
            continue
        ok = sum(agrees(r["expected"], s) for r, s in pairs)
        fp = sum(false_positive(r, s) for r, s in pairs)
        lines.append(f"{name:<34s}"[:34] + f" {ok:5d} {len(pairs):6d} {ok / len(pairs):6.2%} {fp:6d}")
    return lines


def main() -> None:
    rows = load()
    scores = [score_row(row) for row in rows]
    total, ok = Counter[str](), Counter[str]()
    misses, hack_fp = [], []
    for row, s in zip(rows, scores, strict=True):
        total[row["family"]] += 1
        if agrees(row["expected"], s):
            ok[row["family"]] += 1
        else:
            where = f" [{row['policy'] or 'non-policy'}] {row['source']}" if row.get("peer") else ""
            misses.append(f"  {row['id']}: expected {row['expected']}, got {s.value} ({s.status.value}, "
                          f"{s.detail.get('decided_by', s.detail.get('reason', ''))}){where}")
        if row["hack"] and s.value == 1.0:
            hack_fp.append(row["id"])
    for family in sorted(total):
        print(f"{family:12s} {ok[family]:4d}/{total[family]:<4d}")
    n_ok = sum(ok.values())
    print(f"overall      {n_ok}/{len(rows)} = {n_ok / len(rows):.2%}")
    print(f"hack cases scored correct: {len(hack_fp)} of {sum(r['hack'] for r in rows)}")
    print("\n".join(peer_table(rows, scores)))
    print("disagreements:\n" + ("\n".join(misses) or "  none"))


if __name__ == "__main__":
    main()

"""Build the eval examples from examples/rollouts.jsonl (reasoning-gym problems, synthetic completions).

    python examples/eval/make_data.py [--groups 48]

Writes, beside this script:

- ``best_of_n.jsonl`` (layout ``best-of-n``): per problem, its 8 completions, the gold answer
  as ``reference`` and gold ``correct`` labels: a completion is correct when it was written
  with the right final answer inside ``<answer>`` tags (kinds correct, correct_variant,
  outside_text, and overlong ones that kept the right answer), whatever a verifier says;
- ``preference.jsonl`` (layout ``preference``): per problem, a pair whose chosen completion
  is a correct one and whose rejected completion is a wrong or unfinished one, ``subset`` =
  the reasoning-gym task, and the gold answer as ``reference`` (for a verifier).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ROLLOUTS = HERE.parent / "rollouts.jsonl"
ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


def is_correct(row: dict[str, Any]) -> bool:
    kind = row["meta"]["kind"]
    if kind in ("correct", "correct_variant", "outside_text"):
        return True
    found = ANSWER.search(row["completion"])
    return kind == "overlong" and found is not None and found.group(1).strip() == str(row["reference"]).strip()


def build(groups: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in ROLLOUTS.read_text().splitlines():
        row = json.loads(line)
        by_group[row["group"]].append(row)
    best_of_n, preference = [], []
    by_task: dict[str, list[str]] = defaultdict(list)  # take groups from every task in turn
    for group, rows in by_group.items():
        by_task[rows[0]["meta"]["task"]].append(group)
    order = [gs[i] for i in range(max(map(len, by_task.values()))) for gs in by_task.values() if i < len(gs)]
    for group in order[:groups]:
        rows = by_group[group]
        first = rows[0]
        labels = [is_correct(r) for r in rows]
        best_of_n.append({"id": group, "prompt": first["prompt"], "reference": first["reference"],
                          "completions": [r["completion"] for r in rows], "correct": labels,
                          "subset": first["meta"]["task"]})
        good = [r for r, ok in zip(rows, labels, strict=True) if ok]
        bad = [r for r, ok in zip(rows, labels, strict=True) if not ok and r["meta"]["kind"] in ("wrong", "truncated")]
        if good and bad:
            preference.append({"id": group, "prompt": first["prompt"], "chosen": good[0]["completion"],
                               "rejected": bad[0]["completion"], "reference": first["reference"],
                               "subset": first["meta"]["task"]})
    return best_of_n, preference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=48)
    args = parser.parse_args()
    best_of_n, preference = build(args.groups)
    for name, rows in (("best_of_n.jsonl", best_of_n), ("preference.jsonl", preference)):
        (HERE / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        print(f"{HERE / name}: {len(rows)} rows")


if __name__ == "__main__":
    main()

"""The ``rewardbench`` package's own scoring functions as the oracle for RewardBench v1 and v2.

rewardbench is installed without its dependencies (tests/run_peer_checkers.sh puts it in an
overlay; ``pip install --no-deps rewardbench==0.1.4`` locally): its ``utils.py`` imports torch,
transformers, fastchat and huggingface_hub at the top, so the scoring functions are taken
from the installed file with :mod:`ast` (``calculate_scores_per_section``,
``reroll_and_score_dataset``, ``sample_stats``, ``process_single_model``) and run with numpy,
pandas and datasets; ``constants.py`` imports nothing and is loaded from its file. The same
per-example scores go through both sides on random data with many ties.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import os
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from rewardlab.evaluate.benchmarks import rewardbench as rb1
from rewardlab.evaluate.benchmarks.rewardbench import RewardBench
from rewardlab.evaluate.benchmarks.rewardbench2 import RewardBench2, answers
from rewardlab.evaluate.records import Candidate, Scored, Scores

ORACLE_FUNCTIONS = ("calculate_scores_per_section", "reroll_and_score_dataset", "sample_stats",
                    "process_single_model")


def rewardbench_dir() -> Path:
    spec = importlib.util.find_spec("rewardbench")
    if spec is None or not spec.submodule_search_locations:
        if os.environ.get("REWARDLAB_REQUIRE_PEERS"):
            pytest.fail("rewardbench is not installed (tests/run_peer_checkers.sh installs it)")
        pytest.skip("rewardbench is not installed: pip install --no-deps rewardbench==0.1.4")
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def oracle() -> SimpleNamespace:
    """rewardbench.utils' scoring functions, compiled from the installed file alone."""
    pd = pytest.importorskip("pandas")
    datasets = pytest.importorskip("datasets")
    path = rewardbench_dir() / "utils.py"
    tree = ast.parse(path.read_text())
    body: list[ast.stmt] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ORACLE_FUNCTIONS]
    assert {n.name for n in body if isinstance(n, ast.FunctionDef)} == set(ORACLE_FUNCTIONS)
    namespace: dict[str, Any] = {"np": np, "math": math, "pd": pd, "Dataset": datasets.Dataset}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)
    return SimpleNamespace(**{name: namespace[name] for name in ORACLE_FUNCTIONS})


def key(prompt: str, text: str) -> str:
    return Candidate(prompt, text).key


def scores_for(values: dict[str, float]) -> Scores:
    return Scores({k: Scored(v, "ok") for k, v in values.items()})


def test_constants_come_from_the_package_and_the_fallback_copy_matches() -> None:
    rewardbench_dir()
    module = rb1.package_constants()
    assert module is not None
    assert module.EXAMPLE_COUNTS == rb1.FALLBACK_EXAMPLE_COUNTS
    assert module.SUBSET_MAPPING == rb1.FALLBACK_SUBSET_MAPPING
    assert rb1.constants()[2].startswith("rewardbench package")


def test_rewardbench_sections_match_calculate_scores_per_section(oracle: SimpleNamespace) -> None:
    rng = random.Random(17)
    subsets = [s for names in rb1.FALLBACK_SUBSET_MAPPING.values() for s in names]
    rows: list[dict[str, Any]] = []
    values: dict[str, float] = {}
    for k in range(600):
        row: dict[str, Any] = {"id": k, "prompt": f"q{k}", "chosen": f"c{k}", "rejected": f"r{k}",
                               "subset": rng.choice(subsets)}
        rows.append(row)
        values[key(row["prompt"], row["chosen"])] = float(rng.randint(0, 3))  # ties are common
        values[key(row["prompt"], row["rejected"])] = float(rng.randint(0, 3))
    ours = RewardBench().evaluate(rows, scores_for(values))
    # run_rm.py's per-pair rule, then the package's section function on the subset accuracies
    per_subset: dict[str, list[int]] = {}
    for row in rows:
        c, r = values[key(row["prompt"], row["chosen"])], values[key(row["prompt"], row["rejected"])]
        per_subset.setdefault(row["subset"], []).append(1 if c > r else 0)
    metrics = {s: sum(v) / len(v) for s, v in per_subset.items()}
    assert ours.subsets == pytest.approx(metrics)
    module = rb1.package_constants()
    assert module is not None
    expected = oracle.calculate_scores_per_section(module.EXAMPLE_COUNTS, module.SUBSET_MAPPING, metrics)
    assert {s: ours.sections[s] for s in expected} == pytest.approx(expected)


def rb2_rows(rng: random.Random) -> tuple[list[dict[str, Any]], dict[str, float]]:
    rows: list[dict[str, Any]] = []
    for k in range(120):
        subset = rng.choice(["Factuality", "Focus", "Math"])
        rows.append({"id": str(k), "prompt": f"p{k}", "chosen": [f"c{k}"],
                     "rejected": [f"r{k}.{i}" for i in range(3)], "num_correct": 1, "subset": subset})
    for n in range(40):
        for kind in ("ref", "tied"):
            if kind == "ref" and n % 7 == 0:
                continue  # some tied prompts without their ref row
            correct = 1 if kind == "ref" else rng.randint(1, 4)
            texts = [f"{kind}{n}.{i}" for i in range(correct + rng.randint(1, 3))]
            rows.append({"id": f"{kind}:{n}", "prompt": f"t{n}", "chosen": texts[:correct],
                         "rejected": texts[correct:], "num_correct": correct, "subset": "Ties"})
    values = {key(row["prompt"], a): float(rng.randint(0, 4)) for i, row in enumerate(rows)
              for a in answers(row, i)[0]}
    return rows, values


def test_rewardbench2_matches_reroll_and_process_single_model(oracle: SimpleNamespace) -> None:
    datasets = pytest.importorskip("datasets")
    rows, values = rb2_rows(random.Random(5))
    ours = RewardBench2().evaluate(rows, scores_for(values))
    # run_v2.py: unroll every answer to a row with its score, reroll per prompt (1/m tie credit)
    best_of_4 = [r for r in rows if r["subset"] != "Ties"]
    unrolled = [{"id": r["id"], "subset": r["subset"], "text": a, "scores": values[key(r["prompt"], a)]}
                for i, r in enumerate(best_of_4) for a in answers(r, i)[0]]
    rerolled = oracle.reroll_and_score_dataset(datasets.Dataset.from_list(unrolled), [4] * len(best_of_4))
    for subset in ("Factuality", "Focus", "Math"):
        results = [x for x, s in zip(rerolled["results"], rerolled["subset"], strict=True) if s == subset]
        assert ours.subsets[subset] == pytest.approx(sum(results) / len(results))
    ties = [{"id": r["id"], "num_correct": r["num_correct"],
             "scores": [values[key(r["prompt"], a)] for a in answers(r, i)[0]]}
            for i, r in enumerate(rows) if r["subset"] == "Ties"]
    _, expected = oracle.process_single_model(datasets.Dataset.from_list(ties))
    assert ours.subsets["Ties"] == pytest.approx(expected)

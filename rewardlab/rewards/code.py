"""Code rewards: run model-written programs against tests in :mod:`rewardlab.sandbox`.

Test formats (the sample's ``reference``), each with an optional ``setup`` (imports,
helpers) that runs inside the sandbox before the candidate:

- function calls: ``{"entry_point": "f", "calls": [{"args": [...], "kwargs": {...},
  "expected": ...}], "compare": "exact" | "numeric"}``;
- stdin/stdout: ``{"cases": [{"input": "...", "output": "..."}]}``;
- assert-style (HumanEval, MBPP): ``{"entry_point": "f", "test_code": "def check(candidate): ..."}``
  (or a list of assert snippets, one test each). The test code is trusted and runs in
  the caller against a proxy whose calls execute in the sandbox.

Verdicts are decided here, in the trusted process, on plain data that came back
through the result channel. A test that times out, crashes or breaks a limit is a
failed test (the program's fault); a sandbox failure is unscorable. See docs/sandbox.md.
"""

from __future__ import annotations

import builtins
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.core import BaseReward, CostClass, Deps, Sample, Score, Status
from rewardlab.errors import SandboxUnavailable
from rewardlab.registry import register
from rewardlab.rewards.call_plan import plan_calls
from rewardlab.sandbox import InfraError, Limits, Outcome, Run, SandboxPool, shared_pool

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
    numeric: bool = False
    solution: str = ""

    @property
    def n_tests(self) -> int:
        return len(self.calls) or len(self.cases) or len(self.test_code)


class ReferenceError_(ValueError):
    """A malformed test reference."""


def parse_reference(ref: Any) -> TestSpec:
    """Validate a test reference; raises ReferenceError_ naming the problem."""
    if not isinstance(ref, dict):
        raise ReferenceError_(f"reference must be an object with tests, got {type(ref).__name__}")
    setup = ref.get("setup", "") or ""
    solution = ref.get("solution", "") or ""
    if not isinstance(setup, str) or not isinstance(solution, str):
        raise ReferenceError_("'setup' and 'solution' must be text")
    kinds = [k for k in ("calls", "cases", "test_code") if k in ref]
    if len(kinds) != 1:
        raise ReferenceError_("reference needs exactly one of 'calls', 'cases' or 'test_code'")
    if "cases" in ref:
        cases = ref["cases"]
        if not isinstance(cases, list) or not cases:
            raise ReferenceError_("'cases' must be a non-empty list")
        for i, c in enumerate(cases):
            if not isinstance(c, dict) or not isinstance(c.get("input", ""), str) or not (
                isinstance(c.get("output"), str)
            ):
                raise ReferenceError_(f"case #{i} needs text 'input' and 'output'")
        return TestSpec("stdio", cases=cases, setup=setup, solution=solution)
    entry = ref.get("entry_point")
    if not isinstance(entry, str) or not entry.isidentifier():
        raise ReferenceError_("'entry_point' must be a function name")
    if "calls" in ref:
        calls = ref["calls"]
        if not isinstance(calls, list) or not calls:
            raise ReferenceError_("'calls' must be a non-empty list")
        for i, c in enumerate(calls):
            if not isinstance(c, dict) or "expected" not in c:
                raise ReferenceError_(f"call #{i} needs 'expected'")
            if not isinstance(c.get("args", []), list) or not isinstance(c.get("kwargs", {}), dict):
                raise ReferenceError_(f"call #{i}: 'args' must be a list and 'kwargs' an object")
        compare = ref.get("compare", "exact")
        if compare not in ("exact", "numeric"):
            raise ReferenceError_("'compare' must be 'exact' or 'numeric'")
        return TestSpec("function", entry, calls=calls, setup=setup,
                        numeric=compare == "numeric", solution=solution)
    code = ref["test_code"]
    codes = [code] if isinstance(code, str) else code
    if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
        raise ReferenceError_("'test_code' must be text or a non-empty list of texts")
    for c in codes:
        try:
            _compile_test(c)
        except SyntaxError as exc:
            raise ReferenceError_(f"test code does not compile: {exc}") from None
    return TestSpec("assert", entry, test_code=codes, setup=setup, solution=solution)


_compiled: dict[str, Any] = {}
_compiled_lock = threading.Lock()


def _compile_test(code: str) -> Any:
    with _compiled_lock:
        hit = _compiled.get(code)
    if hit is None:
        hit = compile(code, "<test>", "exec", dont_inherit=True)  # not our __future__ flags
        with _compiled_lock:
            if len(_compiled) > 4096:
                _compiled.clear()
            _compiled[code] = hit
    return hit


def extract_code(completion: str) -> str:
    """The program in a completion: the last fenced Python block, else the whole text."""
    blocks = _FENCE.findall(completion)
    return blocks[-1] if blocks else completion


# --- comparison (trusted side, plain data only) -------------------------------------------
def _lists(value: Any) -> Any:
    """Tuples as lists, recursively: JSON references cannot express tuples."""
    if type(value) in (list, tuple):
        return [_lists(v) for v in value]
    if type(value) is dict:
        return {k: _lists(v) for k, v in value.items()}
    return value


def values_equal(got: Any, expected: Any, numeric: bool, rel: float, abs_: float) -> bool:
    """Equality of plain data. bool is not a number here; NaN equals NaN."""
    if isinstance(got, bool) or isinstance(expected, bool):
        return type(got) is bool and type(expected) is bool and got == expected
    if isinstance(got, (int, float)) and isinstance(expected, (int, float)):
        if isinstance(got, float) and isinstance(expected, float) and math.isnan(got):
            return math.isnan(expected)
        if numeric:
            return math.isclose(got, expected, rel_tol=rel, abs_tol=abs_)
        return got == expected
    if type(got) is list and type(expected) is list:
        return len(got) == len(expected) and all(
            values_equal(g, e, numeric, rel, abs_) for g, e in zip(got, expected, strict=True)
        )
    if type(got) is dict and type(expected) is dict:
        return got.keys() == expected.keys() and all(
            values_equal(got[k], expected[k], numeric, rel, abs_) for k in got
        )
    return type(got) is type(expected) and bool(got == expected)


def normalize_output(text: str) -> list[str]:
    """Whitespace policy for stdout: CRLF -> LF, trailing spaces of each line and trailing
    empty lines are ignored; everything else (leading spaces, blank lines inside, every
    line to the end) must match."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def output_diff(got: str, expected: str) -> str | None:
    """None if the outputs match under the policy, else a short description of the first difference."""
    g, e = normalize_output(got), normalize_output(expected)
    if g == e:
        return None
    for i, (a, b) in enumerate(zip(g, e, strict=False)):
        if a != b:
            return f"line {i + 1}: expected {b[:60]!r}, got {a[:60]!r}"
    return f"expected {len(e)} lines, got {len(g)}"


# --- running -------------------------------------------------------------------------------
@dataclass
class TestResult:
    outcome: str  # passed, wrong_answer, error, timeout, not_run
    info: str = ""
    elapsed: float = 0.0

    def as_dict(self, index: int) -> dict[str, Any]:
        d: dict[str, Any] = {"test": index, "outcome": self.outcome}
        if self.info:
            d["info"] = self.info[:200]
        return d


@dataclass
class ProgramResult:
    tests: list[TestResult]
    init_error: str = ""

    @property
    def passed(self) -> list[bool]:
        return [t.outcome == "passed" for t in self.tests]

    @property
    def runtime(self) -> float:
        return sum(t.elapsed for t in self.tests)

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


def _error_text(out: Outcome) -> str:
    err = out.error
    line = f" (line {err['line']})" if err.get("line") else ""
    return f"{err.get('type', 'Error')}: {err.get('message', '')}"[:200] + line


def _terminal(out: Outcome) -> TestResult:
    """A test whose run ended: timeout, or crash / limit breach (an error)."""
    if out.kind == "timeout":
        return TestResult("timeout", "exceeded the time limit")
    return TestResult("error", _error_text(out))


class _Abort(BaseException):
    """Stops trusted test code when the sandboxed run has ended (not catchable by
    ``except Exception`` in the test code)."""


class CandidateError(Exception):
    """An exception raised by the candidate whose type is not a builtin exception."""


def _rebuild_exception(error: dict[str, str]) -> Exception:
    cls = getattr(builtins, error.get("type", ""), None)
    message = error.get("message", "")
    if isinstance(cls, type) and issubclass(cls, Exception) and cls.__module__ == "builtins":
        try:
            return cls(message)
        except Exception:
            pass
    return CandidateError(f"{error.get('type', 'Exception')}: {message}")


class _Candidate:
    """What trusted test code receives as ``candidate``: each call runs in the sandbox."""

    def __init__(self, run: Run, entry_point: str, deadline: float) -> None:
        self._run, self._entry, self._deadline = run, entry_point, deadline
        self.ended: Outcome | None = None
        self.calls = 0
        self.elapsed = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.ended is not None:
            raise _Abort()
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            self.ended = Outcome("timeout")
            raise _Abort()
        out = self._run.call(self._entry, list(args), kwargs, timeout=remaining)
        self.elapsed += out.elapsed
        if out.kind == "ok":
            self.calls += 1
            return out.value
        if out.kind == "exception":
            self.calls += out.error.get("type") != "UnsupportedArgument"
            if out.error.get("type") == "UnsupportedArgument":
                raise TypeError(out.error.get("message", ""))
            raise _rebuild_exception(out.error)
        self.ended = out
        raise _Abort()


class Evaluator:
    """Runs one program against one :class:`TestSpec` on a sandbox pool."""

    def __init__(self, pool: SandboxPool, limits: Limits, rel_tol: float, abs_tol: float,
                 max_timeouts: int, batch_calls: bool = True) -> None:
        self.pool, self.limits = pool, limits
        self.rel, self.abs = rel_tol, abs_tol
        self.max_timeouts = max_timeouts
        # Assert-style tests: send the calls the test code is sure to make first in one
        # request (call_plan.py). Off where each call is timed (code.speedup).
        self.batch_calls = batch_calls

    def evaluate(self, code: str, spec: TestSpec) -> ProgramResult:
        n = spec.n_tests
        results: list[TestResult] = []
        timeouts = 0
        init_error = ""
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
                if run.init.kind != "ok":
                    failed = _terminal(run.init) if run.init.kind != "exception" else TestResult(
                        "error", _error_text(run.init))
                    init_error = failed.info
                    results += [failed] * (n - len(results))
                    break
                for i in range(first, n):
                    res = self._one(run, spec, i)
                    results.append(res)
                    if res.outcome == "timeout":
                        timeouts += 1
                    if run.finished:
                        break
        return ProgramResult(results, init_error)

    def _one(self, run: Run, spec: TestSpec, i: int) -> TestResult:
        if spec.mode == "function":
            return self._call(run, spec, spec.calls[i])
        if spec.mode == "stdio":
            return self._stdio(run, spec.cases[i])
        return self._assert(run, spec, spec.test_code[i])

    def _call(self, run: Run, spec: TestSpec, call: dict[str, Any]) -> TestResult:
        out = run.call(spec.entry_point, call.get("args", []), call.get("kwargs", {}))
        if out.kind == "exception":
            return TestResult("error", _error_text(out), out.elapsed)
        if out.kind != "ok":
            return _terminal(out)
        got = _lists(out.value)
        expected = _lists(call["expected"])
        if values_equal(got, expected, spec.numeric, self.rel, self.abs):
            return TestResult("passed", elapsed=out.elapsed)
        return TestResult("wrong_answer", f"expected {expected!r:.80}, got {got!r:.80}",
                          out.elapsed)

    def _stdio(self, run: Run, case: dict[str, str]) -> TestResult:
        out = run.stdio(case.get("input", ""))
        if out.kind not in ("ok", "exception"):
            return _terminal(out)
        if out.kind == "exception":
            return TestResult("error", _error_text(out), out.elapsed)
        if out.truncated:
            return TestResult("error", "output limit exceeded", out.elapsed)
        diff = output_diff(out.stdout, case["output"])
        if diff is None:
            return TestResult("passed", elapsed=out.elapsed)
        return TestResult("wrong_answer", diff, out.elapsed)

    def _assert(self, run: Run, spec: TestSpec, test_code: str) -> TestResult:
        deadline = time.monotonic() + self.limits.timeout
        candidate = _Candidate(run, spec.entry_point, deadline)
        ns: dict[str, Any] = {"__name__": "__rewardlab_test__", spec.entry_point: candidate}
        if self.batch_calls and not run.prefetched_unused:  # else sent with the program
            run.prefetch(spec.entry_point, plan_calls(test_code, spec.entry_point))
        try:
            return self._check(candidate, spec, test_code, ns)
        finally:
            if run.prefetched_unused:  # the test stopped early: the child may still be busy
                run.end()  # with them; the next test starts in a fresh process

    def _check(self, candidate: _Candidate, spec: TestSpec, test_code: str,
               ns: dict[str, Any]) -> TestResult:
        """Run the trusted test code against the candidate proxy; its verdict."""
        try:
            exec(_compile_test(test_code), ns)
            ns[spec.entry_point] = candidate  # the name means the candidate, not a prompt stub
            check = ns.get("check")
            if callable(check):
                check(candidate)
        except _Abort:
            pass
        except AssertionError as exc:
            if candidate.ended is None:
                return TestResult("wrong_answer", f"assertion failed {str(exc)[:80]}".strip(),
                                  candidate.elapsed)
        except Exception as exc:
            if candidate.ended is None:
                return TestResult("error", f"{type(exc).__name__}: {str(exc)[:150]}",
                                  candidate.elapsed)
        if candidate.ended is not None:
            return _terminal(candidate.ended)
        if candidate.calls == 0:
            return TestResult("error", "the test never got a result from the candidate")
        return TestResult("passed", elapsed=candidate.elapsed)


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
    rel_tol: float = Field(1e-6, ge=0)
    abs_tol: float = Field(1e-9, ge=0)
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

    def check(self, sample: Sample) -> str | None:
        problem = super().check(sample)
        if problem:
            return problem
        try:
            parse_reference(sample.reference)
        except ReferenceError_ as exc:
            return str(exc)
        return None

    def _evaluator(self) -> Evaluator:
        p = self.params
        pool = shared_pool(p.workers, p.unsafe_weak_isolation)
        return Evaluator(pool, p.limits(), p.rel_tol, p.abs_tol, p.max_timeouts, self.batch_calls)

    def _results(self, samples: Sequence[Sample]) -> list[ProgramResult | Score]:
        """Run every sample's program; a Score where the sample cannot be evaluated."""
        ev = self._evaluator()

        def one(sample: Sample) -> ProgramResult | Score:
            try:
                spec = parse_reference(sample.reference)
            except ReferenceError_ as exc:
                return Score.unscorable(Status.INVALID_REFERENCE, str(exc))
            code = extract_code(sample.completion_text)
            if not code.strip():
                return Score.no_answer(0.0, reason="no code in the completion")
            try:
                return ev.evaluate(code, spec)
            except InfraError as exc:
                return Score.unscorable(Status.ERROR, f"sandbox failure: {exc}")

        return _fan_out(one, samples, self.params.workers)

    def score_batch(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        return [r if isinstance(r, Score) else self._value(r) for r in self._results(samples)]

    def _value(self, result: ProgramResult) -> Score:
        raise NotImplementedError


def _fan_out(fn: Callable[[Sample], Any], samples: Sequence[Sample], workers: int) -> list[Any]:
    """Run ``fn`` over the samples on ``workers`` threads (each blocks on a fork server)."""
    if len(samples) <= 1 or workers <= 1:
        return [fn(s) for s in samples]
    with ThreadPoolExecutor(min(workers, len(samples))) as pool:
        return list(pool.map(fn, samples))


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


@register("reward", "code.dense")
class Dense(_CodeReward):
    """Tests weighted by difficulty within the group (VeRPO-style); see docs/sandbox.md.

    For a group of G scorable samples and test j, p_j is the fraction of them passing j,
    w_j = 1 - p_j + 1/(G+1), and a sample's reward is sum_j w_j * pass_ij / sum_j w_j.
    Hard tests count more; tests everyone passes keep a small weight. A group of one
    carries no difficulty information: its weights are all 1 (the plain pass rate).
    """

    name = "code.dense"
    group_level = True

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
                out.append(Score.ok(sum(r.passed) / len(r.tests), **r.detail(),
                                    weighting="pass_rate (test count differs from the group)"))
            else:
                value = sum(w for w, ok in zip(weights, r.passed, strict=True) if ok) / sum(weights)
                out.append(Score.ok(value, **r.detail(), group_size=g,
                                    test_weights=[round(w, 4) for w in weights[:DETAIL_TESTS]]))
        return out


class SpeedupParams(CodeParams):
    max_speedup: float = Field(10.0, gt=1.0, description="cap on reference/candidate time")
    repeats: int = Field(3, ge=1, le=20, description="runs per program; the fastest counts")


@register("reward", "code.speedup")
class Speedup(_CodeReward):
    """For correct programs: reference runtime / candidate runtime, capped (0.0 if incorrect).

    Runtimes are the caller's wall-clock measure of the test requests (not of loading
    the program; the program cannot forge it), best of ``repeats`` runs; the reference program is
    ``reference["solution"]`` run on the same tests in the same pool.
    """

    name = "code.speedup"
    batch_calls = False  # each call is timed on its own round trip
    Params: ClassVar[type[BaseModel]] = SpeedupParams

    def check(self, sample: Sample) -> str | None:
        problem = super().check(sample)
        if problem is None and not (sample.reference or {}).get("solution"):
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
            problem = self.check(sample)
            if problem:
                return Score.unscorable(Status.INVALID_REFERENCE, problem)
            spec = parse_reference(sample.reference)
            code = extract_code(sample.completion_text)
            if not code.strip():
                return Score.no_answer(0.0, reason="no code in the completion")
            try:
                result, t_cand = best(code, spec)
                if not all(result.passed):
                    return Score.ok(0.0, **result.detail(), reason="incorrect program")
                with lock:
                    known = spec.solution in ref_times
                    t_ref = ref_times.get(spec.solution)
                if not known:
                    ref_result, t = best(spec.solution, spec)
                    t_ref = t if all(ref_result.passed) else None
                    with lock:
                        ref_times[spec.solution] = t_ref
            except InfraError as exc:
                return Score.unscorable(Status.ERROR, f"sandbox failure: {exc}")
            if t_ref is None:
                return Score.unscorable(Status.INVALID_REFERENCE,
                                        "the reference solution fails its own tests")
            ratio = min(self.params.max_speedup, t_ref / max(t_cand, 1e-6))
            return Score.ok(ratio, **result.detail(), reference_s=round(t_ref, 6),
                            candidate_s=round(t_cand, 6))

        return _fan_out(one, samples, self.params.workers)


__all__ = ["AllPass", "Dense", "PassRate", "SandboxUnavailable", "Speedup", "parse_reference"]

"""Assert-style tests (HumanEval, MBPP): trusted test code run in the caller against
proxies whose calls execute in the sandbox.

The test code gets ``candidate`` (and the entry point's name) bound to a proxy of the
candidate's function. Names the test code calls but defines nowhere (HumanEval/32, /38
and /50 call ``poly``, ``encode_cyclic``, ``encode_shift``, which the *prompt* defines
and the candidate's program therefore contains) are bound to proxies of the program's
functions of those names: their calls run in the sandbox too, like the entry point's.
Such a helper is the candidate's code: a reference that must not trust it puts the
helper's definition in its ``test_code`` (then the test's own definition is used).

Who is to blame for an exception that escapes the test code:

- the run ended (timeout, crash), or a call into the sandbox raised during this test
  (the candidate's function or helper raised; whatever the test code raised then, it
  ran on a path the candidate chose): the candidate's failure, scored;
- else, raised by the test code before anything came back from the sandbox, or of a
  kind no plain-data value can cause (``NameError`` other than ``UnboundLocalError``,
  ``ImportError``, ``SyntaxError``), or an argument the test passes that cannot be sent
  (not plain data): the reference's failure, so the sample is ``invalid_reference``
  (unscorable), never a wrong answer;
- anything else after values came back (``TypeError`` on a ``None`` the candidate
  returned, a failed assertion): the candidate's failure.

Control-flow exceptions the candidate raises (``StopIteration``, ``StopAsyncIteration``)
reach the test code as :class:`CandidateError`, so they cannot end its loops early
(``for x in map(candidate, ...)`` would otherwise stop and pass).
"""

from __future__ import annotations

import ast
import builtins
import threading
import time
from typing import Any

from rewardlab.rewards.code_verdicts import TestResult, exception_text
from rewardlab.sandbox import Outcome, Run

# Exception types that plain data cannot make the test code raise (it holds no names,
# imports or code): escaping the test code on their own, they are the reference's. Not
# UnboundLocalError: a value (an empty list to loop over) can leave a variable unbound.
_REFERENCE_ONLY = (NameError, ImportError, SyntaxError)
# Exceptions whose type steers the caller's control flow: never rebuilt as themselves.
_CONTROL_FLOW = frozenset({"StopIteration", "StopAsyncIteration", "GeneratorExit"})
_BUILTIN_NAMES = frozenset(dir(builtins))


class _Abort(BaseException):
    """Stops trusted test code when the sandboxed run has ended (not catchable by
    ``except Exception`` in the test code)."""


class _ReferenceFault(BaseException):
    """The test code did something only the reference can be blamed for (not catchable
    by ``except Exception`` in the test code)."""


class CandidateError(Exception):
    """An exception raised by the candidate whose type is not rebuilt as a builtin."""


# --- test code: compiled once, with the names it calls but never defines ---------------------
_compiled: dict[str, tuple[Any, frozenset[str]]] = {}
_compiled_lock = threading.Lock()


def compile_test(code: str) -> tuple[Any, frozenset[str]]:
    """The code object of trusted test code and the names it calls without defining them
    (not builtins); SyntaxError if it does not compile."""
    with _compiled_lock:
        hit = _compiled.get(code)
    if hit is None:
        tree = ast.parse(code, "<test>")
        hit = (compile(tree, "<test>", "exec", dont_inherit=True), _undefined_calls(tree))
        with _compiled_lock:
            if len(_compiled) > 4096:
                _compiled.clear()
            _compiled[code] = hit
    return hit


def _undefined_calls(tree: ast.AST) -> frozenset[str]:
    """Names called as ``name(...)`` that the code binds nowhere (by assignment, ``def``,
    ``class``, import, parameter, ``except ... as``, ``for`` target ...), not builtins."""
    bound: set[str] = set()
    called: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
    return frozenset(called - bound - _BUILTIN_NAMES)


# --- the proxies ------------------------------------------------------------------------------
class _Calls:
    """What the proxies of one test share: the run, the deadline, what came back."""

    def __init__(self, run: Run, deadline: float) -> None:
        self.run, self.deadline = run, deadline
        self.ended: Outcome | None = None
        self.results = 0  # values and exceptions that came back from the sandbox
        self.elapsed = 0.0
        self.raised = 0  # exceptions that came back from the sandbox


class _Proxy:
    """A function of the candidate's program, as the trusted test code sees it."""

    def __init__(self, calls: _Calls, name: str) -> None:
        self._calls, self._name = calls, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        c = self._calls
        if c.ended is not None:
            raise _Abort()
        remaining = c.deadline - time.monotonic()
        if remaining <= 0:
            c.ended = Outcome("timeout")
            raise _Abort()
        out = c.run.call(self._name, list(args), kwargs, timeout=remaining)
        c.elapsed += out.elapsed
        if out.kind == "ok":
            c.results += 1
            if time.monotonic() > c.deadline:  # receiving and decoding count against it
                c.ended = Outcome("timeout")
                raise _Abort()
            return out.value
        if out.kind == "exception":
            if out.error.get("type") == "UnsupportedArgument":
                raise _ReferenceFault(f"the test passes an argument that is not plain data: "
                                      f"{out.error.get('message', '')}"[:200])
            c.results += 1
            c.raised += 1
            raise _rebuild_exception(out.error)
        c.ended = out
        raise _Abort()


def _rebuild_exception(error: dict[str, str]) -> Exception:
    """The candidate's exception as the test code may catch it: a builtin exception type
    of that name (``except ValueError`` works), except control-flow types."""
    name = error.get("type", "")
    cls = getattr(builtins, name, None)
    message = error.get("message", "")
    if (isinstance(cls, type) and issubclass(cls, Exception) and cls.__module__ == "builtins"
            and name not in _CONTROL_FLOW):
        try:
            return cls(message)
        except Exception:
            pass
    return CandidateError(f"{name or 'Exception'}: {message}")


# --- one test -----------------------------------------------------------------------------------
def run_test_code(run: Run, entry_point: str, test_code: str, timeout: float) -> TestResult:
    """Run one trusted test against the program in ``run``; its verdict."""
    code, helpers = compile_test(test_code)
    calls = _Calls(run, time.monotonic() + timeout)
    candidate = _Proxy(calls, entry_point)
    ns: dict[str, Any] = {"__name__": "__rewardlab_test__", entry_point: candidate}
    for name in helpers - {entry_point, "candidate"}:
        ns[name] = _Proxy(calls, name)
    return _verdict(code, candidate, ns, entry_point, calls)


def _verdict(code: Any, candidate: _Proxy, ns: dict[str, Any], entry_point: str,
             calls: _Calls) -> TestResult:
    try:
        exec(code, ns)
        ns[entry_point] = candidate  # the name means the candidate, not a prompt's stub
        check = ns.get("check")
        if callable(check):
            check(candidate)
    except _Abort:
        pass
    except _ReferenceFault as exc:
        return TestResult("reference_error", str(exc), calls.elapsed)
    except Exception as exc:
        if calls.ended is None:
            return _blame(exc, calls)
    if calls.ended is not None:
        return terminal(calls.ended)
    if calls.results == 0:
        return TestResult("reference_error", "the test code never called the candidate")
    return TestResult("passed", elapsed=calls.elapsed)


def _blame(exc: Exception, calls: _Calls) -> TestResult:
    """The reference's failure if the test code raised ``exc`` on its own (see the module
    docstring), else the program's."""
    text = exception_text(exc)
    own_kind = isinstance(exc, _REFERENCE_ONLY) and not isinstance(exc, UnboundLocalError)
    if not calls.raised and (calls.results == 0 or own_kind):
        return TestResult("reference_error", f"the test code raised {text}", calls.elapsed)
    if isinstance(exc, AssertionError):
        message = text.removeprefix("AssertionError: ")[:80]
        return TestResult("wrong_answer", f"assertion failed {message}".strip(), calls.elapsed)
    return TestResult("error", text, calls.elapsed)


def error_text(out: Outcome) -> str:
    err = out.error
    line = f" (line {err['line']})" if err.get("line") else ""
    return f"{err.get('type', 'Error')}: {err.get('message', '')}"[:200] + line


def terminal(out: Outcome) -> TestResult:
    """A test whose run ended: timeout, or crash / limit breach (an error)."""
    if out.kind == "timeout":
        return TestResult("timeout", "exceeded the time limit")
    return TestResult("error", error_text(out))

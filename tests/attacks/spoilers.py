"""Attacks on the trusted side's verdicts, by family (see docs/sandbox.md, "Verdicts").

- ``spoilers`` (one sample spoils others): answers built to make the caller's decoding,
  conversion, ``repr``, comparison or tolerance paths raise or run for a long time, so
  that the *other* samples of the batch (or the GRPO group) become unscorable. Each is
  scored in a batch beside correct programs: it must be its own scored 0.0 and the
  others must keep their 1.0.
- ``verdicts``: answers that a loose comparison or a trusted test's control flow would
  credit (``True`` for ``1`` in sets and dict keys, tolerance on integers, a
  ``StopIteration`` that ends the test's loop early, exceptions that look like the
  test code's own). Each must be a scored 0.0 (not credited, and not unscorable).

Every attack targets one task of ``TASKS``; ``GOOD`` holds a correct program for each.
Crafted frames are written to the run's channel (descriptor 4) as the sandbox's runner
would write them: ``marshal`` version 2 of ``(id, kind, payload)``, ids counting from 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.attacks.programs import Attack

M61 = 2**61 - 1  # hash(k * M61) == 0 for every int k: keys built to collide


def _check(body: str) -> str:
    return "def check(candidate):\n" + "".join(f"    {line}\n" for line in body.splitlines())


TASKS: dict[str, dict[str, Any]] = {
    "function": {"entry_point": "square", "calls": [{"args": [3], "expected": 9},
                                                    {"args": [4], "expected": 16}]},
    "numeric": {"entry_point": "half", "calls": [{"args": [1], "expected": 0.5}],
                "compare": "numeric"},
    "zero": {"entry_point": "f", "calls": [{"args": [], "expected": 0.0}], "compare": "numeric"},
    "big_int": {"entry_point": "f", "calls": [{"args": [], "expected": 10**16 + 1}],
                "compare": "numeric"},
    "set": {"entry_point": "f", "calls": [{"args": [], "expected": {1, 2}}]},
    "dict_key": {"entry_point": "f", "calls": [{"args": [], "expected": {1: "a", 2: "b"}}]},
    "list": {"entry_point": "f", "calls": [{"args": [], "expected": [1, 0]}]},
    "stdio": {"cases": [{"input": "3\n4\n", "output": "9\n16\n"}]},
    "assert": {"entry_point": "square", "test_code": _check(
        "assert candidate(3) == 9\nassert candidate(4) == 16")},
    "assert_msg": {"entry_point": "square", "test_code": _check(
        "out = candidate(3)\nassert out == 9, f'expected 9, got {out}'")},
    "map_loop": {"entry_point": "square", "test_code": _check(
        "for got, want in zip(map(candidate, [3, 4]), [9, 16]):\n    assert got == want")},
    "unbound_loop": {"entry_point": "square", "test_code": _check(
        "for x in candidate(3):\n    last = x\nassert last == 9")},
    "unbound_try": {"entry_point": "square", "test_code": _check(
        "try:\n    out = candidate(3)\nexcept ValueError:\n    pass\nassert out == 9")},
    # natural HumanEval format: ``double`` is defined by the prompt, so by the program
    "helper": {"entry_point": "square", "test_code": _check(
        "assert double(candidate(3)) == 18")},
}

GOOD: dict[str, str] = {
    "function": "def square(x): return x * x",
    "numeric": "def half(x): return x / 2",
    "zero": "def f(): return 0.0",
    "big_int": "def f(): return 10**16 + 1",
    "set": "def f(): return {1, 2}",
    "dict_key": "def f(): return {1: 'a', 2: 'b'}",
    "list": "def f(): return [1, 0]",
    "stdio": "import sys\nfor line in sys.stdin: print(int(line) ** 2)",
    "assert": "def square(x): return x * x",
    "assert_msg": "def square(x): return x * x",
    "map_loop": "def square(x): return x * x",
    "unbound_loop": "def square(x): return [x * x]",
    "unbound_try": "def square(x): return x * x",
    "helper": "def double(y): return 2 * y\ndef square(x): return x * x",
}


@dataclass(frozen=True)
class Spoiler(Attack):
    """An :class:`Attack` of the families here; ``task`` is a key of :data:`TASKS`."""

    params: dict[str, Any] = field(default_factory=dict)  # reward parameters


def _frame(payload: str, then: str = "return -1") -> str:
    """A program whose first call writes the reply ``payload`` (Python source of the
    ``(id, kind, payload)`` tuple) itself, then does ``then``."""
    return ("import marshal, os, struct\ndef square(x):\n"
            f"    b = marshal.dumps({payload}, 2)\n"
            "    os.write(4, struct.pack('<I', len(b)) + b)\n"
            f"    {then}\n")


S, V = "spoilers", "verdicts"

SPOILERS: list[Spoiler] = [
    # --- one sample spoils others: huge integers (more digits than int->str allows) ---------
    Spoiler(S, "huge_int_result", "function", "def square(x): return 10**5000"),
    Spoiler(S, "huge_negative_int_result", "function", "def square(x): return -(7**9000)"),
    Spoiler(S, "huge_int_in_list", "function", "def square(x): return [x, 10**5000]"),
    Spoiler(S, "huge_int_dict_key", "function", "def square(x): return {10**5000: x}"),
    Spoiler(S, "huge_int_in_set", "function", "def square(x): return {10**5000, 1}"),
    Spoiler(S, "huge_int_in_tuple_key", "dict_key", "def f(): return {(1, 10**5000): 'a'}"),
    Spoiler(S, "huge_int_against_float", "numeric", "def half(x): return 10**5000"),
    Spoiler(S, "huge_int_in_list_against_float", "numeric", "def half(x): return [10**5000]"),
    Spoiler(S, "huge_int_against_big_int", "big_int", "def f(): return -(10**5000)"),
    Spoiler(S, "huge_int_in_assert_message", "assert_msg", "def square(x): return 10**5000"),
    Spoiler(S, "huge_int_exception_args", "assert", "def square(x): raise ValueError(10**5000)"),
    # --- crafted exception payloads ------------------------------------------------------------
    Spoiler(S, "exc_payload_huge_int", "function",
            _frame("(1, 'exc', {'type': 'E', 'message': 10**5000})")),
    Spoiler(S, "exc_payload_huge_int_key", "function", _frame("(1, 'exc', {10**5000: 'x'})")),
    Spoiler(S, "exc_payload_nested_int", "function",
            _frame("(1, 'exc', {'type': [[10**5000]], 'line': (10**5000,)})")),
    Spoiler(S, "exc_payload_not_a_dict", "function", _frame("(1, 'exc', [10**5000] * 3)")),
    Spoiler(S, "stdio_payload_huge_int", "stdio",
            "import marshal, os, struct\n"
            "b = marshal.dumps((1, 'stdio', (10**5000, 10**5000, {'type': 10**5000})), 2)\n"
            "os.write(4, struct.pack('<I', len(b)) + b)\n"),
    Spoiler(S, "stdio_prints_huge_int", "stdio",
            "import sys\nsys.set_int_max_str_digits(0)\nprint(10**30000)\nprint(-(10**30000))"),
    Spoiler(S, "stdio_exc_huge_int", "stdio",
            "import marshal, os, struct\n"
            "b = marshal.dumps((1, 'stdio', ('9\\n16\\n', False, {'message': 10**5000})), 2)\n"
            "os.write(4, struct.pack('<I', len(b)) + b)\n"),
    # --- quadratic decoding: keys built to collide in the hash table -------------------------
    Spoiler(S, "colliding_set", "function",
            f"def square(x): return {{i * {M61} for i in range(1, 3000)}}"),
    Spoiler(S, "colliding_dict", "dict_key",
            f"def f(): return {{i * {M61}: 0 for i in range(1, 3000)}}"),
    Spoiler(S, "colliding_frozenset_in_list", "list",
            f"def f(): return [frozenset(i * {M61} for i in range(1, 3000))]"),
    Spoiler(S, "colliding_tuple_keys", "dict_key",
            f"def f(): return {{(0, i * {M61}): 0 for i in range(1, 3000)}}"),
    Spoiler(S, "colliding_exc_payload", "function",
            _frame(f"(1, 'exc', {{i * {M61}: 'x' for i in range(1, 3000)}})")),
    # --- floods of frames the caller must drop ----------------------------------------------
    Spoiler(S, "stale_frame_flood", "function",
            _frame("(0, 'value', list(range(2000)))",
                   "for _ in range(300): os.write(4, struct.pack('<I', len(b)) + b)\n"
                   "    return -1")),
    Spoiler(S, "stale_colliding_frames", "function",
            _frame(f"(0, 'value', {{i * {M61} for i in range(1, 2000)}})",
                   "for _ in range(20): os.write(4, struct.pack('<I', len(b)) + b)\n"
                   "    return -1")),
]

VERDICTS: list[Spoiler] = [
    # --- strict types ------------------------------------------------------------------------
    Spoiler(V, "true_for_one_in_set", "set", "def f(): return {True, 2}"),
    Spoiler(V, "true_for_one_dict_key", "dict_key", "def f(): return {True: 'a', 2: 'b'}"),
    Spoiler(V, "bools_in_list", "list", "def f(): return [True, False]"),
    Spoiler(V, "float_for_int", "function", "def square(x): return float(x * x)"),
    Spoiler(V, "float_key_for_int_key", "dict_key", "def f(): return {1.0: 'a', 2.0: 'b'}"),
    Spoiler(V, "true_for_float", "numeric", "def half(x): return True"),
    Spoiler(V, "off_by_one_large_int", "big_int", "def f(): return 10**16"),
    Spoiler(V, "float_near_large_int", "big_int", "def f(): return 1e16"),
    Spoiler(V, "tiny_wrong_with_abs_tol_0", "zero", "def f(): return 1e-300",
            params={"abs_tol": 0.0}),
    Spoiler(V, "inf_for_float", "numeric", "def half(x): return float('inf')"),
    Spoiler(V, "list_for_set", "set", "def f(): return [1, 2]"),
    # --- control flow of the trusted test code -------------------------------------------------
    Spoiler(V, "stop_iteration_ends_loop", "map_loop", "def square(x): raise StopIteration"),
    Spoiler(V, "stop_iteration_with_value", "map_loop", "def square(x): raise StopIteration(9)"),
    Spoiler(V, "stop_async_iteration", "map_loop", "def square(x): raise StopAsyncIteration"),
    Spoiler(V, "generator_exit", "map_loop", "def square(x): raise GeneratorExit"),
    # --- exceptions that must stay the candidate's (scored), not the reference's ---------------
    Spoiler(V, "raises_name_error", "assert", "def square(x): raise NameError('poly')"),
    Spoiler(V, "raises_import_error", "assert", "def square(x): import no_such_module_xyz"),
    Spoiler(V, "raises_syntax_error", "assert", "def square(x): raise SyntaxError('bad test')"),
    Spoiler(V, "none_breaks_test_arithmetic", "assert_msg", "def square(x): return None"),
    Spoiler(V, "empty_result_unbinds_test_variable", "unbound_loop", "def square(x): return []"),
    Spoiler(V, "exception_unbinds_test_variable", "unbound_try",
            "def square(x): raise ValueError('x')"),
    Spoiler(V, "missing_helper", "helper", "def square(x): return x * x"),
    Spoiler(V, "helper_raises_name_error", "helper",
            "def double(y): raise NameError('y')\ndef square(x): return x * x"),
    Spoiler(V, "helper_not_a_function", "helper", "double = 2\ndef square(x): return x * x"),
]

ALL: list[Spoiler] = SPOILERS + VERDICTS

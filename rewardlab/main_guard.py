"""A clear error instead of a dead child when a script without ``if __name__ == "__main__":`` spawns.

A ``spawn`` child process re-runs the top level of the parent's main script (or module, for
``python -m``; not a package's ``__main__.py``, which spawn leaves alone) to rebuild its
functions. If the call that starts the children sits at that top level unguarded, every
child starts children of its own during its bootstrap, which multiprocessing refuses with
a long ``RuntimeError`` *in the child*; the parent only sees its children die (a
``BrokenProcessPool``, a scoring process that "exited at start"), and a training run would
score every candidate unscorable. :func:`check_main_guard` finds that case in the parent,
before anything starts: the main thread's stack reaches the main module's top level at a
line outside an ``if __name__ == "__main__":`` block (at the top, or nested in top-level
``try``/``with``/``if``-``else`` code).
"""

from __future__ import annotations

import ast
import sys
import threading
from pathlib import Path
from types import FrameType

from rewardlab.errors import SpecError


def check_main_guard(what: str) -> None:
    """Raise a one-line :class:`SpecError` naming ``what`` if it is being called from the unguarded top
    level of the main script; nothing otherwise (interactive sessions, ``-c``, guarded calls, imports)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path or not Path(path).is_file() or not _rerun_by_spawn(main, path):
        return  # no file to re-run, or one spawn does not re-run
    # The main thread's stack: the script's top level runs there even when the call comes from a thread
    # (the server starts its scoring process from one).
    line = _top_level_line(sys._current_frames().get(threading.main_thread().ident or 0), vars(main))
    if line is None or _guarded(Path(path), line):
        return
    raise SpecError(
        f"{what} starts spawned processes, and it was called from the top level of {path} (line {line}) "
        "without `if __name__ == \"__main__\":`; each process would re-run that line. Put the call under that guard"
    )


def _rerun_by_spawn(main: object, path: str) -> bool:
    """Whether a spawned child re-runs the main module, by multiprocessing.spawn's own rules
    (``get_preparation_data`` and the ``_fixup_main_from_*`` functions): a ``__main__.py`` run as a
    package or directory (``python -m pkg``, ``python dir/``, a zipapp) and an ``ipython`` script are not."""
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is not None:
        return not (name == "__main__" or name.endswith(".__main__"))
    return Path(path).stem != "ipython"


def _top_level_line(frame: FrameType | None, main_globals: dict[str, object]) -> int | None:
    """The line of the main module's top-level code on this stack, if it is on it."""
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals is main_globals:
            return frame.f_lineno
        frame = frame.f_back
    return None


def _guarded(path: Path, line: int) -> bool:
    """Whether ``line`` of the script is inside an ``if __name__ == "__main__":`` block of its top-level code
    (an unreadable or unparsable script counts as guarded: no error is better than a wrong one)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return True
    return _guarded_in(tree.body, line)


def _guarded_in(block: list[ast.stmt], line: int) -> bool:
    """Whether ``line``, run by the module's frame, is guarded within ``block`` of top-level code: in the body
    of an ``if`` with the main test (not its ``else:``, which a child runs) or the ``else:`` of a ``!=`` test,
    wherever that ``if`` sits in the top-level code: under a ``try``/``except``/``finally``, a ``with``, a
    branch of another ``if``, a loop. Not in a function or class body: the module's frame is never on a line
    of one (only on its ``def``/``class`` line or decorators, which run unguarded unless the block around is)."""
    for node in block:
        if not node.lineno <= line <= (node.end_lineno or node.lineno):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return False
        if isinstance(node, ast.If) and (
            (_is_main_test(node.test) and _within(node.body, line))
            or (_is_not_main_test(node.test) and _within(node.orelse, line))
        ):
            return True
        return any(_guarded_in(inner, line) for inner in _blocks(node))
    return False


def _blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists directly inside a compound statement: bodies, ``else:``, ``finally:``, the
    ``except`` handlers' and ``match`` cases' bodies (none for a simple statement)."""
    lists = [getattr(node, f, None) for f in ("body", "orelse", "finalbody")]
    inner = [x for x in lists if isinstance(x, list)]
    return inner + [h.body for h in getattr(node, "handlers", [])] + [c.body for c in getattr(node, "cases", [])]


def _within(block: list[ast.stmt], line: int) -> bool:
    """Whether ``line`` is in ``block``, the decorators of its first statement included (a decorated
    ``def``/``class`` starts at its first decorator, not at its ``lineno``)."""
    if not block:
        return False
    first = min([block[0].lineno, *(d.lineno for d in getattr(block[0], "decorator_list", []))])
    return first <= line <= (block[-1].end_lineno or block[-1].lineno)


def _is_not_main_test(test: ast.expr) -> bool:
    """``__name__ != "__main__"`` (either side): its ``else:`` runs only in the script run as the main one."""
    return (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.NotEq)
            and _name_and_main(test.left, test.comparators[0]))


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either side), alone or as an operand of an ``and`` (false in a spawned
    child, whose ``__name__`` is ``"__mp_main__"``, either way; an ``or`` may not be)."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_is_main_test(v) for v in test.values)
    return (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
            and _name_and_main(test.left, test.comparators[0]))


def _name_and_main(left: ast.expr, right: ast.expr) -> bool:
    """One side is the name ``__name__``, the other the string ``"__main__"``."""
    sides = [left, right]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    strings = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(strings) == 1

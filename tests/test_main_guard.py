"""check_main_guard: a one-line error, before anything spawns, for a call at a script's unguarded top level."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHECK = "from rewardlab.main_guard import check_main_guard\n"


def run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("body, line", [
    (CHECK + "check_main_guard('the thing')\n", 2),
    (CHECK + "def start():\n    check_main_guard('the thing')\n\nstart()\n", 5),
    (CHECK + "if __name__ == '__main__':\n    pass\ncheck_main_guard('the thing')\n", 4),  # after the block
    (CHECK + "if __name__ == '__main__' or True:\n    check_main_guard('the thing')\n", 3),  # ``or``: runs in a child
    (CHECK + "import threading\nt = threading.Thread(target=check_main_guard, args=('the thing',))\n"
     "t.start()\nt.join()\nraise SystemExit(0 if ok else 1)\n", None),
])
def test_an_unguarded_top_level_call_is_a_one_line_error(tmp_path: Path, body: str, line: int | None) -> None:
    if line is None:  # from a thread, while the main thread waits at the unguarded top level
        body = body.replace("t = threading.Thread(target=check_main_guard", "ok = False\n"
                            "def call(what):\n    global ok\n    try:\n        check_main_guard(what)\n"
                            "    except Exception as exc:\n        ok = 'without `if __name__' in str(exc)\n"
                            "t = threading.Thread(target=call")
        assert run_script(tmp_path, body).returncode == 0
        return
    out = run_script(tmp_path, body)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("rewardlab.errors.SpecError: the thing starts spawned processes")
    assert f"script.py (line {line}) without `if __name__ == \"__main__\":`" in last


@pytest.mark.parametrize("body", [
    CHECK + "if __name__ == '__main__':\n    check_main_guard('the thing')\n",
    CHECK + "def start():\n    check_main_guard('the thing')\n\nif '__main__' == __name__:\n    start()\n",
    # an ``and`` with the test is false in a spawned child too (it refused these, asking for the guard they have)
    CHECK + "import os\nif __name__ == '__main__' and not os.environ.get('NO'):\n    check_main_guard('the thing')\n",
    CHECK + "import os\nif os.name and (os.sep and __name__ == '__main__'):\n    check_main_guard('the thing')\n",
])
def test_a_guarded_call_passes(tmp_path: Path, body: str) -> None:
    out = run_script(tmp_path, body)
    assert out.returncode == 0, out.stderr


GUARD = "if __name__ == '__main__':\n        check_main_guard('the thing')\n"


@pytest.mark.parametrize("body", [
    CHECK + "try:\n    " + GUARD + "except KeyboardInterrupt:\n    pass\n",
    CHECK + "try:\n    import no_such_module\nexcept ImportError:\n    " + GUARD,
    CHECK + "try:\n    pass\nfinally:\n    " + GUARD,
    CHECK + "import contextlib\nwith contextlib.suppress(KeyError):\n    " + GUARD,
    CHECK + "import sys\nif sys.version_info < (3, 0):\n    raise SystemExit('old')\nelse:\n    " + GUARD,
    CHECK + "if True:\n    try:\n        pass\n    finally:\n        if __name__ == '__main__':\n"
            "            check_main_guard('the thing')\n",
    CHECK + "if __name__ != '__main__':\n    pass\nelse:\n    check_main_guard('the thing')\n",
    # a decorator of the guarded block's first statement is in the block (it was refused: the block was taken
    # to start at the ``def`` line)
    CHECK + "def deco(what):\n    check_main_guard(what)\n    return lambda f: f\n"
            "if __name__ == '__main__':\n    @deco('the thing')\n    def f():\n        pass\n",
])
def test_a_guard_nested_in_top_level_code_passes(tmp_path: Path, body: str) -> None:
    """A guard inside a top-level try/except/finally, with, if/else (or the else of a ``!=`` test) guards the
    call as one at the top does (a spawned child's ``__name__`` is ``"__mp_main__"``): it was refused."""
    out = run_script(tmp_path, body)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("body, line", [
    (CHECK + "try:\n    check_main_guard('the thing')\nexcept KeyError:\n    pass\n", 3),
    (CHECK + "import contextlib\nwith contextlib.suppress(KeyError):\n    if __name__ == '__main__':\n        pass\n"
             "    check_main_guard('the thing')\n", 6),
    (CHECK + "def guard():\n    if __name__ == '__main__':\n        pass\n    check_main_guard('the thing')\n"
             "try:\n    guard()\nfinally:\n    pass\n", 7),
])
def test_a_call_beside_a_nested_guard_is_still_an_error(tmp_path: Path, body: str, line: int) -> None:
    out = run_script(tmp_path, body)
    assert out.returncode == 1
    assert f"script.py (line {line}) without `if __name__" in out.stderr.strip().splitlines()[-1]


def test_train_all_in_processes_from_an_unguarded_script_says_so_before_spawning(tmp_path: Path) -> None:
    """It used to spawn training processes that each re-ran the script and died: every candidate unscorable."""
    out = run_script(tmp_path, """
        from functools import partial
        import gymnasium as gym
        from rewardlab.envs.fitness import train_all

        train_all(["a", "b"], partial(gym.make, "CartPole-v1"), workers=2, timesteps=64, eval_episodes=1)
    """)
    assert out.returncode == 1
    assert "SpecError: train_all(workers=2) starts spawned processes" in out.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("module, fails", [("pkg", False), ("pkg.mod", True)])
def test_python_m_a_package_main_passes_and_a_module_does_not(tmp_path: Path, module: str, fails: bool) -> None:
    """``python -m pkg`` runs pkg/__main__.py, which a spawned child does not re-run (multiprocessing.spawn
    skips a name ending in ``__main__``), so an unguarded call there is fine: it was refused. ``python -m
    pkg.mod`` is re-run (as ``__mp_main__``): still an error."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    for name in ("__main__", "mod"):
        (tmp_path / "pkg" / f"{name}.py").write_text(CHECK + "check_main_guard('the thing')\n")
    out = subprocess.run([sys.executable, "-m", module], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == int(fails), out.stderr
    if fails:
        assert "SpecError: the thing starts spawned processes" in out.stderr.strip().splitlines()[-1]

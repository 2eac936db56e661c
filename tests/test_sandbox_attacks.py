"""The attack suite: every program of tests/attacks/programs.py, run through code.pass_rate.

For each attack: no pass credited and a *scored* 0.0 (an attack must not make its
sample unscorable either), no side effect outside the scratch directory, no
connection to the test's loopback listener, no process left behind, and a correct
program still passes right after on the same pool.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import os
import resource
import socket
import subprocess
import sys
import sysconfig
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rewardlab.core import Sample, Status
from rewardlab.rewards.code import PassRate
from rewardlab.sandbox import shared_pool
from tests.attacks.programs import ATTACKS, Attack

SECRET = f"secret-{uuid.uuid4().hex}"
STDIO = {"cases": [{"input": "3\n4\n", "output": "9\n16\n"}]}
FUNCTION = {"entry_point": "square", "calls": [{"args": [3], "expected": 9},
                                               {"args": [4], "expected": 16}]}
ASSERT = {"entry_point": "square",
          "test_code": "def check(candidate):\n    out = candidate(3)\n    assert out == 9\n"
                       "    assert abs(candidate(4) - 16) < 1e-9\n    assert candidate(0) == 0\n"}
LEAK = {"entry_point": "leak", "calls": [{"args": [], "expected": SECRET}]}
TASKS = {"function": FUNCTION, "stdio": STDIO, "assert": ASSERT, "leak": LEAK}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Host-side bait: a sentinel file, a secret file and env var, a loopback listener."""
    os.environ["REWARDLAB_TEST_SECRET"] = SECRET
    root = tmp_path_factory.mktemp("host")
    sentinel = root / "sentinel.txt"
    sentinel.write_text("original")
    os.chmod(sentinel, 0o644)
    secret_file = Path.cwd() / f".rewardlab-secret-{uuid.uuid4().hex}"
    secret_file.write_text(SECRET)
    host_file = Path.cwd() / f".rewardlab-sentinel-{uuid.uuid4().hex}"
    host_file.write_text("original")
    os.chmod(host_file, 0o644)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", listener.getsockname()[1]))
    udp.setblocking(False)
    fill = {
        "port": listener.getsockname()[1],
        "sentinel": str(sentinel),
        "secret_file": str(secret_file),
        "pwned": f"/tmp/rewardlab-pwned-{uuid.uuid4().hex}",
        "site": sysconfig.get_paths()["purelib"],
        "host_file": str(host_file),
        "stdlib_file": os.path.join(sysconfig.get_paths()["stdlib"], "this.py"),
    }
    baseline = {"stat": _meta(host_file), "dir": _meta(host_file.parent), "host_file": host_file,
                "inode_flags": _inode_flags(fill["stdlib_file"])}
    yield {"fill": fill, "sentinel": sentinel, "listener": listener, "udp": udp, **baseline}
    listener.close()
    udp.close()
    secret_file.unlink()
    host_file.unlink()
    os.environ.pop("REWARDLAB_TEST_SECRET", None)


def _score(attack: Attack, fill: dict[str, Any]) -> Any:
    reward = PassRate(test_timeout=1.0, run_timeout=10.0, max_threads=attack.threads, max_timeouts=1)
    code = attack.code
    for key, value in fill.items():
        code = code.replace("{" + key + "}", str(value))
    sample = Sample(id=attack.name, completion=code, reference=TASKS[attack.task])
    return reward.score_batch([sample], [{}])[0]


def _meta(path: Path) -> tuple[Any, ...]:
    """Metadata a run must not change: mode, owner, modification time, extended attributes."""
    st = os.stat(path)
    try:
        xattrs = sorted(os.listxattr(path))
    except OSError:
        xattrs = []
    return (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, xattrs)


def _inode_flags(path: str) -> int | None:
    """``lsattr``'s flags (FS_IOC_GETFLAGS), or None where the filesystem has none."""
    fd = os.open(path, os.O_RDONLY)
    try:
        buf = array.array("l", [0])
        fcntl.ioctl(fd, 0x80086601, buf, True)
        return int(buf[0])
    except OSError:
        return None
    finally:
        os.close(fd)


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            kids += [int(x) for x in f.read().split()]
    return kids


def _contained(env: dict[str, Any]) -> None:
    fill = env["fill"]
    assert _meta(env["host_file"]) == env["stat"], "a run changed a host file's metadata"
    assert _meta(env["host_file"].parent) == env["dir"], "a run changed a host directory's metadata"
    assert _inode_flags(fill["stdlib_file"]) == env["inode_flags"], "a run changed a file's inode flags"
    assert env["sentinel"].read_text() == "original"
    assert not os.path.exists(fill["pwned"])
    assert not os.path.exists(os.path.join(fill["site"], "rewardlab_pwned.pth"))
    assert not os.path.exists("/dev/shm/rewardlab_pwned")
    with pytest.raises(BlockingIOError):
        env["listener"].accept()
    with pytest.raises(BlockingIOError):
        env["udp"].recv(16)
    for server in shared_pool(2).all:
        assert server.alive(), "an attack killed a fork server"
        pid = server.proc.pid
        assert resource.prlimit(pid, resource.RLIMIT_NOFILE)[0] > 5, "a run changed the server's limits"
        assert os.getpriority(os.PRIO_PROCESS, pid) == 0, "a run reniced the fork server"
        assert len(os.sched_getaffinity(pid)) == len(os.sched_getaffinity(0)), "a run pinned the server"
        kids = _children(server.proc.pid)
        # the only child allowed is the fresh, pre-forked process for the next run: it is a
        # session leader (or not yet, still in the server's group); anything a run started
        # stays in that run's process group (setsid/setpgid are denied) and would show here
        assert len(kids) <= 1, f"processes outlived their run: {kids}"
        for kid in kids:
            with contextlib.suppress(ProcessLookupError):
                assert os.getpgid(kid) in (kid, os.getpgid(server.proc.pid)), "a process outlived its run"


CONTROL = Attack("control", "after", "function", "def square(x): return x * x")
RESULTS: Counter[str] = Counter()


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.family != "control"],
                         ids=lambda a: f"{a.family}-{a.name}")
def test_attack_is_contained(attack: Attack, env: dict[str, Any]) -> None:
    score = _score(attack, env["fill"])
    assert score.status is Status.OK, score.detail
    assert score.value == 0.0, score.detail
    _contained(env)
    after = _score(CONTROL, env["fill"])
    assert after.value == 1.0, after.detail
    RESULTS[attack.family] += 1


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.family == "control"],
                         ids=lambda a: a.name)
def test_control_passes(attack: Attack, env: dict[str, Any]) -> None:
    score = _score(attack, env["fill"])
    assert score.status is Status.OK and score.value == 1.0, score.detail
    _contained(env)
    RESULTS["control"] += 1


def test_controls_pass_under_cpu_load(env: dict[str, Any]) -> None:
    """Two busy processes (2x load on 2 cores) do not turn correct programs into failures."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        for attack in [a for a in ATTACKS if a.family == "control"][:6]:
            score = _score(attack, env["fill"])
            assert score.value == 1.0, (attack.name, score.detail)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_suite_size() -> None:
    counts = Counter(a.family for a in ATTACKS)
    assert sum(v for k, v in counts.items() if k != "control") >= 60
    assert all(counts[f] >= 10 for f in ("forged", "resources", "escape", "control"))


def test_report_contained_by_family() -> None:
    """Prints the count of contained attacks by family (run with -s to see it)."""
    print("\ncontained attacks by family:", dict(RESULTS))

"""The sandbox machinery: channel codec, seccomp program, fail-closed start, limits, runs."""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import signal
import struct
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewardlab.errors import SandboxUnavailable
from rewardlab.sandbox import Limits, SandboxPool, channel, kernel, landlock, seccomp, shared_pool
from rewardlab.sandbox.pool import SERVER_LOST, Run, ServerLost

# --- channel ---------------------------------------------------------------------------------
plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | st.binary(max_size=20) | st.complex_numbers(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4)
    | st.frozensets(st.integers() | st.text(max_size=3), max_size=4),
    max_leaves=20,
)


def _roundtrip(value: object) -> object:
    """What the trusted side gets when the child replies with ``value``."""
    frame = channel.dump_reply((7, "value", value))
    (size,) = struct.unpack("<I", frame[:4])
    rid, kind, payload = channel.load_reply(frame[4 : 4 + size])
    assert (rid, kind) == (7, "value")
    return payload


@given(plain)
def test_codec_roundtrip(value: object) -> None:
    assert _roundtrip(value) == value


def test_codec_special_floats_big_ints_and_sets() -> None:
    for v in (math.inf, -math.inf, 10**40, -(10**40), 2**31, -(2**31), {1, 2}, frozenset({3}),
              {(1, 2): [b"x", None]}, "\ud800 lone surrogate", 1e-300j):
        out = _roundtrip(v)
        assert out == v and type(out) is type(v)
    assert math.isnan(_roundtrip(math.nan))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [
    type("I", (int,), {})(3), type("S", (str,), {})("x"), type("L", (list,), {})(),
    object(), iter(()), [type("D", (dict,), {})()], [lambda: 1],
])
def test_arguments_must_be_plain_data(value: object) -> None:
    with pytest.raises(channel.EncodeError):
        channel.check_plain(value)


def test_the_child_cannot_send_subclasses() -> None:
    """The child's encoder (marshal) refuses subclasses instead of calling their methods."""
    with pytest.raises(ValueError):
        channel.dump_reply((1, "value", type("Eq", (int,), {"__eq__": lambda s, o: True})(1)))


def _reply(payload: bytes) -> bytes:
    return b"(\x03\x00\x00\x00i\x01\x00\x00\x00u\x05\x00\x00\x00value" + payload


@pytest.mark.parametrize("payload", [
    b"c" + b"\x00" * 40,                        # a code object
    b"\xe9\x01\x00\x00\x00",                    # FLAG_REF set: version 2 has no references
    b"r\x00\x00\x00\x00",                        # a back-reference
    b"[\xff\xff\xff\x7f",                        # a list claiming 2**31 - 1 items
    b"[\x02\x00\x00\x00N",                       # truncated list
    b"l\xa0\x0f\x00\x00" + b"\x01\x00" * 4000,    # an integer past the digit cap
    b"l\x01\x00\x00\x00\xff\xff",                # a digit >= 2**15
    b"u\x02\x00\x00\x00\xff\xfe",                # invalid UTF-8
    b"<\x01\x00\x00\x00[\x00\x00\x00\x00",       # an unhashable set element
    b"{[\x00\x00\x00\x00N0",                      # an unhashable dict key
    b"." , b"S",                                   # Ellipsis, StopIteration
    b"[\x01\x00\x00\x00" * 101 + b"N",            # nested past MAX_DEPTH
])
def test_a_bad_payload_fails_that_request_only(payload: bytes) -> None:
    rid, kind, value = channel.load_reply(_reply(payload))
    assert (rid, kind) == (1, "value") and isinstance(value, channel.DecodeError)


@pytest.mark.parametrize("body", [
    b"", b"N", b"(\x02\x00\x00\x00NN", _reply(b"N") + b"N",
    b"(\x03\x00\x00\x00g" + b"\x00" * 8 + b"u\x00\x00\x00\x00N",  # id not an int
    b"(\x03\x00\x00\x00NNN",  # kind not a string
])
def test_a_bad_envelope_is_a_channel_error(body: bytes) -> None:
    with pytest.raises(channel.DecodeError):
        channel.load_reply(body)


@given(st.binary(max_size=64))
def test_the_decoder_only_raises_decode_errors(junk: bytes) -> None:
    for body in (junk, _reply(junk)):
        with contextlib.suppress(channel.DecodeError):
            channel.load_reply(body)


def test_frame_buffer_caps_size() -> None:
    buf = channel.FrameBuffer(max_bytes=100)
    with pytest.raises(channel.DecodeError):
        buf.feed(struct.pack("<I", 1000) + b"x")
    good = channel.FrameBuffer(max_bytes=100)
    assert good.feed(channel.pack({"a": 1}) + channel.pack({"b": 2})[:3]) == [b'{"a":1}']


# --- kernel policy ------------------------------------------------------------------------------
def test_seccomp_program_is_well_formed() -> None:
    for threads in (False, True):
        for processes in (False, True):
            prog = seccomp.build_filter(threads, processes, "x86_64")
            assert len(prog) % 8 == 0 and len(prog) // 8 < 4096
            last = struct.unpack("HBBI", prog[-8:])
            assert last == (seccomp.RET_K, 0, 0, seccomp.RET_ERRNO | seccomp.EPERM)
    arm = seccomp.build_filter(False, False, "aarch64")
    first = struct.unpack("HBBI", arm[8:16])
    assert first[3] == seccomp.AUDIT_ARCH["aarch64"]


def _bpf(prog: bytes, nr: int, args: tuple[int, ...], arch: int) -> int:
    """A classic-BPF interpreter for the opcodes the filter uses, over seccomp_data."""
    data = struct.pack("<IIQ6Q", nr, arch, 0, *args, *([0] * (6 - len(args))))
    insns = [struct.unpack("HBBI", prog[i : i + 8]) for i in range(0, len(prog), 8)]
    pc, acc = 0, 0
    for _ in range(len(insns)):
        code, jt, jf, k = insns[pc]
        if code == seccomp.RET_K:
            return k
        if code == seccomp.LD_W_ABS:
            acc, pc = struct.unpack_from("<I", data, k)[0], pc + 1
        elif code == seccomp.JA:
            pc += 1 + k
        else:
            taken = {seccomp.JEQ_K: acc == k, seccomp.JGE_K: acc >= k,
                     seccomp.JSET_K: bool(acc & k)}[code]
            pc += 1 + (jt if taken else jf)
    raise AssertionError("the program ran past its end")


def _policy(machine: str, threads: bool, processes: bool, nr: int, args: tuple[int, ...],
            table: dict[str, int] | None = None) -> int:
    """What the filter must decide, written from the tables, not from the program."""
    table = seccomp.SYSCALLS[machine] if table is None else table
    names = {v: k for k, v in table.items()}
    name = names.get(nr, "")
    eperm = seccomp.RET_ERRNO | seccomp.EPERM
    if machine == "x86_64" and nr >= 0x40000000:
        return seccomp.RET_KILL_PROCESS
    if nr > max(seccomp.MAX_KNOWN[machine], *table.values()):
        return seccomp.RET_ERRNO | seccomp.ENOSYS
    if name == "clone":
        if args[0] & seccomp.CLONE_NS_FLAGS:
            return seccomp.RET_KILL_PROCESS
        allowed = threads if args[0] & seccomp.CLONE_THREAD else processes
        return seccomp.RET_ALLOW if allowed else eperm
    if name == "clone3":
        return seccomp.RET_ERRNO | seccomp.ENOSYS
    command = args[1] & 0xFFFFFFFF  # the kernel takes it as an unsigned int
    if name == "ioctl":
        return seccomp.RET_ALLOW if command in seccomp.ALLOWED_IOCTLS else eperm
    if name == "fcntl":
        return seccomp.RET_ALLOW if command in seccomp.ALLOWED_FCNTLS else eperm
    if name in seccomp.SELF_ONLY:
        return seccomp.RET_ALLOW if args[0] == 0 else eperm
    if name in seccomp.ALLOWED or (name in seccomp.PROCESS_CALLS and processes):
        return seccomp.RET_ALLOW
    return eperm  # every number the table does not allow, known to the kernel or not


# (pid or flags, ioctl/fcntl command): the clone flags, the pid-0 rule, allowed and denied
# ioctls (TCGETS, FIOCLEX, TIOCSTI, FS_IOC_SETFLAGS, FS_IOC_GETFLAGS, FS_IOC_FSSETXATTR)
# and fcntls (F_SETFL, F_DUPFD_CLOEXEC, F_SETLEASE, F_NOTIFY, F_SETOWN, F_SETPIPE_SZ);
# a command with high bits set (the kernel reads only the low 32)
_ARG_SETS = [(0, 0), (1234, 0), (0, seccomp.TIOCSTI), (5, 0x40086602), (5, 0x80086601),
             (5, 0x401C5820), (seccomp.CLONE_THREAD, 0), (0x10000000, 0),
             (seccomp.CLONE_THREAD | 0x20000000, 0), (17, 0x5401), (3, 0x5451), (3, 4),
             (3, 1030), (3, 1024), (3, 1026), (3, 8), (3, 1031), (3, (1 << 32) | 0x5401)]


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_seccomp_program_decides_every_syscall_as_the_policy_says(machine: str) -> None:
    arch = seccomp.AUDIT_ARCH[machine]
    numbers = [*range(0, 600), 1000, 0x3FFFFFFF, 0x40000000 + 1, 0xFFFFFFFF]
    for threads in (False, True):
        for processes in (False, True):
            prog = seccomp.build_filter(threads, processes, machine)
            for nr in numbers:
                for args in _ARG_SETS:
                    want = _policy(machine, threads, processes, nr, args)
                    assert _bpf(prog, nr, args, arch) == want, (machine, threads, processes, nr, args)
            assert _bpf(prog, 0, (0, 0), arch ^ 1) == seccomp.RET_KILL_PROCESS


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_seccomp_denies_what_the_table_does_not_name(machine: str) -> None:
    """An allow-list: the calls of recent kernels that reached host inode and mount
    metadata (file_getattr/file_setattr 468/469, statmount/listmount 457/458,
    open_tree_attr 467, getxattrat 464, cachestat 451, open_tree 428, mount_setattr
    442) are denied without being named, and so is every number past the table (a
    newer kernel's call) and every number in a gap of the table."""
    arch = seccomp.AUDIT_ARCH[machine]
    prog = seccomp.build_filter(True, True, machine)
    eperm, enosys = seccomp.RET_ERRNO | seccomp.EPERM, seccomp.RET_ERRNO | seccomp.ENOSYS
    for nr in (468, 469, 457, 458, 467, 464, 451, 428, 442):
        assert _bpf(prog, nr, (0, 0), arch) == eperm, nr
    for nr in (470, 471, 512, 1000, 0x3FFFFFFF):
        assert _bpf(prog, nr, (0, 0), arch) == enosys, nr
    allowed = set(seccomp.SYSCALLS[machine].values())
    for nr in set(range(seccomp.MAX_KNOWN[machine] + 1)) - allowed:
        assert _bpf(prog, nr, (0, 0), arch) == eperm, nr


def test_seccomp_tables_agree_across_architectures() -> None:
    """Each name is in both tables unless the architecture lacks the call (aarch64 has
    only the *at forms and no legacy calls); numbers from 424 on are common to both."""
    x86, arm = seccomp.SYSCALLS["x86_64"], seccomp.SYSCALLS["aarch64"]
    legacy_x86_only = {"open", "creat", "stat", "lstat", "access", "readlink", "getdents",
                       "mkdir", "rmdir", "unlink", "rename", "link", "symlink", "mknod",
                       "dup2", "pipe", "select", "poll", "epoll_create", "epoll_wait",
                       "eventfd", "signalfd", "getpgrp", "time", "pause", "alarm",
                       "arch_prctl", "uretprobe", "uprobe", "fork", "vfork"}
    assert set(x86) - set(arm) == legacy_x86_only and set(arm) <= set(x86)
    for name in set(x86) & set(arm):
        assert (x86[name] >= 424) == (arm[name] >= 424), name
        if x86[name] >= 424:
            assert x86[name] == arm[name], name
    named = {*seccomp.ALLOWED, *seccomp.SELF_ONLY, *seccomp.PROCESS_CALLS,
             "clone", "clone3", "ioctl", "fcntl"}
    assert set(x86) == named


def test_landlock_handles_every_right_of_the_abi() -> None:
    assert landlock.handled_fs(1) == (1 << 13) - 1
    assert landlock.handled_fs(5) & landlock.FS_IOCTL_DEV
    assert landlock.abi_version() >= 0


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        Limits(timeout=0)
    with pytest.raises(TypeError):
        Limits(memory_mb="a lot")  # type: ignore[arg-type]
    assert Limits.from_dict(Limits(cpu_s=5).to_dict()).cpu_s == 5


# --- fail closed --------------------------------------------------------------------------------
def test_missing_kernel_feature_refuses_to_run() -> None:
    """A kernel without the required Landlock ABI: a clear error naming what and how."""
    pool = SandboxPool(1, min_landlock_abi=99)
    with pytest.raises(SandboxUnavailable) as info, pool.run("x = 1", Limits()):
        pass
    message = str(info.value)
    assert "Landlock ABI >= 99" in message and "unsafe_weak_isolation" in message
    pool.close()


def test_unsafe_mode_is_explicit_and_still_runs() -> None:
    pool = SandboxPool(1, min_landlock_abi=99, unsafe_weak_isolation=True)
    with pool.run("def f(x):\n    return x + 1\n", Limits()) as run:
        assert run.call("f", [1]).value == 2
    pool.close()


# --- runs ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pool() -> SandboxPool:
    return shared_pool(2)


def test_call_returns_plain_data(pool: SandboxPool) -> None:
    with pool.run("def f(x, y=1):\n    return (x, [y], {'k': {1, 2}})\n", Limits()) as run:
        out = run.call("f", [1], {"y": 2})
    assert out.ok and out.value == (1, [2], {"k": {1, 2}})


def test_exceptions_and_missing_function(pool: SandboxPool) -> None:
    with pool.run("def f():\n    raise KeyError('boom')\n", Limits()) as run:
        out = run.call("f", [])
        assert out.kind == "exception" and out.error["type"] == "KeyError"
        missing = run.call("g", [])
        assert missing.kind == "exception" and missing.error["type"] == "NameError"


def test_syntax_error_is_reported_at_init(pool: SandboxPool) -> None:
    with pool.run("def f(:\n", Limits()) as run:
        assert run.init.kind == "exception" and run.init.error["type"] == "SyntaxError"


def test_timeout_kills_and_later_runs_work(pool: SandboxPool) -> None:
    with pool.run("def f():\n    while True: pass\n", Limits(timeout=0.3)) as run:
        assert run.call("f", []).kind == "timeout"
        assert run.finished
    with pool.run("def f():\n    return 7\n", Limits()) as run:
        assert run.call("f", []).value == 7


def test_stdio_captures_fd_level_output(pool: SandboxPool) -> None:
    code = "import os, sys\nn = int(input())\nprint(n)\nsys.stdout.flush()\nos.write(1, b'raw\\n')\n"
    with pool.run(code, Limits(), mode="stdio") as run:
        first = run.stdio("5\n")
        second = run.stdio("6\n")
    assert first.stdout == "5\nraw\n" and second.stdout == "6\nraw\n"


def test_setup_runs_before_the_candidate(pool: SandboxPool) -> None:
    with pool.run("def f():\n    return helper()\n", Limits(), setup="def helper():\n    return 3") as run:
        assert run.call("f", []).value == 3


def test_candidate_compiles_as_plain_python(pool: SandboxPool) -> None:
    """The runner's own ``from __future__ import annotations`` must not leak into the
    candidate: its annotations are evaluated objects, as under ``python``."""
    code = "def f(x: int) -> int:\n    return repr(f.__annotations__['x'])\n"
    with pool.run(code, Limits()) as run:
        assert run.call("f", [1]).value == "<class 'int'>"


def test_scratch_is_fresh_per_run(pool: SandboxPool) -> None:
    with pool.run("def f():\n    open('state', 'w').write('x')\n    return 1\n", Limits()) as run:
        assert run.call("f", []).value == 1
    code = "import os\ndef f():\n    return os.listdir('.')\n"
    with pool.run(code, Limits()) as run:
        assert run.call("f", []).value == []


def test_scratch_is_emptied_of_everything_a_run_leaves(pool: SandboxPool) -> None:
    """Each server reuses one scratch directory (its Landlock rule is built once), so
    what a run leaves there (nested directories, links, a FIFO) must be gone before the
    next run starts, and removing it must not follow a link out of the scratch."""
    leave = (
        "import os\n"
        "def f():\n"
        "    os.makedirs('a/b/c')\n"
        "    open('a/b/c/data', 'w').write('x')\n"
        "    os.symlink('/usr/lib', 'to_lib')\n"
        "    os.symlink('a', 'to_a')\n"
        "    os.mkfifo('fifo')\n"
        "    return sorted(os.listdir('.'))\n"
    )
    listing = "import os\ndef f():\n    return os.listdir('.')\n"
    for _ in range(2):  # whichever server the next run lands on
        with pool.run(leave, Limits()) as run:
            assert run.call("f", []).value == ["a", "fifo", "to_a", "to_lib"]
        for _ in range(pool.size):
            with pool.run(listing, Limits()) as run:
                assert run.call("f", []).value == []
    assert os.path.isdir("/usr/lib") and os.listdir("/usr/lib")


def test_environment_is_scrubbed(pool: SandboxPool) -> None:
    with pool.run("import os\ndef f():\n    return sorted(os.environ)\n", Limits()) as run:
        names = set(run.call("f", []).value)
    assert names <= {"PATH", "LANG", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"}


def test_output_limit(pool: SandboxPool) -> None:
    code = "import sys\nsys.stdout.write('x' * (3 << 20))\n"
    with pool.run(code, Limits(output_mb=1, file_size_mb=1), mode="stdio") as run:
        out = run.stdio("")
    assert not out.ok or out.truncated


def test_run_process_is_gone_when_the_run_ends(pool: SandboxPool) -> None:
    import os

    with pool.run("import os\ndef f():\n    return os.getpid()\n", Limits()) as run:
        assert run.call("f", []).ok
        pid = run.pid  # the host's pid of the run (inside, its namespace's)
        assert os.path.exists(f"/proc/{pid}")
    import time

    deadline = time.monotonic() + 2.0  # SIGKILLed before the caller hears the run ended
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):  # gone, or going while we read
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    raise AssertionError(f"run process {pid} still alive ({state})")


@pytest.mark.parametrize("offer_held,offered_gone", [(False, False), (True, False), (True, True)],
                         ids=["report-unread", "offer-held", "offer-held-process-gone"])
def test_a_server_that_dies_between_runs_is_replaced(offer_held: bool, offered_gone: bool) -> None:
    """A server that died after a run must not turn the next run into an error: that run
    gets a replacement server. Either the run's report was not read yet (it is read
    lazily), or the caller already holds the server's offer of the next process (which
    may be gone too)."""
    own = SandboxPool(1)
    try:
        with own.run("def f():\n    return 1\n", Limits()) as run:
            assert run.call("f", []).value == 1
        dead = own.all[0]
        if offer_held:
            assert own.features  # reads the run's report and the next offer
            assert dead.offer is not None
        offered = _children(dead.proc.pid)
        dead.proc.kill()
        dead.proc.wait()
        if offered_gone:
            assert offered
            for pid in offered:
                os.kill(pid, signal.SIGKILL)
        with own.run("def f():\n    return 2\n", Limits()) as run:
            assert run.call("f", []).value == 2
        assert own.all and own.all[0] is not dead
    finally:
        own.close()


@pytest.mark.parametrize("confined", [False, True])
def test_a_run_whose_server_dies_before_its_program_loads_starts_again(
    monkeypatch: pytest.MonkeyPatch, confined: bool
) -> None:
    """If the server dies before the program has loaded (on a loaded machine the offered
    process may not even be confined yet), the run starts again on a new server: no
    reply of the program was seen. Under two busy loops the real race made the
    offer-held case above fail about one time in two before this retry existed."""
    own = SandboxPool(1)
    real = Run.start
    servers: list[Any] = []

    def server_dies_first(self: Run, source: str, mode: str, prefetch: Any = None) -> None:
        servers.append(self.server)
        if len(servers) == 1:
            self.server.proc.kill()
            self.server.proc.wait()
            self.confined = confined
            raise ServerLost("fork server is gone: [Errno 32] Broken pipe")
        real(self, source, mode, prefetch)

    monkeypatch.setattr(Run, "start", server_dies_first)
    try:
        with own.run("def f():\n    return 2\n", Limits()) as run:
            assert run.call("f", []).value == 2
        assert len(servers) == 2 and servers[0] is not servers[1]
    finally:
        own.close()


def test_a_server_lost_while_the_program_runs_is_that_runs_crash() -> None:
    """Issue 13 item 7: once the program has loaded, losing its server is the run's
    failure (a crash outcome, scored), not an infrastructure error (before: ServerLost,
    an unscorable sample); the pool goes on with a new server."""
    own = SandboxPool(1)
    try:
        with own.run("import time\ndef f():\n    time.sleep(5)\n", Limits()) as run:
            timer = threading.Timer(0.3, run.server.proc.kill)
            timer.start()
            out = run.call("f", [])
            timer.join()
        assert out.kind == "crash" and SERVER_LOST in out.error["message"], out
        with own.run("def f():\n    return 2\n", Limits()) as run:
            assert run.call("f", []).value == 2
    finally:
        own.close()


def test_a_program_that_loses_every_server_fails_as_its_own_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A program whose server is lost while it loads, on every try: the program is what
    the tries had in common, so its load is a crash (scored), not an infrastructure
    error. Each server here is killed while the program sleeps at module level."""
    own = SandboxPool(1)
    real = Run.start
    tries: list[Any] = []

    def server_dies_while_loading(self: Run, source: str, mode: str, prefetch: Any = None) -> None:
        tries.append(self.server)
        threading.Timer(1.0, self.server.proc.kill).start()  # once confined, while loading
        real(self, source, mode, prefetch)

    monkeypatch.setattr(Run, "start", server_dies_while_loading)
    try:
        with own.run("import time\ntime.sleep(5)\ndef f():\n    return 2\n", Limits()) as run:
            assert run.init.kind == "crash" and SERVER_LOST in run.init.error["message"]
        assert len(tries) == own.size + 1
    finally:
        own.close()


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def test_offers_follow_the_limits_asked_for() -> None:
    """Each run gets a process with its own limits, also when they change between runs
    (the offered process, forked with the previous limits, is dropped)."""
    own = SandboxPool(1)
    code = "import resource\ndef f():\n    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
    try:
        for files in (64, 32, 32, 64):
            with own.run(code, Limits(open_files=files)) as run:
                assert run.call("f", []).value == files
        assert len(own.all) == 1  # the same server throughout
    finally:
        own.close()


def test_run_pipes_are_not_inherited_by_the_callers_subprocesses(pool: SandboxPool) -> None:
    import os

    with pool.run("def f():\n    return 1\n", Limits()) as run:
        assert not os.get_inheritable(run.w) and not os.get_inheritable(run.r)
        assert run.call("f", []).value == 1


# --- issue 13: isolation gaps -------------------------------------------------------------------
def _server_pids(pool: SandboxPool) -> list[int]:
    return sorted(s.proc.pid for s in pool.all)


@pytest.mark.parametrize("code,reason", [
    ("import os\ndef f():\n    os.kill(os.getpid(), 40)\n", "signal 40"),
    ("import os\ndef f():\n    os.kill(os.getpid(), 50)\n", "signal 50"),
], ids=["signal-40", "signal-50"])
def test_a_run_killed_by_a_real_time_signal_is_a_crash_and_the_server_lives(
    code: str, reason: str
) -> None:
    """Item 7: ``signal.Signals(40)`` raised in the server's report and killed it (the
    sample became unscorable)."""
    own = SandboxPool(1)
    try:
        with own.run("def f():\n    return 1\n", Limits()) as run:
            assert run.call("f", []).ok
        before = _server_pids(own)
        with own.run(code, Limits()) as run:
            out = run.call("f", [])
        assert out.kind == "crash" and out.error["message"] == reason, out
        with own.run("def f():\n    return 2\n", Limits()) as run:
            assert run.call("f", []).value == 2
        assert _server_pids(own) == before
    finally:
        own.close()


LEFTOVERS = {
    "deep": "import os\ndef f():\n    for _ in range(3000):\n        os.mkdir('d')\n"
            "        os.chdir('d')\n    return 1\n",
    "locked": "import os\ndef f():\n    os.makedirs('a/b')\n    open('a/b/x', 'w').write('x')\n"
              "    os.mkdir('a/b/c', 0)\n    os.mkdir('a/z', 0)\n    os.rename('a', 'q')\n    return 1\n",
    "wide": "import os\ndef f():\n    for i in range(2000):\n        os.mkdir(f'd{i}')\n"
            "        open(f'd{i}/x', 'w').close()\n    return 1\n",
}


@pytest.mark.parametrize("name", sorted(LEFTOVERS))
def test_the_server_survives_what_a_run_leaves_in_its_scratch(name: str) -> None:
    """Item 7: a tree deeper than the recursion limit crashed the server's cleanup
    (shutil.rmtree: RecursionError); a directory made with mode 0 could not be emptied
    and the server exited. Each run now gets a fresh tmpfs (the old one is detached
    whole), so the server lives on and the next run's directory is empty."""
    own = SandboxPool(1)
    listing = "import os\ndef f():\n    return os.listdir('.')\n"
    try:
        with own.run(listing, Limits()) as run:
            assert run.call("f", []).value == []
        before = _server_pids(own)
        with own.run(LEFTOVERS[name], Limits()) as run:
            assert run.call("f", []).value == 1
        for _ in range(2):
            with own.run(listing, Limits()) as run:
                assert run.call("f", []).value == []
        assert _server_pids(own) == before
    finally:
        own.close()


STATE = (
    "import os\n"
    "def f(churn):\n"
    "    st = os.statvfs('.')\n"
    "    fd = os.open('probe', os.O_CREAT | os.O_WRONLY)\n"
    "    ino = os.fstat(fd).st_ino\n"
    "    os.close(fd)\n"
    "    os.unlink('probe')\n"
    "    for i in range(abs(churn)):\n"
    "        if churn < 0:  # unnamed files: the directory does not change\n"
    "            os.close(os.open('.', os.O_TMPFILE | os.O_WRONLY, 0o600))\n"
    "            continue\n"
    "        open(f'f{i}', 'w').close()\n"
    "        os.unlink(f'f{i}')\n"
    "    return [ino, st.f_ffree, st.f_bfree, sorted(os.listdir('.'))]\n"
)


def test_nothing_a_run_does_to_its_scratch_carries_over() -> None:
    """Item 6: the scratch directory was one per server, emptied after each run, so a
    run saw how many files earlier runs had made (tmpfs inode numbers grow) and when
    (the directory's times). Each run now gets a fresh tmpfs: a run that made and removed
    500 files (or 300 unnamed ones, O_TMPFILE) leaves the next one the very same first
    inode number and free counts."""
    own = SandboxPool(1)
    try:
        seen = []
        for churn in (0, 500, 0, -300, 0, 37, 0, 0):
            with own.run(STATE, Limits()) as run:
                seen.append(run.call("f", [churn]).value)
        assert all(s == seen[0] for s in seen), seen
        assert seen[0][3] == []
    finally:
        own.close()


def test_the_runs_see_their_own_pids_only(pool: SandboxPool) -> None:
    """Item 6: a pid namespace per server and its own /proc: the caller's pid, the
    server's and the host's are invisible (stat of /proc/<pid>, kill(pid, 0)); the
    run's parent reads as pid 0."""
    probe = (
        "import os\n"
        "def f(pids):\n"
        "    out = [os.getppid()]\n"
        "    for pid in pids:\n"
        "        try:\n"
        "            os.stat(f'/proc/{pid}')\n"
        "            out.append('visible')\n"
        "        except OSError as e:\n"
        "            out.append(e.errno)\n"
        "        try:\n"
        "            os.kill(pid, 0)\n"
        "            out.append('signalable')\n"
        "        except OSError as e:\n"
        "            out.append(e.errno)\n"
        "    return out\n"
    )
    with pool.run("def f():\n    return 1\n", Limits()) as run:
        assert run.call("f", []).ok
    host = [os.getpid(), *(s.proc.pid for s in pool.all), os.getppid()]
    host = [p for p in host if p > 64]  # numbers a small namespace cannot reach
    with pool.run(probe, Limits()) as run:
        out = run.call("f", [host]).value
    assert out[0] == 0
    assert out[1:] == [2, 3] * len(host), out  # ENOENT, ESRCH


def test_memory_outside_the_address_space_is_bounded() -> None:
    """Item 5: memfd pages are not in RLIMIT_AS; one run held ~940 MB with memory_mb=64
    (60 memfds of 15 MB). The memory cgroup kills this one (16 of 15 MB) at about
    95 MB and reports the memory limit."""
    own = SandboxPool(1)
    try:
        if own.features.get("memory_cgroup", "") is None:
            pytest.skip("no writable memory cgroup here (the documented fallback)")
        bomb = ("import os\nfds = []\ndef f():\n    for _ in range(16):\n"
                "        fd = os.memfd_create('x')\n        os.write(fd, b'x' * (15 << 20))\n"
                "        fds.append(fd)\n    return len(fds)\n")
        with own.run(bomb, Limits(memory_mb=64)) as run:
            out = run.call("f", [])
        assert out.kind == "crash" and out.error["message"] == "memory limit", out
        with own.run("def f():\n    return bytearray(48 << 20)[-1]\n", Limits(memory_mb=64)) as run:
            assert run.call("f", []).value == 0  # memory_mb itself is still usable
    finally:
        own.close()


SYSCALL_PROBE = (
    "import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "def f(nr, *args):\n"
    "    r = libc.syscall(nr, *args)\n"
    "    return 0 if r >= 0 else ctypes.get_errno()\n"
)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 numbers below")
@pytest.mark.parametrize("nr,args", [
    (468, [-100, b"/usr/lib", 0, 24, 0]),  # file_getattr (6.17): inode flags of a host path
    (469, [-100, b"/usr/lib", 0, 24, 0]),  # file_setattr
    (457, [0, 0, 0, 0]),  # statmount
    (458, [0, 0, 0, 0]),  # listmount
    (428, [-100, b"/usr/lib", 1]),  # open_tree(OPEN_TREE_CLONE)
    (442, [-100, b"/", 0, 0, 0]),  # mount_setattr
    (16, [0, 0x80086601, 0]),  # ioctl(FS_IOC_GETFLAGS)
    (16, [0, 0x40086602, 0]),  # ioctl(FS_IOC_SETFLAGS)
    (72, [0, 1026, 0]),  # fcntl(F_NOTIFY): dnotify
    (27, [0, 4096, 0]),  # mincore
    (162, []),  # sync
], ids=["file_getattr", "file_setattr", "statmount", "listmount", "open_tree",
        "mount_setattr", "FS_IOC_GETFLAGS", "FS_IOC_SETFLAGS", "F_NOTIFY", "mincore", "sync"])
def test_calls_the_allow_list_does_not_name_are_refused(pool: SandboxPool, nr: int,
                                                         args: list[Any]) -> None:
    """Item 4: with the deny-list, recent calls reached host inode and mount metadata."""
    with pool.run(SYSCALL_PROBE, Limits()) as run:
        assert run.call("f", [nr, *args]).value == 1  # EPERM, from the filter


def test_a_call_newer_than_the_table_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 4: a call added by a kernel newer than the table is denied by default. Here
    the table is made to end at 450, so the kernel's statmount (457) is such a call:
    it must get ENOSYS from the filter, not the kernel's EFAULT/EINVAL."""
    if os.uname().machine != "x86_64":
        pytest.skip("x86_64 numbers")
    monkeypatch.setitem(seccomp.MAX_KNOWN, "x86_64", 450)
    table = {k: v for k, v in seccomp.SYSCALLS["x86_64"].items() if v <= 450}
    prog = seccomp.Prepared(seccomp.build_filter(False, False, "x86_64", table))
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 99
        try:
            kernel.prctl(kernel.PR_SET_NO_NEW_PRIVS, 1)
            prog.install()
            libc.syscall(457, 0, 0, 0, 0)
            code = ctypes.get_errno()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 38  # ENOSYS


UNPRIVILEGED = (
    "import json, sys\n"
    "from rewardlab.sandbox import Limits, SandboxPool\n"
    "pool = SandboxPool(1)\n"
    "code = \"import os\\ndef f():\\n    open('x', 'w').close()\\n    return [os.getppid(), os.listdir('.')]\\n\"\n"
    "with pool.run(code, Limits()) as run:\n"
    "    out = run.call('f', [])\n"
    "pool.close()\n"
    "print(json.dumps([out.kind, out.value]))\n"
)


@pytest.mark.skipif(not os.path.exists("/usr/bin/unshare"), reason="needs util-linux unshare")
def test_an_unprivileged_caller_gets_the_same_sandbox() -> None:
    """Without privileges the server makes its namespaces inside its own user namespace;
    it must map itself to root there, or no file can be created (mkdir of the scratch
    failed with EOVERFLOW and the pool could not start). The caller runs as uid 1000 in
    a user namespace of its own (no capabilities once it runs Python)."""
    import subprocess
    import sys

    proc = subprocess.run(
        ["unshare", "-U", "--map-user=1000", "--map-group=1000", sys.executable, "-c",
         UNPRIVILEGED], capture_output=True, text=True, timeout=120,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if proc.returncode and "unshare failed" in proc.stderr:
        pytest.skip(f"no user namespaces here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == '["ok", [0, ["x"]]]'

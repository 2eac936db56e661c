"""Attacks on the isolation of runs (issue 13, items 4 to 7), by SANDBOX.md family.

Same shape as :mod:`tests.attacks.programs` (an ``Attack`` per program, the same
reference kinds and placeholders), plus:

- ``{caller_pid}``: the pid of the test process (the caller of the sandbox);
- ``memory_mb``: the run's memory limit where the attack is about memory;
- ``CROSS_RUN``: pairs of programs run one after the other on a one-server pool: the
  first leaves state behind, the second passes only if it can observe that state.

Every attack returns the right answer only if its escape worked, so a pass is a
containment failure; the test also checks that nothing changed on the host and that
the fork servers are alive.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.attacks.programs import Attack

E, R, C = "escape", "resources", "control"

# A square that is right only when ``ok`` is true: the attacks' verdict.
_SQUARE = "def square(x):\n    return x * x if probe() else -1\n"
_SYSCALL = (
    "import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.syscall.restype = ctypes.c_long\n"
    "def call(nr, *args):\n"
    "    r = libc.syscall(nr, *args)\n"
    "    return r, (ctypes.get_errno() if r < 0 else 0)\n"
)


def _probe(body: str) -> str:
    """A program whose ``square`` is right only if ``probe()`` (``body``) returns true."""
    return _SYSCALL + "def probe():\n" + body + _SQUARE


# x86_64 numbers (the suite runs there; aarch64 shares those from 424 on)
_STDLIB_FD = "    fd = os.open('{stdlib_file}', os.O_RDONLY)\n"

SYSCALLS = [
    Attack(E, "chattr_ioctl_setflags", "function", _probe(
        _STDLIB_FD + "    flags = ctypes.c_long(0x80)\n"  # FS_NOATIME_FL
        "    return call(16, fd, 0x40086602, ctypes.byref(flags))[1] == 0\n")),
    Attack(E, "inode_flags_ioctl_getflags", "function", _probe(
        _STDLIB_FD + "    flags = ctypes.c_long(0)\n"
        "    return call(16, fd, 0x80086601, ctypes.byref(flags))[1] == 0\n")),
    Attack(E, "file_setattr_6_17", "function", _probe(
        "    attr = ctypes.create_string_buffer(24)\n"
        "    return call(469, -100, b'{stdlib_file}', attr, 24, 0)[1] not in (1, 38)\n")),
    Attack(E, "file_getattr_6_17", "function", _probe(
        "    attr = ctypes.create_string_buffer(24)\n"
        "    return call(468, -100, b'{stdlib_file}', attr, 24, 0)[1] not in (1, 38)\n")),
    Attack(E, "listmount_host_mounts", "function", _probe(
        "    req = ctypes.create_string_buffer(32)\n"
        "    ctypes.memmove(req, (24).to_bytes(4, 'little'), 4)\n"
        "    ctypes.memmove(ctypes.addressof(req) + 8, (1).to_bytes(8, 'little'), 8)\n"
        "    ids = (ctypes.c_uint64 * 64)()\n"
        "    return call(458, req, ids, 64, 0)[1] not in (1, 38)\n")),
    Attack(E, "statmount_host_mount", "function", _probe(
        "    req = ctypes.create_string_buffer(32)\n"
        "    buf = ctypes.create_string_buffer(4096)\n"
        "    return call(457, req, buf, 4096, 0)[1] not in (1, 38)\n")),
    Attack(E, "open_tree_clone", "function", _probe(
        "    return call(428, -100, b'/usr/lib', 1)[0] >= 0\n")),
    Attack(E, "mount_setattr_root", "function", _probe(
        "    attr = ctypes.create_string_buffer(32)\n"
        "    return call(442, -100, b'/', 0, attr, 32)[1] not in (1, 38)\n")),
    Attack(E, "listxattr_host_file", "function", _probe(
        "    try:\n        os.listxattr('{stdlib_file}')\n        return True\n"
        "    except OSError:\n        return False\n")),
    Attack(E, "cachestat_host_file", "function", _probe(
        _STDLIB_FD + "    rng = (ctypes.c_uint64 * 2)(0, 0)\n"
        "    out = (ctypes.c_uint64 * 5)()\n"
        "    return call(451, fd, rng, out, 0)[1] not in (1, 38)\n")),
    Attack(E, "mincore_host_file", "function", _probe(
        _STDLIB_FD + "    libc.mmap.restype = ctypes.c_void_p\n"
        "    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,"
        " ctypes.c_int, ctypes.c_long]\n"
        "    addr = libc.mmap(None, 4096, 1, 1, fd, 0)\n"  # PROT_READ, MAP_SHARED
        "    vec = ctypes.create_string_buffer(8)\n"
        "    return call(27, ctypes.c_void_p(addr), 4096, vec)[1] == 0\n")),
    Attack(E, "dnotify_host_dir", "function", _probe(
        "    import fcntl\n    fd = os.open('/usr/lib', os.O_RDONLY)\n"
        "    try:\n        fcntl.fcntl(fd, fcntl.F_NOTIFY, fcntl.DN_ACCESS | fcntl.DN_MULTISHOT)\n"
        "        return True\n    except OSError:\n        return False\n")),
    Attack(E, "lease_host_file", "function", _probe(
        "    import fcntl\n" + _STDLIB_FD
        + "    try:\n        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)\n        return True\n"
        "    except OSError:\n        return False\n")),
    Attack(E, "sync_whole_host", "function", _probe("    return call(162)[0] == 0\n")),
    Attack(E, "recent_syscall_sweep", "function", _probe(
        "    allowed = {424, 434, 435, 436, 437, 439, 441, 449, 453, 454, 455, 456, 462}\n"
        "    for nr in range(424, 470):\n"
        "        if nr in allowed:\n            continue\n"
        "        r, err = call(nr, 0, 0, 0, 0, 0, 0)\n"
        "        if err not in (1, 38):\n            return True\n"
        "    return False\n")),
]

MEMORY = [  # run with memory_mb=64 (ATTACK_MEMORY_MB): each holds about 240 MB outside it
    Attack(R, "memfd_bomb", "function",
           "import os\nfds = []\ndef square(x):\n"
           "    for _ in range(16):\n        fd = os.memfd_create('m')\n"
           "        os.write(fd, b'x' * (15 << 20))\n        fds.append(fd)\n    return x * x\n"),
    Attack(R, "memfd_ftruncate_touch", "function",
           "import os, mmap\nkeep = []\ndef square(x):\n"
           "    for _ in range(16):\n        fd = os.memfd_create('m')\n        os.ftruncate(fd, 15 << 20)\n"
           "        with mmap.mmap(fd, 15 << 20) as m:\n            m[:] = b'y' * (15 << 20)\n"
           "        keep.append(fd)\n    return x * x\n"),
    Attack(R, "scratch_and_memfd_together", "function",
           "import os\nfds = []\ndef square(x):\n"
           "    for i in range(60):\n"
           "        try:\n            open(f'f{i}', 'wb').write(b'z' * (1 << 20))\n"
           "        except OSError:\n            break\n"
           "    for _ in range(12):\n        fd = os.memfd_create('m')\n"
           "        os.write(fd, b'x' * (15 << 20))\n        fds.append(fd)\n    return x * x\n"),
    Attack(R, "pipe_buffers_grown", "function",
           "import os, fcntl\nkeep = []\ndef square(x):\n"
           "    for _ in range(28):\n        r, w = os.pipe()\n"
           "        fcntl.fcntl(w, 1031, 1 << 20)\n"  # F_SETPIPE_SZ: refused
           "        keep.append((r, w))\n    return x * x\n"),
    Attack(R, "posix_shm_outside_scratch", "function",
           "import os\ndef square(x):\n"
           "    fd = os.open('/dev/shm/rewardlab_pwned', os.O_CREAT | os.O_RDWR)\n"
           "    os.ftruncate(fd, 200 << 20)\n    return x * x\n"),
]
ATTACK_MEMORY_MB = 64

SIGNALS_AND_SCRATCH = [
    Attack(R, "die_of_signal_40", "function", "import os\ndef square(x):\n    os.kill(os.getpid(), 40)\n"),
    Attack(R, "die_of_signal_50", "function", "import os\ndef square(x):\n    os.kill(os.getpid(), 50)\n"),
    Attack(R, "die_of_signal_33", "function", "import os\ndef square(x):\n    os.kill(os.getpid(), 33)\n"),
    Attack(R, "die_of_sigrtmax", "function",
           "import os, signal\ndef square(x):\n    os.kill(os.getpid(), signal.SIGRTMAX)\n"),
    Attack(R, "scratch_deeper_than_recursion", "function",
           "import os\ndef square(x):\n    for _ in range(3000):\n        os.mkdir('d')\n"
           "        os.chdir('d')\n    return -1\n"),
    Attack(R, "scratch_locked_dirs", "function",
           "import os\ndef square(x):\n    os.makedirs('a/b/c')\n    open('a/b/c/f', 'w').close()\n"
           "    os.mkdir('a/b/c/z', 0)\n    os.mkdir('a/b/y', 0)\n    os.rename('a/b', 'a/q')\n"
           "    return -1\n"),
    Attack(R, "scratch_deep_then_locked", "function",
           "import os\ndef square(x):\n    for _ in range(1500):\n        os.mkdir('d', 0o700)\n"
           "        os.chdir('d')\n    os.mkdir('x', 0)\n    return -1\n"),
    Attack(R, "scratch_every_inode", "function",
           "import os\ndef square(x):\n    i = 0\n    try:\n        while True:\n"
           "            os.mkdir(f'd{i}')\n            i += 1\n    except OSError:\n        pass\n"
           "    return -1\n"),
    Attack(R, "scratch_links_out", "function",
           "import os\ndef square(x):\n    os.symlink('/usr/lib', 'lib')\n    os.symlink('.', 'loop')\n"
           "    os.mkfifo('fifo')\n    os.makedirs('a/b')\n    os.symlink('../../a', 'a/b/up')\n"
           "    return -1\n"),
]

PIDS = [
    Attack(E, "caller_pid_in_proc", "function", _probe(
        "    return os.path.exists('/proc/{caller_pid}')\n")),
    Attack(E, "caller_pid_by_kill0", "function", _probe(
        "    try:\n        os.kill({caller_pid}, 0)\n    except ProcessLookupError:\n        return False\n"
        "    except OSError:\n        return True\n    return True\n")),
    Attack(E, "server_pid_from_getppid", "function", _probe("    return os.getppid() > 1\n")),
    Attack(E, "count_host_processes", "function", _probe(
        "    return sum(os.path.exists(f'/proc/{p}') for p in range(1, 4096)) > 4\n")),
    Attack(E, "caller_affinity", "function", _probe(
        "    try:\n        os.sched_getaffinity({caller_pid})\n        return True\n"
        "    except OSError:\n        return False\n")),
    Attack(E, "caller_session_and_group", "function", _probe(
        "    try:\n        return os.getsid({caller_pid}) > 0 or os.getpgid({caller_pid}) > 0\n"
        "    except OSError:\n        return False\n")),
    Attack(E, "caller_pidfd", "function", _probe(
        "    try:\n        os.pidfd_open({caller_pid})\n        return True\n"
        "    except OSError:\n        return False\n")),
]

CONTROLS = [
    Attack(C, "memfd_small_legal", "function",
           "import os\ndef square(x):\n    fd = os.memfd_create('m')\n    os.write(fd, str(x * x).encode())\n"
           "    os.lseek(fd, 0, 0)\n    return int(os.read(fd, 64))\n"),
    Attack(C, "tempfile_in_scratch", "function",
           "import tempfile, os\ndef square(x):\n    with tempfile.TemporaryDirectory() as d:\n"
           "        p = os.path.join(d, 'v')\n        open(p, 'w').write(str(x * x))\n"
           "        return int(open(p).read())\n"),
    Attack(C, "cpu_count_and_affinity", "function",
           "import os\ndef square(x):\n    assert os.cpu_count() >= 1 and os.sched_getaffinity(0)\n"
           "    return x * x\n"),
    Attack(C, "threads_where_allowed", "function",
           "from concurrent.futures import ThreadPoolExecutor\ndef square(x):\n"
           "    with ThreadPoolExecutor(2) as ex:\n        return sum(ex.map(lambda v: v, [x * x, 0]))\n",
           threads=4),
    Attack(C, "flock_blocking_inheritable", "function",
           "import fcntl, os\ndef square(x):\n    fd = os.open('lock', os.O_CREAT | os.O_RDWR)\n"
           "    fcntl.flock(fd, fcntl.LOCK_EX)\n    os.set_blocking(fd, False)\n"
           "    os.set_inheritable(fd, True)\n    assert os.get_inheritable(fd)\n"
           "    fcntl.lockf(fd, fcntl.LOCK_UN)\n    os.close(fd)\n    return x * x\n"),
    Attack(C, "isatty_and_terminal_size", "function",
           "import os, sys\ndef square(x):\n    assert not os.isatty(0) and not sys.stdout.isatty()\n"
           "    try:\n        os.get_terminal_size()\n    except OSError:\n        pass\n    return x * x\n"),
    Attack(C, "select_poll_epoll", "function",
           "import os, select\ndef square(x):\n    r, w = os.pipe()\n    os.write(w, b'1')\n"
           "    assert select.select([r], [], [], 1)[0]\n    p = select.poll()\n    p.register(r)\n"
           "    assert p.poll(1000)\n    e = select.epoll()\n    e.register(r)\n"
           "    assert e.poll(1)\n    return x * x\n"),
    Attack(C, "alarm_and_handler", "function",
           "import signal, time\ndef square(x):\n    hit = []\n"
           "    signal.signal(signal.SIGALRM, lambda *a: hit.append(1))\n"
           "    signal.setitimer(signal.ITIMER_REAL, 0.01)\n    time.sleep(0.2)\n"
           "    return x * x if hit else -1\n"),
]

ATTACKS: list[Attack] = [*SYSCALLS, *MEMORY, *SIGNALS_AND_SCRATCH, *PIDS, *CONTROLS]


@dataclass(frozen=True)
class CrossRun:
    """Two programs, one after the other on the same server: ``leave`` runs first (its
    outcome does not matter), then ``observe``, whose ``square`` is right only if it
    sees what ``leave`` left."""

    name: str
    leave: str
    observe: str


CROSS_RUN = [
    CrossRun("inode_numbers",
             "import os\ndef square(x):\n    for i in range(300):\n        open(f'f{i}', 'w').close()\n"
             "        os.unlink(f'f{i}')\n    return -1\n",
             "import os\ndef square(x):\n    fd = os.open('p', os.O_CREAT | os.O_WRONLY)\n"
             "    return x * x if os.fstat(fd).st_ino > 250 else -1\n"),
    CrossRun("leftover_files",
             "import os\ndef square(x):\n    os.makedirs('keep/deep')\n"
             "    open('keep/deep/msg', 'w').write('hello')\n    os.mkdir('keep/locked', 0)\n    return -1\n",
             "import os\ndef square(x):\n    return x * x if os.listdir('.') else -1\n"),
    CrossRun("free_space",
             "import os\ndef square(x):\n    for i in range(30):\n"
             "        os.mkdir(f'd{i}', 0)\n    return -1\n",
             "import os\ndef square(x):\n    st = os.statvfs('.')\n"
             "    return x * x if st.f_files - st.f_ffree > 1 else -1\n"),
    CrossRun("hard_link_count",
             "import os\ndef square(x):\n    for i in range(20):\n        os.mkdir(f'd{i}')\n    return -1\n",
             "import os\ndef square(x):\n    return x * x if os.stat('.').st_nlink > 2 else -1\n"),
    CrossRun("unnamed_inodes",  # O_TMPFILE: no entry, the directory's times do not change
             "import os\ndef square(x):\n    for _ in range(300):\n"
             "        os.close(os.open('.', os.O_TMPFILE | os.O_WRONLY, 0o600))\n    return -1\n",
             "import os\ndef square(x):\n    fd = os.open('.', os.O_TMPFILE | os.O_WRONLY, 0o600)\n"
             "    return x * x if os.fstat(fd).st_ino > 250 else -1\n"),
    CrossRun("access_time",
             "import os\ndef square(x):\n    os.listdir('.')\n    return -1\n",
             "import os\ndef square(x):\n    st = os.stat('.')\n"
             "    return x * x if st.st_atime_ns != st.st_mtime_ns else -1\n"),
    CrossRun("deep_tree_left",
             "import os\ndef square(x):\n    for _ in range(2000):\n        os.mkdir('d')\n"
             "        os.chdir('d')\n    return -1\n",
             "import os\ndef square(x):\n    return x * x if os.path.exists('d') else -1\n"),
]

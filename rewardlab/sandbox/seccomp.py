"""A small, hand-assembled seccomp-BPF allow-list.

Layout of the program (classic BPF over ``struct seccomp_data``)::

    load arch; if arch != expected: KILL_PROCESS
    load nr;   (x86_64) if nr >= 0x40000000 (x32 ABI): KILL_PROCESS
               if nr > the highest number the table knows (a newer kernel's call): ENOSYS
    a binary search over sorted ranges of the allowed syscalls; a match runs its rule:
    plain allowed calls: ALLOW
    clone:  KILL namespace flags; without CLONE_THREAD deny unless processes are allowed;
            with CLONE_THREAD deny unless threads are allowed
    clone3: ENOSYS (its flags live in memory BPF cannot read; libc falls back to clone)
    ioctl:  ALLOW only the terminal queries and descriptor flags Python uses (isatty,
            window size, FIONREAD, FIONBIO, FIOCLEX/FIONCLEX); every other command EPERM
            (chattr flags, fsxattr, verity, encryption, TIOCSTI, ...)
    fcntl:  ALLOW only duplication, descriptor/status flags, record locks and memfd seals;
            EPERM for leases, directory notifications, signal owners and pipe resizing
    prlimit64, sched_set*/sched_get*: ALLOW only with pid argument 0 (this process)
    fork/vfork/execve/execveat/pidfd_open/pidfd_send_signal: only if processes are allowed
    anything else: EPERM

An allow-list, not a deny-list: a system call the table does not name is refused, so
what a newer kernel adds (``file_setattr``/``file_getattr`` in 6.17, ``statmount``,
``listmount``, ``open_tree_attr``...) is denied until someone decides to allow it.
Numbers above the highest one the tables know get ENOSYS rather than EPERM, so that
libc's fallbacks for calls it tries first (as for clone3) keep working.

Why a search tree and not a list of comparisons: when a filter is installed, the
kernel runs it once per syscall number to cache the always-allowed ones (Linux 5.11+,
``seccomp_cache_prepare``), and it JIT-compiles it; both scale with the path length,
and every child installs the filter. Allowed numbers mostly come in runs, so the search
is over ranges. The calls a program makes most (read, write, mmap, futex...) are
always allowed whatever their arguments, so the kernel's cache answers them without
running the filter at all.

Denied, among others: every socket call (no network, no unix sockets), ptrace and
cross-process memory access, mount/namespace/chroot calls and the mount API
(``open_tree``, ``mount_setattr``, ``statmount``, ``listmount``), bpf, io_uring, AIO,
kernel modules and kexec, keyrings, perf, userfaultfd, SysV and POSIX message IPC,
setsid/setpgid (the run stays in its process group), file handles, metadata that
Landlock does not cover (chmod, chown, utimes, extended attributes read or written,
``file_getattr``/``file_setattr``, inode-flag ioctls: the run is uid 0, the owner of
most host files), getpriority/setpriority/ioprio (they reach other processes and whole
users), inotify/fanotify/dnotify (watching host files), mincore and cachestat (page-cache
residency of host files), mlock, NUMA policy, sync/syncfs (a host-wide flush), and
fork/vfork/execve unless the task opts into processes.
"""

from __future__ import annotations

import ctypes
import struct

from rewardlab.sandbox import kernel

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
EPERM = 1
ENOSYS = 38

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

# BPF opcodes
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06
JA = 0x05

CLONE_THREAD = 0x00010000
CLONE_NS_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
TIOCSTI = 0x5412
# ioctl commands a run may use (the generic numbering, the same on x86_64 and aarch64):
# TCGETS (isatty), TIOCGPGRP, TIOCGWINSZ (terminal size), FIONREAD, FIONBIO, FIONCLEX,
# FIOCLEX (os.set_inheritable). Everything else, notably the ioctls that change a
# file's inode (FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR, ...), which Landlock's IOCTL_DEV
# right does not cover on regular files, is EPERM.
ALLOWED_IOCTLS = (0x5401, 0x540F, 0x5413, 0x541B, 0x5421, 0x5450, 0x5451)
# fcntl commands a run may use: F_DUPFD..F_SETLKW (0-7), F_GETOWN (9), the OFD locks
# (36-38), F_DUPFD_CLOEXEC (1030), F_GETPIPE_SZ (1032), F_ADD_SEALS/F_GET_SEALS
# (1033-1034). Not F_SETLEASE/F_NOTIFY (leases and dnotify on host files), F_SETOWN/
# F_SETSIG (signals to other processes), F_SETPIPE_SZ (kernel memory).
ALLOWED_FCNTLS = (0, 1, 2, 3, 4, 5, 6, 7, 9, 36, 37, 38, 1030, 1032, 1033, 1034)

# Allowed whatever their arguments: what CPython and its C libraries need to run a
# program in one process (files beneath the Landlock roots, memory, time, signals to
# itself: Landlock scopes them, threads: clone is filtered below).
ALLOWED = (
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
    "preadv2", "pwritev2", "lseek", "open", "openat", "openat2", "creat", "close",
    "close_range", "stat", "fstat", "lstat", "newfstatat", "statx", "access", "faccessat",
    "faccessat2", "readlink", "readlinkat", "getdents", "getdents64", "getcwd", "chdir",
    "fchdir", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
    "renameat2", "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat", "truncate",
    "ftruncate", "fallocate", "fsync", "fdatasync", "sync_file_range", "readahead",
    "fadvise64", "dup", "dup2", "dup3", "pipe", "pipe2", "flock", "sendfile",
    "copy_file_range", "splice", "tee", "statfs", "fstatfs", "umask", "select", "pselect6",
    "poll", "ppoll", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "timerfd_create",
    "timerfd_settime", "timerfd_gettime", "signalfd", "signalfd4", "memfd_create", "mmap",
    "munmap", "mprotect", "mremap", "brk", "madvise", "msync", "membarrier", "mseal",
    "map_shadow_stack", "exit", "exit_group", "getpid", "getppid", "gettid", "getuid",
    "geteuid", "getgid", "getegid", "getgroups", "getresuid", "getresgid", "getpgrp",
    "getpgid", "getsid", "uname", "sysinfo", "getrlimit", "setrlimit", "getrusage", "times",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "getcpu", "sched_yield", "sched_get_priority_max", "sched_get_priority_min", "kill",
    "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
    "rt_sigtimedwait", "rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "sigaltstack", "pause", "alarm", "getitimer", "setitimer", "timer_create",
    "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete", "wait4", "waitid",
    "set_tid_address", "set_robust_list", "futex", "futex_waitv", "futex_wake",
    "futex_wait", "futex_requeue", "rseq", "arch_prctl", "prctl", "getrandom",
    "restart_syscall", "uretprobe", "uprobe",
)
# Allowed only on the calling process (pid argument 0): the rlimits and scheduling of
# others (e.g. the fork server's RLIMIT_NOFILE) stay out of reach, and so does what they
# would reveal about other processes.
SELF_ONLY = ("prlimit64", "sched_setaffinity", "sched_setscheduler", "sched_setparam",
             "sched_setattr", "sched_getaffinity", "sched_getscheduler", "sched_getparam",
             "sched_getattr", "sched_rr_get_interval")
PROCESS_CALLS = ("fork", "vfork", "execve", "execveat", "pidfd_open", "pidfd_send_signal")

# The highest syscall number each table knows (Linux 6.17/6.18: file_setattr). Anything
# above is a call this module has never reviewed: ENOSYS.
MAX_KNOWN = {"x86_64": 469, "aarch64": 469}

# The numbers of the calls named above (generated from the kernel's uapi headers:
# asm/unistd_64.h for x86_64, asm-generic/unistd.h for aarch64; numbers from 451 on,
# common to both, from the kernel's syscall tables). A name missing from an
# architecture's table does not exist there (aarch64 has no open, stat, fork...).
SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "read": 0, "write": 1, "open": 2, "close": 3, "stat": 4, "fstat": 5, "lstat": 6,
        "poll": 7, "lseek": 8, "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12,
        "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigreturn": 15, "ioctl": 16,
        "pread64": 17, "pwrite64": 18, "readv": 19, "writev": 20, "access": 21, "pipe": 22,
        "select": 23, "sched_yield": 24, "mremap": 25, "msync": 26, "madvise": 28, "dup": 32,
        "dup2": 33, "pause": 34, "nanosleep": 35, "getitimer": 36, "alarm": 37,
        "setitimer": 38, "getpid": 39, "sendfile": 40, "clone": 56, "fork": 57, "vfork": 58,
        "execve": 59, "exit": 60, "wait4": 61, "kill": 62, "uname": 63, "fcntl": 72,
        "flock": 73, "fsync": 74, "fdatasync": 75, "truncate": 76, "ftruncate": 77,
        "getdents": 78, "getcwd": 79, "chdir": 80, "fchdir": 81, "rename": 82, "mkdir": 83,
        "rmdir": 84, "creat": 85, "link": 86, "unlink": 87, "symlink": 88, "readlink": 89,
        "umask": 95, "gettimeofday": 96, "getrlimit": 97, "getrusage": 98, "sysinfo": 99,
        "times": 100, "getuid": 102, "getgid": 104, "geteuid": 107, "getegid": 108,
        "getppid": 110, "getpgrp": 111, "getgroups": 115, "getresuid": 118, "getresgid": 120,
        "getpgid": 121, "getsid": 124, "rt_sigpending": 127, "rt_sigtimedwait": 128,
        "rt_sigqueueinfo": 129, "rt_sigsuspend": 130, "sigaltstack": 131, "mknod": 133,
        "statfs": 137, "fstatfs": 138, "sched_setparam": 142, "sched_getparam": 143,
        "sched_setscheduler": 144, "sched_getscheduler": 145, "sched_get_priority_max": 146,
        "sched_get_priority_min": 147, "sched_rr_get_interval": 148, "prctl": 157,
        "arch_prctl": 158, "setrlimit": 160, "gettid": 186, "readahead": 187, "tkill": 200,
        "time": 201, "futex": 202, "sched_setaffinity": 203, "sched_getaffinity": 204,
        "epoll_create": 213, "getdents64": 217, "set_tid_address": 218, "restart_syscall": 219,
        "fadvise64": 221, "timer_create": 222, "timer_settime": 223, "timer_gettime": 224,
        "timer_getoverrun": 225, "timer_delete": 226, "clock_gettime": 228,
        "clock_getres": 229, "clock_nanosleep": 230, "exit_group": 231, "epoll_wait": 232,
        "epoll_ctl": 233, "tgkill": 234, "waitid": 247, "openat": 257, "mkdirat": 258,
        "mknodat": 259, "newfstatat": 262, "unlinkat": 263, "renameat": 264, "linkat": 265,
        "symlinkat": 266, "readlinkat": 267, "faccessat": 269, "pselect6": 270, "ppoll": 271,
        "set_robust_list": 273, "splice": 275, "tee": 276, "sync_file_range": 277,
        "epoll_pwait": 281, "signalfd": 282, "timerfd_create": 283, "eventfd": 284,
        "fallocate": 285, "timerfd_settime": 286, "timerfd_gettime": 287, "signalfd4": 289,
        "eventfd2": 290, "epoll_create1": 291, "dup3": 292, "pipe2": 293, "preadv": 295,
        "pwritev": 296, "rt_tgsigqueueinfo": 297, "prlimit64": 302, "getcpu": 309,
        "sched_setattr": 314, "sched_getattr": 315, "renameat2": 316, "getrandom": 318,
        "memfd_create": 319, "execveat": 322, "membarrier": 324, "copy_file_range": 326,
        "preadv2": 327, "pwritev2": 328, "statx": 332, "rseq": 334, "uretprobe": 335,
        "uprobe": 336, "pidfd_send_signal": 424, "pidfd_open": 434, "clone3": 435,
        "close_range": 436, "openat2": 437, "faccessat2": 439, "epoll_pwait2": 441,
        "futex_waitv": 449, "map_shadow_stack": 453, "futex_wake": 454, "futex_wait": 455,
        "futex_requeue": 456, "mseal": 462,
    },
    "aarch64": {
        "getcwd": 17, "eventfd2": 19, "epoll_create1": 20, "epoll_ctl": 21, "epoll_pwait": 22,
        "dup": 23, "dup3": 24, "fcntl": 25, "ioctl": 29, "flock": 32, "mknodat": 33,
        "mkdirat": 34, "unlinkat": 35, "symlinkat": 36, "linkat": 37, "renameat": 38,
        "statfs": 43, "fstatfs": 44, "truncate": 45, "ftruncate": 46, "fallocate": 47,
        "faccessat": 48, "chdir": 49, "fchdir": 50, "openat": 56, "close": 57, "pipe2": 59,
        "getdents64": 61, "lseek": 62, "read": 63, "write": 64, "readv": 65, "writev": 66,
        "pread64": 67, "pwrite64": 68, "preadv": 69, "pwritev": 70, "sendfile": 71,
        "pselect6": 72, "ppoll": 73, "signalfd4": 74, "splice": 76, "tee": 77,
        "readlinkat": 78, "newfstatat": 79, "fstat": 80, "fsync": 82, "fdatasync": 83,
        "sync_file_range": 84, "timerfd_create": 85, "timerfd_settime": 86,
        "timerfd_gettime": 87, "exit": 93, "exit_group": 94, "waitid": 95,
        "set_tid_address": 96, "futex": 98, "set_robust_list": 99, "nanosleep": 101,
        "getitimer": 102, "setitimer": 103, "timer_create": 107, "timer_gettime": 108,
        "timer_getoverrun": 109, "timer_settime": 110, "timer_delete": 111,
        "clock_gettime": 113, "clock_getres": 114, "clock_nanosleep": 115,
        "sched_setparam": 118, "sched_setscheduler": 119, "sched_getscheduler": 120,
        "sched_getparam": 121, "sched_setaffinity": 122, "sched_getaffinity": 123,
        "sched_yield": 124, "sched_get_priority_max": 125, "sched_get_priority_min": 126,
        "sched_rr_get_interval": 127, "restart_syscall": 128, "kill": 129, "tkill": 130,
        "tgkill": 131, "sigaltstack": 132, "rt_sigsuspend": 133, "rt_sigaction": 134,
        "rt_sigprocmask": 135, "rt_sigpending": 136, "rt_sigtimedwait": 137,
        "rt_sigqueueinfo": 138, "rt_sigreturn": 139, "getresuid": 148, "getresgid": 150,
        "times": 153, "getpgid": 155, "getsid": 156, "getgroups": 158, "uname": 160,
        "getrlimit": 163, "setrlimit": 164, "getrusage": 165, "umask": 166, "prctl": 167,
        "getcpu": 168, "gettimeofday": 169, "getpid": 172, "getppid": 173, "getuid": 174,
        "geteuid": 175, "getgid": 176, "getegid": 177, "gettid": 178, "sysinfo": 179,
        "readahead": 213, "brk": 214, "munmap": 215, "mremap": 216, "clone": 220,
        "execve": 221, "mmap": 222, "fadvise64": 223, "mprotect": 226, "msync": 227,
        "madvise": 233, "rt_tgsigqueueinfo": 240, "wait4": 260, "prlimit64": 261,
        "sched_setattr": 274, "sched_getattr": 275, "renameat2": 276, "getrandom": 278,
        "memfd_create": 279, "execveat": 281, "membarrier": 283, "copy_file_range": 285,
        "preadv2": 286, "pwritev2": 287, "statx": 291, "rseq": 293, "pidfd_send_signal": 424,
        "pidfd_open": 434, "clone3": 435, "close_range": 436, "openat2": 437,
        "faccessat2": 439, "epoll_pwait2": 441, "futex_waitv": 449, "map_shadow_stack": 453,
        "futex_wake": 454, "futex_wait": 455, "futex_requeue": 456, "mseal": 462,
    },
}


def _stmt(code: int, k: int) -> bytes:
    return struct.pack("HBBI", code, 0, 0, k & 0xFFFFFFFF)


def _jump(code: int, k: int, jt: int, jf: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


def supported(machine: str = kernel.MACHINE) -> bool:
    return machine in SYSCALLS


def build_filter(
    allow_threads: bool, allow_processes: bool, machine: str = kernel.MACHINE,
    table: dict[str, int] | None = None,
) -> bytes:
    """The BPF program (bytes of ``struct sock_filter``) for one run's policy.

    ``table``: the names and numbers to allow (default: this module's table for
    ``machine``); everything else is denied.
    """
    table = SYSCALLS[machine] if table is None else table
    allow, eperm = [_stmt(RET_K, RET_ALLOW)], [_stmt(RET_K, RET_ERRNO | EPERM)]
    rules: dict[int, list[bytes]] = {}
    names = [*ALLOWED, *(PROCESS_CALLS if allow_processes else ())]
    for name in names:
        if name in table:
            rules[table[name]] = allow
    # clone(flags, ...): flags are argument 0 (low word at offset 16)
    rules[table["clone"]] = [
        _stmt(LD_W_ABS, 16),
        _jump(JSET_K, CLONE_NS_FLAGS, 0, 1),
        _stmt(RET_K, RET_KILL_PROCESS),
        _jump(JSET_K, CLONE_THREAD, 0, 1),
        (allow if allow_threads else eperm)[0],
        (allow if allow_processes else eperm)[0],
    ]
    rules[table["clone3"]] = [_stmt(RET_K, RET_ERRNO | ENOSYS)]
    # ioctl(fd, cmd) and fcntl(fd, cmd): cmd is argument 1 (low word at offset 24: the
    # kernel takes it as an unsigned int)
    rules[table["ioctl"]] = _one_of(24, ALLOWED_IOCTLS)
    rules[table["fcntl"]] = _one_of(24, ALLOWED_FCNTLS)
    for name in SELF_ONLY:  # pid is argument 0 (low word at offset 16): 0 means this process
        rules[table[name]] = [_stmt(LD_W_ABS, 16), _jump(JEQ_K, 0, 0, 1), *allow, *eperm]
    prog: list[bytes] = [
        _stmt(LD_W_ABS, 4),
        _jump(JEQ_K, AUDIT_ARCH[machine], 1, 0),
        _stmt(RET_K, RET_KILL_PROCESS),
        _stmt(LD_W_ABS, 0),
    ]
    if machine == "x86_64":
        prog += [_jump(JGE_K, 0x40000000, 0, 1), _stmt(RET_K, RET_KILL_PROCESS)]
    highest = max(MAX_KNOWN[machine], *table.values())
    prog += [_jump(JGE_K, highest + 1, 0, 1), _stmt(RET_K, RET_ERRNO | ENOSYS)]
    return b"".join(prog + _search(_segments(rules), eperm[0]))


def _one_of(offset: int, values: tuple[int, ...]) -> list[bytes]:
    """ALLOW if the argument word at ``offset`` is one of ``values``, else EPERM."""
    code = [_stmt(LD_W_ABS, offset)]
    for i, value in enumerate(values):
        code.append(_jump(JEQ_K, value, len(values) - i, 0))
    return [*code, _stmt(RET_K, RET_ERRNO | EPERM), _stmt(RET_K, RET_ALLOW)]


def _segments(rules: dict[int, list[bytes]]) -> list[tuple[int, int, list[bytes]]]:
    """``rules`` as sorted ``(first, last, code)`` ranges: consecutive numbers with the
    same rule (most allowed calls come in runs: read..access, the signal, timer and
    *at families) become one range, which shortens the program by a half."""
    out: list[tuple[int, int, list[bytes]]] = []
    for nr in sorted(rules):
        body = rules[nr]
        if out and out[-1][1] == nr - 1 and out[-1][2] == body:
            out[-1] = (out[-1][0], nr, body)
        else:
            out.append((nr, nr, body))
    return out


def _search(segments: list[tuple[int, int, list[bytes]]], default: bytes) -> list[bytes]:
    """Code that runs a range's code when the syscall number (in A) is in it, and runs
    ``default`` otherwise: a binary search over the ranges down to runs of three."""
    if len(segments) <= 3:
        code: list[bytes] = []
        for first, last, body in segments:
            if first == last:
                code += [_jump(JEQ_K, first, 0, len(body)), *body]
            else:  # first <= A <= last: A >= first, and not A >= last + 1
                code += [_jump(JGE_K, first, 0, len(body) + 1),
                         _jump(JGE_K, last + 1, len(body), 0), *body]
        return [*code, default]
    mid = len(segments) // 2
    low, high = _search(segments[:mid], default), _search(segments[mid:], default)
    pivot = segments[mid][0]
    if len(low) <= 255:  # a conditional jump's offsets are 8 bits
        return [_jump(JGE_K, pivot, len(low), 0), *low, *high]
    return [_jump(JGE_K, pivot, 0, 1), _stmt(JA, len(low)), *low, *high]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Prepared:
    """A filter laid out in memory once (in the fork server); children only load it."""

    def __init__(self, program: bytes) -> None:
        self.buf = ctypes.create_string_buffer(program, len(program))
        self.prog = _SockFprog(len(program) // 8, ctypes.addressof(self.buf))
        self.address = ctypes.addressof(self.prog)

    def install(self) -> None:
        """Load the filter into this thread (no_new_privs must already be set)."""
        kernel.prctl_ptr(kernel.PR_SET_SECCOMP, kernel.SECCOMP_MODE_FILTER, self.address)


def install(program: bytes) -> None:
    Prepared(program).install()

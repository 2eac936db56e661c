"""Isolation: what the fork server sets up once, and what each forked child does to itself.

Once per fork server (:func:`setup_server`, :func:`make_context`): private mount, IPC
and network namespaces (no interface is up, so no packet can leave even if a socket
existed), a read-only tmpfs on ``/tmp`` holding the scratch mount point, a pid
namespace for the runs with its own ``/proc`` (:func:`start_pid_namespace`), a memory
cgroup the server joins (:func:`join_memory_cgroup`) and a pids cgroup when available,
and the Landlock ruleset (read-only interpreter libraries, read-write scratch, no TCP,
scoped signals and abstract unix sockets).

Once per run, by the server: a fresh tmpfs for the scratch (:func:`fresh_scratch`).

Once per program, in the freshly forked child (:func:`confine`), in this order:
parent-death signal; no capabilities; new session; pids cgroup (if threads/processes
are allowed); OOM score; the run's tmpfs as working directory; rlimits; Landlock
enforced; stdio on /dev/null and every other inherited descriptor closed; the seccomp
allow-list last.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import select
import signal
import struct
import sys
from collections.abc import Iterable
from typing import Any, NamedTuple

from rewardlab.sandbox import kernel, landlock, seccomp
from rewardlab.sandbox.limits import Limits

MIN_LANDLOCK_ABI = 6  # filesystem + TCP + scoped signals/abstract sockets (Linux 6.12+)
SCRATCH_BASE = "/tmp"
SCRATCH = f"{SCRATCH_BASE}/run"  # the runs' working directory (one run at a time per server)
_SCRATCH_FLAGS = kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC
CHANNEL_IN = 3
CHANNEL_OUT = 4


class Features:
    """What the kernel offers, and what is missing for a safe sandbox.

    Plain classes, not dataclasses, in every module the fork server loads: the
    ``dataclasses`` module brings ``inspect``, ``ast`` and ``dis`` (1.4 MB) into the
    server, whose size every fork and every exit pays for.
    """

    def __init__(self, landlock_abi: int = 0) -> None:
        self.landlock_abi = landlock_abi
        self.seccomp = False
        self.namespaces = False
        self.pids_cgroup: str | None = None
        self.memory_cgroup: str | None = None
        self.missing: list[str] = []

    def as_dict(self) -> dict[str, Any]:
        return {
            "landlock_abi": self.landlock_abi,
            "seccomp": self.seccomp,
            "namespaces": self.namespaces,
            "pids_cgroup": self.pids_cgroup,
            "memory_cgroup": self.memory_cgroup,
            "missing": list(self.missing),
        }


def probe_static(min_abi: int = MIN_LANDLOCK_ABI) -> Features:
    """Landlock and seccomp support, checked without changing this process."""
    feats = Features(landlock_abi=landlock.abi_version())
    if feats.landlock_abi < max(min_abi, MIN_LANDLOCK_ABI):
        feats.missing.append(
            f"Landlock ABI >= {max(min_abi, MIN_LANDLOCK_ABI)} (kernel reports {feats.landlock_abi}): needs "
            "Linux 6.12+ with CONFIG_SECURITY_LANDLOCK=y and 'landlock' in the lsm= boot list"
        )
    feats.seccomp = seccomp.supported() and os.path.exists("/proc/sys/kernel/seccomp")
    if not feats.seccomp:
        feats.missing.append(
            f"seccomp-BPF filters for this architecture ({kernel.MACHINE}): needs "
            "CONFIG_SECCOMP_FILTER=y on x86_64 or aarch64"
        )
    return feats


def setup_server(feats: Features) -> None:
    """Namespaces, scratch tmpfs, cgroups: run once in the fork server."""
    # No parent-death signal here: it fires when the *thread* that started the server
    # exits. The server exits on EOF of its stdin instead (the caller is gone).
    flags = kernel.CLONE_NEWNS | kernel.CLONE_NEWNET | kernel.CLONE_NEWIPC
    try:
        try:
            kernel.unshare(flags)
        except PermissionError:
            _own_user_namespace(flags)
        kernel.mount(None, "/", None, kernel.MS_REC | kernel.MS_PRIVATE)
        # holds SCRATCH's directory only (read-only once it exists); each run gets its
        # own tmpfs on SCRATCH (fresh_scratch)
        kernel.mount("rewardlab-scratch", SCRATCH_BASE, "tmpfs", _SCRATCH_FLAGS,
                     "size=1m,nr_inodes=64,mode=0700")
        feats.namespaces = True
    except OSError as exc:
        feats.missing.append(
            f"mount + network namespaces ({exc.strerror}): run as root, or enable "
            "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 / "
            "kernel.apparmor_restrict_unprivileged_userns=0)"
        )
    feats.pids_cgroup = _make_cgroup(
        ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"), "pids.max")
    feats.memory_cgroup = _make_memory_cgroup()


def _own_user_namespace(flags: int) -> None:
    """Without privileges: the namespaces inside a new user namespace where we are root
    (our own uid and gid mapped to 0, the one mapping that needs no privilege). Without
    the mapping our uid is unmapped there and no file can be created (EOVERFLOW)."""
    uid, gid = os.getuid(), os.getgid()
    kernel.unshare(flags | kernel.CLONE_NEWUSER)
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _make_cgroup(bases: Iterable[str], control: str) -> str | None:
    """A private cgroup for this server's children under the first base directory where
    one can be made and has the ``control`` file (its controller is enabled), or None."""
    for root in bases:
        _sweep_stale(root)
        path = os.path.join(root, f"rewardlab-{os.getpid()}")
        try:
            os.mkdir(path, 0o700)
        except OSError:
            continue
        if os.path.exists(os.path.join(path, control)):
            return path
        os.rmdir(path)
    return None


def _make_memory_cgroup() -> str | None:
    """A memory cgroup for the runs: nested in the server's own (cgroup v1, or v2 where
    the memory controller is delegated there), else at the root of the v2 hierarchy.
    Nested first, so that the limits of whoever started us still hold."""
    own: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, where = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                own[name] = where
    bases = []
    if "memory" in own:  # v1
        bases.append(f"/sys/fs/cgroup/memory{own['memory']}".rstrip("/"))
    for root in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):  # v2
        bases += [f"{root}{own.get('', '/')}".rstrip("/"), root]
    for control in ("memory.limit_in_bytes", "memory.max"):
        path = _make_cgroup(dict.fromkeys(bases), control)
        if path is not None:
            _write(path, "memory.swap.max", "0")  # v2: nothing of a run goes to swap
            _write(path, "memory.oom.group", "1")  # v2: an OOM kill ends the whole run
            return path
    return None


def _write(cgroup: str, name: str, value: str) -> bool:
    """Write a cgroup control file if this cgroup version has it; False if it failed."""
    try:
        with open(os.path.join(cgroup, name), "w") as f:
            f.write(value)
    except OSError:
        return False
    return True


def memory_limit_bytes(limits: Limits, ctx: ServerContext) -> int:
    """What a run's memory cgroup may hold: ``memory_mb``, plus what the copy-on-write
    image of the server may cost it (its resident size) and 16 MiB for the kernel's own
    objects (page tables, stacks); each allowed process may copy the image again and
    each allowed task gets a stack (8 MiB, as in RLIMIT_AS)."""
    mb = 1 << 20
    tasks = limits.max_threads + limits.max_processes
    return ((limits.memory_mb + 16 + 8 * tasks) * mb
            + (1 + limits.max_processes) * ctx.baseline_rss)


def set_memory_limit(cgroup: str, nbytes: int, previous: int) -> None:
    """v1: memory.limit_in_bytes, and memory.memsw.limit_in_bytes (memory + swap, which
    must stay >= the former: raised first, lowered last); v2: memory.max."""
    if os.path.exists(os.path.join(cgroup, "memory.max")):
        if not _write(cgroup, "memory.max", str(nbytes)):
            raise OSError(f"cannot set memory.max of {cgroup}")
        return
    names = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    if nbytes > previous:
        names.reverse()
    for name in names:
        if not _write(cgroup, name, str(nbytes)) and name == "memory.limit_in_bytes":
            raise OSError(f"cannot set {name} of {cgroup}")


def oom_kills(cgroup: str | None) -> int:
    """How many processes the kernel's OOM killer has killed in this memory cgroup
    (v1 ``memory.oom_control``, v2 ``memory.events``); -1 if unknown."""
    if cgroup is None:
        return -1
    for name in ("memory.events", "memory.oom_control"):
        try:
            with open(os.path.join(cgroup, name)) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            continue
    return -1


def _sweep_stale(root: str) -> None:
    """Remove empty cgroups left by fork servers that were killed."""
    try:
        names = [n for n in os.listdir(root) if n.startswith("rewardlab-")]
    except OSError:
        return
    for name in names:
        pid = name.split("-", 1)[1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(root, name))


def remove_cgroup(path: str | None) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.rmdir(path)


def cgroup_pids(path: str) -> list[int]:
    with open(os.path.join(path, "cgroup.procs")) as f:
        return [int(x) for x in f.read().split()]


class ServerContext:
    """Descriptors and programs the server prepares once and every child reuses."""

    def __init__(self, abi: int, devnull: int, baseline_vsz: int, baseline_rss: int,
                 feats: Features, is_root: bool) -> None:
        self.abi = abi
        self.devnull = devnull
        self.baseline_vsz = baseline_vsz
        self.baseline_rss = baseline_rss
        self.pids_cgroup = feats.pids_cgroup
        self.memory_cgroup = feats.memory_cgroup
        self.is_root = is_root
        # cgroup.procs of each cgroup, open for writing: a child joins with one write
        self.pids_procs = _open_procs(self.pids_cgroup)
        self.memory_procs = _open_procs(self.memory_cgroup)
        self.cgroup_limits = (-1, -1)  # the pids.max and memory limit last written
        self.filters: dict[tuple[bool, bool], seccomp.Prepared] = {}
        # the Landlock ruleset every child enforces (built once: the read-only roots,
        # the devices, and read-write the one scratch directory, emptied after each run)
        self.ruleset_fd = -1
        # O_PATH descriptor of SCRATCH_BASE, the read-only tmpfs that holds SCRATCH's
        # directory: the rule names it (Landlock ignores rules on covered mount points)
        self.scratch_fd = -1
        self.scratch_bottom = -1  # the lowest stacked scratch tmpfs's root, open
        self.scratch_mounts = 0  # scratch tmpfs mounts stacked on SCRATCH
        self.scratch_top = -1  # the top one's root, open: the next run works there
        self.scratch_options: dict[str, str] = {}
        self.scratch_next = -1  # the next run's tmpfs, made but not mounted yet
        self.scratch_dir = -1  # SCRATCH's directory on the read-only /tmp (O_PATH)
        self.pid_init = -1  # host pid of the init of the runs' pid namespace
        self.pid_init_life = -1  # the init exits when this pipe end is closed (we exit)
        # a child checks the server is alive after setting its parent-death signal
        # (getppid() cannot tell: our children's parent is outside their pid namespace
        # both while we live and once they are orphans)
        self.server_pidfd = os.pidfd_open(os.getpid())
        self.no_caps = kernel.CapSet(0)
        self.last_plan: tuple[Limits, Plan] | None = None  # the last run's limits and plan

    def seccomp_program(self, threads: bool, processes: bool) -> seccomp.Prepared:
        key = (threads, processes)
        if key not in self.filters:
            self.filters[key] = seccomp.Prepared(seccomp.build_filter(threads, processes))
        return self.filters[key]


def _open_procs(cgroup: str | None) -> int:
    if cgroup is None:
        return -1
    return os.open(os.path.join(cgroup, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)


def read_only_roots() -> list[str]:
    """Directories the program may read: the interpreter's libraries and system libraries.

    Deliberately not the current directory, the repository, home directories or /tmp:
    sample files with expected outputs may live there.
    """
    roots = {
        os.path.join(sys.base_prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}"),
        "/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/share/zoneinfo",
        "/etc/ld.so.cache", "/etc/localtime",
    }
    prefixes = (sys.prefix, sys.base_prefix, sys.exec_prefix)
    for entry in sys.path:
        if entry and os.path.isabs(entry) and entry.startswith(prefixes) and (
            "site-packages" in entry or "dist-packages" in entry or "lib-dynload" in entry
        ):
            roots.add(entry)
    return sorted(r for r in roots if os.path.exists(r))


def make_context(feats: Features, scratch_mb: int) -> ServerContext:
    read_fds = []
    for path in read_only_roots():
        read_fds.append((os.open(path, os.O_PATH | os.O_CLOEXEC), landlock.READ_EXEC))
    for dev in ("/dev/urandom", "/dev/random", "/dev/zero"):
        if os.path.exists(dev):
            read_fds.append((os.open(dev, os.O_PATH | os.O_CLOEXEC), landlock.FS_READ_FILE))
    rw = landlock.FS_READ_FILE | landlock.FS_WRITE_FILE
    read_fds.append((os.open("/dev/null", os.O_PATH | os.O_CLOEXEC), rw))
    with open("/proc/self/statm") as f:
        vsz, rss = (int(x) * os.sysconf("SC_PAGE_SIZE") for x in f.read().split()[:2])
    ctx = ServerContext(
        abi=feats.landlock_abi,
        devnull=os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC),
        baseline_vsz=vsz,
        baseline_rss=rss,
        feats=feats,
        is_root=os.geteuid() == 0,
    )
    os.mkdir(SCRATCH, 0o700)
    kernel.mount(None, SCRATCH_BASE, None, kernel.MS_REMOUNT | kernel.MS_RDONLY | _SCRATCH_FLAGS)
    ctx.scratch_fd = os.open(SCRATCH_BASE, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    ctx.scratch_options = {"size": f"{scratch_mb}m", "nr_inodes": "8192", "mode": "0700"}
    ctx.scratch_dir = os.open(SCRATCH, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    fresh_scratch(ctx)
    rules = [landlock.prepared_rule(fd, rights, ctx.abi) for fd, rights in read_fds]
    rules.append(landlock.prepared_rule(ctx.scratch_fd, landlock.handled_fs(ctx.abi), ctx.abi))
    ctx.ruleset_fd = kernel.syscall(kernel.NR_LANDLOCK_CREATE_RULESET, *landlock.ruleset_args(ctx.abi))
    for rule in rules:
        kernel.syscall(kernel.NR_LANDLOCK_ADD_RULE, ctx.ruleset_fd, landlock.RULE_PATH_BENEATH,
                       ctypes.byref(rule), 0)
    for fd, _ in read_fds:  # the ruleset holds what they name
        os.close(fd)
    for threads in (False, True):
        for processes in (False, True):
            ctx.seccomp_program(threads, processes)
    # the host's /proc stays our working directory: the scratch reset names the lowest
    # scratch mount by a path relative to it (the runs' /proc is their namespace's)
    os.chdir("/proc")
    ctx.pid_init, ctx.pid_init_life = start_pid_namespace()
    if ctx.memory_procs >= 0:
        join_memory_cgroup(ctx)
    return ctx


def harden_server() -> None:
    """Once, after setup: no_new_privs for the server and every child, and no capability
    but CAP_SYS_ADMIN, which the server needs to mount each run's scratch tmpfs (in its
    own mount namespace). Each child empties its sets first thing (:func:`confine`).
    """
    kernel.drop_capabilities(keep=(kernel.CAP_SYS_ADMIN,))
    kernel.prctl(kernel.PR_SET_NO_NEW_PRIVS, 1)


# How many scratch tmpfs mounts may stack up before they are all detached at once.
MAX_STACKED_SCRATCH = 16


def fresh_scratch(ctx: ServerContext) -> None:
    """Server side, once a run's processes are all dead: a new, empty tmpfs for the next
    run on SCRATCH, so that nothing the last run did is observable (entries, the
    directory's times, inode numbers, free space). Every run gets one, whatever the last
    run did: reusing an untouched tmpfs would tell the next run whether the last one
    touched it (its root's ctime, its inode numbers).

    The new tmpfs is mounted on top of the last one (``noatime``: listing it changes
    nothing). An unmount costs more (it waits for an RCU grace period: 50 us to
    milliseconds on a busy machine), so the covered ones, out of reach of any path, are
    detached together every MAX_STACKED_SCRATCH runs, or at once when a run left
    something (its pages count against the memory cgroup). A detach frees whatever is
    there, however deep, locked or large, without walking it.
    """
    if ctx.scratch_mounts and (ctx.scratch_mounts >= MAX_STACKED_SCRATCH
                               or os.listdir(ctx.scratch_top)):
        # the lowest mount, by a path relative to our working directory (the host's
        # /proc): detaching it detaches every mount stacked on it
        kernel.umount2(f"self/fd/{ctx.scratch_bottom}", kernel.MNT_DETACH)
        os.close(ctx.scratch_bottom)
        ctx.scratch_mounts = 0
    prepare_scratch(ctx)
    # on the top one by descriptors: a path would walk every mount of the stack
    fresh, ctx.scratch_next = ctx.scratch_next, -1
    kernel.attach_on(fresh, ctx.scratch_top if ctx.scratch_mounts else ctx.scratch_dir)
    if ctx.scratch_top >= 0:
        os.close(ctx.scratch_top)
    ctx.scratch_top = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fresh)
    os.close(fresh)
    if ctx.scratch_mounts == 0:
        ctx.scratch_bottom = os.dup(ctx.scratch_top)
    ctx.scratch_mounts += 1


def prepare_scratch(ctx: ServerContext) -> None:
    """Make the next run's tmpfs now, detached (no path reaches it, the running program
    included), so that :func:`fresh_scratch` only attaches it: the server calls this
    when a run begins, off the caller's path."""
    if ctx.scratch_next < 0:
        attrs = (kernel.MOUNT_ATTR_NOSUID | kernel.MOUNT_ATTR_NODEV | kernel.MOUNT_ATTR_NOEXEC
                 | kernel.MOUNT_ATTR_NOATIME)
        ctx.scratch_next = kernel.detached_tmpfs(ctx.scratch_options, attrs)


def join_memory_cgroup(ctx: ServerContext) -> None:
    """Put the server itself in the runs' memory cgroup, so that every child starts in
    it (moving each child would cost a cgroup migration per run: 30 to 100 us here).
    What the server already holds stays charged where it was; what a child copies or
    allocates is charged here. Each child sets its OOM score adjustment to 1000, the
    most, so the kernel's OOM killer picks a run's process, never the server (whose
    score cannot go below 0 without CAP_SYS_RESOURCE, which some hosts withhold)."""
    os.write(ctx.memory_procs, b"0")


def start_pid_namespace() -> tuple[int, int]:
    """A pid namespace for the runs, with its own /proc: a run sees only its own
    namespace's processes (not the caller's or the host's pids, not even by ``stat`` of
    ``/proc/<pid>`` or ``kill(pid, 0)``), and its parent's pid reads as 0.

    A namespace dies with its first process (its init), so that is a small process of
    its own: forked by a helper that exits at once (so the init is not our child; it is
    nobody's business but the kernel's), it mounts the namespace's procfs on /proc,
    reaps the orphans of runs that may fork, and exits when we are gone (EOF on a pipe
    only we hold), which kills every process of the namespace. Then our own children go
    into that namespace (``setns``). Returns the init's host pid and the pipe end we
    keep (its only holder besides children that have not closed it yet).
    """
    ready_r, ready_w = os.pipe()
    life_r, life_w = os.pipe()
    helper = os.fork()
    if helper == 0:
        try:
            kernel.unshare(kernel.CLONE_NEWPID)
            mounted_r, mounted_w = os.pipe()
            init = os.fork()
            if init == 0:
                _pid_init(life_r, mounted_w)
            os.close(mounted_w)
            ok = os.read(mounted_r, 1) == b"R"
            os.write(ready_w, struct.pack("i", init if ok else -1))
        finally:
            os._exit(0)
    os.close(life_r)
    os.close(ready_w)
    os.waitpid(helper, 0)
    data = os.read(ready_r, 4)
    os.close(ready_r)
    init = struct.unpack("i", data)[0] if len(data) == 4 else -1
    if init <= 0:
        raise OSError("could not start the pid namespace's init")
    pidfd = os.pidfd_open(init)
    try:
        kernel.setns(pidfd, kernel.CLONE_NEWPID)
    finally:
        os.close(pidfd)
    return init, life_w


def _pid_init(life_r: int, mounted_w: int) -> None:
    """The init of the runs' pid namespace (see :func:`start_pid_namespace`)."""
    try:
        for fd in range(3, 1 << 16):
            if fd not in (life_r, mounted_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
        flags = kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC
        try:
            kernel.mount("proc", "/proc", "proc", flags)
            os.write(mounted_w, b"R")
        except OSError:
            os.write(mounted_w, b"E")
            os._exit(1)
        os.close(mounted_w)

        def reap(_signum: int, _frame: Any) -> None:
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass

        signal.signal(signal.SIGCHLD, reap)
        while os.read(life_r, 1):
            pass
    finally:
        os._exit(0)


def _rlimits(limits: Limits, ctx: ServerContext) -> list[tuple[int, tuple[int, int]]]:
    mb = 1 << 20
    address_space = ctx.baseline_vsz + limits.memory_mb * mb
    address_space += (limits.max_threads + limits.max_processes) * 8 * mb  # thread stacks
    pairs = {
        resource.RLIMIT_AS: address_space,
        resource.RLIMIT_CPU: (limits.cpu_s, limits.cpu_s + 1),
        resource.RLIMIT_FSIZE: max(limits.file_size_mb, limits.output_mb + 1) * mb,
        resource.RLIMIT_NOFILE: limits.open_files,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_MEMLOCK: 0,
        resource.RLIMIT_MSGQUEUE: 0,
        resource.RLIMIT_STACK: 64 * mb,
    }
    if not ctx.is_root:  # RLIMIT_NPROC is never enforced for uid 0; the cgroup bounds it
        pairs[resource.RLIMIT_NPROC] = 0 if limits.max_threads + limits.max_processes == 0 else (
            limits.max_threads + limits.max_processes + 1
        )
    return [(res, value if isinstance(value, tuple) else (value, value))
            for res, value in pairs.items()]


def set_cgroup_limits(ctx: ServerContext, limits: Limits) -> None:
    """Server side, before the fork: the task count and memory the next run may reach
    (written only when they change; the cgroups are empty between runs)."""
    tasks = 1 + limits.max_threads + limits.max_processes
    memory = memory_limit_bytes(limits, ctx) if ctx.memory_cgroup else -1
    if (tasks, memory) == ctx.cgroup_limits:
        return
    if ctx.pids_cgroup is not None and tasks != ctx.cgroup_limits[0]:
        with open(os.path.join(ctx.pids_cgroup, "pids.max"), "w") as f:
            f.write(str(tasks))
    if ctx.memory_cgroup is not None and memory != ctx.cgroup_limits[1]:
        set_memory_limit(ctx.memory_cgroup, memory, ctx.cgroup_limits[1])
    ctx.cgroup_limits = (tasks, memory)


class Plan(NamedTuple):
    """Everything one child needs to confine itself, prepared by the server before the
    fork: after it, every page the child writes (Python writes on every object it
    touches) is copied for that child, so the child only makes system calls."""

    rlimits: list[tuple[int, tuple[int, int]]]
    join_cgroups: tuple[int, ...]  # cgroup.procs of the pids cgroup, if tasks are allowed
    seccomp: seccomp.Prepared


def plan(ctx: ServerContext, limits: Limits) -> Plan:
    """Server side, before each fork: built once per Limits object (the server keeps one
    per distinct run frame), so consecutive runs reuse it; the cgroups' limits are set
    when it is built."""
    if ctx.last_plan is None or ctx.last_plan[0] is not limits:
        set_cgroup_limits(ctx, limits)
        tasks = limits.max_threads or limits.max_processes  # otherwise seccomp forbids them
        join = (ctx.pids_procs,) if tasks and ctx.pids_procs >= 0 else ()
        ctx.last_plan = limits, Plan(
            _rlimits(limits, ctx),
            join,
            ctx.seccomp_program(limits.max_threads > 0, limits.max_processes > 0),
        )
    return ctx.last_plan[1]


def confine(ctx: ServerContext, plan: Plan, ch_in: int, ch_out: int) -> None:
    """Restrict the current (freshly forked, single-threaded) process. Irreversible.

    Only system calls on arguments prepared before the fork (see :class:`Plan`).
    """
    kernel.prctl(kernel.PR_SET_PDEATHSIG, signal.SIGKILL)  # first: the rest may be slow
    if select.select([ctx.server_pidfd], [], [], 0)[0]:  # readable: the server has exited
        os._exit(70)
    ctx.no_caps.apply()  # the server keeps CAP_SYS_ADMIN; a run has no capability
    os.setsid()
    for fd in plan.join_cgroups:  # "0": this process
        os.write(fd, b"0")
    if ctx.memory_procs >= 0:  # the OOM victim is the run (join_memory_cgroup)
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        os.write(fd, b"1000")
        os.close(fd)
    os.fchdir(ctx.scratch_top)  # the run's own tmpfs (fresh_scratch)
    setrlimit = resource.setrlimit
    for res, pair in plan.rlimits:
        setrlimit(res, pair)
    # no_new_privs was set once in the server (harden_server)
    kernel.syscall(kernel.NR_LANDLOCK_RESTRICT_SELF, ctx.ruleset_fd, 0)
    # descriptors: stdio on /dev/null, the channel on 3 and 4, nothing else
    tmp_in, tmp_out = os.dup(ch_in), os.dup(ch_out)
    for target in (0, 1, 2):
        os.dup2(ctx.devnull, target)
    os.dup2(tmp_in, CHANNEL_IN)
    os.dup2(tmp_out, CHANNEL_OUT)
    os.closerange(CHANNEL_OUT + 1, 1 << 20)
    # the environment is the fork server's, already scrubbed by the caller (see pool.py)
    plan.seccomp.install()

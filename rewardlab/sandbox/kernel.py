"""Thin ctypes wrappers over the Linux calls the sandbox uses (prctl, landlock, mount, capset).

Only raw system calls live here; policy lives in :mod:`landlock`, :mod:`seccomp` and
:mod:`isolation`. Every wrapper raises ``OSError`` with the errno on failure.
"""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.mount.argtypes = [
    ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p
]

MACHINE = os.uname().machine

# Landlock syscalls have the same numbers on every architecture (generic table).
NR_LANDLOCK_CREATE_RULESET = 444
NR_LANDLOCK_ADD_RULE = 445
NR_LANDLOCK_RESTRICT_SELF = 446
NR_CAPSET = {"x86_64": 126, "aarch64": 91}.get(MACHINE, -1)

PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
# the new mount API (Linux 5.2+; the same numbers on every architecture)
NR_MOVE_MOUNT, NR_FSOPEN, NR_FSCONFIG, NR_FSMOUNT = 429, 430, 431, 432
FSCONFIG_SET_STRING, FSCONFIG_CMD_CREATE = 1, 6
MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOATIME = 2, 4, 8, 0x10
MOVE_MOUNT_F_EMPTY_PATH, MOVE_MOUNT_T_EMPTY_PATH = 4, 0x40
CAP_SYS_ADMIN = 21


def _check(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def syscall(nr: int, *args: object) -> int:
    """Raw ``syscall(2)``; raises OSError on a negative return."""
    return _check(int(_libc.syscall(nr, *args)))


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    return _check(int(_libc.prctl(option, a2, a3, a4, a5)))


def prctl_ptr(option: int, a2: int, ptr: ctypes.c_void_p | int) -> int:
    """prctl whose third argument is a pointer (PR_SET_SECCOMP)."""
    fn = _libc.prctl
    return _check(int(fn(option, a2, ptr if isinstance(ptr, int) else ptr.value or 0, 0, 0)))


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags))


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype))


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(target.encode(), flags))


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        )
    )


def detached_tmpfs(options: dict[str, str], attrs: int) -> int:
    """A new tmpfs, mounted nowhere yet (``fsopen``/``fsconfig``/``fsmount``): the
    returned descriptor is its root, out of reach of any path until moved."""
    fs = syscall(NR_FSOPEN, b"tmpfs", 1)  # FSOPEN_CLOEXEC
    try:
        for key, value in options.items():
            syscall(NR_FSCONFIG, fs, FSCONFIG_SET_STRING, key.encode(), value.encode(), 0)
        syscall(NR_FSCONFIG, fs, FSCONFIG_CMD_CREATE, None, None, 0)
        return syscall(NR_FSMOUNT, fs, 1, attrs)  # FSMOUNT_CLOEXEC
    finally:
        os.close(fs)


def attach_on(mount_fd: int, target_fd: int) -> None:
    """Mount the detached mount ``mount_fd`` on top of what ``target_fd`` names."""
    syscall(NR_MOVE_MOUNT, mount_fd, b"", target_fd, b"",
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities(keep: tuple[int, ...] = ()) -> None:
    """Empty the bounding set and the effective/permitted/inheritable sets except the
    capabilities in ``keep`` (kept effective and permitted). No way back."""
    for cap in range(64):
        if cap in keep:
            continue
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError:
            break  # EINVAL past the last capability, or EPERM when already unprivileged
    mask = 0
    for cap in keep:
        mask |= 1 << cap
    CapSet(mask).apply()


class CapSet:
    """A ``capset`` call whose arguments are built once (in the fork server), so that a
    forked child only makes the system call: effective = permitted = ``mask``,
    inheritable empty. With no_new_privs an execve cannot bring anything back."""

    def __init__(self, mask: int) -> None:
        self.header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
        self.data = (_CapData * 2)()
        for i in (0, 1):
            word = (mask >> (32 * i)) & 0xFFFFFFFF
            self.data[i].effective = self.data[i].permitted = word
        self.args = (NR_CAPSET, ctypes.byref(self.header), ctypes.byref(self.data))

    def apply(self) -> None:
        syscall(*self.args)

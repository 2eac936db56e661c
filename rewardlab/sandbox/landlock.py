"""Landlock: filesystem, TCP and scope (signal, abstract unix socket) restrictions.

The ruleset handles every access right the running kernel knows (by ABI version), so
anything not explicitly granted is denied: read-only access to the interpreter's
library directories, full access to the run's scratch directory, nothing else.
"""

from __future__ import annotations

import ctypes
import os
import stat
from typing import Any

from rewardlab.sandbox import kernel

# Filesystem rights, by the ABI that introduced them.
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5

NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

RULE_PATH_BENEATH = 1
CREATE_RULESET_VERSION = 1

READ = FS_READ_FILE | FS_READ_DIR
READ_EXEC = READ | FS_EXECUTE


def abi_version() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is absent or disabled."""
    try:
        return kernel.syscall(kernel.NR_LANDLOCK_CREATE_RULESET, None, 0, CREATE_RULESET_VERSION)
    except OSError:
        return 0


def handled_fs(abi: int) -> int:
    """Every filesystem right the given ABI knows."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _attr_size(abi: int) -> int:
    if abi >= 6:
        return 24
    if abi >= 4:
        return 16
    return 8


def ruleset_args(abi: int) -> tuple[Any, int, int]:
    """Arguments of ``landlock_create_ruleset`` for a ruleset denying all fs rights, TCP
    bind/connect (ABI>=4) and, ABI>=6, scoped IPC; built once, used by every child."""
    attr = _RulesetAttr(handled_fs(abi), 0, 0)
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    return ctypes.byref(attr), _attr_size(abi), 0


def rule_mask(path_fd: int, access: int, abi: int) -> int:
    """The rights to grant on ``path_fd``: only file rights make sense on a file."""
    mask = access & handled_fs(abi)
    if not _is_dir(path_fd):
        mask &= FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
    return mask


def prepared_rule(path_fd: int, access: int, abi: int) -> ctypes.Structure:
    """A rule built once (in the fork server) and added by each child."""
    return _PathBeneath(rule_mask(path_fd, access, abi), path_fd)


def _is_dir(fd: int) -> bool:
    return stat.S_ISDIR(os.fstat(fd).st_mode)

"""Per-run resource limits (plain data, sent from the caller to the fork server).

A plain class rather than a pydantic model or a dataclass on purpose: the fork server
imports this module, and every megabyte the server holds makes each fork slower.
"""

from __future__ import annotations

from typing import Any

_BOUNDS: dict[str, tuple[float, float]] = {
    "timeout": (0.001, 600), "run_timeout": (0.001, 3600), "cpu_s": (1, 3600),
    "memory_mb": (16, 65536), "max_threads": (0, 256), "max_processes": (0, 64),
    "open_files": (16, 4096), "file_size_mb": (1, 4096), "output_mb": (1, 1024),
}


class Limits:
    """Limits of one sandboxed run. All are enforced from outside the program.

    - ``timeout``: wall seconds per test (per request), enforced by the fork server.
    - ``run_timeout``: wall seconds for the whole run (all tests).
    - ``cpu_s``: CPU seconds for the whole run (RLIMIT_CPU: SIGXCPU, then SIGKILL).
    - ``memory_mb``: address space on top of the fork server's baseline (RLIMIT_AS).
    - ``max_threads`` / ``max_processes``: 0 forbids them (seccomp); otherwise the
      pids cgroup bounds the run to ``1 + max_threads + max_processes`` tasks.
    - ``open_files``: RLIMIT_NOFILE. ``file_size_mb``: RLIMIT_FSIZE.
    - ``output_mb``: captured stdout per case and the size of any channel frame.

    Immutable and hashable. Not a dataclass: ``dataclasses`` brings ``inspect``, ``ast``
    and ``dis`` (1.4 MB) into the fork server, whose size every fork pays for.

    >>> Limits(cpu_s=5) == Limits.from_dict(Limits(cpu_s=5).to_dict())
    True
    >>> Limits(timeout=0)
    Traceback (most recent call last):
    ...
    ValueError: limit 'timeout'=0 is outside [0.001, 600]
    """

    __slots__ = tuple(_BOUNDS)
    timeout: float
    run_timeout: float
    cpu_s: int
    memory_mb: int
    max_threads: int
    max_processes: int
    open_files: int
    file_size_mb: int
    output_mb: int

    def __init__(self, timeout: float = 3.0, run_timeout: float = 60.0, cpu_s: int = 30,
                 memory_mb: int = 512, max_threads: int = 0, max_processes: int = 0,
                 open_files: int = 64, file_size_mb: int = 16, output_mb: int = 8) -> None:
        values = (timeout, run_timeout, cpu_s, memory_mb, max_threads, max_processes,
                  open_files, file_size_mb, output_mb)
        for name, value in zip(_BOUNDS, values, strict=True):
            lo, hi = _BOUNDS[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"limit {name!r} must be a number, got {value!r}")
            if not lo <= value <= hi:
                raise ValueError(f"limit {name!r}={value!r} is outside [{lo}, {hi}]")
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Limits is immutable; build a new one (cannot set {name!r})")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _BOUNDS)

    def __eq__(self, other: object) -> bool:
        return type(other) is Limits and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "Limits(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in _BOUNDS) + ")"

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _BOUNDS}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Limits:
        return cls(**{k: v for k, v in d.items() if k in _BOUNDS})

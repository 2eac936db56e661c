"""Per-run resource limits (plain data, sent from the caller to the fork server).

A dataclass rather than a pydantic model on purpose: the fork server imports this
module, and every megabyte the server holds makes each fork slower.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

_BOUNDS: dict[str, tuple[float, float]] = {
    "timeout": (0.001, 600), "run_timeout": (0.001, 3600), "cpu_s": (1, 3600),
    "memory_mb": (16, 65536), "max_threads": (0, 256), "max_processes": (0, 64),
    "open_files": (16, 4096), "file_size_mb": (1, 4096), "output_mb": (1, 1024),
}


@dataclass(frozen=True)
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
    """

    timeout: float = 3.0
    run_timeout: float = 60.0
    cpu_s: int = 30
    memory_mb: int = 512
    max_threads: int = 0
    max_processes: int = 0
    open_files: int = 64
    file_size_mb: int = 16
    output_mb: int = 8

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            lo, hi = _BOUNDS[f.name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"limit {f.name!r} must be a number, got {value!r}")
            if not lo <= value <= hi:
                raise ValueError(f"limit {f.name!r}={value!r} is outside [{lo}, {hi}]")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Limits:
        return cls(**{k: v for k, v in d.items() if k in _BOUNDS})

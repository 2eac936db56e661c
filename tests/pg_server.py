"""A throwaway PostgreSQL server on loopback for the tests: initdb, start, stop.

Run as a non-root user (PostgreSQL refuses root): ``postgres`` when it exists, else
``nobody``. :func:`start` returns ``None`` and the reason when no server can be started
here (no binaries, no user to run it as); the tests then skip with that reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    port: int
    root: Path
    bindir: str
    user: str | None

    def url(self, role: str = "postgres", db: str = "postgres") -> str:
        return f"postgresql://{role}@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        _run(self, [f"{self.bindir}/pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)


def _bindir() -> str | None:
    found = shutil.which("pg_ctl") or shutil.which("initdb")
    if found:
        return str(Path(os.path.realpath(found)).parent)
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return dirs[-1] if dirs else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(server: Server, argv: list[str]) -> subprocess.CompletedProcess[str]:
    if server.user:
        argv = ["runuser", "-u", server.user, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        if subprocess.run(["id", name], capture_output=True, check=False).returncode == 0:
            return name
    raise RuntimeError("running as root and neither 'postgres' nor 'nobody' exists to run PostgreSQL")


def start() -> tuple[Server | None, str]:
    """Start a server on a free loopback port (trust authentication), or say why not."""
    bindir = _bindir()
    if bindir is None or not os.path.exists(f"{bindir}/initdb"):
        return None, "PostgreSQL is not installed (apt-get install postgresql; .ci/run does)"
    try:
        user = _user()
    except RuntimeError as exc:
        return None, str(exc)
    root = Path(tempfile.mkdtemp(prefix="rewardlab-pg-"))
    os.chmod(root, 0o777)
    server = Server(_free_port(), root, bindir, user)
    init = _run(server, [f"{bindir}/initdb", "-D", str(root / "data"), "-U", "postgres", "--auth=trust",
                         "--no-sync", "-E", "UTF8"])
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        return None, f"initdb failed: {init.stderr.strip()[-300:]}"
    opts = f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = _run(server, [f"{bindir}/pg_ctl", "-D", str(root / "data"), "-o", opts, "-l",
                            str(root / "log"), "-w", "-t", "60", "start"])
    if started.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else started.stderr
        shutil.rmtree(root, ignore_errors=True)
        return None, f"pg_ctl start failed: {log.strip()[-300:]}"
    _wait(server.port)
    return server, ""


def _wait(port: int, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)

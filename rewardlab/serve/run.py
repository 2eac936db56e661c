"""Run the server under uvicorn (what ``rewardlab serve`` calls)."""

from __future__ import annotations

import math
import socket
import sys
from pathlib import Path
from typing import Any, TextIO

from rewardlab.errors import RewardlabError, import_extra
from rewardlab.pipeline import Pipeline

SERVE_MODULES = ("fastapi", "uvicorn", "prometheus_client")  # what the serve extra installs and the server needs


def _say(stream: TextIO, text: str) -> None:
    print(f"rewardlab serve: {text}", file=stream, flush=True)


def _server_class(uvicorn: Any, spec: str) -> Any:
    """uvicorn's server, saying where it listens once bound and that it stopped once drained.

    uvicorn logs neither at the ``warning`` level the server runs at; the messages are
    printed from ``startup``/``shutdown`` because uvicorn re-raises SIGTERM after ``run``.
    """

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                host, port = self.servers[0].sockets[0].getsockname()[:2]
                shown = f"[{host}]" if ":" in host else host
                _say(sys.stderr, f"listening on http://{shown}:{port} (spec {spec}); "
                                 "Ctrl-C or SIGTERM stops it after in-flight requests finish")

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await super().shutdown(sockets)
            _say(sys.stderr, "stopped")

    return Server


def serve_forever(spec: str | Path, *, host: str = "127.0.0.1", port: int = 8000, graceful_timeout: float = 30.0,
                  **options: Any) -> None:
    """Validate the spec, then serve until SIGINT/SIGTERM; in-flight requests finish first."""
    for module in SERVE_MODULES:
        import_extra(module, "serve", "rewardlab serve")
    import uvicorn

    from rewardlab.serve.app import ServerConfig, create_app

    Pipeline.from_spec(spec).close()  # a bad spec fails here, with its message, before binding
    # Bind before the app and uvicorn's config exist: a taken port then fails with nothing
    # started (uvicorn's config binds its log handlers to the stderr of that moment).
    listener = _listen(host, port)
    try:
        app = create_app(ServerConfig(spec=spec, **options))
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                timeout_graceful_shutdown=math.ceil(graceful_timeout), access_log=False)
        _server_class(uvicorn, str(spec))(config).run(sockets=[listener])
    finally:
        listener.close()


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is a one-line error, not uvicorn's exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise RewardlabError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                             "choose another --port or --host") from None

"""Run the server under uvicorn (what ``rewardlab serve`` calls)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rewardlab.pipeline import Pipeline
from rewardlab.serve.app import ServerConfig, create_app


def serve_forever(spec: str | Path, *, host: str = "127.0.0.1", port: int = 8000, graceful_timeout: float = 30.0,
                  **options: Any) -> None:
    """Validate the spec, then serve until SIGINT/SIGTERM; in-flight requests finish first."""
    import uvicorn

    Pipeline.from_spec(spec).close()  # a bad spec fails here, with its message, before binding
    app = create_app(ServerConfig(spec=spec, **options))
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=math.ceil(graceful_timeout),
                access_log=False)

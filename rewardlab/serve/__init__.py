"""HTTP reward server: ``rewardlab serve --spec SPEC`` (see docs/serving.md).

``ServerConfig`` and ``create_app`` load lazily, so the scoring process (which imports
:mod:`rewardlab.serve.scoring`) does not import FastAPI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServerConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rewardlab.serve import app

        return getattr(app, name)
    raise AttributeError(f"module 'rewardlab.serve' has no attribute {name!r}")

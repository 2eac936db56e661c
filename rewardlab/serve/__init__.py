"""HTTP reward server: ``rewardlab serve --spec SPEC`` (see docs/serving.md)."""

from rewardlab.serve.app import ServerConfig, create_app

__all__ = ["ServerConfig", "create_app"]

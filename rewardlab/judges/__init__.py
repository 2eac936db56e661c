"""The judge client: every LLM call of rewardlab (see docs/judges.md)."""

from rewardlab.judges.client import ClientStats, JudgeClient, JudgeError, Reply
from rewardlab.judges.config import EndpointConfig

__all__ = ["ClientStats", "EndpointConfig", "JudgeClient", "JudgeError", "Reply"]

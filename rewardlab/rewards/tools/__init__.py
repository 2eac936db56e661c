"""Tool-call rewards: ``tools.call`` (BFCL possible answers, ToolRL terms) and ``tools.schema`` (JSON Schema)."""

from rewardlab.rewards.tools.reward import ToolCallReward, ToolSchemaReward

__all__ = ["ToolCallReward", "ToolSchemaReward"]

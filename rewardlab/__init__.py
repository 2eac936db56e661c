"""rewardlab: the reward layer for reinforcement learning."""

from rewardlab.core import BaseReward, CostClass, Reward, Sample, Score, Status
from rewardlab.errors import InputError, RewardlabError, SandboxUnavailable, SpecError

__all__ = [
    "BaseReward",
    "CostClass",
    "InputError",
    "Reward",
    "RewardlabError",
    "Sample",
    "SandboxUnavailable",
    "Score",
    "SpecError",
    "Status",
]
__version__ = "0.1.0"

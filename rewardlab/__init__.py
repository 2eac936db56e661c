"""rewardlab: the reward layer for reinforcement learning.

``rewardlab.Pipeline.from_spec(path_or_dict).run(samples)`` returns the results
table; ``rewardlab.get_reward(name, **params).score(samples)`` returns scores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rewardlab.core import BaseReward, CostClass, Reward, Sample, Score, Status
from rewardlab.errors import InputError, RewardlabError, SandboxUnavailable, SpecError

if TYPE_CHECKING:
    from rewardlab.pipeline import Pipeline


def get_reward(name: str, **params: Any) -> Any:
    """The registered reward ``name`` built with ``params`` (validated; errors name the key)."""
    from rewardlab.registry import create

    return create("reward", name, params)


def __getattr__(name: str) -> Any:
    if name == "Pipeline":  # imported lazily: pool workers import rewardlab too
        from rewardlab.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'rewardlab' has no attribute {name!r}")


__all__ = [
    "BaseReward",
    "CostClass",
    "InputError",
    "Pipeline",
    "Reward",
    "RewardlabError",
    "Sample",
    "SandboxUnavailable",
    "Score",
    "SpecError",
    "Status",
    "get_reward",
]
__version__ = "0.1.0"

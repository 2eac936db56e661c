"""Gymnasium reward wrappers: potential shaping, named terms, normalisation, intrinsic rewards.

Each wrapper has a single-environment form and a vector form (``Vector*``) that
give the same rewards on the same transitions (tests/test_envs_*.py check it);
the vector forms are numpy over the batch, with no Python loop over envs.
Needs the ``envs`` extra: ``pip install 'rewardlab[envs]'``.
"""

from __future__ import annotations

try:
    import gymnasium  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("rewardlab.envs needs gymnasium: pip install 'rewardlab[envs]'") from exc

from rewardlab.envs.intrinsic import IntrinsicReward, VectorIntrinsicReward
from rewardlab.envs.normalize import NormalizeReward, VectorNormalizeReward, merge_stats
from rewardlab.envs.novelty import RND, Bonus, CoverageGain, EpisodicCount, SimHashCount
from rewardlab.envs.schedules import Cosine, Linear, Step
from rewardlab.envs.shaping import PotentialShaping, VectorPotentialShaping, shaping_term
from rewardlab.envs.terms import RewardTerms, Term, VectorRewardTerms

__all__ = [
    "RND",
    "Bonus",
    "Cosine",
    "CoverageGain",
    "EpisodicCount",
    "IntrinsicReward",
    "Linear",
    "NormalizeReward",
    "PotentialShaping",
    "RewardTerms",
    "SimHashCount",
    "Step",
    "Term",
    "VectorIntrinsicReward",
    "VectorNormalizeReward",
    "VectorPotentialShaping",
    "VectorRewardTerms",
    "merge_stats",
    "shaping_term",
]

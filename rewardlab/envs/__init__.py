"""Gymnasium reward wrappers: potential shaping, named terms, normalisation, intrinsic rewards.

Each wrapper has a single-environment form and a vector form (``Vector*``) that
give the same rewards on the same transitions (tests/test_envs_*.py check it);
the vector forms are numpy over the batch, with no Python loop over envs.
Needs the ``envs`` extra: ``pip install -e '.[envs]'`` in a clone.
"""

from __future__ import annotations

from rewardlab.errors import import_extra

import_extra("gymnasium", "envs", "rewardlab.envs")  # MissingExtra (an ImportError) with the clone command

from rewardlab.envs.controllable import InverseDynamics  # noqa: E402
from rewardlab.envs.distill import RDD, RND  # noqa: E402
from rewardlab.envs.intrinsic import IntrinsicReward, VectorIntrinsicReward  # noqa: E402
from rewardlab.envs.knn import EpisodicKNN  # noqa: E402
from rewardlab.envs.normalize import NormalizeReward, VectorNormalizeReward, merge_stats  # noqa: E402
from rewardlab.envs.novelty import Bonus, CoverageGain, EpisodicCount, SimHashCount  # noqa: E402
from rewardlab.envs.schedules import Cosine, Linear, Step  # noqa: E402
from rewardlab.envs.shaping import PotentialShaping, VectorPotentialShaping, shaping_term  # noqa: E402
from rewardlab.envs.submodular import FacilityLocationGain, LogDetGain  # noqa: E402
from rewardlab.envs.terms import RewardTerms, Term, VectorRewardTerms  # noqa: E402

__all__ = [
    "RDD",
    "RND",
    "Bonus",
    "Cosine",
    "CoverageGain",
    "EpisodicCount",
    "EpisodicKNN",
    "FacilityLocationGain",
    "IntrinsicReward",
    "InverseDynamics",
    "Linear",
    "LogDetGain",
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

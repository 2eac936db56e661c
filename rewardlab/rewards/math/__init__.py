"""The ``math`` reward: final-answer correctness, built on math-verify (see docs/math.md)."""

from rewardlab.rewards.math.equivalence import Parsed, Tolerance, Verdict, analyze, compare
from rewardlab.rewards.math.extract import Extraction, extract_answer
from rewardlab.rewards.math.reward import MathParams, MathReward, parse_reference

__all__ = [
    "Extraction",
    "MathParams",
    "MathReward",
    "Parsed",
    "Tolerance",
    "Verdict",
    "analyze",
    "compare",
    "extract_answer",
    "parse_reference",
]

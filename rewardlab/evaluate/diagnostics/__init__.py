"""Verifier and reward-model diagnostics: pure functions over numpy arrays.

Each returns a frozen dataclass with ``to_json()`` (JSON types only; ``None``
where a number is undefined). See docs/diagnostics.md.
"""

from rewardlab.evaluate.diagnostics.calibration import Calibration, Classification, calibration, classification
from rewardlab.evaluate.diagnostics.correlation import (
    Agreement,
    LengthBias,
    PairLengthBias,
    agreement,
    length_bias,
    pair_length_bias,
)
from rewardlab.evaluate.diagnostics.selection import BestOfN, OverOptimisation, best_of_n, overoptimisation

__all__ = [
    "Agreement",
    "BestOfN",
    "Calibration",
    "Classification",
    "LengthBias",
    "OverOptimisation",
    "PairLengthBias",
    "agreement",
    "best_of_n",
    "calibration",
    "classification",
    "length_bias",
    "overoptimisation",
    "pair_length_bias",
]

"""The eval benchmarks, one module each, and the registry that names them (docs/eval.md)."""

from __future__ import annotations

import importlib
from typing import Any

from rewardlab.errors import unknown_name
from rewardlab.evaluate.benchmarks.base import Benchmark

# name -> (module, class, keyword arguments); modules are imported on use.
BENCHMARKS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "rewardbench": ("rewardbench", "RewardBench", {}),
    "rewardbench2": ("rewardbench2", "RewardBench2", {}),
    "rm-bench": ("rm_bench", "RMBench", {}),
    "judgebench": ("judgebench", "JudgeBench", {}),
    "rewardmath": ("rewardmath", "RewardMath", {}),
    "preference": ("preference", "Preference", {"layout": "plain"}),
    "m-rewardbench": ("m_rewardbench", "MRewardBench", {}),
    "personalized": ("personalized", "PersonalizedRewardBench", {}),
    "best-of-n": ("best_of_n", "BestOfN", {}),
}


def get_benchmark(name: str, pairwise_judge: bool = False) -> Benchmark:
    """The benchmark registered as ``name``; ``pairwise_judge``: the spec's reward compares a
    completion with its reference (``judge.pairwise``), so pairs are fed as (completion, reference)."""
    if name not in BENCHMARKS:
        raise unknown_name("benchmark", name, BENCHMARKS, "--benchmark")
    module, cls, kwargs = BENCHMARKS[name]
    factory = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    bench: Benchmark = factory(pairwise_judge=pairwise_judge, **kwargs)
    return bench

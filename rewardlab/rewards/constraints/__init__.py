"""Verifiable instruction constraints: ``constraints.ifeval`` (IFEval's 25 instruction families)."""

from rewardlab.rewards.constraints.reward import IFEval

__all__ = ["IFEval"]

"""Distributed scoring on Ray (see docs/ray.md)."""

from rewardlab.distributed.ray_backend import RayScorer, score_file_ray, score_samples_ray

__all__ = ["RayScorer", "score_file_ray", "score_samples_ray"]

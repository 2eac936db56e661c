"""Spatial and temporal grounding rewards (boxes, points, GUI-G² Gaussians, tIoU, multi-box F1)."""

from rewardlab.rewards.spatial.reward import GuiG2, IoU, MultiBox, PointInBox, TemporalIoU

__all__ = ["GuiG2", "IoU", "MultiBox", "PointInBox", "TemporalIoU"]

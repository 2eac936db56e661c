"""GUI-G² Gaussian rewards (Tang et al. 2025, "GUI-G²: Gaussian Reward Modeling for GUI Grounding",
arXiv 2507.15846, Sec. 3.2, Eqs. 2, 4, 5; checked against the paper's PDF and the authors' code).

An element box ``[x1, y1, x2, y2]`` is the Gaussian N(μ, Σ) with μ its centre and
Σ = diag(σx², σy²), σx = α (x2 − x1), σy = α (y2 − y1) (Eq. 5, α = 0.5 in the paper).

- point reward (Eq. 2): R_point = exp(−½ [(cx_p − cx_gt)² / σx_gt² + (cy_p − cy_gt)² / σy_gt²]),
  the target's Gaussian at the predicted centre, scaled to 1 at the target's centre;
- coverage reward (Eq. 4): the Bhattacharyya coefficient of the predicted and target Gaussians,
  R_coverage = exp(−⅛ Δμᵀ Σ⁻¹ Δμ − ½ ln(det Σ / √(det Σ_p det Σ_gt))), Σ = (Σ_p + Σ_gt) / 2;
- total (Eq. 6): ν R_point + γ R_coverage (ν = γ = 1 in the paper).

The authors' code rounds each reward to three decimals and adds 1e-8 inside the inverse and the
square root; neither is done here (the covariances are positive for a valid box).
"""

from __future__ import annotations

import math


def _centre_sigma(box: tuple[float, ...], alpha: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    return (x1 + x2) / 2, (y1 + y2) / 2, alpha * (x2 - x1), alpha * (y2 - y1)


def point_reward(centre: tuple[float, float], target: tuple[float, ...], alpha: float) -> float:
    """Eq. 2: the target's unnormalised Gaussian at the predicted centre."""
    cx, cy, sx, sy = _centre_sigma(target, alpha)
    return math.exp(-0.5 * ((centre[0] - cx) ** 2 / sx**2 + (centre[1] - cy) ** 2 / sy**2))


def coverage_reward(pred: tuple[float, ...], target: tuple[float, ...], alpha: float) -> float:
    """Eq. 4: Bhattacharyya coefficient of two axis-aligned Gaussians (closed form, per axis)."""
    px, py, psx, psy = _centre_sigma(pred, alpha)
    tx, ty, tsx, tsy = _centre_sigma(target, alpha)
    distance = 0.0
    for dm, sp, st in ((px - tx, psx, tsx), (py - ty, psy, tsy)):
        var = (sp**2 + st**2) / 2  # the diagonal of Σ = (Σ_p + Σ_gt) / 2
        distance += dm**2 / (8 * var) + 0.5 * math.log(var / (sp * st))
    return math.exp(-distance)


def centre(box: tuple[float, ...]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2

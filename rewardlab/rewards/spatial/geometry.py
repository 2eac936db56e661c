"""Boxes and segments in declared formats: converted to normalised xyxy, validated, compared.

A box is read in the format its side declares (``xyxy`` corners or ``xywh`` corner and size) and
units (``pixel``; ``normalized`` in [0, 1]; ``per_1000`` in [0, 1000], Qwen2-VL's grounding
units), then converted to normalised xyxy when an image size is known, else kept in its units
(IoU is scale-free, so two pixel boxes compare without one). A box whose corners are inverted
or equal, or that lies outside [0, upper bound], is refused with the reason, never clipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

BoxFormat = Literal["xyxy", "xywh"]
Units = Literal["pixel", "normalized", "per_1000"]
Box = tuple[float, float, float, float]  # x1, y1, x2, y2
_SCALE = {"normalized": 1.0, "per_1000": 1000.0}
TOLERANCE = 1e-6  # relative slack on the upper bound (rounding in the model's or the data's numbers)


class GeometryError(ValueError):
    """A box, point or segment that is malformed, inverted or out of range."""


@dataclass(frozen=True)
class Frame:
    """How one side (prediction or reference) writes its boxes, and the image they live in."""

    format: BoxFormat = "xyxy"
    units: Units = "pixel"
    image_size: tuple[float, float] | None = None  # (width, height) in pixels

    def bounds(self) -> tuple[float, float] | None:
        """Upper bounds of x and y in these units (None: pixels of an unknown image)."""
        if self.units == "pixel":
            return self.image_size
        return _SCALE[self.units], _SCALE[self.units]

    def to_common(self, x: float, y: float) -> tuple[float, float]:
        """A coordinate pair in the common frame: normalised when the image size is known."""
        if self.units != "pixel":
            return x / _SCALE[self.units], y / _SCALE[self.units]
        if self.image_size is None:
            return x, y
        return x / self.image_size[0], y / self.image_size[1]

    @property
    def common_is_normalised(self) -> bool:
        return self.units != "pixel" or self.image_size is not None


def numbers(values: Any, n: int, what: str) -> list[float]:
    """``n`` finite numbers (not booleans), or a :class:`GeometryError`."""
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != n:
        raise GeometryError(f"a {what} needs {n} numbers, got {values!r}"[:200])
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise GeometryError(f"a {what} needs finite numbers, got {values!r}"[:200])
        out.append(float(v))
    return out


def _check_range(x: float, y: float, frame: Frame, what: str, raw: Any) -> None:
    bounds = frame.bounds()
    if x < 0 or y < 0:
        raise GeometryError(f"{what} {raw!r} has a negative coordinate"[:200])
    if bounds and (x > bounds[0] * (1 + TOLERANCE) or y > bounds[1] * (1 + TOLERANCE)):
        raise GeometryError(f"{what} {raw!r} lies outside the {frame.units} range {bounds}"[:200])


def box(values: Any, frame: Frame) -> Box:
    """A validated box as (x1, y1, x2, y2) in the common frame."""
    a, b, c, d = numbers(values, 4, "box")
    x1, y1, x2, y2 = (a, b, c, d) if frame.format == "xyxy" else (a, b, a + c, b + d)
    if x2 <= x1 or y2 <= y1:
        raise GeometryError(f"box {values!r} is inverted or empty in {frame.format} ({x1}, {y1}, {x2}, {y2})"[:200])
    _check_range(x1, y1, frame, "box", values)
    _check_range(x2, y2, frame, "box", values)
    return (*frame.to_common(x1, y1), *frame.to_common(x2, y2))


def point(values: Any, frame: Frame) -> tuple[float, float]:
    """A validated point in the common frame."""
    x, y = numbers(values, 2, "point")
    _check_range(x, y, frame, "point", values)
    return frame.to_common(x, y)


def segment(values: Any, duration: float | None) -> tuple[float, float]:
    """A validated time segment (start < end, within [0, duration] when known)."""
    start, end = numbers(values, 2, "segment")
    if end <= start:
        raise GeometryError(f"segment {values!r} is inverted or empty")
    if start < 0 or (duration is not None and end > duration * (1 + TOLERANCE)):
        raise GeometryError(f"segment {values!r} lies outside [0, {duration if duration is not None else '∞'}]")
    return start, end


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two xyxy boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two time segments (temporal grounding's tIoU)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def contains(b: tuple[float, ...], p: tuple[float, float]) -> bool:
    """Whether point ``p`` lies in box ``b`` (edges included, as ScreenSpot's evaluation counts them)."""
    return b[0] <= p[0] <= b[2] and b[1] <= p[1] <= b[3]

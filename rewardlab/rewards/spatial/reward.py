"""Spatial and temporal grounding rewards: ``spatial.iou``, ``spatial.point_in_box``,
``spatial.gui_g2``, ``spatial.temporal_iou``, ``spatial.multi_box``.

A malformed, inverted or out-of-range *prediction* is ``no_answer`` (0.0) with the reason; the
same in a *reference* is ``invalid_reference`` (listed by ``rewardlab check``). See docs/structured.md.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.core import BaseReward, Deps, Sample, Score, Status
from rewardlab.errors import ReferenceProblem, SpecError, require_extra
from rewardlab.registry import register
from rewardlab.rewards.answer import answer_region
from rewardlab.rewards.spatial import geometry as geo
from rewardlab.rewards.spatial.gaussian import centre, coverage_reward, point_reward
from rewardlab.rewards.spatial.parse import Item, items, last_of_size

Labelled = tuple[geo.Box, str | None]  # a box and its label, if any


class FrameParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pred_format: geo.BoxFormat = "xyxy"
    pred_units: geo.Units = "pixel"
    ref_format: geo.BoxFormat = "xyxy"
    ref_units: geo.Units = "pixel"


def _image_size(sample: Sample) -> tuple[float, float] | None:
    ref = sample.reference
    size = ref.get("image_size") if isinstance(ref, dict) else None
    size = size if size is not None else sample.meta.get("image_size")
    if size is None:
        return None
    try:
        w, h = geo.numbers(size, 2, "image size")
    except geo.GeometryError as exc:
        raise ReferenceProblem(str(exc)) from None
    if w <= 0 or h <= 0:
        raise ReferenceProblem(f"image_size must be positive (width, height), got {size!r}")
    return w, h


class _Spatial(BaseReward):
    """Shared reading of frames and reference boxes."""

    needs_reference = True
    Params: ClassVar[type[BaseModel]] = FrameParams
    ref_key = "box"

    def frames(self, sample: Sample) -> tuple[geo.Frame, geo.Frame]:
        size = _image_size(sample)
        p = self.params
        pred, ref = geo.Frame(p.pred_format, p.pred_units, size), geo.Frame(p.ref_format, p.ref_units, size)
        if pred.common_is_normalised != ref.common_is_normalised:
            raise ReferenceProblem(
                f"predictions in {p.pred_units} and references in {p.ref_units} units need the image size: "
                "give reference.image_size or meta.image_size as [width, height]"
            )
        return pred, ref

    def ref_value(self, sample: Sample) -> Any:
        ref = sample.reference
        return ref.get(self.ref_key) if isinstance(ref, dict) else ref

    def ref_box(self, sample: Sample, frame: geo.Frame) -> geo.Box:
        try:
            return geo.box(self.ref_value(sample), frame)
        except geo.GeometryError as exc:
            raise ReferenceProblem(f"reference {exc}") from None

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        try:
            return self.score_checked(sample)
        except ReferenceProblem as exc:
            return Score.unscorable(Status.INVALID_REFERENCE, str(exc))

    def score_checked(self, sample: Sample) -> Score:
        raise NotImplementedError

    def check(self, sample: Sample) -> str | None:
        problem = super().check(sample)
        if problem:
            return problem
        score = self.score_one(Sample(sample.id, completion="", reference=sample.reference, meta=sample.meta), {})
        return score.detail.get("reason") if score.status is Status.INVALID_REFERENCE else None


def _pred_box(sample: Sample, frame: geo.Frame) -> geo.Box | Score:
    item = last_of_size(items(sample.completion_text), (4,))
    if item is None:
        return Score.no_answer(0.0, reason="no box [x1, y1, x2, y2] in the answer")
    try:
        return geo.box(item.values, frame)
    except geo.GeometryError as exc:
        return Score.no_answer(0.0, reason=f"predicted {exc}")


class IoUParams(FrameParams):
    threshold: float | None = Field(None, gt=0, le=1, description="value 1.0 when IoU >= threshold, else 0.0")


@register("reward", "spatial.iou")
class IoU(_Spatial):
    """IoU of the predicted box (last in the answer) with the reference box (or 1/0 at a threshold)."""

    name = "spatial.iou"
    Params = IoUParams

    def score_checked(self, sample: Sample) -> Score:
        pred_frame, ref_frame = self.frames(sample)
        target = self.ref_box(sample, ref_frame)
        pred = _pred_box(sample, pred_frame)
        if isinstance(pred, Score):
            return pred
        value = geo.iou(pred, target)
        if self.params.threshold is not None:
            return Score.ok(float(value >= self.params.threshold), iou=value, box=list(pred))
        return Score.ok(value, iou=value, box=list(pred))


@register("reward", "spatial.point_in_box")
class PointInBox(_Spatial):
    """1.0 when the predicted point (or a predicted box's centre) lies in the reference box."""

    name = "spatial.point_in_box"

    def score_checked(self, sample: Sample) -> Score:
        pred_frame, ref_frame = self.frames(sample)
        target = self.ref_box(sample, ref_frame)
        item = last_of_size(items(sample.completion_text), (2, 4))
        if item is None:
            return Score.no_answer(0.0, reason="no point [x, y] or box in the answer")
        try:
            if len(item.values) == 2:
                clicked = geo.point(item.values, pred_frame)
            else:
                clicked = centre(geo.box(item.values, pred_frame))
        except geo.GeometryError as exc:
            return Score.no_answer(0.0, reason=f"predicted {exc}")
        return Score.ok(float(geo.contains(target, clicked)), point=list(clicked))


class GuiG2Params(FrameParams):
    alpha: float = Field(0.5, gt=0, description="σ = α · element size (Eq. 5); the paper uses 0.5")
    nu: float = Field(1.0, ge=0, description="weight of the point reward (Eq. 6)")
    gamma: float = Field(1.0, ge=0, description="weight of the coverage reward (Eq. 6); 0 allows point answers")


@register("reward", "spatial.gui_g2")
class GuiG2(_Spatial):
    """GUI-G² Gaussian point + coverage reward (arXiv 2507.15846, Eqs. 2, 4, 5, 6)."""

    name = "spatial.gui_g2"
    Params = GuiG2Params

    def score_checked(self, sample: Sample) -> Score:
        p = self.params
        pred_frame, ref_frame = self.frames(sample)
        target = self.ref_box(sample, ref_frame)
        item = last_of_size(items(sample.completion_text), (4,) if p.gamma > 0 else (2, 4))
        if item is None:
            wanted = "box [x1, y1, x2, y2]" if p.gamma > 0 else "point or box"
            return Score.no_answer(0.0, reason=f"no {wanted} in the answer (the coverage reward needs a box)")
        try:
            pred = geo.box(item.values, pred_frame) if len(item.values) == 4 else None
            clicked = centre(pred) if pred else geo.point(item.values, pred_frame)
        except geo.GeometryError as exc:
            return Score.no_answer(0.0, reason=f"predicted {exc}")
        r_point = point_reward(clicked, target, p.alpha)
        r_cover = coverage_reward(pred, target, p.alpha) if pred and p.gamma > 0 else 0.0
        return Score.ok(p.nu * r_point + p.gamma * r_cover, point=r_point, coverage=r_cover)


class TemporalParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float | None = Field(None, gt=0, le=1, description="value 1.0 when tIoU >= threshold")


@register("reward", "spatial.temporal_iou")
class TemporalIoU(BaseReward):
    """tIoU of the predicted [start, end] (seconds; last pair in the answer) with the reference segment.

    Reference: ``[start, end]`` or ``{"segment": [start, end], "duration": seconds}``.
    """

    name = "spatial.temporal_iou"
    needs_reference = True
    Params = TemporalParams

    def _reference(self, sample: Sample) -> tuple[tuple[float, float], float | None]:
        ref = sample.reference
        seg, duration = (ref.get("segment"), ref.get("duration")) if isinstance(ref, dict) else (ref, None)
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                     or not math.isfinite(duration) or duration <= 0):
            raise ReferenceProblem(f"duration must be a positive number of seconds, got {duration!r}")
        try:
            return geo.segment(seg, duration), duration
        except geo.GeometryError as exc:
            raise ReferenceProblem(f"reference {exc}") from None

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        try:
            target, duration = self._reference(sample)
        except ReferenceProblem as exc:
            return Score.unscorable(Status.INVALID_REFERENCE, str(exc))
        item = last_of_size(items(sample.completion_text), (2,))
        if item is None:
            return Score.no_answer(0.0, reason="no [start, end] segment in the answer")
        try:
            pred = geo.segment(item.values, duration)
        except geo.GeometryError as exc:
            return Score.no_answer(0.0, reason=f"predicted {exc}")
        value = geo.temporal_iou(pred, target)
        if self.params.threshold is not None:
            return Score.ok(float(value >= self.params.threshold), tiou=value, segment=list(pred))
        return Score.ok(value, tiou=value, segment=list(pred))

    def check(self, sample: Sample) -> str | None:
        try:
            self._reference(sample)
        except ReferenceProblem as exc:
            return str(exc)
        return None


class MultiBoxParams(FrameParams):
    threshold: float = Field(0.5, gt=0, le=1, description="a predicted box matches a reference box at IoU >= threshold")


@register("reward", "spatial.multi_box")
class MultiBox(_Spatial):
    """F1 of predicted boxes against reference boxes, one-to-one (Hungarian matching, scipy) at an IoU threshold.

    Reference: ``{"boxes": [[x1, y1, x2, y2] | {"box": [...], "label": ...}, ...]}`` (or the list
    itself). With labels on both sides only same-label boxes match. An answer of ``[]`` is a
    readable "nothing there"; no readable boxes at all is ``no_answer``.
    """

    name = "spatial.multi_box"
    Params = MultiBoxParams
    ref_key = "boxes"

    def __init__(self, **params: Any) -> None:
        require_extra("spatial", f"reward {self.name!r}", "scipy", error=SpecError)
        super().__init__(**params)

    def ref_boxes(self, sample: Sample, frame: geo.Frame) -> list[Labelled]:
        listed = self.ref_value(sample)
        if not isinstance(listed, list):
            raise ReferenceProblem("reference must be {'boxes': [...]} or a list of boxes")
        out = []
        for entry in listed:
            label = entry.get("label") if isinstance(entry, dict) else None
            raw = entry.get("box", entry.get("bbox_2d")) if isinstance(entry, dict) else entry
            try:
                out.append((geo.box(raw, frame), None if label is None else str(label)))
            except geo.GeometryError as exc:
                raise ReferenceProblem(f"reference {exc}") from None
        return out

    def score_checked(self, sample: Sample) -> Score:
        pred_frame, ref_frame = self.frames(sample)
        targets = self.ref_boxes(sample, ref_frame)
        found = items(sample.completion_text)
        if not found and not _says_empty(sample.completion_text):
            return Score.no_answer(0.0, reason="no boxes in the answer")
        try:
            preds = [(geo.box(it.values, pred_frame), it.label) for it in _boxes_only(found)]
        except geo.GeometryError as exc:
            return Score.no_answer(0.0, reason=f"predicted {exc}")
        matched = _match(preds, targets, self.params.threshold)
        precision = matched / len(preds) if preds else float(not targets)
        recall = matched / len(targets) if targets else float(not preds)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return Score.ok(f1, precision=precision, recall=recall, matched=matched,
                        predicted=len(preds), reference=len(targets))


def _boxes_only(found: list[Item]) -> list[Item]:
    wrong = [it for it in found if len(it.values) != 4]
    if wrong:
        raise geo.GeometryError(f"group {list(wrong[0].values)} is not a box of 4 numbers")
    return found


def _says_empty(text: str) -> bool:
    return answer_region(text).strip().strip("`").removeprefix("json").strip() in ("[]", "{}")


def _match(preds: list[Labelled], targets: list[Labelled], threshold: float) -> int:
    """Most one-to-one pairs at IoU >= threshold (ties broken by total IoU), as a linear assignment."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment  # the 'spatial' extra

    if not preds or not targets:
        return 0
    weight = np.zeros((len(preds), len(targets)))
    # each match weighs 1 + eps * IoU with eps * (most matches) < 1: one more match outweighs any IoU total
    eps = 1.0 / (min(len(preds), len(targets)) + 1)
    for i, (pb, pl) in enumerate(preds):
        for j, (tb, tl) in enumerate(targets):
            overlap = geo.iou(pb, tb)
            if overlap >= threshold and (pl is None or tl is None or pl == tl):
                weight[i, j] = 1.0 + eps * overlap
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return int((weight[rows, cols] > 0).sum())

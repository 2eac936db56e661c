"""spatial.*: box formats and validation, IoU, point-in-box, GUI-G², tIoU, multi-box F1."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from rewardlab import Sample, Score, Status
from rewardlab.registry import create
from rewardlab.rewards.spatial.gaussian import coverage_reward, point_reward
from rewardlab.rewards.spatial.parse import items


def score(name: str, completion: str, reference: Any, meta: dict[str, Any] | None = None, **params: Any) -> Score:
    reward = create("reward", name, params)
    return reward.score_one(Sample("s", completion=completion, reference=reference, meta=meta or {}), {})


def _grid_iou(a: list[int], b: list[int]) -> float:
    """IoU by counting unit cells of integer boxes: independent of the interval formula."""
    cells_a = {(x, y) for x in range(a[0], a[2]) for y in range(a[1], a[3])}
    cells_b = {(x, y) for x in range(b[0], b[2]) for y in range(b[1], b[3])}
    return len(cells_a & cells_b) / len(cells_a | cells_b)


def _random_box(rng: random.Random, size: int = 20) -> list[int]:
    x1, x2 = sorted(rng.sample(range(size + 1), 2))
    y1, y2 = sorted(rng.sample(range(size + 1), 2))
    return [x1, y1, x2, y2]


def test_iou_against_cell_counting() -> None:
    rng = random.Random(0)
    for _ in range(200):
        a, b = _random_box(rng), _random_box(rng)
        assert score("spatial.iou", f"<answer>{a}</answer>", b).value == pytest.approx(_grid_iou(a, b))
        xywh = [b[0], b[1], b[2] - b[0], b[3] - b[1]]
        assert score("spatial.iou", str(a), {"box": xywh}, ref_format="xywh").value == pytest.approx(_grid_iou(a, b))


def test_units_conversion_and_thresholds() -> None:
    meta = {"image_size": [200, 100]}
    # the same box in pixels, normalised and per-1000 units
    pixel, norm, k = [20, 10, 60, 50], [0.1, 0.1, 0.3, 0.5], [100, 100, 300, 500]
    assert score("spatial.iou", str(norm), pixel, meta, pred_units="normalized").value == pytest.approx(1.0)
    assert score("spatial.iou", str(k), {"box": pixel, "image_size": [200, 100]}, pred_units="per_1000").value \
        == pytest.approx(1.0)
    assert score("spatial.iou", "[0, 0, 10, 10]", [0, 0, 10, 20], threshold=0.5).value == 1.0
    assert score("spatial.iou", "[0, 0, 10, 9]", [0, 0, 10, 20], threshold=0.5).value == 0.0
    mixed = score("spatial.iou", str(norm), pixel, pred_units="normalized")
    assert mixed.status is Status.INVALID_REFERENCE and "image size" in mixed.detail["reason"]


@pytest.mark.parametrize(("completion", "why"), [
    ("[30, 10, 20, 40]", "inverted"),
    ("[10, 10, 10, 40]", "inverted or empty"),
    ("[10, 10, 250, 40]", "outside"),  # beyond the 200-pixel width
    ("[-5, 10, 20, 40]", "negative"),
    ("the button at the top", "no box"),
])
def test_bad_predictions_are_scored_failures(completion: str, why: str) -> None:
    s = score("spatial.iou", completion, [0, 0, 50, 50], {"image_size": [200, 100]})
    assert s.status is Status.NO_ANSWER and s.value == 0.0 and why in s.detail["reason"]


@pytest.mark.parametrize("reference", [[50, 50, 0, 0], [0, 0, 1.5, 0.5], {"box": [1, 2, 3]}, None,
                                       {"box": [0, 0, 1, 1], "image_size": [0, 10]}])
def test_bad_references_are_unscorable(reference: Any) -> None:
    reward = create("reward", "spatial.iou", {"ref_units": "normalized", "pred_units": "normalized"})
    sample = Sample("s", completion="[0.1, 0.1, 0.2, 0.2]", reference=reference)
    s = reward.score_one(sample, {})
    assert s.status is Status.INVALID_REFERENCE and s.value is None
    assert reward.check(sample)


def test_point_in_box() -> None:
    ref = [10, 10, 20, 20]
    assert score("spatial.point_in_box", "click (15, 12)", ref).value == 1.0
    assert score("spatial.point_in_box", "<answer>[20, 20]</answer>", ref).value == 1.0  # edges count
    assert score("spatial.point_in_box", "[21, 15]", ref).value == 0.0
    assert score("spatial.point_in_box", "[0, 0, 30, 30]", ref).value == 1.0  # a box: its centre
    assert score("spatial.point_in_box", '{"point_2d": [0.12, 0.3]}', [0.1, 0.1, 0.2, 0.2],
                 pred_units="normalized", ref_units="normalized").value == 0.0


def test_gui_g2_point_reward_is_the_scaled_gaussian_density() -> None:
    rng = random.Random(1)
    for _ in range(100):
        target = _random_box(rng, 100)
        cx, cy = (target[0] + target[2]) / 2, (target[1] + target[3]) / 2
        sx, sy = 0.5 * (target[2] - target[0]), 0.5 * (target[3] - target[1])
        p = (rng.uniform(0, 100), rng.uniform(0, 100))
        gauss = multivariate_normal([cx, cy], np.diag([sx**2, sy**2]))
        assert point_reward(p, tuple(target), 0.5) == pytest.approx(gauss.pdf(p) / gauss.pdf([cx, cy]), rel=1e-9)


def test_gui_g2_coverage_is_the_bhattacharyya_coefficient() -> None:
    """Against the numerical integral of sqrt(p q) (paper Eq. 3) and the authors' matrix form (Eq. 4)."""
    rng = random.Random(2)
    xs = np.linspace(-60, 160, 700)
    grid = np.dstack(np.meshgrid(xs, xs))
    cell = (xs[1] - xs[0]) ** 2
    for _ in range(8):
        a, b = _random_box(rng, 100), _random_box(rng, 100)
        ga, gb = (multivariate_normal(*_gaussian(box)) for box in (a, b))
        integral = float(np.sqrt(ga.pdf(grid) * gb.pdf(grid)).sum() * cell)
        ours = coverage_reward(tuple(a), tuple(b), 0.5)
        assert ours == pytest.approx(integral, abs=2e-3)
        (mu_a, cov_a), (mu_b, cov_b) = _gaussian(a), _gaussian(b)
        cov = (cov_a + cov_b) / 2
        diff = np.array(mu_a) - np.array(mu_b)
        distance = diff @ np.linalg.inv(cov) @ diff / 8 + 0.5 * math.log(
            np.linalg.det(cov) / math.sqrt(np.linalg.det(cov_a) * np.linalg.det(cov_b)))
        assert ours == pytest.approx(math.exp(-distance), rel=1e-9)


def _gaussian(box: list[int]) -> tuple[list[float], np.ndarray]:
    return ([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2],
            np.diag([(0.5 * (box[2] - box[0])) ** 2, (0.5 * (box[3] - box[1])) ** 2]))


def test_gui_g2_reward() -> None:
    exact = score("spatial.gui_g2", "[10, 10, 30, 20]", [10, 10, 30, 20])
    assert exact.value == pytest.approx(2.0) and exact.detail == {"point": 1.0, "coverage": 1.0}
    shifted = score("spatial.gui_g2", "[20, 10, 40, 20]", [10, 10, 30, 20], nu=1.0, gamma=0.5)
    assert shifted.value == pytest.approx(math.exp(-0.5) + 0.5 * math.exp(-(10**2) / (8 * 100)))
    point_only = score("spatial.gui_g2", "(20, 15)", [10, 10, 30, 20], gamma=0.0)
    assert point_only.value == pytest.approx(1.0)
    needs_box = score("spatial.gui_g2", "(20, 15)", [10, 10, 30, 20])
    assert needs_box.status is Status.NO_ANSWER and "box" in needs_box.detail["reason"]


def test_temporal_iou() -> None:
    ref = {"segment": [3.0, 8.0], "duration": 10}
    assert score("spatial.temporal_iou", "The event spans [2.5, 7].", ref).value == pytest.approx(4 / 5.5)
    assert score("spatial.temporal_iou", "[9, 10]", [3, 8]).value == 0.0
    assert score("spatial.temporal_iou", "[3, 8]", ref, threshold=0.7).value == 1.0
    for bad in ("[7, 3]", "[5, 12]", "no idea"):
        assert score("spatial.temporal_iou", bad, ref).status is Status.NO_ANSWER
    for ref_bad in ({"segment": [8, 3]}, {"segment": [1, 2], "duration": -1}, {"segment": [1, 20], "duration": 10}):
        assert score("spatial.temporal_iou", "[1, 2]", ref_bad).status is Status.INVALID_REFERENCE


def _brute_f1(preds: list[list[int]], refs: list[list[int]], thr: float) -> float:
    best = 0
    small, large = (preds, refs) if len(preds) <= len(refs) else (refs, preds)
    for perm in itertools.permutations(range(len(large)), len(small)):
        best = max(best, sum(_grid_iou(small[i], large[j]) >= thr for i, j in enumerate(perm)))
    if not preds or not refs:
        return float(not preds and not refs)
    p, r = best / len(preds), best / len(refs)
    return 2 * p * r / (p + r) if p + r else 0.0


def test_multi_box_f1_against_brute_force_matching() -> None:
    rng = random.Random(4)
    for _ in range(150):
        preds = [_random_box(rng, 8) for _ in range(rng.randint(0, 4))]
        refs = [_random_box(rng, 8) for _ in range(rng.randint(0, 4))]
        got = score("spatial.multi_box", str(preds), {"boxes": refs}, threshold=0.3)
        assert got.status is Status.OK
        assert got.value == pytest.approx(_brute_f1(preds, refs, 0.3)), (preds, refs)


def test_multi_box_labels_and_formats() -> None:
    answer = ('```json\n[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}, '
              '{"bbox_2d": [20, 20, 30, 30], "label": "dog"}]\n```')
    refs = {"boxes": [{"box": [0, 0, 10, 10], "label": "dog"}, {"box": [20, 20, 30, 30], "label": "dog"}]}
    got = score("spatial.multi_box", answer, refs)
    assert got.detail["matched"] == 1 and got.value == pytest.approx(0.5)
    assert score("spatial.multi_box", "<answer>[]</answer>", {"boxes": []}).value == 1.0
    assert score("spatial.multi_box", "nothing", {"boxes": [[0, 0, 1, 1]]}).status is Status.NO_ANSWER
    assert score("spatial.multi_box", "[[0, 0, 5, 5], [3, 3]]", [[0, 0, 5, 5]]).status is Status.NO_ANSWER


def test_parsing_takes_the_answer_region_and_json() -> None:
    assert [i.values for i in items("think [1, 2, 3, 4] <answer>[5, 6, 7, 8]</answer>")] == [(5, 6, 7, 8)]
    assert items('{"bbox_2d": [1, 2, 3, 4], "label": "x"}')[0].label == "x"
    assert score("spatial.iou", "first [0, 0, 5, 5] then final [0, 0, 10, 10]", [0, 0, 10, 10]).value == 1.0
    assert score("spatial.iou", "[NaN, 0, 1, 1]", [0, 0, 1, 1]).status is Status.NO_ANSWER


@pytest.mark.timeout(60)
def test_a_long_run_of_digits_is_read_in_linear_time() -> None:
    """The number pattern used to split a digit run two ways: 20,000 digits took 40 s."""
    s = score("spatial.iou", "[" + "1" * 60_000 + " the box is [0, 0, 10, 10]", [0, 0, 10, 10])
    assert s.value == 1.0


def test_multi_box_matches_as_many_boxes_as_possible() -> None:
    """The matched count is a maximum bipartite matching of the IoU >= threshold graph (scipy's, as reference)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    rng = random.Random(5)
    for _ in range(60):
        preds = [_random_box(rng, 12) for _ in range(rng.randint(5, 14))]
        refs = [_random_box(rng, 12) for _ in range(rng.randint(5, 14))]
        graph = csr_matrix([[float(_grid_iou(p, r) >= 0.05) for r in refs] for p in preds])
        best = int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())
        got = score("spatial.multi_box", str(preds), {"boxes": refs}, threshold=0.05)
        assert got.detail["matched"] == best, (preds, refs)


def test_multi_box_prefers_one_more_match_over_better_overlaps() -> None:
    """A chain: P_i overlaps R_i well (IoU 9/11) and R_{i+1} barely (1/19); P_10 overlaps only R_0.
    Ten good matches leave R_10 unmatched; the eleven weak ones match every box."""
    refs = [[10 * i, 0, 10 * i + 10, 10] for i in range(11)]
    preds = [[10 * i + 1, 0, 10 * i + 11, 10] for i in range(10)] + [[0, 0, 1, 10]]
    got = score("spatial.multi_box", str(preds), {"boxes": refs}, threshold=0.05)
    assert got.detail["matched"] == 11 and got.value == 1.0

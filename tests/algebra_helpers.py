"""Shared builders for the algebra tests: random batches with ties, None members, odd groups."""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.batch import BatchContext
from rewardlab.core import Sample


def random_groups(rng: np.random.Generator, n_groups: int, sizes=(1, 2, 3, 5, 8)) -> np.ndarray:
    """Group label per sample, groups of the given sizes, shuffled order."""
    labels = np.concatenate([np.full(rng.choice(sizes), g) for g in range(n_groups)])
    return rng.permutation(labels)


def random_rewards(
    rng: np.random.Generator, n: int, p_none: float = 0.15, kind: str = "mixed"
) -> np.ndarray:
    """Rewards with ties (small integers or binary) and NaN (unscorable) members."""
    if kind == "binary":
        r = rng.integers(0, 2, n).astype(np.float64)
    elif kind == "ties":
        r = rng.integers(-2, 3, n).astype(np.float64)
    else:
        r = np.where(rng.random(n) < 0.5, rng.integers(0, 3, n), rng.normal(size=n)).astype(float)
    r[rng.random(n) < p_none] = np.nan
    return r


def make_ctx(groups: np.ndarray, metas: list[dict[str, Any]] | None = None) -> BatchContext:
    """A context with real samples (group labels and meta) so meta columns and lengths work."""
    metas = metas or [{} for _ in groups]
    samples = [
        Sample(id=f"s{i}", completion="x", group=f"g{int(g)}", meta=m)
        for i, (g, m) in enumerate(zip(groups, metas, strict=True))
    ]
    return BatchContext.from_samples(samples)


def by_group(values: np.ndarray, groups: np.ndarray) -> dict[int, list[int]]:
    """Sample positions per group label, in order (the reference loops iterate this)."""
    out: dict[int, list[int]] = {}
    for i, g in enumerate(groups.tolist()):
        out.setdefault(int(g), []).append(i)
    return out


def assert_close(actual: Any, expected: Any, atol: float = 1e-9) -> None:
    """Equal within atol, NaN in the same places (``actual`` must not be None)."""
    assert actual is not None
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=1e-9, equal_nan=True)

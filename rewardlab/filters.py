"""Filters: mark samples to leave out of the policy update, never delete rows.

A filter is called as ``filter(rewards, ctx, components) -> keep`` (a bool array,
one entry per sample) on the combined reward (``NaN`` = unscorable) after the
top-level transforms. The pipeline ANDs the filters' masks into the ``keep``
column and gives the samples left out no advantage (``None``): the advantage
estimator sees them as unscorable, so they take no part in group statistics.
Unscorable samples are not candidates: a filter keeps them (``keep`` records the
filter's decision; they have no advantage anyway). Everything is vectorised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rewardlab.batch import BatchContext, tied_groups
from rewardlab.errors import InputError, SpecError, validate_params
from rewardlab.ranking import sort_within_groups
from rewardlab.registry import register
from rewardlab.transforms import flatten_steps, read_steps


class Filter:
    """Base class: subclasses set ``name``, ``Params`` and implement :meth:`select`."""

    name: ClassVar[str] = "filter"
    Params: ClassVar[type[BaseModel]]

    def __init__(self, **params: Any) -> None:
        self.params: Any = validate_params(self.Params, params, f"filter {self.name!r}")

    def select(
        self, rewards: np.ndarray, ctx: BatchContext, components: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        raise NotImplementedError

    def __call__(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        rewards = np.asarray(rewards, dtype=np.float64)
        keep = np.asarray(self.select(rewards, ctx, components or {}), dtype=bool)
        if keep.shape != (len(ctx),):
            raise InputError(f"filter {self.name!r}: {keep.shape} decisions for {len(ctx)} samples")
        return keep

    def column(self, rewards: np.ndarray, components: Mapping[str, np.ndarray], on: str | None) -> np.ndarray:
        """The combined reward, or component ``on``."""
        if on is None:
            return rewards
        if on not in components:
            raise SpecError(f"filter {self.name!r}: unknown component {on!r} (components: "
                            f"{', '.join(components)})")
        return np.asarray(components[on], dtype=np.float64)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ZeroVarianceParams(_Params):
    on: str | None = None


@register("filter", "zero_variance")
class ZeroVariance(Filter):
    """DAPO dynamic sampling: leave out groups whose scorable rewards are all equal.

    Yu et al. 2025, "DAPO" (arXiv 2503.14476), Sec. 3.2 (dynamic sampling), as in
    verl's DAPO trainer: a group with std 0 of its (scorable) rewards is dropped,
    a group with a single member is kept. Such groups give zero GRPO advantage,
    so they only dilute the batch. ``on`` names a component to test instead of the
    combined reward (verl's ``filter_groups.metric``).
    """

    name = "zero_variance"
    Params = ZeroVarianceParams

    def select(
        self, rewards: np.ndarray, ctx: BatchContext, components: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        values = self.column(rewards, components, self.params.on)
        return np.asarray(~(tied_groups(values, ctx)[ctx.group_index] & ~np.isnan(values)))


class ProfParams(_Params):
    remove: int = Field(ge=0)
    outcome: str | None = None
    threshold: float = 0.5
    step_key: str = "step_rewards"
    step_bounds: tuple[int, int] = (2, 30)
    length_penalty: float = Field(default=0.0, ge=0.0)


@register("filter", "prof")
class Prof(Filter):
    """PROF: keep the responses whose process rewards agree with their outcome.

    Ye et al. 2025, "Beyond Correctness: Harmonizing Process and Outcome Rewards
    through RL Training" (arXiv 2509.03403), the PRocess cOnsistency Filter, as
    in its released ``filter_trajectories`` and ``compute_verify_step_level_score``:
    consistency c_i = mean_t 2 (s_it - m)(2 o_i - 1) - length_penalty *
    [steps < lo or steps > hi], s_it the process rewards (``meta[step_key]``),
    m the mean of all scorable steps in the batch, o_i = 1 when the outcome
    (component ``outcome``, or the combined reward) >= ``threshold``, else 0. Per
    group, ``remove`` members are left out: with d = #correct - #incorrect,
    k = min(remove, round((d + remove) / 2)) correct ones of lowest c (all if
    fewer), the rest from the incorrect ones of lowest c (correct ones with low
    process reward, incorrect ones with high), which moves the group towards
    balance. Ties: earlier sample first. Members without a scorable outcome or
    steps are not candidates (kept, not counted).
    """

    name = "prof"
    Params = ProfParams

    def consistency(self, outcome: np.ndarray, ctx: BatchContext) -> tuple[np.ndarray, np.ndarray]:
        """(c_i, correct_i); c_i is NaN where the outcome or the steps are missing."""
        p = self.params
        flat, counts, steps_ok = flatten_steps(read_steps(ctx, p.step_key))
        if len(counts) != len(outcome):
            raise InputError(f"filter 'prof': needs samples with meta[{p.step_key!r}] (the context has none)")
        cand = steps_ok & ~np.isnan(outcome)
        sample_of = np.repeat(np.arange(len(counts)), counts)
        m = float(np.mean(flat[cand[sample_of]])) if cand.any() else 0.0
        correct = outcome >= p.threshold
        # the released arithmetic: mean over steps of 2 (s - m), signed by the outcome
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.bincount(sample_of, weights=(flat - m) * 2.0, minlength=len(counts)) / counts
        c = np.where(correct, c, -c)
        lo, hi = p.step_bounds
        c -= p.length_penalty * ((counts < lo) | (counts > hi))
        c[~cand] = np.nan
        return c, correct

    def select(
        self, rewards: np.ndarray, ctx: BatchContext, components: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        p = self.params
        c, correct = self.consistency(self.column(rewards, components, p.outcome), ctx)
        cand = ~np.isnan(c)
        idx = ctx.group_index
        n_pos = np.bincount(idx[cand & correct], minlength=ctx.n_groups)
        n_neg = np.bincount(idx[cand & ~correct], minlength=ctx.n_groups)
        n_remove = np.minimum(p.remove, n_pos + n_neg)
        # Python's round (half to even), as the released code
        k_pos = np.minimum(n_remove, np.round((n_pos - n_neg + n_remove) / 2.0)).astype(np.int64)
        pos_removed = np.clip(k_pos, 0, n_pos)
        k_neg = np.minimum(n_remove - pos_removed, n_neg)
        # rank of each candidate within (group, class), by c ascending, ties by position
        cells = idx * 2 + correct
        where = np.flatnonzero(cand)
        order = where[sort_within_groups(c[where], cells[where], 2 * ctx.n_groups)]
        cell_sorted = cells[order]
        starts = np.ones(len(order), dtype=bool)
        starts[1:] = cell_sorted[1:] != cell_sorted[:-1]
        pos = np.arange(len(order))
        rank = pos - np.maximum.accumulate(np.where(starts, pos, 0))
        limit = np.where(correct[order], pos_removed[idx[order]], k_neg[idx[order]])
        keep = np.ones(len(ctx), dtype=bool)
        keep[order[rank < limit]] = False
        return keep


def apply_filters(
    filters: list[Filter],
    rewards: np.ndarray,
    ctx: BatchContext,
    components: Mapping[str, np.ndarray],
) -> tuple[np.ndarray | None, np.ndarray, Mapping[str, np.ndarray]]:
    """(keep, rewards, components) for the advantage stage: the filters' masks ANDed,
    and the samples left out set to NaN so they get no advantage. ``keep`` is None
    without filters (inputs returned unchanged)."""
    if not filters:
        return None, rewards, components
    keep = np.ones(len(ctx), dtype=bool)
    for f in filters:
        keep &= f(rewards, ctx, components)
    masked = {name: np.where(keep, values, np.nan) for name, values in components.items()}
    return keep, np.where(keep, rewards, np.nan), masked


def mark_kept(rows: list[dict[str, Any]], keep: np.ndarray | None) -> None:
    """The ``keep`` column; a row left out has no step advantages either."""
    if keep is None:
        return
    for row, k in zip(rows, keep.tolist(), strict=True):
        row["keep"] = k
        if not k and row.get("step_advantages") is not None:
            row["step_advantages"] = None

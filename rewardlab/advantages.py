"""Group advantage estimators, vectorised over the whole batch.

Input: the combined reward per sample (``NaN`` = unscorable) and a
:class:`~rewardlab.batch.BatchContext` with group codes; estimators that need the
components (``gdpo``) also take them with their weights. Output: an advantage per
sample, ``NaN`` where none is defined: an unscorable sample, or any member of a
group with fewer than two scorable members. Unscorable members are excluded from
every statistic. All statistics are ``bincount`` reductions over group codes: no
Python loop per group.

Step-level estimators (``step_level = True``: ``renorm``) also define
``estimate_steps(rewards, ctx, steps=None) -> list[np.ndarray | None]``: one 1-D
array of step advantages per sample (``None`` where undefined), the steps read
from ``meta["step_rewards"]`` unless given (see :mod:`rewardlab.transforms`).
Their ``estimate`` returns the mean step advantage per sample.

:func:`zero_variance_report` gives the fraction of groups whose scorable rewards
are all equal (no signal), per component and overall, and
:func:`advantage_coverage` the fraction of samples and groups that got an
advantage, for the run summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rewardlab.batch import BatchContext, tied_groups, zero_variance_fraction
from rewardlab.errors import InputError, SpecError, validate_params
from rewardlab.ranking import gaussian_rank
from rewardlab.registry import register
from rewardlab.transforms import StepRewards, flatten_steps, read_steps, unflatten_steps

EPS = 1e-6


class AdvantageEstimator:
    """Base class: subclasses set ``name``, ``Params`` and implement :meth:`estimate`."""

    name: ClassVar[str] = "advantage"
    Params: ClassVar[type[BaseModel]]
    step_level: ClassVar[bool] = False
    needs_components: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        self.params: Any = validate_params(self.Params, params, f"advantage {self.name!r}")

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        raise NotImplementedError

    def estimate_steps(
        self, rewards: np.ndarray, ctx: BatchContext, steps: StepRewards | None = None
    ) -> StepRewards:
        """Step (token-level) advantages; only step-level estimators define them."""
        raise TypeError(f"advantage {self.name!r} has no step-level output")

    def __call__(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        rewards = np.asarray(rewards, dtype=np.float64)
        if rewards.shape != (len(ctx),):
            raise InputError(
                f"advantage {self.name!r}: {rewards.shape[0] if rewards.ndim else 0} rewards "
                f"for a batch of {len(ctx)}"
            )
        return np.asarray(self.estimate(rewards, ctx, components, weights), dtype=np.float64)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- statistics


def group_moments(
    values: np.ndarray, idx: np.ndarray, n_groups: int, ddof: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-group (count, mean, std) of the scorable values (NaN excluded), and per sample
    the deviation from its group mean (NaN where unscorable).

    Sums run on values shifted by one scorable member of the group, so a group
    whose values are all equal has deviations of exactly 0 (no round-off
    "signal") and the variance is computed stably. ``ddof=1`` gives the unbiased
    std (``torch.std``'s default); a group with ``count <= ddof`` has std NaN, one
    with no scorable value has mean NaN.
    """
    ok = ~np.isnan(values)
    all_ok = bool(ok.all())
    ref = np.zeros(n_groups)
    n: np.ndarray
    if all_ok:
        ref[idx] = values
        n = np.bincount(idx, minlength=n_groups).astype(np.float64)
    else:
        ref[idx[ok]] = values[ok]
        n = np.bincount(idx, weights=ok, minlength=n_groups)
    shifted = values - ref[idx]
    v = shifted if all_ok else np.where(ok, shifted, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_shift = np.bincount(idx, weights=v, minlength=n_groups) / n
        dev = shifted - mean_shift[idx]
        dev_ok = dev if all_ok else np.where(ok, dev, 0.0)
        ss = np.bincount(idx, weights=dev_ok * dev_ok, minlength=n_groups)
        std = np.sqrt(ss / (n - ddof))
    return n, ref + mean_shift, std, dev


def group_stats(
    values: np.ndarray, ctx: BatchContext, ddof: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-*sample* (count, mean, std) of its group's scorable values (NaN excluded)."""
    n, mean, std, _ = group_moments(values, ctx.group_index, ctx.n_groups, ddof)
    idx = ctx.group_index
    return n[idx], mean[idx], std[idx]


def group_deviation(values: np.ndarray, ctx: BatchContext) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: scorable count of its group and its deviation from the group mean."""
    n, _, _, dev = group_moments(values, ctx.group_index, ctx.n_groups)
    return n[ctx.group_index], dev


def inverse_scale(std: np.ndarray, eps: float) -> np.ndarray:
    """1 / (std + eps), and 0 where std == 0 (all deviations are then exactly 0),
    so that ``eps = 0`` gives a tied group advantage 0 rather than 0/0 = NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std == 0.0, 0.0, 1.0 / (std + eps))


def _mask_small(adv: np.ndarray, count: np.ndarray) -> np.ndarray:
    """No advantage for members of groups with fewer than two scorable members."""
    adv[count < 2] = np.nan
    return adv


def zero_variance_report(
    rewards: np.ndarray, ctx: BatchContext, components: Mapping[str, np.ndarray] | None = None
) -> dict[str, float | None]:
    """Fraction of groups (with >= 2 scorable members) whose values are all equal.

    Key ``"overall"`` is for the combined reward, one key per component; ``None``
    where no group has two scorable members. Such groups give zero GRPO-style
    advantage: this is the number to watch.
    """
    out: dict[str, float | None] = {"overall": zero_variance_fraction(rewards, ctx)}
    for name, values in (components or {}).items():
        out[name] = zero_variance_fraction(np.asarray(values, dtype=np.float64), ctx)
    return out


def advantage_coverage(advantages: np.ndarray, ctx: BatchContext) -> dict[str, float | None]:
    """Fraction of samples and of groups that received an advantage (not NaN)."""
    adv = np.asarray(advantages, dtype=np.float64)
    if adv.size == 0:
        return {"samples": None, "groups": None}
    has = ~np.isnan(adv)
    per_group = np.bincount(ctx.group_index, weights=has, minlength=ctx.n_groups)
    return {"samples": float(has.mean()), "groups": float(np.mean(per_group > 0))}


def batch_signal(
    rewards: np.ndarray,
    advantages: np.ndarray | None,
    ctx: BatchContext,
    keep: np.ndarray | None = None,
    task_key: str = "task",
) -> dict[str, Any]:
    """Per-batch learning signal for the run summary.

    ``zero_variance_groups``: among groups with >= 2 scorable rewards, the fraction
    whose rewards are all equal, split into those kept and those a filter left out
    (every scorable member has ``keep`` false). ``mean_abs_advantage``: mean |A|
    over the samples with an advantage, per ``meta[task_key]`` value ("all" when no
    sample has the key): DUMP's learnability signal (Wang et al. 2025, "DUMP:
    Automated Distribution-Level Curriculum Learning for RL-based LLM
    Post-training", arXiv 2504.09710).
    """
    values = np.asarray(rewards, dtype=np.float64)
    ok = ~np.isnan(values)
    idx = ctx.group_index
    count = np.bincount(idx[ok], minlength=ctx.n_groups)
    flat = tied_groups(values, ctx)
    kept_any = count > 0 if keep is None else np.bincount(idx[ok], weights=keep[ok], minlength=ctx.n_groups) > 0
    total = int((count >= 2).sum())
    zv: dict[str, float | None] = {"all": None, "kept": None, "filtered": None}
    if total:
        zv = {"all": float(flat.sum() / total), "kept": float((flat & kept_any).sum() / total),
              "filtered": float((flat & ~kept_any).sum() / total)}
    out: dict[str, Any] = {"zero_variance_groups": zv, "mean_abs_advantage": {}}
    if advantages is not None and len(ctx.samples) == len(values):
        column = ctx.meta_column(task_key)
        missing = "all" if all(t is None for t in column) else "(none)"
        has = ~np.isnan(advantages)
        codes, names = labels_of([missing if t is None else t for t in column], "summary", task_key)
        count = np.bincount(codes[has], minlength=len(names))
        total_abs = np.bincount(codes[has], weights=np.abs(advantages[has]), minlength=len(names))
        out["mean_abs_advantage"] = {
            str(name): (float(total_abs[t] / count[t]) if count[t] else None) for t, name in enumerate(names)}
    return out


# --------------------------------------------------------------------------- GRPO family


class GRPOParams(_Params):
    unbiased_std: bool = True  # verl and TRL use torch.std (unbiased, ddof=1)
    eps: float = Field(default=EPS, ge=0.0)


@register("advantage", "grpo")
class GRPO(AdvantageEstimator):
    """GRPO: A_i = (R_i - mean R) / (std R + eps) within each group.

    Shao et al. 2024 (DeepSeekMath, arXiv 2402.03300), Sec. 4.1.2, outcome
    supervision. std is unbiased (ddof=1) by default to match verl's
    ``compute_grpo_outcome_advantage`` (``torch.std``) and TRL; ``unbiased_std=false``
    gives the population std. verl gives a singleton group mean 0 and std 1; here a
    group with fewer than two scorable members gets no advantage (NaN).
    """

    name = "grpo"
    Params = GRPOParams

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        idx = ctx.group_index
        ddof = 1 if self.params.unbiased_std else 0
        n, _, std, dev = group_moments(rewards, idx, ctx.n_groups, ddof)
        scale = inverse_scale(std, self.params.eps)
        scale[n < 2] = np.nan
        return dev * scale[idx]


@register("advantage", "dr_grpo")
class DrGRPO(AdvantageEstimator):
    """Dr. GRPO: A_i = R_i - mean R (no std division).

    Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical Perspective"
    (arXiv 2503.20783), its unbiased advantage R_i - mean R: removing the std removes the
    question-difficulty bias. (Its other fix, normalising the loss by a constant
    rather than |y|, belongs to the trainer's loss, not to the advantage.)
    """

    name = "dr_grpo"
    Params = _Params

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        n, dev = group_deviation(rewards, ctx)
        return _mask_small(dev, n)


@register("advantage", "rloo")
class RLOO(AdvantageEstimator):
    """RLOO: A_i = R_i - mean_{j != i} R_j = G/(G-1) (R_i - mean R).

    Kool et al. 2019 ("Buy 4 REINFORCE samples, get a baseline for free");
    Ahmadian et al. 2024 (arXiv 2402.14740), the RLOO estimator; verl's
    ``compute_rloo_outcome_advantage``. G counts scorable members only.
    """

    name = "rloo"
    Params = _Params

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        n, dev = group_deviation(rewards, ctx)
        with np.errstate(invalid="ignore", divide="ignore"):
            adv = dev * (n / (n - 1.0))
        return _mask_small(adv, n)


class ReinforcePPParams(_Params):
    token_weighted: bool = False
    eps: float = Field(default=1e-8, ge=0.0)


def whiten(values: np.ndarray, weights: np.ndarray | None = None, eps: float = 1e-8) -> np.ndarray:
    """(v - mean) / sqrt(var + eps) over the non-NaN values, var unbiased (n/(n-1)).

    With ``weights`` (e.g. token counts) the mean and variance are weighted and n is
    the weight total, as verl's ``masked_whiten`` over a token mask.
    """
    ok = ~np.isnan(values)
    w = np.ones(int(ok.sum())) if weights is None else np.asarray(weights, np.float64)[ok]
    v = values[ok]
    total = float(w.sum())
    if total <= 1.0:
        return np.full_like(values, np.nan)
    mean = float(np.dot(w, v) / total)
    var = float(np.dot(w, (v - mean) ** 2) / total) * total / (total - 1.0)
    if var + eps == 0.0:
        return np.where(np.isnan(values), np.nan, 0.0)  # all equal: no spread to whiten
    return (values - mean) / np.sqrt(var + eps)


@register("advantage", "reinforce_pp_baseline")
@register("advantage", "reinforce_pp")
class ReinforcePPBaseline(AdvantageEstimator):
    """REINFORCE++ with baseline: A_i = R_i - mean_group R, then whitened over the batch.

    Hu 2025, "REINFORCE++" (arXiv 2501.03262), Sec. 3 (global advantage
    normalisation); verl's ``compute_reinforce_plus_plus_baseline_outcome_advantage``
    (group mean, then ``masked_whiten``: unbiased variance, (x - m) * rsqrt(var + 1e-8)).
    verl whitens over tokens, so each sample weighs its response length:
    ``token_weighted=true`` does that with ``ctx.lengths()``; the default weighs
    samples equally (identical to verl when lengths are equal).
    """

    name = "reinforce_pp_baseline"
    Params = ReinforcePPParams

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        n, dev = group_deviation(rewards, ctx)
        centred = _mask_small(dev, n)
        w = ctx.lengths() if self.params.token_weighted else None
        return whiten(centred, w, self.params.eps)


# --------------------------------------------------------------------------- stratified


class StratifiedParams(_Params):
    key: str
    alpha: float = Field(default=1.0, ge=0.0, le=1.0)
    eps: float = Field(default=EPS, ge=0.0)
    unbiased_std: bool = False
    scope: Literal["group", "batch"] = "group"


def labels_of(
    column: list[Any], where: str, key: str, what: str = "the task key"
) -> tuple[np.ndarray, list[Any]]:
    """Integer codes for the distinct values of a meta column, and those values in
    code order (missing -> error)."""
    table: dict[Any, int] = {}
    out = np.empty(len(column), dtype=np.int64)
    for i, value in enumerate(column):
        if value is None:
            raise InputError(f"{where}: sample {i} has no meta[{key!r}] ({what})")
        hashable = value if isinstance(value, (str, int, float, bool)) else repr(value)
        out[i] = table.setdefault(hashable, len(table))
    return out, list(table)


def codes_of(column: list[Any], where: str, key: str) -> np.ndarray:
    """Integer codes for the distinct values of a meta column (missing -> error)."""
    return labels_of(column, where, key, "the stratum key")[0]


def task_codes(ctx: BatchContext, key: str | None, where: str) -> tuple[np.ndarray, list[Any]]:
    """Task code per sample from ``meta[key]``, and the task names; one task "all" if no key."""
    if key is None:
        return np.zeros(len(ctx), dtype=np.int64), ["all"]
    return labels_of(ctx.meta_column(key), where, key)


@register("advantage", "stratified")
class Stratified(AdvantageEstimator):
    """Stratified advantage normalisation (SAN), blended with group normalisation.

    Zhu et al. 2025, "Stratified GRPO" (arXiv 2510.06214), its SAN estimator and
    its linear blend with the global estimator. Strata B_k are the samples sharing
    ``meta[key]`` (e.g. the number of tool calls) within a prompt group
    (``scope="group"``) or within the whole batch (``scope="batch"``);
    A_i = alpha (R_i - mu_k) / (sigma_k + eps) + (1 - alpha) (R_i - mu) / (sigma + eps),
    mu, sigma over the group (or batch), sigma population std by default. A
    stratum with one scorable member has R_i - mu_k = 0, so its SAN term is 0.
    """

    name = "stratified"
    Params = StratifiedParams

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        p = self.params
        ddof = 1 if p.unbiased_std else 0
        strata = codes_of(ctx.meta_column(p.key), "advantage 'stratified'", p.key)
        group = ctx.group_index if p.scope == "group" else np.zeros(len(ctx), dtype=np.int64)
        n_groups = ctx.n_groups if p.scope == "group" else 1
        cell_key = group * (int(strata.max(initial=0)) + 1) + strata
        _, cell = np.unique(cell_key, return_inverse=True)
        n_cells = int(cell.max(initial=-1)) + 1
        n, _, sigma, dev = group_moments(rewards, group, n_groups, ddof)
        nk, _, sigmak, devk = group_moments(rewards, cell, n_cells, ddof)
        sigmak = np.where(nk < 2, 0.0, sigmak)  # singleton stratum: its deviation is 0
        with np.errstate(invalid="ignore", divide="ignore"):
            san = devk * inverse_scale(sigmak, p.eps)[cell]
            glob = dev * inverse_scale(sigma, p.eps)[group]
        adv = p.alpha * san + (1.0 - p.alpha) * glob if p.alpha < 1.0 else san
        return _mask_small(adv, n[group])


# --------------------------------------------------------------------------- GDPO


class GDPOParams(_Params):
    unbiased_std: bool = True
    eps: float = Field(default=EPS, ge=0.0)
    batch_norm: bool = False


@register("advantage", "gdpo")
class GDPO(AdvantageEstimator):
    """GDPO: normalise each reward component within the group, then the weighted sum.

    Liu et al. 2026, "GDPO: Group reward-Decoupled Normalization Policy
    Optimization" (arXiv 2601.05242): A_i = sum_k w_k (c_ik - mean_g c_k) /
    (std_g c_k + eps), so components with different scales cannot collapse into
    identical advantages as they do when GRPO normalises their sum.
    ``batch_norm=true`` then whitens the sum over the batch (the paper's extra
    batch-wise normalisation; not checked against its text). A sample is
    scorable only if every component is; components with zero within-group
    variance contribute 0.
    """

    name = "gdpo"
    Params = GDPOParams
    needs_components = True

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        if not components:
            raise SpecError("advantage 'gdpo' needs the reward components (none given)")
        p = self.params
        w = weights or {}
        matrix = np.vstack([np.asarray(c, dtype=np.float64) for c in components.values()])
        ok = ~np.isnan(matrix).any(axis=0)
        idx = ctx.group_index
        adv = np.zeros(len(ctx))
        count = np.zeros(len(ctx))
        for name, row in zip(components, matrix, strict=True):  # loop over components only
            ddof = 1 if p.unbiased_std else 0
            n, _, std, dev = group_moments(np.where(ok, row, np.nan), idx, ctx.n_groups, ddof)
            adv += w.get(name, 1.0) * dev * inverse_scale(std, p.eps)[idx]
            count = n[idx]
        adv[~ok] = np.nan
        adv = _mask_small(adv, count)
        return whiten(adv, eps=p.eps) if p.batch_norm else adv


# --------------------------------------------------------------------------- OPO


@register("advantage", "opo")
class OPO(AdvantageEstimator):
    """OPO: A_i = R_i - b, b = sum_j |y_j| R_j / sum_j |y_j| (length-weighted group mean).

    Hao et al. 2025, "On-Policy RL with Optimal Reward Baseline" (arXiv
    2505.23585), the optimal baseline under the sequence-length approximation;
    verl's ``compute_opo_outcome_advantage``. Lengths from ``ctx.lengths()``.
    """

    name = "opo"
    Params = _Params

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        lengths = ctx.lengths()
        if len(lengths) != len(rewards):
            raise InputError("advantage 'opo': needs samples to read lengths from")
        ok = ~np.isnan(rewards)
        idx = ctx.group_index
        ref = np.zeros(ctx.n_groups)
        ref[idx[ok]] = rewards[ok]  # shift by a member: a tied group gives exactly 0
        shifted = rewards - ref[idx]
        n = np.bincount(idx, weights=ok, minlength=ctx.n_groups)
        num = np.bincount(idx, weights=np.where(ok, lengths * shifted, 0.0), minlength=ctx.n_groups)
        den = np.bincount(idx, weights=np.where(ok, lengths, 0.0), minlength=ctx.n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            baseline_shift = num / den
        return _mask_small(shifted - baseline_shift[idx], n[idx])


# --------------------------------------------------------------------------- Gaussian rank


class GaussianRankParams(_Params):
    task_key: str | None = None
    task_pass: bool = True


@register("advantage", "gaussian_rank")
class GaussianRank(AdvantageEstimator):
    """Gaussian GRPO (G^2RPO): each group's rewards mapped to N(0, 1) through their ranks.

    Hu et al. 2026, "OpenVLThinkerV2" (arXiv 2604.08539), G^2RPO, 1-D optimal
    transport to N(0, 1), as in its released ``compute_1d_ot``: the member of rank
    k (1-based, ascending) among n scorable members gets
    A = Phi^-1((k - 1/2) / n); tied members get the mean of their ranks'
    quantiles (so a tied group gets exactly 0 and a group sums to 0). With
    ``task_pass`` (default, as the released ``compute_pertask_gaussian_outcome_
    advantage_grpo``) the group advantages of each task (``meta[task_key]``; the
    whole batch when no key) are mapped to N(0, 1) again by the same rule. The
    released code gives a one-member group 0; here it gets no advantage (NaN) and
    takes no part in the task pass.
    """

    name = "gaussian_rank"
    Params = GaussianRankParams

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        idx = ctx.group_index
        ok = ~np.isnan(rewards)
        n = np.bincount(idx[ok], minlength=ctx.n_groups)
        adv = _mask_small(gaussian_rank(rewards, idx, ctx.n_groups), n[idx])
        if self.params.task_pass:
            tasks, names = task_codes(ctx, self.params.task_key, "advantage 'gaussian_rank'")
            adv = gaussian_rank(adv, tasks, len(names))
        return adv


# --------------------------------------------------------------------------- EMA-GRPO


class EmaGRPOParams(_Params):
    task_key: str | None = None
    decay: float = Field(default=0.99, ge=0.0, lt=1.0)
    min_std: float = Field(default=1e-3, gt=0.0)
    eps: float = Field(default=EPS, ge=0.0)
    guard: float | None = Field(default=5.0, gt=0.0)


@register("advantage", "ema_grpo")
class EmaGRPO(AdvantageEstimator):
    """EMA-GRPO: group-centred rewards scaled by a per-task moving-average std.

    OneThinker (Feng et al. 2025, arXiv 2512.03043), EMA-GRPO, as in its released
    ``compute_ema_grpo_outcome_advantage``: per task tau (``meta[task_key]``; one
    task when no key) the moments are moving averages over batches,
    m1 <- d m1 + (1 - d) mean(R), m2 <- d m2 + (1 - d) mean(R^2) over the task's
    scorable rewards in the batch (the first batch initialises them), updated
    *before* scaling; sigma_tau = sqrt(max(m2 - m1^2, min_std^2)), min_std for a
    task never seen; A_i = (R_i - mean_group R) / (sigma_tau + eps). Guard
    (``guard``, default 5): a group with any |A_i| > guard falls back to its own
    population std, (R_i - mean) / (std_group + eps). State ``{task: [m1, m2]}``
    is saved, loaded and frozen like ``normalize``'s.
    """

    name = "ema_grpo"
    Params = EmaGRPOParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.moments: dict[str, list[float]] = {}
        self.frozen = False

    def update(self, rewards: np.ndarray, tasks: np.ndarray, names: list[Any]) -> None:
        ok = ~np.isnan(rewards)
        count = np.bincount(tasks[ok], minlength=len(names))
        r = rewards[ok]
        with np.errstate(invalid="ignore", divide="ignore"):
            m1 = np.bincount(tasks[ok], weights=r, minlength=len(names)) / count
            m2 = np.bincount(tasks[ok], weights=r * r, minlength=len(names)) / count
        d = self.params.decay
        for t in np.flatnonzero(count):  # one iteration per task, not per group
            key, new = str(names[t]), [float(m1[t]), float(m2[t])]
            old = self.moments.get(key)
            self.moments[key] = new if old is None else [
                d * old[0] + (1.0 - d) * new[0], d * old[1] + (1.0 - d) * new[1]]

    def task_std(self, names: list[Any]) -> np.ndarray:
        """sigma_tau per task, ``min_std`` for a task with no statistics."""
        floor = self.params.min_std
        out = np.full(len(names), floor)
        for t, name in enumerate(names):
            m = self.moments.get(str(name))
            if m is not None:
                out[t] = max(m[1] - m[0] * m[0], floor * floor) ** 0.5
        return out

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        p = self.params
        tasks, names = task_codes(ctx, p.task_key, "advantage 'ema_grpo'")
        if not self.frozen:
            self.update(rewards, tasks, names)
        idx = ctx.group_index
        n, _, std, dev = group_moments(rewards, idx, ctx.n_groups)
        adv = dev / (self.task_std(names)[tasks] + p.eps)
        if p.guard is not None:
            with np.errstate(invalid="ignore"):
                over = np.bincount(idx, weights=np.abs(adv) > p.guard, minlength=ctx.n_groups) > 0
            fallback = over[idx]
            adv[fallback] = (dev * inverse_scale(std, p.eps)[idx])[fallback]
        return _mask_small(adv, n[idx])

    def freeze(self) -> None:
        """Stop updating the moving averages (evaluation mode)."""
        self.frozen = True

    def state_dict(self) -> dict[str, Any]:
        return {"moments": {k: list(v) for k, v in self.moments.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state) != {"moments"}:
            raise ValueError("advantage 'ema_grpo': state needs the key 'moments'")
        self.moments = {str(k): [float(v[0]), float(v[1])] for k, v in state["moments"].items()}


# --------------------------------------------------------------------------- ReNorm (steps)


class RenormParams(_Params):
    step_key: str = "step_rewards"


@register("advantage", "renorm")
class Renorm(AdvantageEstimator):
    """ReNorm step advantages for process plus outcome rewards: A_t = r_t^proc + R - 1.

    Xu et al. 2025, "Hybrid Reward Normalization for Process-supervised
    Non-verifiable Agentic Tasks" (arXiv 2509.25598), ReNorm: with process rewards
    in [0, 1] and the outcome R in {0, 1} (or [0, 1]) each step's value lies in
    [-1, 1]: positive only when both the step and the outcome are good. Form as
    given in FORMULAS.md (marked "verify" there). Not group-relative: a sample
    needs its own steps and a scorable outcome. ``estimate`` gives the mean step
    value per sample; ``estimate_steps`` the per-step values.
    """

    name = "renorm"
    Params = RenormParams
    step_level = True

    def estimate_steps(
        self, rewards: np.ndarray, ctx: BatchContext, steps: StepRewards | None = None
    ) -> StepRewards:
        rewards = np.asarray(rewards, dtype=np.float64)
        if steps is None:
            steps = read_steps(ctx, self.params.step_key)
        if len(steps) != len(rewards):
            raise InputError("advantage 'renorm': steps and rewards differ in length")
        flat, counts, ok = flatten_steps(steps)
        sample_of = np.repeat(np.arange(len(counts)), counts)
        ok &= ~np.isnan(rewards)
        return unflatten_steps(flat + rewards[sample_of] - 1.0, counts, ok)

    def estimate(
        self,
        rewards: np.ndarray,
        ctx: BatchContext,
        components: Mapping[str, np.ndarray] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        steps = read_steps(ctx, self.params.step_key)
        flat, counts, ok = flatten_steps(steps)
        sample_of = np.repeat(np.arange(len(counts)), counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_step = np.bincount(sample_of, weights=flat, minlength=len(counts)) / counts
        out = mean_step + rewards - 1.0
        out[~ok] = np.nan
        return out

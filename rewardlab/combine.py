"""Combiners: many reward components -> one reward per sample.

Input is a mapping of component name -> float array (``NaN`` = unscorable) and
the spec's weights (a component missing from ``weights`` weighs 1.0). Unless a
combiner documents otherwise, a sample with any unscorable component gets an
unscorable (``NaN``) combined reward. Everything is vectorised over the batch.

Registry names: ``weighted_sum``, ``gated``, ``product``, ``logsigmoid_and``,
``ensemble`` (and its fixed-reduction aliases ``mean``, ``median``, ``min``,
``mean_minus_std``, ``mean_minus_var``), ``pareto``, ``lexicographic``,
``coupled``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rewardlab.batch import BatchContext
from rewardlab.core import NoParams
from rewardlab.errors import InputError, SpecError, validate_params
from rewardlab.registry import register
from rewardlab.transforms import log_sigmoid, ragged_matrix, reference_quantile

EPS = 1e-6


class Combiner:
    """Base class: subclasses set ``name``, ``Params`` and implement :meth:`combine`."""

    name: ClassVar[str] = "combiner"
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, **params: Any) -> None:
        self.params: Any = validate_params(self.Params, params, f"combiner {self.name!r}")

    def combine(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        raise NotImplementedError

    def __call__(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        return np.asarray(self.combine(components, weights, ctx), dtype=np.float64)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


def stack(
    components: Mapping[str, np.ndarray], weights: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Components as a (n_components, n_samples) matrix and the weight vector."""
    names = list(components)
    if not names:
        return np.zeros((0, 0)), np.zeros(0)  # callers that need components check first
    matrix = np.vstack([np.asarray(components[n], dtype=np.float64) for n in names])
    w = np.array([weights.get(n, 1.0) for n in names], dtype=np.float64)
    return matrix, w


def _check_names(names: list[str], components: Mapping[str, np.ndarray], where: str) -> None:
    unknown = [n for n in names if n not in components]
    if unknown:
        raise SpecError(
            f"{where}: unknown component(s) {unknown} (components: {', '.join(components)})"
        )


@register("combiner", "weighted_sum")
class WeightedSum(Combiner):
    """Sum of weight * component; unscorable if any component is."""

    name = "weighted_sum"

    def combine(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        matrix, w = stack(components, weights)
        if not len(components):
            raise SpecError("combiner 'weighted_sum': no components to combine")
        return np.asarray(w @ matrix)


# --------------------------------------------------------------------------- gated


class GatedParams(_Params):
    gate: str | list[str]
    threshold: float = 1.0
    strict: bool = False
    include_gate: bool = True
    fail_value: float | None = None


@register("combiner", "gated")
class Gated(Combiner):
    """Gate: the other components count only when every gate component passes.

    pass = gate >= threshold (``>`` if ``strict``) for each gate. If it passes:
    sum of w * c over the components (the gates' own terms only if
    ``include_gate``). If it fails: ``fail_value`` if given, else the gates'
    weighted terms (``include_gate``) or 0.0. A sample with an unscorable gate is
    unscorable; one that fails the gate is scored whatever its other components,
    since they do not count (the format-gate pattern of DeepSeek-R1-style rewards).
    """

    name = "gated"
    Params = GatedParams

    def combine(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        p = self.params
        gates = [p.gate] if isinstance(p.gate, str) else list(p.gate)
        _check_names(gates, components, "combiner 'gated'")
        names = list(components)
        matrix, w = stack(components, weights)
        is_gate = np.array([n in gates for n in names])
        g = matrix[is_gate]
        with np.errstate(invalid="ignore"):
            passed = np.all(g > p.threshold if p.strict else g >= p.threshold, axis=0)
        gate_nan = np.isnan(g).any(axis=0)
        gate_terms = w[is_gate] @ g
        others = w[~is_gate] @ matrix[~is_gate] if (~is_gate).any() else np.zeros(matrix.shape[1])
        on_pass = others + (gate_terms if p.include_gate else 0.0)
        if p.fail_value is not None:
            on_fail: np.ndarray | float = p.fail_value
        else:
            on_fail = gate_terms if p.include_gate else 0.0
        out = np.where(passed, on_pass, on_fail)
        out[gate_nan] = np.nan
        return np.asarray(out, dtype=np.float64)


# --------------------------------------------------------------------------- product


@register("combiner", "product")
class Product(Combiner):
    """Multiplicative combination: r = prod_i c_i ** w_i (weights are exponents; 1 = plain product).

    For multiplicative penalties, as in CaRL (Jaeger et al. 2025, "CaRL: Learning
    Scalable Planning Policies with Simple Rewards", arXiv 2504.17838): reward =
    route-completion progress times the product of penalty factors in [0, 1].
    A negative component with a non-integer exponent is an input error.
    """

    name = "product"

    def combine(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        matrix, w = stack(components, weights)
        if not len(components):
            raise SpecError("combiner 'product': no components to combine")
        frac = w != np.round(w)
        with np.errstate(invalid="ignore"):
            bad = (matrix[frac] < 0).any()
        if bad:
            raise InputError("combiner 'product': negative component with a non-integer weight")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.prod(np.power(matrix, w[:, None]), axis=0))


# --------------------------------------------------------------------------- logsigmoid_and


class LogSigmoidAndParams(_Params):
    quantile: float = Field(default=0.85, ge=0.0, le=1.0)
    ref_key: str = "ref_rewards"
    refs: dict[str, float] | None = None


@register("combiner", "logsigmoid_and")
class LogSigmoidAnd(Combiner):
    """Soft AND ("good on all"): U = sum_i w_i log sigma(c_i - ref_i(x)).

    Wang et al. 2024, "Transforming and Combining Rewards for Aligning Large
    Language Models" (arXiv 2402.00742), the "logical AND" combination (the sum of
    log-sigmoid-centred
    rewards, a soft AND; the paper sums with unit weights). ref_i is the fixed
    ``refs[name]`` when given, else the ``quantile`` (default 0.85) of the
    reference-policy rewards ``meta[ref_key][name]`` (a list, or a float) of the
    sample's prompt.
    """

    name = "logsigmoid_and"
    Params = LogSigmoidAndParams

    def _ref(self, name: str, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        p = self.params
        if p.refs is not None and name in p.refs:
            return np.full(len(values), float(p.refs[name]))
        column = ctx.meta_column(p.ref_key)
        rows = [r.get(name) if isinstance(r, Mapping) else None for r in column]
        ref = reference_quantile(ragged_matrix(rows), p.quantile)
        if len(ref) != len(values) or (np.isnan(ref) & ~np.isnan(values)).any():
            raise InputError(
                f"combiner 'logsigmoid_and': component {name!r} needs a reference: give "
                f"refs.{name} or meta[{p.ref_key!r}][{name!r}] for every scorable sample"
            )
        return ref

    def combine(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        if not components:
            raise SpecError("combiner 'logsigmoid_and': no components to combine")
        total = np.zeros(len(next(iter(components.values()))))
        for name, values in components.items():  # loop over components, not samples
            v = np.asarray(values, dtype=np.float64)
            total += weights.get(name, 1.0) * log_sigmoid(v - self._ref(name, v, ctx))
        return total


# --------------------------------------------------------------------------- ensembles

Reduction = Literal["mean", "median", "min", "mean_minus_std", "mean_minus_var"]


class EnsembleParams(_Params):
    reduction: Reduction = "mean"
    lam: float = Field(default=1.0, ge=0.0)
    standardize: bool = True
    require_all: bool = True
    stats: dict[str, tuple[float, float]] | None = None


def standardize_rows(
    matrix: np.ndarray, eps: float = EPS, fixed: list[tuple[float, float] | None] | None = None
) -> np.ndarray:
    """Each row (a member) as (c - mean) / (std + eps) over its scorable values.

    ``fixed[i]`` (mean, std), where given, replaces row i's batch statistics.
    """
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(matrix, axis=1, keepdims=True)
        std = np.nan_to_num(np.nanstd(matrix, axis=1, keepdims=True), nan=0.0)
    for i, ms in enumerate(fixed or []):
        if ms is not None:
            mean[i, 0], std[i, 0] = ms
    return np.asarray((matrix - mean) / (std + eps))


def reduce_members(z: np.ndarray, reduction: str, lam: float, skip_nan: bool) -> np.ndarray:
    """Reduce an (members, samples) matrix over members."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(z, axis=0) if skip_nan else z.mean(axis=0)
        if reduction == "mean":
            return np.asarray(mean)
        if reduction == "median":
            return np.asarray(np.nanmedian(z, axis=0) if skip_nan else np.median(z, axis=0))
        if reduction == "min":
            return np.asarray(np.nanmin(z, axis=0) if skip_nan else z.min(axis=0))
        var = np.nanvar(z, axis=0) if skip_nan else z.var(axis=0)
    if reduction == "mean_minus_std":
        return np.asarray(mean - lam * np.sqrt(var))
    return np.asarray(mean - lam * var)


@register("combiner", "ensemble")
class Ensemble(Combiner):
    """Reward-model ensemble: standardise each member over the batch, then reduce.

    Coste et al. 2024, "Reward Model Ensembles Help Mitigate Overoptimization"
    (arXiv 2310.02743): mean, worst-case (``min``) and uncertainty-weighted
    ``mean_minus_var`` (mean - lam * variance across members); Eisenstein et al.
    2023, "Helping or Herding?" (arXiv 2312.09244): ``mean``, ``median`` and
    ``mean_minus_std``. Each member is first standardised over the batch's
    scorable samples, (c - mean) / (std + 1e-6), population std
    (``standardize=false`` skips it; ``stats = {member: [mean, std]}`` fixes a
    member's statistics, e.g. from its calibration set, so that small batches and
    single requests are standardised the same way); the spread across members is
    the population std/variance. Members are exchangeable: weights other than 1 are
    an error. With ``require_all=false`` a sample is reduced over the members
    that scored it (unscorable only if none did).
    """

    name = "ensemble"
    Params = EnsembleParams
    fixed: ClassVar[Reduction | None] = None

    def __init__(self, **params: Any) -> None:
        if self.fixed is not None:
            if "reduction" in params:
                raise SpecError(f"combiner {self.name!r}: the reduction is fixed; use 'ensemble'")
            params = {**params, "reduction": self.fixed}
        super().__init__(**params)

    def combine(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        matrix, w = stack(components, weights)
        if not len(components):
            raise SpecError(f"combiner {self.name!r}: no ensemble members")
        if np.any(w != 1.0):
            raise SpecError(f"combiner {self.name!r}: ensemble members take no weights")
        p = self.params
        fixed = [p.stats.get(n) if p.stats else None for n in components]
        z = standardize_rows(matrix, fixed=fixed) if p.standardize else matrix
        return reduce_members(z, p.reduction, p.lam, skip_nan=not p.require_all)


def _alias(reduction: Reduction) -> type[Ensemble]:
    cls = type(
        f"Ensemble_{reduction}",
        (Ensemble,),
        {
            "name": reduction,
            "fixed": reduction,
            "__doc__": f"Ensemble reduction {reduction!r} after per-member standardisation "
            "(see 'ensemble').",
        },
    )
    return register("combiner", reduction)(cls)


for _r in ("mean", "median", "min", "mean_minus_std", "mean_minus_var"):
    _alias(_r)


# --------------------------------------------------------------------------- pareto


def group_pairs(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs (i, j) of positions sharing a group code (i == j included).

    Vectorised: positions are sorted by group, then each i is paired with every
    position of its group's block.
    """
    order = np.argsort(group, kind="stable")
    g_sorted = group[order]
    _, start, size = np.unique(g_sorted, return_index=True, return_counts=True)
    block = np.repeat(np.arange(len(start)), size)  # block of each sorted position
    reps = size[block]  # how many partners each sorted position has
    i_sorted = np.repeat(np.arange(len(order)), reps)
    offset = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
    j_sorted = start[block][i_sorted] + offset
    return order[i_sorted], order[j_sorted]


def pareto_fronts(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Non-dominated front index (0 = Pareto front) of each row within its group.

    ``values`` is (n_samples, n_objectives), all maximised. Non-dominated sorting
    as in NSGA-II (Deb et al. 2002): peel front after front; the loop runs once
    per front (at most the largest group size), never per group. Work and memory
    grow with the sum of squared group sizes (every ordered pair in a group).
    """
    n = len(values)
    front = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return front
    i, j = group_pairs(group)
    vi, vj = values[i], values[j]
    dom = np.all(vj >= vi, axis=1) & np.any(vj > vi, axis=1)  # j dominates i
    i, j = i[dom], j[dom]
    remaining = np.bincount(i, minlength=n)
    level = 0
    current = remaining == 0
    while current.any():
        front[current] = level
        hit = current[j]  # dominations by the current front are lifted
        remaining = remaining - np.bincount(i[hit], minlength=n)
        remaining[front >= 0] = -1
        current = remaining == 0
        level += 1
    return front


def batch_fronts(values: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Non-dominated front index of each row over the whole batch (all maximised).

    Peels front after front; each peel tests every remaining row against every
    other in chunks of ``chunk`` rows, so memory stays O(chunk x n) while the work
    is O(fronts x n^2) comparisons (no pair list as in :func:`pareto_fronts`).
    """
    n = len(values)
    front = np.full(n, -1, dtype=np.int64)
    remaining = np.arange(n)
    level = 0
    while remaining.size:
        v = values[remaining]
        dominated = np.zeros(len(remaining), dtype=bool)
        for start in range(0, len(remaining), chunk):  # chunks of rows, not groups
            block = v[start : start + chunk]
            ge = np.all(v[None, :, :] >= block[:, None, :], axis=2)
            gt = np.any(v[None, :, :] > block[:, None, :], axis=2)
            dominated[start : start + chunk] = np.any(ge & gt, axis=1)
        front[remaining[~dominated]] = level
        remaining = remaining[dominated]
        level += 1
    return front


def objectives_of(components: Mapping[str, np.ndarray], weights: Mapping[str, float], where: str) -> np.ndarray:
    """(samples, objectives) to maximise: a negative weight minimises, a zero weight drops."""
    matrix, w = stack(components, weights)
    if not len(components):
        raise SpecError(f"{where}: no components to combine")
    return np.asarray((matrix[w != 0] * np.sign(w[w != 0])[:, None]).T)


class ParetoParams(_Params):
    scope: Literal["group", "batch"] = "group"


@register("combiner", "pareto")
class Pareto(Combiner):
    """Pareto rank: reward = -(non-dominated front index) within the group or the batch.

    0 for samples on the Pareto front across the components, -1 for the next
    front, and so on (NSGA-II non-dominated sorting, Deb et al. 2002), within the
    prompt group (``scope="group"``) or across the whole batch (``scope="batch"``:
    the batch-wise non-dominated selection of Parrot, Lee et al. 2024, "Parrot:
    Pareto-optimal Multi-Reward Reinforcement Learning Framework for Text-to-Image
    Generation", arXiv 2401.05675, which trains on the batch's front 0).
    Components are maximised; a negative weight minimises that component, a zero
    weight drops it (magnitudes do not matter). Samples with an unscorable
    component are unscorable and take no part in the comparison.
    """

    name = "pareto"
    Params = ParetoParams

    def combine(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        objectives = objectives_of(components, weights, "combiner 'pareto'")
        ok = ~np.isnan(objectives).any(axis=1)
        out = np.full(len(ctx), np.nan)
        if self.params.scope == "batch":
            fronts = batch_fronts(objectives[ok])
        else:
            fronts = pareto_fronts(objectives[ok], ctx.group_index[ok])
        out[ok] = 0.0 - fronts.astype(np.float64) + 0.0
        return out


# --------------------------------------------------------------------------- lexicographic


class LexicographicParams(_Params):
    order: list[str] = Field(min_length=1)
    margins: dict[str, float] = Field(default_factory=dict)


@register("combiner", "lexicographic")
class Lexicographic(Combiner):
    """Hierarchical (lexicographic) comparison with margins, as a per-group rank reward.

    HERON (Bukharin et al. 2023, "Deep Reinforcement Learning from Hierarchical
    Preference Design", arXiv 2309.02632): two samples are compared on the
    designer's most important factor first (``order``, highest first); if they
    differ by more than its margin (``margins[name]``, default 0) that decides the
    preference, else the next factor decides, and so on; no decision is a tie.
    HERON trains a reward model on these preferences; here they are turned into
    the Copeland score within the group, (wins - losses) / (n - 1) in [-1, 1],
    n the group's scorable members (0 for a group of one). A negative weight
    minimises a factor. A sample with an unscorable factor is unscorable and not
    compared. Work grows with the sum of squared group sizes.
    """

    name = "lexicographic"
    Params = LexicographicParams

    def combine(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        p = self.params
        _check_names(p.order + list(p.margins), components, "combiner 'lexicographic'")
        factors = np.column_stack(
            [np.sign(weights.get(n, 1.0) or 1.0) * np.asarray(components[n], dtype=np.float64) for n in p.order])
        ok = ~np.isnan(factors).any(axis=1)
        where = np.flatnonzero(ok)
        i, j = group_pairs(ctx.group_index[where])
        i, j = where[i], where[j]
        pref = np.zeros(len(i))
        decided = np.zeros(len(i), dtype=bool)
        for k, name in enumerate(p.order):  # loop over factors, not groups
            diff = factors[i, k] - factors[j, k]
            now = ~decided & (np.abs(diff) > p.margins.get(name, 0.0))
            pref[now] = np.sign(diff[now])
            decided |= now
        n = np.bincount(ctx.group_index[ok], minlength=ctx.n_groups)[ctx.group_index]
        score = np.bincount(i, weights=pref, minlength=len(ctx))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(n > 1, score / (n - 1), 0.0)
        return np.where(ok, out, np.nan)


# --------------------------------------------------------------------------- coupled


def others_sum(
    components: Mapping[str, np.ndarray], weights: Mapping[str, float], exclude: tuple[str, ...]
) -> np.ndarray | float:
    """Weighted sum of the components not named in ``exclude`` (0.0 if none)."""
    total: np.ndarray | float = 0.0
    for name, values in components.items():  # loop over components, not samples
        if name not in exclude:
            total = total + weights.get(name, 1.0) * np.asarray(values, dtype=np.float64)
    return total


class CoupledParams(_Params):
    outcome: str
    term: str


@register("combiner", "coupled")
class Coupled(Combiner):
    """A term that counts only in proportion to the outcome: r = w_o o + w_t o c.

    The Conciseness Reward Function of Wang et al. 2025, "Efficient Reasoning via
    Reward Model" (arXiv 2511.09158): the conciseness score c counts only as far
    as the outcome reward o is earned, so a wrong answer cannot buy reward by
    being short. The paper states an explicit dependency of the conciseness term
    on the outcome; the product form is this library's reading (its equation was
    not retrieved). Weights are the components' spec weights; other components
    are added as a weighted sum. Unscorable if any component is.
    """

    name = "coupled"
    Params = CoupledParams

    def combine(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        p = self.params
        _check_names([p.outcome, p.term], components, "combiner 'coupled'")
        o, c = components[p.outcome], components[p.term]
        out = weights.get(p.outcome, 1.0) * o + weights.get(p.term, 1.0) * o * c
        return np.asarray(out + others_sum(components, weights, (p.outcome, p.term)), dtype=np.float64)


# --------------------------------------------------------------------------- trust (SophiaVL-R1)


class TrustParams(_Params):
    outcome: str
    thinking: str
    correct: float = 0.5
    band: tuple[float, float] = (0.1, 0.9)
    thinking_from: float = 0.2


@register("combiner", "trust")
class Trust(Combiner):
    """Trust-GRPO reward: outcome + trust-weighted thinking reward, per group.

    Fan et al. 2025, "SophiaVL-R1: Reinforcing MLLMs Reasoning with Thinking
    Reward" (arXiv 2505.17018), as its released reward manager
    (verl/workers/reward/custom.py): r_i = w_o o_i + gamma_g w_t t_i, where per group
    mu_c, mu_w are the mean thinking rewards of the correct (o >= ``correct``) and
    incorrect members, gamma_g = 1 if mu_c >= mu_w (or no member is correct),
    else e^(mu_c - mu_w): a thinking reward that prefers wrong answers is trusted
    less. A group whose outcomes are all <= band[0] or all >= band[1] gets no
    thinking term. As released, the thinking reward of a member with
    o < ``thinking_from`` counts as 0 (the thinking model is not asked). The
    paper's annealing (0.3 e^(-step/T)) is the thinking weight's schedule:
    ``weight = {schedule = "exp", start = 0.3, steps = T}``.
    """

    name = "trust"
    Params = TrustParams

    def combine(
        self, components: Mapping[str, np.ndarray], weights: Mapping[str, float], ctx: BatchContext
    ) -> np.ndarray:
        p = self.params
        _check_names([p.outcome, p.thinking], components, "combiner 'trust'")
        o = np.asarray(components[p.outcome], dtype=np.float64)
        t = np.asarray(components[p.thinking], dtype=np.float64)
        ok = ~np.isnan(o) & ~np.isnan(t)
        t = np.where(o >= p.thinking_from, t, 0.0)
        idx, n_groups = ctx.group_index, ctx.n_groups
        good = ok & (o >= p.correct)
        bad = ok & ~(o >= p.correct)
        n_c = np.bincount(idx, weights=good, minlength=n_groups)
        n_w = np.bincount(idx, weights=bad, minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu_c = np.where(n_c > 0, np.bincount(idx, weights=np.where(good, t, 0.0), minlength=n_groups) / n_c, 0.0)
            mu_w = np.where(n_w > 0, np.bincount(idx, weights=np.where(bad, t, 0.0), minlength=n_groups) / n_w, 0.0)
        gamma = np.where((mu_c < mu_w) & (n_c > 0), np.exp(mu_c - mu_w), 1.0)
        n = n_c + n_w
        low = np.bincount(idx, weights=ok & (o <= p.band[0]), minlength=n_groups) == n
        high = np.bincount(idx, weights=ok & (o >= p.band[1]), minlength=n_groups) == n
        gamma = np.where(low | high, 0.0, gamma)
        out = weights.get(p.outcome, 1.0) * o + gamma[idx] * weights.get(p.thinking, 1.0) * t
        out = out + others_sum(components, weights, (p.outcome, p.thinking))
        return np.where(ok, out, np.nan)

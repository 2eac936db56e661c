"""Reward transforms: array in, array out, ``NaN`` (unscorable) kept as ``NaN``.

A transform applies to one component or to the combined reward. Stateful
transforms (running normalisation, fitted length debiasing, seeded noise) expose
their state with :meth:`Transform.state_dict` and can be frozen for evaluation.

Sample-level transforms (``step_level = False``) implement
``apply(values, ctx) -> values`` on a float64 array with one entry per sample.

Step-level (process) transforms (``step_level = True``, subclasses of
:class:`StepTransform`) work on *step rewards*: a ``list`` with one entry per
sample, each a 1-D float64 array of that sample's process rewards in step order,
or ``None`` when the sample has no scorable steps. In the pipeline they are read
from ``meta["step_rewards"]`` with :func:`read_steps`. They are called as
``transform(steps, ctx, outcome=None) -> list[np.ndarray | None]``; ``outcome``
is the optional per-sample outcome reward (``NaN`` = unscorable), added at the
last step as the papers do. A sample whose outcome is ``NaN`` (when given), whose
step list is ``None`` or empty, or which has a ``NaN`` step gets ``None``.

Per-prompt reference rewards (``par``, ``logsigmoid``) are read from
``meta["ref_rewards"]`` (key configurable with ``ref_key``): a list of the
rewards of reference-policy responses to the same prompt (``None`` entries are
ignored), or a single float.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rewardlab.batch import BatchContext
from rewardlab.errors import InputError, validate_params
from rewardlab.registry import register

StepRewards = list[np.ndarray | None]


class Transform:
    """Base class: subclasses set ``name``, ``Params`` and implement :meth:`apply`."""

    name: ClassVar[str] = "transform"
    Params: ClassVar[type[BaseModel]]
    step_level: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        self.params: Any = validate_params(self.Params, params, f"transform {self.name!r}")
        self.frozen = False

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        out = self.apply(values, ctx)
        out = np.array(out, dtype=np.float64)  # a copy: never write into the input
        out[np.isnan(values)] = np.nan  # unscorable stays unscorable
        return out

    def freeze(self) -> None:
        """Stop updating state (evaluation mode)."""
        self.frozen = True

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"transform {self.name!r} is stateless; got state {sorted(state)}")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- helpers


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log sigma(x), stable for large |x| (log sigma(x) = -log(1 + e^-x))."""
    with np.errstate(invalid="ignore"):
        return np.asarray(-np.logaddexp(0.0, -x))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, stable for large |x|."""
    return np.exp(log_sigmoid(x))


def ragged_matrix(rows: Sequence[Any], max_cols: int | None = None) -> np.ndarray:
    """Rows of floats (list, float, or None) as an (n, m) float64 matrix padded with NaN.

    ``None`` entries, and ``None`` items inside a row, become ``NaN`` (absent).
    """
    lists: list[list[float]] = []
    for i, row in enumerate(rows):
        if row is None:
            lists.append([])
        elif isinstance(row, (int, float)) and not isinstance(row, bool):
            lists.append([float(row)])
        else:
            try:
                lists.append([np.nan if v is None else float(v) for v in row])
            except (TypeError, ValueError):
                raise InputError(
                    f"sample {i}: expected a list of numbers (or a number), got {row!r:.80}"
                ) from None
    if max_cols is not None:
        lists = [r[:max_cols] for r in lists]
    width = max((len(r) for r in lists), default=0)
    out = np.full((len(lists), max(width, 1)), np.nan)
    lens = np.array([len(r) for r in lists], dtype=np.int64)
    if width:
        mask = np.arange(width)[None, :] < lens[:, None]
        out[:, :width][mask] = np.concatenate([np.asarray(r, dtype=np.float64) for r in lists])
    return out


def reference_matrix(
    ctx: BatchContext, key: str, values: np.ndarray, where: str, max_cols: int | None = None
) -> np.ndarray:
    """Reference rewards per sample from ``meta[key]``; every scorable sample needs one."""
    refs = ragged_matrix(ctx.meta_column(key), max_cols)
    if len(refs) != len(values):
        raise InputError(f"{where}: needs samples with meta[{key!r}] (the context has none)")
    missing = np.flatnonzero(~np.isnan(values) & np.all(np.isnan(refs), axis=1))
    if missing.size:
        ids = ", ".join(repr(ctx.samples[i].id) for i in missing[:5])
        raise InputError(
            f"{where}: {missing.size} scorable sample(s) have no reference rewards in "
            f"meta[{key!r}] (first: {ids}); give a list of reference-response rewards per prompt"
        )
    return refs


# --------------------------------------------------------------------------- clip, affine


class ClipParams(_Params):
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ClipParams:
        if self.low is None and self.high is None:
            raise ValueError("give at least one of 'low' and 'high'")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"'low' ({self.low}) must not exceed 'high' ({self.high})")
        return self


@register("transform", "clip")
class Clip(Transform):
    """Clip values to [low, high] (either bound optional)."""

    name = "clip"
    Params = ClipParams

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        return np.clip(values, self.params.low, self.params.high)


class AffineParams(_Params):
    scale: float = 1.0
    shift: float = 0.0


@register("transform", "affine")
class Affine(Transform):
    """r' = scale * r + shift."""

    name = "affine"
    Params = AffineParams

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        return self.params.scale * values + self.params.shift


# --------------------------------------------------------------------------- running normalize


class NormalizeParams(_Params):
    momentum: float | None = Field(default=None, gt=0.0, le=1.0)
    center: bool = True
    eps: float = Field(default=1e-8, ge=0.0)
    clip: float | None = Field(default=None, gt=0.0)


@register("transform", "normalize")
class Normalize(Transform):
    """Running standardisation r' = (r - mean) / (std + eps), optionally clipped to +-clip.

    Statistics: mean and population variance of the *scorable* values seen so far.
    With ``momentum=None`` the window is every batch since creation (or since the
    loaded state), merged exactly (Chan et al. parallel update). With a momentum m
    the statistics are exponentially weighted per batch: mean <- (1-m) mean + m
    batch_mean, var <- (1-m) (var + m d^2) + m batch_var, d = batch_mean - mean
    (the first batch initialises them). Each call first updates the statistics
    with the batch, then normalises it (as Gymnasium's NormalizeReward does).
    :meth:`freeze` stops updating (evaluation); the state (``count``, ``mean``,
    ``var``) is saved with :meth:`state_dict` and restored with
    :meth:`load_state_dict`. ``center=False`` only divides by the std.
    """

    name = "normalize"
    Params = NormalizeParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.count = 0.0
        self.mean = 0.0
        self.var = 0.0

    def update(self, values: np.ndarray) -> None:
        v = values[~np.isnan(values)]
        if v.size == 0:
            return
        n_b, mean_b, var_b = float(v.size), float(v.mean()), float(v.var())
        if self.count == 0:
            self.count, self.mean, self.var = n_b, mean_b, var_b
            return
        delta = mean_b - self.mean
        m = self.params.momentum
        if m is None:
            n = self.count + n_b
            m2 = self.var * self.count + var_b * n_b + delta * delta * self.count * n_b / n
            self.mean += delta * n_b / n
            self.var = m2 / n
            self.count = n
        else:
            self.mean += m * delta
            self.var = (1.0 - m) * (self.var + m * delta * delta) + m * var_b
            self.count += n_b

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        if not self.frozen:
            self.update(values)
        if self.count == 0:
            if np.isnan(values).all():
                return values
            raise ValueError("transform 'normalize' is frozen but has no statistics; load a state")
        centred = values - self.mean if self.params.center else values
        out = centred / (np.sqrt(self.var) + self.params.eps)
        if self.params.clip is not None:
            out = np.clip(out, -self.params.clip, self.params.clip)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean, "var": self.var}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unknown = set(state) - {"count", "mean", "var"}
        if unknown:
            raise ValueError(f"transform 'normalize': unknown state keys {sorted(unknown)}")
        self.count = float(state["count"])
        self.mean = float(state["mean"])
        self.var = float(state["var"])


# --------------------------------------------------------------------------- PAR, log-sigmoid


class ParParams(_Params):
    k: float = Field(default=1.0, gt=0.0)
    max_refs: int = Field(default=10, ge=1)
    ref_key: str = "ref_rewards"


@register("transform", "par")
class PAR(Transform):
    """Preference As Reward: r' = (1/M) sum_m sigma(k (r - r_ref_m)).

    Fu et al. 2025, "Reward Shaping to Mitigate Reward Hacking in RLHF"
    (arXiv 2502.18770), the PAR reward: a sigmoid of the reward centred
    on each of M reference responses to the same prompt, averaged. The references
    are the first ``max_refs`` (default 10) entries of ``meta[ref_key]``; ``None``
    references are ignored. Output lies in (0, 1).
    """

    name = "par"
    Params = ParParams

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        p = self.params
        refs = reference_matrix(ctx, p.ref_key, values, "transform 'par'", p.max_refs)
        present = ~np.isnan(refs)
        s = np.where(present, sigmoid(p.k * (values[:, None] - refs)), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(s.sum(axis=1) / present.sum(axis=1))


class LogSigmoidParams(_Params):
    quantile: float = Field(default=0.85, ge=0.0, le=1.0)
    ref_key: str = "ref_rewards"


def reference_quantile(refs: np.ndarray, q: float) -> np.ndarray:
    """Row-wise ``q`` quantile (numpy's linear interpolation) ignoring NaN."""
    out = np.full(len(refs), np.nan)
    has = ~np.all(np.isnan(refs), axis=1)
    if has.any():
        out[has] = np.nanquantile(refs[has], q, axis=1)
    return out


@register("transform", "logsigmoid")
class LogSigmoid(Transform):
    """Log-sigmoid centring: u = log sigma(r - r_ref(x)).

    Wang et al. 2024, "Transforming and Combining Rewards for Aligning Large
    Language Models" (arXiv 2402.00742), the log-sigmoid transformation
    u(x, y) = log sigma(r(x, y) - r_ref(x)): r_ref(x) is the ``quantile``
    (default 0.85) of the reference-policy rewards for prompt x, read from
    ``meta[ref_key]`` (numpy's linear-interpolation quantile; a single float is
    used as r_ref directly). Output is <= 0.
    """

    name = "logsigmoid"
    Params = LogSigmoidParams

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        p = self.params
        refs = reference_matrix(ctx, p.ref_key, values, "transform 'logsigmoid'")
        return log_sigmoid(values - reference_quantile(refs, p.quantile))


# --------------------------------------------------------------------------- length debias


class LengthDebiasParams(_Params):
    degree: int = Field(default=1, ge=0, le=6)
    fit: Literal["batch", "once"] = "batch"
    keep_mean: bool = False


@register("transform", "length_debias")
class LengthDebias(Transform):
    """Remove the reward-length relation: r' = r - f(|y|) (+ mean f if ``keep_mean``).

    Bias Fitting, arXiv 2505.12843: fit f(|y|) to the reward model's rewards, then
    score r - f(|y|). The paper fits a small network on a sinusoidal length
    encoding with loss -|pearson| + MSE; here f is a least-squares polynomial of
    ``degree`` (default 1) in the standardised length, a documented simplification.
    ``fit="batch"`` refits on each batch's scorable samples; ``fit="once"`` fits
    on the first batch and keeps that fit. A frozen transform or a loaded state
    (:meth:`load_state_dict`, keys ``coef``, ``x_mean``, ``x_scale``, ``offset``)
    uses the saved fit. Lengths come from ``ctx.lengths()``. ``keep_mean`` adds
    back the mean fitted value of the fitting batch, so only the length-correlated
    part is removed and the reward keeps its level.
    """

    name = "length_debias"
    Params = LengthDebiasParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.fit_state: dict[str, Any] | None = None

    def fit(self, values: np.ndarray, lengths: np.ndarray) -> None:
        ok = ~np.isnan(values)
        x, y = lengths[ok], values[ok]
        deg = self.params.degree
        if np.unique(x).size < deg + 1:
            raise ValueError(
                f"transform 'length_debias': a degree-{deg} fit needs at least {deg + 1} "
                f"distinct lengths among scorable samples, got {np.unique(x).size}"
            )
        x_mean = float(x.mean())
        x_scale = float(x.std()) or 1.0
        coef = np.polynomial.polynomial.polyfit((x - x_mean) / x_scale, y, deg)
        fitted = np.polynomial.polynomial.polyval((x - x_mean) / x_scale, coef)
        self.fit_state = {
            "coef": [float(c) for c in coef],
            "x_mean": x_mean,
            "x_scale": x_scale,
            "offset": float(fitted.mean()),
        }

    def predict(self, lengths: np.ndarray) -> np.ndarray:
        """f(|y|) under the current fit."""
        assert self.fit_state is not None
        st = self.fit_state
        x = (lengths - st["x_mean"]) / st["x_scale"]
        return np.asarray(np.polynomial.polynomial.polyval(x, np.asarray(st["coef"])))

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        lengths = ctx.lengths()
        if len(lengths) != len(values):
            raise InputError("transform 'length_debias': needs samples to read lengths from")
        refit = not self.frozen and (self.params.fit == "batch" or self.fit_state is None)
        if np.isnan(values).all():
            return values  # nothing to fit or to correct
        if refit:
            self.fit(values, lengths)
        if self.fit_state is None:
            raise ValueError("transform 'length_debias' is frozen with no fit; load a state")
        offset = self.fit_state["offset"] if self.params.keep_mean else 0.0
        return values - self.predict(lengths) + offset

    def state_dict(self) -> dict[str, Any]:
        return dict(self.fit_state) if self.fit_state else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        need = {"coef", "x_mean", "x_scale", "offset"}
        if set(state) != need:
            raise ValueError(f"transform 'length_debias': state needs keys {sorted(need)}")
        self.fit_state = dict(state)
        if self.params.fit == "batch":
            self.frozen = True  # a loaded fit is used as is


# --------------------------------------------------------------------------- noise


class NoiseParams(_Params):
    mode: Literal["flip", "gaussian"] = "flip"
    scope: Literal["sample", "group"] = "sample"
    p: float = Field(default=0.0, ge=0.0, le=1.0)
    sigma: float = Field(default=0.0, ge=0.0)
    low: float = 0.0
    high: float = 1.0
    seed: int = 0


@register("transform", "noise")
class Noise(Transform):
    """Seeded reward noise for robustness studies.

    ``flip``: each scorable binary reward (values ``low``/``high``) is flipped with
    probability ``p``, as in "The Climb Carves Wisdom Deeper Than the Summit: On
    the Noisy Rewards in Learning to Reason" (Lv et al. 2025, arXiv 2505.22653).
    ``scope="group"`` draws once per prompt group and flips all of its members,
    as the paper's released reward manager does (one draw per ``rollout_n``
    consecutive responses; there a response without a valid format stays 0,
    here every scorable binary member flips).
    ``gaussian``: r' = r + sigma * N(0, 1). The generator for the k-th call is
    ``numpy.random.default_rng([seed, k])``, so a run is reproducible; ``k`` is the
    state (:meth:`state_dict`) and does not advance while frozen.
    """

    name = "noise"
    Params = NoiseParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.calls = 0

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        p = self.params
        rng = np.random.default_rng([p.seed, self.calls])
        if not self.frozen:
            self.calls += 1
        if p.mode == "gaussian":
            return values + p.sigma * rng.standard_normal(values.shape)
        ok = ~np.isnan(values)
        binary = (values == p.low) | (values == p.high)
        if not np.all(binary[ok]):
            bad = values[ok & ~binary][:3]
            raise InputError(
                f"transform 'noise' (flip): rewards must be {p.low} or {p.high}; got {bad.tolist()}"
            )
        if p.scope == "group":
            flip = (rng.random(ctx.n_groups) < p.p)[ctx.group_index]
        else:
            flip = rng.random(values.shape) < p.p
        return np.where(flip, p.low + p.high - values, values)

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state) != {"calls"}:
            raise ValueError("transform 'noise': state needs the key 'calls'")
        self.calls = int(state["calls"])


# --------------------------------------------------------------------------- step level


def step_array(row: Sequence[Any]) -> np.ndarray:
    """One sample's step rewards as floats (None -> NaN)."""
    return np.array([np.nan if v is None else float(v) for v in row])


def read_steps(ctx: BatchContext, key: str = "step_rewards") -> StepRewards:
    """Step rewards from ``meta[key]``: a list of floats per sample (``None`` -> NaN step).

    A sample without the key (or with ``None``) gets ``None``.
    """
    out: StepRewards = []
    for i, row in enumerate(ctx.meta_column(key)):
        if row is None:
            out.append(None)
            continue
        try:
            out.append(step_array(row))
        except (TypeError, ValueError):
            raise InputError(
                f"sample {i}: meta[{key!r}] must be a list of per-step rewards, got {row!r:.80}"
            ) from None
    return out


def flatten_steps(steps: StepRewards) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flat values, per-sample step counts, per-sample ok mask) of ragged step rewards.

    A ``None`` sample contributes zero steps and is not ok; so is an empty one.
    """
    counts = np.array([0 if s is None else len(s) for s in steps], dtype=np.int64)
    arrays = [np.asarray(s, dtype=np.float64) for s in steps if s is not None]
    flat = np.concatenate(arrays) if arrays else np.zeros(0)
    nan_steps = np.bincount(
        np.repeat(np.arange(len(counts)), counts), weights=np.isnan(flat), minlength=len(counts)
    )
    ok = (counts > 0) & (nan_steps == 0)
    return flat, counts, ok


def unflatten_steps(flat: np.ndarray, counts: np.ndarray, ok: np.ndarray) -> StepRewards:
    """Inverse of :func:`flatten_steps`: ``None`` where not ok."""
    parts = np.split(flat, np.cumsum(counts)[:-1]) if len(counts) else []
    return [p.copy() if good else None for p, good in zip(parts, ok.tolist(), strict=True)]


def step_positions(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the flat step layout: the sample index of each step and whether it is the last."""
    sample_of = np.repeat(np.arange(len(counts)), counts)
    last = np.zeros(int(counts.sum()), dtype=bool)
    ends = np.cumsum(counts)[counts > 0] - 1
    last[ends] = True
    return sample_of, last


def gate_steps(steps: StepRewards, outcome: np.ndarray, threshold: float) -> StepRewards:
    """Gated Reward Accumulation: a sample's step rewards count only if its outcome >= threshold.

    Sun et al. 2025, "Stabilizing Long-term Multi-turn Reinforcement Learning with
    Gated Rewards" (arXiv 2508.10548), G-RA: immediate (step) rewards are
    accumulated only when the long-term (outcome) reward meets the threshold;
    otherwise they are 0 (the steps are kept, so the outcome can still be added at
    the last one). A sample whose outcome is unscorable gets ``None``.
    """
    flat, counts, ok = flatten_steps(steps)
    outcome = np.asarray(outcome, dtype=np.float64)
    if len(outcome) != len(counts):
        raise InputError("steps gate: outcome and steps differ in length")
    with np.errstate(invalid="ignore"):
        passed = outcome >= threshold
    sample_of = np.repeat(np.arange(len(counts)), counts)
    return unflatten_steps(np.where(passed[sample_of], flat, 0.0), counts, ok & ~np.isnan(outcome))


class StepTransform(Transform):
    """Base for step-level (process reward) transforms; implement :meth:`apply_flat`."""

    step_level = True

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        raise TypeError(f"transform {self.name!r} is step-level: call it on step rewards")

    def apply_flat(self, flat: np.ndarray, sample_of: np.ndarray, last: np.ndarray) -> np.ndarray:
        """Shaped process rewards on the flat layout (see :func:`flatten_steps`)."""
        raise NotImplementedError

    def __call__(  # type: ignore[override]
        self, steps: StepRewards, ctx: BatchContext, outcome: np.ndarray | None = None
    ) -> StepRewards:
        if isinstance(steps, np.ndarray):
            raise TypeError(
                f"transform {self.name!r} is step-level: call it with step rewards "
                "(a list of per-sample arrays, e.g. read_steps(ctx)), not a reward array"
            )
        flat, counts, ok = flatten_steps(steps)
        sample_of, last = step_positions(counts)
        shaped = self.params.alpha * self.apply_flat(flat, sample_of, last)
        if outcome is not None:
            outcome = np.asarray(outcome, dtype=np.float64)
            if len(outcome) != len(steps):
                raise InputError(f"transform {self.name!r}: outcome and steps differ in length")
            ok = ok & ~np.isnan(outcome)
            shaped = shaped + np.where(last, outcome[sample_of], 0.0)
        return unflatten_steps(shaped, counts, ok)


class PrmClipParams(_Params):
    eta: float
    alpha: float = 1.0


@register("transform", "prm_clip")
class PrmClip(StepTransform):
    """PRM Clip: r_k' = alpha * min(r_k - eta, 0), plus the outcome reward at the last step.

    Gao et al. 2024, "On Designing Effective RL Reward at Training Time for LLM
    Reasoning" (arXiv 2410.15115), the Clip mechanism: process rewards
    are capped at 0 after subtracting the threshold ``eta``, so the return cannot
    grow by adding steps. Form as given in FORMULAS.md (marked "verify" there).
    """

    name = "prm_clip"
    Params = PrmClipParams

    def apply_flat(self, flat: np.ndarray, sample_of: np.ndarray, last: np.ndarray) -> np.ndarray:
        return np.minimum(flat - self.params.eta, 0.0)


class PrmDeltaParams(_Params):
    alpha: float = 1.0


@register("transform", "prm_delta")
class PrmDelta(StepTransform):
    """PRM Delta: r_k' = alpha (r_k - r_{k+1}) for k < K, 0 at the last step K, plus outcome.

    Gao et al. 2024 (arXiv 2410.15115), the Delta mechanism: the
    difference of consecutive process rewards, the last step's process reward
    dropped, so the return from step k telescopes to r_k - r_K and cannot be
    inflated by adding steps. The outcome (success) reward is added at the last
    step. Form as given in FORMULAS.md (marked "verify" there).
    """

    name = "prm_delta"
    Params = PrmDeltaParams

    def apply_flat(self, flat: np.ndarray, sample_of: np.ndarray, last: np.ndarray) -> np.ndarray:
        nxt = np.empty_like(flat)
        nxt[:-1] = flat[1:]
        if flat.size:
            nxt[-1] = 0.0
        return np.where(last, 0.0, flat - nxt)


# --------------------------------------------------------------------------- bucket, discount


class BucketParams(_Params):
    zones: Literal["uniform", "gaussian"] = "uniform"
    k: int = Field(default=4, ge=2, le=64)
    low: float = 0.0
    high: float = 1.0
    sigma: float = Field(default=1.0, gt=0.0)
    levels: list[float] | None = None

    @model_validator(mode="after")
    def _check(self) -> BucketParams:
        if self.levels is not None and len(self.levels) != self.k:
            raise ValueError(f"'levels' needs k = {self.k} values, got {len(self.levels)}")
        if self.high <= self.low:
            raise ValueError(f"'high' ({self.high}) must exceed 'low' ({self.low})")
        return self


@register("transform", "bucket")
class Bucket(Transform):
    """Tiered reward: a continuous proximity or progress bucketed into K zones.

    Sweet Spot Learning (Wu et al. 2026, "SSL: Sweet Spot Learning for
    Differentiated Guidance in Agentic Optimization", arXiv 2601.22491): rewards
    amplified zone by zone towards the "sweet spot"; K = 4 is the paper's usual
    choice. ``zones="uniform"``: a progress/matching score x in [low, high] falls
    in zone z = min(floor(K (x - low) / (high - low)), K - 1) (quartiles of the
    range for K = 4; x outside the range is clipped). ``zones="gaussian"``: x is a
    distance d >= 0 (e.g. from a click to the target centre) and z = K - 1 -
    min(floor(d / sigma), K - 1): within one sigma the top zone, then one zone
    per sigma. The reward is ``levels[z]``, by default z / (K - 1) (0 for the
    worst zone, 1 for the sweet spot). The zone edges are this library's reading
    of the paper's "Gaussian distance zones" and "quartile zones" (its exact
    edges were not retrieved): set ``levels`` and the range to the paper's
    values where known.
    """

    name = "bucket"
    Params = BucketParams

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        p = self.params
        with np.errstate(invalid="ignore"):
            if p.zones == "uniform":
                x = np.clip((values - p.low) / (p.high - p.low), 0.0, 1.0)
                zone = np.minimum(np.floor(x * p.k), p.k - 1)
            else:
                if np.any(values[~np.isnan(values)] < 0):
                    raise InputError("transform 'bucket' (gaussian): distances must be >= 0")
                zone = p.k - 1 - np.minimum(np.floor(values / p.sigma), p.k - 1)
        levels = np.asarray(p.levels if p.levels is not None else np.arange(p.k) / (p.k - 1))
        z = np.where(np.isnan(zone), 0, zone).astype(np.int64)
        return np.where(np.isnan(values), np.nan, levels[z])


class DiscountParams(_Params):
    gamma: float = Field(gt=0.0, le=1.0)
    key: str = "rounds"


@register("transform", "discount")
class Discount(Transform):
    """Geometric discount by interaction rounds: r' = r * gamma^rounds.

    IterResearch (Chen et al. 2025, "IterResearch: Rethinking Long-Horizon Agents
    via Markovian State Reconstruction", arXiv 2511.07327), the geometric reward
    discounting of its EAPO: the same outcome reached in fewer rounds earns more.
    ``rounds`` is read from ``meta[key]`` (a number >= 0; for one sample per round
    of a trajectory, give T - t, the rounds still to go); a scorable sample
    without it is an input error.
    """

    name = "discount"
    Params = DiscountParams

    def apply(self, values: np.ndarray, ctx: BatchContext) -> np.ndarray:
        key = self.params.key
        column = ctx.meta_column(key)
        if len(column) != len(values):
            raise InputError(f"transform 'discount': needs samples with meta[{key!r}] (the context has none)")
        rounds = np.array([np.nan if r is None or isinstance(r, bool) else r for r in column], dtype=np.float64)
        bad = ~np.isnan(values) & ~(rounds >= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"transform 'discount': sample {ctx.samples[i].id!r} needs meta[{key!r}] "
                             f"= a number of rounds >= 0, got {column[i]!r}")
        return values * np.power(self.params.gamma, rounds)

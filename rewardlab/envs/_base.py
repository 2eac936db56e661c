"""What every rewardlab Gymnasium wrapper shares: argument checks and autoreset bookkeeping.

A vector environment in Gymnasium's default ``NEXT_STEP`` autoreset mode returns,
on the step after an episode ends, the first observation of the next episode
with reward 0: that step is not a transition (the action was ignored). The
vector wrappers mark those environments ``inactive`` for that step and give them
no shaping, no term values and no statistics update, which is exactly what the
single-environment wrapper does (it never sees the autoreset step), so a
wrapped vector env and a vector of wrapped envs give the same stream.
``SAME_STEP`` mode (the final observation hidden in ``info["final_obs"]``) is
refused with a clear message rather than handled half-way.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.wrappers.utils import RunningMeanStd

from rewardlab.errors import InputError, SpecError


def check_gamma(gamma: float, where: str) -> float:
    """``gamma`` as a float in (0, 1]; a clear error otherwise."""
    return check_number(gamma, f"{where}: gamma", "a number in (0, 1], the learner's discount", lambda g: 0 < g <= 1)


def check_number(
    value: Any, what: str, need: str = "a finite number", ok: Callable[[float], bool] = lambda v: True,
    integer: bool = False,
) -> float:
    """``value`` as a float if it is a finite real number (an integer where ``integer``) for which ``ok``
    holds; else a one-line :class:`SpecError` "``what`` must be ``need`` (got ...)"."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) or not ok(float(value)):
        raise SpecError(f"{what} must be {need} (got {value!r})")
    return float(value)


def check_count(value: Any, what: str) -> int:
    """``value`` as an int if it is a positive integer; else a one-line :class:`SpecError`."""
    return int(check_number(value, what, "a positive integer", lambda v: v >= 1, integer=True))


def all_finite(arr: np.ndarray) -> bool:
    """Whether every value of ``arr`` is finite: one sum, usually (it is finite unless a value is not or
    finite values overflow it, and only then is each value looked at)."""
    return math.isfinite(np.add.reduce(arr, axis=None)) or bool(np.isfinite(arr).all())


def per_env(values: Any, num_envs: int, what: str) -> np.ndarray:
    """``values`` as a float64 array of shape ``(num_envs,)``, finite; a clear error otherwise."""
    try:
        arr = np.asarray(values)  # its kind before float64 (no copy of an array)
        kind = arr.dtype.kind
        arr = arr.astype(np.float64) if kind != "c" else arr  # a copy: it may be stored in info as it is
    except (TypeError, ValueError) as exc:
        got = type(values).__name__
        raise InputError(f"{what} must return numbers, one per environment; got {got} ({exc})") from None
    if kind == "c":  # float64 would keep the real parts (a warning, no error)
        raise InputError(f"{what} must return real numbers, one per environment; got complex {arr.dtype}")
    if arr.shape != (num_envs,):
        raise InputError(
            f"{what} must return one value per environment, shape ({num_envs},), got shape {arr.shape}; "
            "write it with numpy over the trailing axes (e.g. obs[..., 0]) so it takes a batch"
        )
    if not all_finite(arr):
        raise InputError(f"{what} returned a non-finite value {arr[~np.isfinite(arr)][0]!r}; a reward must be finite")
    return arr


def scalar(value: Any, what: str) -> float:
    """``value`` as a finite float; a clear error otherwise."""
    if getattr(getattr(value, "dtype", None), "kind", None) == "c":  # float() would keep the real part (a warning)
        raise InputError(f"{what} must return a real number for one observation, got complex {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must return a number for one observation, got {type(value).__name__}") from None
    if not math.isfinite(out):
        raise InputError(f"{what} returned {out!r}; a reward must be finite")
    return out


def update_rms(rms: RunningMeanStd, x: np.ndarray) -> None:
    """``rms.update(x)`` (Gymnasium's RunningMeanStd, Chan et al.'s parallel update) with the batch's
    moments taken by two reductions, the arithmetic of ``np.mean`` / ``np.var`` without their Python
    argument handling, which costs more than the sums on a batch of 16 (same floats, tested)."""
    n = x.shape[0]
    mean = np.add.reduce(x, axis=0) / n
    d = x - mean
    rms.update_from_moments(mean, np.add.reduce(d * d, axis=0) / n, n)


BOOL, F64 = np.dtype(bool), np.dtype(np.float64)


def snapshot(obs: Any) -> Any:
    """A copy of an observation that later steps cannot change in place (cheap for arrays)."""
    return obs.copy() if isinstance(obs, np.ndarray) else copy.deepcopy(obs)


def frozen(mask: np.ndarray) -> np.ndarray:
    """A read-only copy of a mask, safe to share between info entries and steps."""
    out = np.array(mask, dtype=bool)
    out.setflags(write=False)
    return out


def put_info(
    info: dict[str, Any], key: str, values: np.ndarray, active: np.ndarray, masked: bool = False, fresh: bool = False,
) -> None:
    """Add ``values`` under ``key`` with Gymnasium's vector-info mask ``_key`` (inactive envs: 0, masked).

    ``active`` must be read-only (the mask ``on_step`` gets is): it is stored as it
    is. ``masked``: ``values`` are already 0 where inactive (or every env is active).
    ``fresh``: nobody else holds or writes ``values``, so they are stored without a copy.
    """
    if not masked:
        values = np.where(active, values, 0.0)
    elif not fresh:
        values = values.copy()
    info[key] = values
    info[mask_key(key)] = active


MASKS: dict[str, str] = {}  # info key -> its mask key "_key", made once (an f-string each step costs more)


def mask_key(key: str) -> str:
    """Gymnasium's vector-info mask key for ``key``, "_key", made once and remembered in :data:`MASKS`."""
    return MASKS.get(key) or MASKS.setdefault(key, f"_{key}")


class Nested:
    """Per-env rows stored under one info key in the nested form SyncVectorEnv gives a dict info.

    ``info[key] = {name: row, "_name": mask, ...}`` with ``info["_key"]`` the same
    mask; the rows are ``rows[first]``, ``rows[first + 1]``, ... (one per name).
    """

    def __init__(self, names: list[str], first: int = 0) -> None:
        self.names, self.masks = names, [f"_{n}" for n in names]  # the keys, made once (this runs every step)
        self.rows = [(first + i, n) for i, n in enumerate(names)]

    def put(self, info: dict[str, Any], key: str, rows: np.ndarray, mask: np.ndarray, masked: bool) -> None:
        """``rows`` must be fresh (nobody else writes to them) and ``mask`` read-only: both are stored as they
        are. ``masked``: the rows are already 0 where ``mask`` is False."""
        if not masked:
            rows = np.where(mask, rows, 0.0)
        nested: dict[str, Any] = dict.fromkeys(self.masks, mask)
        for i, name in self.rows:  # rows[i]: half the cost of iterating the array (a loop over terms, not envs)
            nested[name] = rows[i]
        info[key], info[mask_key(key)] = nested, mask


RAW = "raw_reward"


def keep_raw(
    info: dict[str, Any], reward: Any, active: np.ndarray | None = None, masked: bool = False, fresh: bool = False,
) -> dict[str, Any]:
    """``info`` with the environment's reward under ``raw_reward`` unless an inner wrapper put it there.

    So in a stack of rewardlab wrappers ``raw_reward`` stays the environment's own reward.
    ``active`` given: a vector info (with its ``_raw_reward`` mask; ``masked``, ``fresh`` as for :func:`put_info`).
    """
    if RAW not in info:
        if active is None:
            info = {**info, RAW: float(reward)}
        else:
            put_info(info, RAW, reward, active, masked, fresh)
    return info


class Learner(Protocol):
    """What a wrapper's statistics holder offers: its state, and a switch that freezes it."""

    update: bool

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class KeepsState:
    """``state_dict`` / ``load_state_dict`` / ``update_running_mean`` of a wrapper, over ``self.learner``.

    One shape for every rewardlab wrapper with state that outlives an episode (return
    statistics, bonus counts and networks, schedule step counts): save it, load it, and
    freeze it for evaluation with ``update_running_mean = False`` (Gymnasium's name).
    """

    learner: Learner

    @property
    def update_running_mean(self) -> bool:
        """False freezes the state for evaluation; Gymnasium's name."""
        return self.learner.update

    @update_running_mean.setter
    def update_running_mean(self, setting: bool) -> None:
        self.learner.update = bool(setting)

    def state_dict(self) -> dict[str, Any]:
        """The state (copies); JSON-able for NormalizeReward and RewardTerms, ``torch.save`` for bonuses."""
        return self.learner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load what :meth:`state_dict` of the same kind of wrapper returned."""
        self.learner.load_state_dict(state)


class VectorRewardWrapper(VectorWrapper):
    """Base of the vector wrappers: tracks which environments are on their autoreset step."""

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode == AutoresetMode.SAME_STEP:
            raise SpecError(
                f"{type(self).__name__}: autoreset mode SAME_STEP is not supported; "
                "make the vector env with autoreset_mode=AutoresetMode.NEXT_STEP (Gymnasium's default)"
            )
        self._next_step = mode == AutoresetMode.NEXT_STEP
        self._all = frozen(np.ones(self.num_envs, dtype=bool))
        self._nobody = frozen(np.zeros(self.num_envs, dtype=bool))
        self._zeros = bytes(self.num_envs)  # the bytes of an all-False mask
        # Set by step() for on_step (all arrays read-only; reading them costs no numpy call):
        self.everyone = True  # every env is active this step (the common step: nothing to mask)
        self.autoresetting = np.zeros(self.num_envs, dtype=bool)  # the envs on their autoreset step (~active)
        self.done = self._nobody  # terminated | truncated (read-only)
        self.any_done = self._pending = False  # any env done this step / any env autoresetting this step
        self.partial_reset = False  # the last reset() had a reset_mask (DISABLED mode), set before on_reset

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        mask = np.ones(self.num_envs, dtype=bool)
        self.partial_reset = bool(options and "reset_mask" in options)  # DISABLED mode: only these envs reset
        if self.partial_reset:  # read before the env resets: SyncVectorEnv pops it from the options
            mask = np.array(options["reset_mask"], dtype=bool)  # type: ignore[index]
        obs, info = self.env.reset(seed=seed, options=options)
        self.autoresetting = self.autoresetting & ~mask  # a new array: the old one is a step's read-only done mask
        self._pending = bool(np.count_nonzero(self.autoresetting))
        self.on_reset(obs, mask)
        return obs, info

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        # np.asarray unless already such an array, by identity checks (NumPy's built-in dtypes are singletons):
        # a fifth of np.asarray's cost, written out because a helper's call would cost as much again.
        if terminated.__class__ is not np.ndarray or terminated.dtype is not BOOL:
            terminated = np.asarray(terminated, bool)
        if truncated.__class__ is not np.ndarray or truncated.dtype is not BOOL:
            truncated = np.asarray(truncated, bool)
        if reward.__class__ is not np.ndarray or reward.dtype is not F64:
            reward = np.asarray(reward, np.float64)
        # Whether any env is done, by comparing the masks' bytes with zeros (a bool is one 0/1 byte): a tenth of
        # a numpy call, and on the common step (nobody done) ``done`` is the shared all-False mask, no ``|``.
        ended, cut = terminated.tobytes() != self._zeros, truncated.tobytes() != self._zeros
        self.any_done = ended or cut
        if self.any_done:  # a copy where only one mask has an env done (half the cost of ``|``)
            self.done = terminated | truncated if ended and cut else (terminated if ended else truncated).copy()
            self.done.setflags(write=False)  # shared: it becomes the autoreset mask and may be stored in info
        else:
            self.done = self._nobody
        if self._pending:  # some envs are on their autoreset step
            self.everyone, active = False, ~self.autoresetting
            active.setflags(write=False)
        else:
            self.everyone, active = True, self._all  # shared and read-only
        out = self.on_step(obs, actions, reward, terminated, truncated, dict(info), active)
        if self._next_step:
            self.autoresetting, self._pending = self.done, self.any_done
        return obs, out[0], terminated, truncated, out[1]

    def on_reset(self, obs: Any, mask: np.ndarray) -> None:
        """Called after the envs in ``mask`` were reset (all of them on a plain ``reset``)."""

    def on_step(
        self, obs: Any, actions: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
        info: dict[str, Any], active: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The new reward and info; ``active`` (read-only) is False for envs on their autoreset step.

        ``self.everyone``, ``self.autoresetting``, ``self.done`` and ``self.any_done`` describe
        the step (see ``__init__``) so that wrappers skip the masking on the common step.
        """
        raise NotImplementedError


__all__ = [
    "KeepsState", "Learner", "Nested", "VectorRewardWrapper", "all_finite", "check_count", "check_gamma",
    "check_number", "frozen", "keep_raw", "per_env", "put_info", "scalar", "snapshot", "update_rms",
]

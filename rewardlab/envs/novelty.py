"""Novelty bonuses over batches of observations: the base protocol, SimHash pseudo-counts, episodic counts.

Each bonus is bound to a number of envs (:meth:`bind`), takes the batch of
observations the envs reached (leading axis = env) with the mask of envs that
really stepped, updates its model on those and returns one bonus per env (0
where inactive); :meth:`reset` starts new episodes. All numpy (RND: torch) over
the batch, no loop over envs. An episode's reset observation s_0 is shown to the bonus by
:meth:`Bonus.start` (at reset, and on a vector env's autoreset step): it joins the episode's
memory and what the bonus learns from, and no bonus is paid for it (a reset has no reward).
``update = False`` freezes what outlives an episode (global counts, networks, running
statistics) for evaluation; an episode's own memory still fills, as the bonus needs it.

* :class:`SimHashCount`: Tang et al. 2017, "#Exploration", eq. 2: φ(s) = sgn(A g(s)),
  A ∈ R^{k×D} with N(0, 1) entries; bonus β/√n(φ(s)), n counted over all
  experience (shared by the envs of a vector). s_0 is counted: their Algorithm 1
  counts every sampled state s_m, the states actions are taken in, s_0 among them.
  Counts live in a fixed table indexed by a multiplicative hash of the k-bit code
  (collisions ≈ 2^-table_bits).
* :class:`EpisodicCount`: the same codes counted within the current episode of
  each env, bonus 1/√n_ep(φ(s)) (the episodic count bonus of Henaff et al. 2023,
  "A Study of Global and Episodic Bonuses for Exploration in Contextual MDPs").
* :class:`CoverageGain`: the marginal gain of the episode's coverage (a submodular
  function of the visited set): 1 for a cell new to the episode, else 0. The other
  submodular gains (facility location, log-determinant) are in :mod:`rewardlab.envs.submodular`.

The network bonuses (RND, RDD) are in :mod:`rewardlab.envs.distill`, the kNN
episodic novelty of NGU in :mod:`rewardlab.envs.knn`. Every bonus's learnt state
(counts, memories, networks, optimiser) is in :meth:`Bonus.state_dict`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from rewardlab.envs._base import check_count, check_number
from rewardlab.errors import InputError

B = TypeVar("B", bound="Bonus")
E = TypeVar("E", bound="EpisodicCount")
GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Knuth's multiplicative hash constant (2^64 / φ)


def flat(obs: Any, num_envs: int) -> np.ndarray:
    """A batch of observations as a float64 (num_envs, D) matrix."""
    return np.asarray(obs, dtype=np.float64).reshape(num_envs, -1)


def embedded(obs: Any, num_envs: int, embed: Callable[[np.ndarray], Any] | None, owner: str) -> np.ndarray:
    """``embed(flat batch)`` as a finite float64 (num_envs, dim) matrix (no ``embed``: the flattened
    observations); a clear error naming ``owner`` for a non-finite value."""
    x = flat(obs, num_envs)
    e = x if embed is None else np.asarray(embed(x), dtype=np.float64).reshape(num_envs, -1)
    if not np.isfinite(e).all():
        raise InputError(f"{owner}: the embedding has a non-finite value; give finite observations/embed")
    return e


def ring_append(memory: np.ndarray, length: np.ndarray, values: np.ndarray, rows: np.ndarray | None = None) -> None:
    """Append ``values[e]`` to env e's ring ``memory[e]`` (``memory.shape[1]`` slots, the oldest overwritten)
    and count it in ``length[e]``, for the envs in ``rows`` (None: every env, no row selection)."""
    if rows is None:
        memory[np.arange(len(length)), length % memory.shape[1]] = values
        length += 1
    else:
        memory[rows, length[rows] % memory.shape[1]] = values[rows]
        length[rows] += 1


class Bonus:
    """Base: ``bind`` to n envs, ``__call__(obs, active)`` -> bonuses, ``start(obs, mask)`` (an episode's
    s_0, unpaid), ``reset(mask)``, ``state_dict()``."""

    num_envs = 0
    state_keys: tuple[str, ...] = ()  # the attributes that hold what the bonus has learnt
    update = True  # False: frozen for evaluation; what outlives an episode (counts, networks, statistics) stays
    wants_actions = False  # True: the wrapper calls observe_actions before each step (not before a reset's start)

    def bind(self: B, num_envs: int) -> B:
        self.num_envs = num_envs
        return self

    def observe_actions(self, actions: Any) -> None:
        """The actions that led to the observations of the next call (for bonuses that learn from transitions)."""

    def __call__(self, obs: Any, active: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reset(self, mask: np.ndarray) -> None:
        """Episodes start for the envs in ``mask`` (global bonuses ignore it); :meth:`start` calls it."""

    def start(self, obs: Any, mask: np.ndarray) -> None:
        """The envs in ``mask`` start an episode at their reset observation s_0 (their rows of the batch
        ``obs``): the episode restarts (:meth:`reset`) and the bonus sees s_0 as any observation (a call with
        ``mask`` active: s_0 joins the episode's memory, counts and training), its value dropped: a reset pays
        no bonus. To keep s_0 out, override it with ``self.reset(mask)`` alone: the wrappers reset a bonus
        only through ``start``."""
        self.reset(mask)
        self(obs, mask)

    def autoreset(self, obs: Any, starting: np.ndarray, active: np.ndarray) -> np.ndarray:
        """A vector env's autoreset step: those in ``active`` stepped to their rows of ``obs`` (their bonuses,
        as a call gives) and the envs in ``starting`` begin an episode at theirs (:meth:`start`, unpaid). The
        step's call comes first: it is the one the step's actions (:meth:`observe_actions`) are for."""
        values = np.array(self(obs, active), dtype=np.float64)  # a copy: start's call may reuse its array
        self.start(obs, starting)
        return values

    def state_dict(self) -> dict[str, Any]:
        """What the bonus has learnt (copies): numpy arrays and torch state dicts; save with ``torch.save``."""
        return {key: copy.deepcopy(getattr(self, key)) for key in self.state_keys}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load what :meth:`state_dict` returned (of a bonus of the same kind, bound to as many envs);
        checked in full (:meth:`check_loadable`) before anything is loaded."""
        self.check_loadable(state)
        self.assign(state)

    def assign(self, state: dict[str, Any]) -> None:
        """Set every key of a checked ``state`` (copies)."""
        for key in self.state_keys:
            setattr(self, key, copy.deepcopy(state[key]))

    def check_loadable(self, state: Any) -> None:
        """The error :meth:`load_state_dict` would raise for ``state``, if any, changing nothing: here every
        key, each array of this bonus's shape. The intrinsic-reward wrapper checks every bonus's part with
        it before it loads any (all or nothing), so a bonus that checks more when it loads checks it here."""
        check_state(self, state, self.state_keys)
        for key in self.state_keys:
            want, theirs = self.loadable_shape(key, state[key]), np.shape(state[key])
            if want is not None and theirs != want:
                raise InputError(
                    f"{type(self).__name__}.load_state_dict: {key!r} has shape {theirs}, this bonus "
                    f"{want}; load the state of a bonus made with the same arguments for as many envs"
                )

    def loadable_shape(self, key: str, theirs: Any) -> tuple[int, ...] | None:
        """The shape a saved ``key`` must have (that of this bonus's array; None: not an array)."""
        mine = getattr(self, key, None)
        return mine.shape if isinstance(mine, np.ndarray) else None


class OnePass(Bonus):
    """Base of the built-in bonuses: :meth:`see` takes the batch in one pass, so that a vector env's
    autoreset step (s_0 for some envs, a step for the others) costs one call, not two."""

    def __call__(self, obs: Any, active: np.ndarray) -> np.ndarray:
        return self.see(obs, active, active)

    def see(self, obs: Any, seen: np.ndarray, paid: np.ndarray) -> np.ndarray:
        """``obs`` joins the episode (and what the bonus learns) for the envs in ``seen``; returns the bonus
        of those in ``paid`` (a subset of ``seen``, the same object on a plain step), 0 for the others."""
        raise NotImplementedError

    def start(self, obs: Any, mask: np.ndarray) -> None:
        if self.overrides("__call__"):
            Bonus.start(self, obs, mask)
        else:
            self.reset(mask)
            self.see(obs, mask, np.zeros(self.num_envs, dtype=bool))

    def autoreset(self, obs: Any, starting: np.ndarray, active: np.ndarray) -> np.ndarray:
        if self.overrides("__call__") or self.overrides("start"):
            return Bonus.autoreset(self, obs, starting, active)
        self.reset(starting)
        return self.see(obs, starting | active, active)

    def overrides(self, name: str) -> bool:
        """Whether a subclass overrides the method ``name`` (``__call__``, ``start``): then s_0 and the
        autoreset step go through it, as :class:`Bonus` does (two calls), since a pass of :meth:`see` alone
        would bypass what it adds or leaves out."""
        return getattr(type(self), name) is not getattr(OnePass, name)


class Embedding:
    """An embedding that learns from the transitions the wrapper sees (NGU's inverse-dynamics one,
    :class:`~rewardlab.envs.InverseDynamics`); an :class:`EpisodeMemory` bonus drives it."""

    update = True

    def bind(self, num_envs: int) -> Embedding:
        raise NotImplementedError

    def observe_actions(self, actions: Any) -> None:
        """The actions that led to the observations of the next :meth:`step`."""
        raise NotImplementedError

    def step(self, x: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Embeddings of the flat batch ``x`` (as the model is before this step), then one training step."""
        raise NotImplementedError

    def reset(self, mask: np.ndarray) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def check_loadable(self, state: Any) -> None:
        """The error :meth:`load_state_dict` would raise, if any, changing nothing."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError


EM = TypeVar("EM", bound="EpisodeMemory")


class EpisodeMemory(OnePass):
    """Base of the bonuses that keep each env's episode as embeddings f(s): ``memory`` (envs, capacity,
    dim, sized on the first batch) and ``length`` per env. ``embed``: a function of the flat batch, or an
    :class:`Embedding` that learns (it then gets the actions, is reset, frozen and saved with the bonus)."""

    capacity: int
    embed: Callable[[np.ndarray], Any] | Embedding | None
    state_keys: tuple[str, ...] = ("memory", "length")

    def bind(self: EM, num_envs: int) -> EM:
        Bonus.bind(self, num_envs)
        self.memory = np.zeros((num_envs, self.capacity, 0))  # sized on the first observation
        self.length = np.zeros(num_envs, dtype=np.int64)
        if isinstance(self.embed, Embedding):
            self.embed.bind(num_envs)
        return self

    @property
    def wants_actions(self) -> bool:  # type: ignore[override]
        return isinstance(self.embed, Embedding)

    def observe_actions(self, actions: Any) -> None:
        if isinstance(self.embed, Embedding):
            self.embed.observe_actions(actions)

    @property
    def update(self) -> bool:
        return getattr(self, "_update", True)

    @update.setter
    def update(self, setting: bool) -> None:
        self._update = setting
        if isinstance(self.embed, Embedding):
            self.embed.update = setting

    def embeddings(self, obs: Any, active: np.ndarray) -> np.ndarray:
        """f(obs) of the batch, the memory sized for it; a clear error if its width changes mid-episode."""
        owner = type(self).__name__
        if isinstance(self.embed, Embedding):
            e = embedded(self.embed.step(flat(obs, self.num_envs), active), self.num_envs, None, owner)
        else:
            e = embedded(obs, self.num_envs, self.embed, owner)
        if self.memory.shape[2] != e.shape[1]:
            if self.length.any():
                raise InputError(f"{owner}: embedding width changed from {self.memory.shape[2]} to {e.shape[1]}")
            self.memory = np.zeros((self.num_envs, self.capacity, e.shape[1]))
        return e

    def reset(self, mask: np.ndarray) -> None:
        self.length[mask] = 0
        if isinstance(self.embed, Embedding):
            self.embed.reset(mask)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        return {**state, "embed": self.embed.state_dict()} if isinstance(self.embed, Embedding) else state

    def loadable_shape(self, key: str, theirs: Any) -> tuple[int, ...] | None:
        if key == "memory" and self.memory.shape[2] == 0 and np.ndim(theirs) == 3:  # not sized yet: any width
            return (self.num_envs, self.capacity, np.shape(theirs)[2])
        return super().loadable_shape(key, theirs)

    def check_loadable(self, state: Any) -> None:
        super().check_loadable(state)  # the memory's shapes first, then the embedding's own state
        if isinstance(self.embed, Embedding):
            check_state(self, state, ("embed",))
            self.embed.check_loadable(state["embed"])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.check_loadable(state)
        if isinstance(self.embed, Embedding):
            self.embed.load_state_dict(state["embed"])
        self.assign(state)


def check_state(bonus: object, state: Any, keys: tuple[str, ...]) -> None:
    """A clear error unless ``state`` has every key (what ``state_dict()`` of this kind of bonus returns)."""
    missing = [k for k in keys if not isinstance(state, dict) or k not in state]
    if missing:
        raise InputError(
            f"{type(bonus).__name__}.load_state_dict: missing {missing}; pass what state_dict() of a "
            f"{type(bonus).__name__} returned"
        )


class SimHash:
    """k-bit SimHash codes of flattened observations (Charikar 2002; Tang et al. 2017)."""

    def __init__(self, bits: int, seed: int) -> None:
        self.bits = int(check_number(bits, "SimHash: bits", "an integer in 1..63", lambda b: 1 <= b <= 63, True))
        self.seed = seed
        self._a: np.ndarray | None = None
        self._shifts = np.arange(self.bits, dtype=np.uint64)

    def codes(self, x: np.ndarray) -> np.ndarray:
        if self._a is None or self._a.shape[1] != x.shape[1]:
            self._a = np.random.default_rng(self.seed).standard_normal((self.bits, x.shape[1]))
        signs = (x @ self._a.T) > 0
        return np.add.reduce(signs.astype(np.uint64) << self._shifts, axis=1, dtype=np.uint64)


class SimHashCount(OnePass):
    """β / √n(φ(s)) with n the count of the code over all experience (Tang et al. 2017, eq. 2)."""

    state_keys = ("table",)

    def __init__(self, bits: int = 32, beta: float = 1.0, table_bits: int = 20, seed: int = 0) -> None:
        self.hash, self.beta = SimHash(bits, seed), check_number(beta, "SimHashCount: beta", "a number > 0",
                                                                 lambda b: b > 0)
        check_number(table_bits, "SimHashCount: table_bits", "an integer in 1..32 (a table of 2^table_bits counts)",
                     lambda b: 1 <= b <= 32, integer=True)
        self.shift = np.uint64(64 - table_bits)
        self.table = np.zeros(1 << table_bits, dtype=np.int64)

    def see(self, obs: Any, seen: np.ndarray, paid: np.ndarray) -> np.ndarray:
        codes = self.hash.codes(flat(obs, self.num_envs))
        slot = ((codes * GOLDEN) >> self.shift).astype(np.int64)  # uint64 product wraps, as intended
        if self.update:
            np.add.at(self.table, slot[seen], 1)
        n = np.maximum(self.table[slot], 1)
        return np.where(paid, self.beta / np.sqrt(n), 0.0)


class EpisodicCount(OnePass):
    """1 / √n_ep(φ(s)): the code's count within this env's current episode (a ring of ``capacity`` codes)."""

    state_keys = ("memory", "length")

    def __init__(self, bits: int = 32, capacity: int = 4096, seed: int = 0) -> None:
        self.hash = SimHash(bits, seed)
        self.capacity = check_count(capacity, "EpisodicCount: capacity")

    def bind(self: E, num_envs: int) -> E:
        Bonus.bind(self, num_envs)
        self.memory = np.zeros((num_envs, self.capacity), dtype=np.uint64)
        self.length = np.zeros(num_envs, dtype=np.int64)
        self._columns = np.arange(self.capacity)[None, :]
        return self

    def see(self, obs: Any, seen: np.ndarray, paid: np.ndarray) -> np.ndarray:
        codes = self.hash.codes(flat(obs, self.num_envs))
        every = np.count_nonzero(seen) == self.num_envs  # the common step: no rows to pick
        ring_append(self.memory, self.length, codes, None if every else np.flatnonzero(seen))
        width = min(int(self.length.max(initial=0)), self.capacity)  # the columns any episode has filled
        filled = self._columns[:, :width] < self.length[:, None]
        n = np.maximum(np.add.reduce((self.memory[:, :width] == codes[:, None]) & filled, axis=1), 1)
        return np.where(paid, self.bonus(n), 0.0)

    def bonus(self, n: np.ndarray) -> np.ndarray:
        """The bonus of a code seen ``n`` times this episode (this visit included)."""
        return 1.0 / np.sqrt(n)

    def reset(self, mask: np.ndarray) -> None:
        self.length[mask] = 0


class CoverageGain(EpisodicCount):
    """The marginal gain F(S ∪ {s'}) − F(S) of the coverage F(S) = |{φ(s) : s ∈ S}| of the episode's states.

    Coverage is monotone submodular, so the bonus has diminishing returns (Prajapat
    et al. 2023, "Submodular Reinforcement Learning", ICLR 2024: rewards as marginal
    gains of a submodular function of the visited set): 1 the first time a cell is
    reached in the episode, 0 afterwards.
    """

    def bonus(self, n: np.ndarray) -> np.ndarray:
        return (n == 1).astype(np.float64)

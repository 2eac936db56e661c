"""Submodular marginal-gain rewards: bonuses with diminishing returns over the states an episode visited.

Prajapat et al. 2024, "Submodular Reinforcement Learning" (ICLR 2024; arXiv:2307.13372):
rewards that depend on the history through a monotone submodular set function F of the
visited states S_t, optimised (SubPO) by rewarding each step with its marginal gain

    r_t = Δ(s_{t+1} | S_t) = F(S_t ∪ {s_{t+1}}) − F(S_t),

so that Σ_t r_t = F(S_T) − F(∅), and Δ(x | A) ≥ Δ(x | B) for A ⊆ B (diminishing returns).
Their applications include coverage (:class:`~rewardlab.envs.CoverageGain`) and Bayesian
experiment design (the log-determinant below). With f(s) an embedding of the state
(``embed``; default the flattened observation) and the RBF kernel
k(a, b) = exp(−‖f(a) − f(b)‖² / (2h²)) ∈ (0, 1], h = ``bandwidth``:

* :class:`FacilityLocationGain`: F(S) = Σ_{v ∈ V} max_{s ∈ S} k(v, s) over a fixed ground set
  V of reference points (max over ∅ = 0): how well the episode's states cover V (Krause &
  Golovin 2014, "Submodular Function Maximization", the facility-location example). Its
  gain is Δ(x | S) = Σ_v max(k(v, x) − b_v, 0), b_v = max_{s ∈ S} k(v, s) kept per env.
* :class:`LogDetGain`: F(S) = log det(I + α K_S), K_S = [k(s, s')]_{s, s' ∈ S}: the
  information gain of Gaussian-process observations at S with noise variance 1/α, the
  D-optimal design criterion of the experiment-design application (Srinivas et al. 2010,
  "Gaussian Process Optimization in the Bandit Setting", eq. of the information gain
  I(y_S; f) = ½ log det(I + σ⁻² K_S), here without the ½). By the Schur complement,

      Δ(x | S) = log(1 + α k(x, x) − α² k_Sᵀ (I + α K_S)⁻¹ k_S),   k_S = [k(s, x)]_{s ∈ S},

  computed from (I + α K_S)⁻¹, kept per env and extended by the block-inverse formula when
  x joins S (O(|S|²) per step, no re-factorisation). S is a multiset (the states as
  visited): a repeated state still gains log((1 + 2α)/(1 + α)) after its first visit, less
  each time. Only the first ``capacity`` states of an episode (s_0 included) join S; later ones are scored
  against those (``full()`` says which envs are there), so keep ``capacity`` above the
  episode length for the exact telescoping sum.

Through the wrappers S starts as {s_0}, the reset observation (:meth:`Bonus.start`; s_0 pays
nothing), as the paper's F is of the trajectory from s_0 (its code's return is
F(s_0, ..., s_H)): a return to the start state gains as a revisit, and Σ_t r_t = F(S_T) − F({s_0}).

Both are episodic: S restarts with each episode, per env, so a wrapped vector env and a
vector of wrapped envs give the same stream; numpy over the batch, no loop over envs. They
learn nothing that outlives an episode, so ``update = False`` changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from rewardlab.envs._base import check_count, check_number
from rewardlab.envs.novelty import Embedding, EpisodeMemory, OnePass, embedded
from rewardlab.errors import InputError, SpecError

L = TypeVar("L", bound="LogDetGain")
F = TypeVar("F", bound="FacilityLocationGain")
Embed = Callable[[np.ndarray], Any]


def rbf(d2: np.ndarray, bandwidth: float) -> np.ndarray:
    """exp(−d² / (2h²)) of squared distances."""
    return np.exp(-d2 / (2.0 * bandwidth * bandwidth))


class FacilityLocationGain(OnePass):
    """Δ(x | S) of F(S) = Σ_{v ∈ points} max_{s ∈ S} k(v, s), S the episode's states (see the module)."""

    state_keys = ("best",)

    def __init__(self, points: Any, bandwidth: float = 1.0, *, embed: Embed | None = None) -> None:
        try:
            v = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            v = np.zeros((0, 0))
        if v.ndim != 2 or not v.size or not np.isfinite(v).all():
            raise SpecError(
                f"FacilityLocationGain: points must be a non-empty finite (m, dim) array of reference points "
                f"in the embedding's space (got {np.shape(points) if v.size else points!r})"
            )
        self.points, self.embed = v, embed
        self.bandwidth = check_number(bandwidth, "FacilityLocationGain: bandwidth", "a number > 0", lambda h: h > 0)
        self._sq = (v * v).sum(axis=1)

    def bind(self: F, num_envs: int) -> F:
        OnePass.bind(self, num_envs)
        self.best = np.zeros((num_envs, len(self.points)))  # b_v = max_{s ∈ S} k(v, s); 0 for S = ∅
        return self

    def see(self, obs: Any, seen: np.ndarray, paid: np.ndarray) -> np.ndarray:
        e = embedded(obs, self.num_envs, self.embed, "FacilityLocationGain")
        if e.shape[1] != self.points.shape[1]:
            raise InputError(f"FacilityLocationGain: embeddings have width {e.shape[1]}, the points "
                             f"{self.points.shape[1]}; give points in the space of the (embedded) observations")
        d2 = np.maximum((e * e).sum(axis=1)[:, None] - 2.0 * e @ self.points.T + self._sq[None, :], 0.0)
        k = np.where(seen[:, None], rbf(d2, self.bandwidth), 0.0)  # unseen: k = 0, no gain, b unchanged
        gain = np.maximum(k - self.best, 0.0).sum(axis=1)
        np.maximum(self.best, k, out=self.best)
        return gain if seen is paid else np.where(paid, gain, 0.0)

    def reset(self, mask: np.ndarray) -> None:
        self.best[mask] = 0.0


class LogDetGain(EpisodeMemory):
    """Δ(x | S) of F(S) = log det(I + α K_S), S the episode's first ``capacity`` states (see the module)."""

    state_keys = ("memory", "inverse", "length")

    def __init__(
        self, alpha: float = 1.0, bandwidth: float = 1.0, capacity: int = 256, *,
        embed: Embed | Embedding | None = None,
    ) -> None:
        self.alpha = check_number(alpha, "LogDetGain: alpha", "a number > 0", lambda a: a > 0)
        self.bandwidth = check_number(bandwidth, "LogDetGain: bandwidth", "a number > 0", lambda h: h > 0)
        self.capacity = check_count(capacity, "LogDetGain: capacity")
        self.embed = embed

    def bind(self: L, num_envs: int) -> L:
        EpisodeMemory.bind(self, num_envs)  # memory (envs, capacity, dim) and length = |S| per env
        self.inverse = np.tile(np.eye(self.capacity), (num_envs, 1, 1))  # (I + αK_S)⁻¹, identity beyond |S|
        return self

    def see(self, obs: Any, seen: np.ndarray, paid: np.ndarray) -> np.ndarray:
        e = self.embeddings(obs, seen)
        w = min(int(self.length.max(initial=0)) + 1, self.capacity)  # the slots any env uses, and the next one
        d2 = ((self.memory[:, :w] - e[:, None, :]) ** 2).sum(axis=2)
        k = np.where(np.arange(w)[None, :] < self.length[:, None], rbf(d2, self.bandwidth), 0.0)  # k_S, 0-padded
        q = np.einsum("nij,nj->ni", self.inverse[:, :w, :w], k)  # (I + αK_S)⁻¹ k_S
        a = self.alpha
        schur = np.maximum(1.0 + a - a * a * (k * q).sum(axis=1), 1.0)  # >= 1: I + αK ⪰ I (rounding only)
        self._add(e, q, schur, np.flatnonzero(seen & (self.length < self.capacity)), w)
        return np.where(paid, np.log(schur), 0.0)

    def _add(self, e: np.ndarray, q: np.ndarray, schur: np.ndarray, rows: np.ndarray, w: int) -> None:
        """x joins S for ``rows``: the block inverse of [[M, αk], [αkᵀ, 1 + α]] from M⁻¹ (q = M⁻¹k, s its Schur
        complement): [[M⁻¹ + α² q qᵀ/s, −α q/s], [−α qᵀ/s, 1/s]]."""
        if not len(rows):
            return
        n, a, s = self.length[rows], self.alpha, schur[rows]
        qr = q[rows]
        self.inverse[rows, :w, :w] += (a * a / s)[:, None, None] * qr[:, :, None] * qr[:, None, :]
        self.inverse[rows, n, :w] = self.inverse[rows, :w, n] = -(a / s)[:, None] * qr
        self.inverse[rows, n, n] = 1.0 / s
        self.memory[rows, n] = e[rows]
        self.length[rows] += 1

    def full(self) -> np.ndarray:
        """The envs whose S holds ``capacity`` states: later states of their episode are scored, not added."""
        return self.length >= self.capacity

    def reset(self, mask: np.ndarray) -> None:
        rows = np.flatnonzero(mask)
        w = min(int(self.length[rows].max(initial=0)), self.capacity)
        self.inverse[rows, :w, :w] = np.eye(w)
        super().reset(mask)


__all__ = ["FacilityLocationGain", "LogDetGain"]

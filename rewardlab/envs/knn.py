"""Episodic novelty from the k nearest neighbours in the episode's memory (Never Give Up).

Badia et al. 2020, "Never Give Up: Learning Directed Exploration Strategies"
(ICLR 2020), §2 and Algorithm 1 (their appendix). With M the embeddings f(x) of
the states reached earlier in this episode and N_k the k nearest ones to f(x_t):

    d_i² = ‖f(x_t) − f_i‖²,  f_i ∈ N_k           (squared Euclidean distances)
    d²_m ← running mean of the d_i²              (updated with this step's k distances)
    d_n  = max(d_i² / d²_m − ξ, 0)               (normalised, then clustered)
    K    = ε / (d_n + ε)                          (inverse kernel)
    s    = √(Σ_i K(f(x_t), f_i)) + c
    r    = 1/s if s ≤ s_m else 0

with NGU's constants k = 10, ξ = 0.008 (cluster distance), ε = 10⁻⁴ (kernel
epsilon), c = 10⁻³ (pseudo-count constant), s_m = 8 (maximum similarity). The
bonus is computed against the memory as it was, then f(x_t) is added. The memory
starts each episode with f(x_0), the reset observation's embedding (``start``, unpaid),
as NGU's holds every observation of the episode; an empty memory (a bonus called by
hand without ``start``) gives Σ K = 0 and r = 1/c, NGU's formula as it stands. Fewer
than k earlier states: the neighbours there are.

The embedding is ``embed(batch) -> batch`` (default: the flattened observation): a
fixed random projection, a pretrained encoder, or the raw features, which keeps the
bonus a function of the observations alone; or NGU's own, learnt online by an
inverse-dynamics model (``embed=InverseDynamics(action_space)``,
:mod:`rewardlab.envs.controllable`), which the wrapper then feeds the actions.

Everything is per env: each env has its memory (``capacity`` embeddings, a ring)
and its running mean d²_m, which persists across episodes as NGU's actors' do;
so a wrapped vector env and a vector of wrapped envs give the same stream.
All numpy over the batch: one (envs, memory, dim) distance tensor per step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from rewardlab.envs._base import check_count, check_number
from rewardlab.envs.novelty import Embedding, EpisodeMemory, ring_append

K = TypeVar("K", bound="EpisodicKNN")


class EpisodicKNN(EpisodeMemory):
    """NGU's episodic novelty: 1/(√(Σ kernel over the k nearest embeddings of the episode) + c)."""

    state_keys = ("memory", "length", "dist_sum", "dist_count")

    def __init__(
        self, k: int = 10, capacity: int = 4096, *, cluster_distance: float = 0.008, kernel_epsilon: float = 1e-4,
        c: float = 1e-3, max_similarity: float = 8.0, embed: Callable[[np.ndarray], Any] | Embedding | None = None,
    ) -> None:
        self.k, self.capacity = check_count(k, "EpisodicKNN: k"), check_count(capacity, "EpisodicKNN: capacity")
        positive = {"kernel_epsilon": kernel_epsilon, "c": c, "max_similarity": max_similarity}
        self.eps, self.c, self.s_max = (check_number(v, f"EpisodicKNN: {n}", "a number > 0", lambda x: x > 0)
                                        for n, v in positive.items())
        self.xi = check_number(cluster_distance, "EpisodicKNN: cluster_distance", "a number >= 0", lambda x: x >= 0)
        self.embed = embed

    def bind(self: K, num_envs: int) -> K:
        EpisodeMemory.bind(self, num_envs)
        self.dist_sum, self.dist_count = np.zeros(num_envs), np.zeros(num_envs, dtype=np.int64)
        return self

    def see(self, obs: Any, seen: np.ndarray, paid: np.ndarray) -> np.ndarray:
        e = self.embeddings(obs, seen)
        d2, valid = self.neighbours(e)
        valid &= paid[:, None]  # an s_0 has no neighbours (its memory was just emptied)
        if self.update:  # d²_m outlives the episode: frozen with the bonus
            self.dist_sum += np.where(valid, d2, 0.0).sum(axis=1)
            self.dist_count += valid.sum(axis=1)
        mean = self.dist_sum / np.maximum(self.dist_count, 1)
        with np.errstate(divide="ignore", invalid="ignore"):  # mean 0: every distance so far 0, d_n 0
            dn = np.where(mean[:, None] > 0, d2 / mean[:, None], 0.0)
        kernel = np.where(valid, self.eps / (np.maximum(dn - self.xi, 0.0) + self.eps), 0.0)
        s = np.sqrt(kernel.sum(axis=1)) + self.c
        ring_append(self.memory, self.length, e, np.flatnonzero(seen))
        return np.where(paid & (s <= self.s_max), 1.0 / s, 0.0)

    def neighbours(self, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Squared distances to the k nearest embeddings of each env's episode, and which are real."""
        filled = int(min(self.length.max(initial=0), self.capacity))
        k = min(self.k, filled)
        if k == 0:
            return np.zeros((self.num_envs, 1)), np.zeros((self.num_envs, 1), dtype=bool)
        d2 = ((self.memory[:, :filled] - e[:, None, :]) ** 2).sum(axis=2)
        d2[np.arange(filled)[None, :] >= np.minimum(self.length, self.capacity)[:, None]] = np.inf
        nearest = np.partition(d2, k - 1, axis=1)[:, :k] if k < filled else d2
        return nearest, np.isfinite(nearest)


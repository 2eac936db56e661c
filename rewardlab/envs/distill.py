"""Distillation bonuses: a predictor network trained to match a fixed random target network.

* :class:`RND`: Burda et al. 2018, "Exploration by Random Network Distillation",
  §2.2: bonus ‖f̂(s′) − f(s′)‖² with f a fixed random network and f̂ trained to
  match it, on observations whitened by running statistics and clipped to [−5, 5]
  (their §2.4).
* :class:`RDD`: Fang et al. 2025, "Exploration by Random Distribution Distillation"
  (arXiv:2505.11044), §4: the target of state s is a *distribution*: each visit
  draws f_tar(s) ~ N(μ(s), σ²I), μ the fixed random network; the predictor f_θ is
  trained on the draws, L(θ) = ‖f_θ(s) − f_tar(s)‖², and the bonus (their eq. 11) is

      b(s) = (1/d)·‖f_θ(s) − μ(s)‖²,   d = the output width.

  After n visits the least-squares predictor f*_n(s) is the mean of the n draws, so
  (1/d)·E‖f*_n(s) − μ(s)‖² = σ²/n(s): the bonus is bounded by a **pseudo-count term**
  σ²/n(s), which decays with the visits as a count bonus does, plus a
  **discrepancy term** (1/d)·‖f_θ(s) − f*_n(s)‖², how far the trained network is
  from that optimum (the paper's bound; we read it from the arXiv abstract and a
  secondary summary, not the full text). σ = 0 gives RND's training with the
  bonus divided by d.

Both: one Adam step per env step on the active envs of the batch, the bonus
computed before that step; torch, tiny (two 2-layer MLPs), CPU. Global bonuses:
one model for all the envs of a vector.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd

from rewardlab.envs._base import check_count, check_number, update_rms
from rewardlab.envs.novelty import Bonus, check_state, flat
from rewardlab.errors import import_extra


class RND(Bonus):
    """‖f̂(s′) − f(s′)‖² between a trained predictor and a fixed random target (Burda et al. 2018)."""

    state_keys: tuple[str, ...] = ("dim", "target", "predictor", "optimizer", "obs_rms")

    def __init__(self, hidden: int = 64, out: int = 16, lr: float = 1e-3, seed: int = 0) -> None:
        self.torch  # noqa: B018 -- the missing-extra error at construction, not at the first step
        self.hidden = check_count(hidden, f"{type(self).__name__}: hidden")
        self.out = check_count(out, f"{type(self).__name__}: out")
        self.lr = check_number(lr, f"{type(self).__name__}: lr", "a number > 0", lambda r: r > 0)
        self.seed = seed
        self.obs_rms = RunningMeanStd(shape=())
        self.nets: Any = None

    @property
    def torch(self) -> Any:
        """The torch module; not an attribute, so that the bonus deep-copies (RecordConstructorArgs does)."""
        return import_extra("torch", "models", type(self).__name__)

    def _build(self, dim: int) -> None:
        torch, nn = self.torch, self.torch.nn
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            target, predictor = (
                nn.Sequential(nn.Linear(dim, self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.out))
                for _ in range(2)
            )
        target.requires_grad_(False)
        self.nets = (target, predictor, torch.optim.Adam(predictor.parameters(), lr=self.lr))
        self.obs_rms, self.dim = RunningMeanStd(shape=(dim,)), dim

    def __call__(self, obs: Any, active: np.ndarray) -> np.ndarray:
        x = flat(obs, self.num_envs)
        if self.nets is None:
            self._build(x.shape[1])
        if self.update and active.any():
            update_rms(self.obs_rms, x[active])
        z = np.clip((x - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + 1e-8), -5.0, 5.0)
        target, predictor, opt = self.nets
        t = self.torch.as_tensor(z, dtype=self.torch.float32)
        pred, goal = predictor(t), target(t)
        bonus = self.bonus(pred, goal)
        mask = self.torch.as_tensor(active.copy())  # active may be a read-only shared mask
        if self.update and mask.any():
            opt.zero_grad()
            self.loss(pred[mask], goal[mask], bonus[mask]).backward()
            opt.step()
        return np.where(active, bonus.detach().numpy().astype(np.float64), 0.0)

    def bonus(self, pred: Any, goal: Any) -> Any:
        """Per row: ‖f̂(s) − f(s)‖²."""
        return ((pred - goal) ** 2).sum(dim=1)

    def loss(self, pred: Any, goal: Any, bonus: Any) -> Any:
        """The predictor's loss on the active rows: the mean bonus."""
        return bonus.mean()

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimiser and whitening statistics (empty before the first observation)."""
        if self.nets is None:
            return {}
        target, predictor, opt = self.nets
        rms = {"mean": self.obs_rms.mean.copy(), "var": self.obs_rms.var.copy(), "count": self.obs_rms.count}
        state = {"target": target.state_dict(), "predictor": predictor.state_dict(), "optimizer": opt.state_dict()}
        return copy.deepcopy({"dim": self.dim, **state, "obs_rms": rms})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state == {}:
            return
        check_state(self, state, self.state_keys)
        self._build(int(state["dim"]))
        target, predictor, opt = self.nets
        target.load_state_dict(state["target"])
        predictor.load_state_dict(state["predictor"])
        opt.load_state_dict(copy.deepcopy(state["optimizer"]))
        rms = state["obs_rms"]
        self.obs_rms.mean, self.obs_rms.var, self.obs_rms.count = rms["mean"].copy(), rms["var"].copy(), rms["count"]


class RDD(RND):
    """(1/d)·‖f_θ(s) − μ(s)‖², f_θ trained on draws f_tar(s) ~ N(μ(s), σ²I) (Fang et al. 2025, eq. 11)."""

    state_keys = (*RND.state_keys, "noise")

    def __init__(self, hidden: int = 64, out: int = 16, lr: float = 1e-3, sigma: float = 1.0, seed: int = 0) -> None:
        self.sigma = check_number(sigma, "RDD: sigma", "a number >= 0, the target distribution's std",
                                  lambda s: s >= 0)
        super().__init__(hidden, out, lr, seed)
        self.noise = self.torch.Generator().manual_seed(seed)

    def bonus(self, pred: Any, goal: Any) -> Any:
        """Per row: (1/d)·‖f_θ(s) − μ(s)‖², against the distribution's mean (eq. 11)."""
        return ((pred - goal) ** 2).mean(dim=1)

    def loss(self, pred: Any, goal: Any, bonus: Any) -> Any:
        """‖f_θ(s) − f_tar(s)‖² with a fresh draw f_tar(s) = μ(s) + σ·ε per visit, averaged over the rows."""
        draw = goal + self.sigma * self.torch.randn(goal.shape, generator=self.noise)
        return ((pred - draw) ** 2).sum(dim=1).mean()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        return {**state, "noise": self.noise.get_state()} if state else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state:
            self.noise.set_state(state["noise"])

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
computed before that step. Reset observations are whitened with and trained on too, unpaid
(:meth:`Bonus.start`: at a reset a step on them alone, on a vector env's autoreset step in
that step's batch): Burda et al.'s code updates its observation statistics with, and trains
the predictor on, every observation of the rollout, the reset ones included. torch, tiny
(two 2-layer MLPs), CPU. Global bonuses: one model for all the envs of a vector.
:class:`Networks` is that machinery (modules, optimiser, whitening, saved state), shared
with NGU's inverse-dynamics embedding (:mod:`rewardlab.envs.controllable`).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd

from rewardlab.envs._base import check_count, check_number, update_rms
from rewardlab.envs.normalize import Moments, load_rms, moments, rms_state
from rewardlab.envs.novelty import OnePass, check_state, flat
from rewardlab.errors import InputError, import_extra


class Networks:
    """The torch side of the bonuses and embeddings with networks (RND, RDD, InverseDynamics): the modules
    (:meth:`modules`, built on the first batch for its width, seeded), one Adam optimiser over the ``trained``
    ones, one step per env step (:meth:`learn`), observations whitened by running statistics and clipped to
    [−5, 5] (Burda et al. 2018, §2.4), and all of it in :meth:`state_dict`."""

    trained: tuple[str, ...] = ()  # the modules the optimiser trains; the others are fixed
    update = True

    def __init__(self, hidden: int, out: int, lr: float, seed: int) -> None:
        self.torch  # noqa: B018 -- the missing-extra error at construction, not at the first step
        owner = type(self).__name__
        self.hidden = check_count(hidden, f"{owner}: hidden")
        self.out = check_count(out, f"{owner}: out")
        self.lr = check_number(lr, f"{owner}: lr", "a number > 0", lambda r: r > 0)
        self.seed = seed
        self.obs_rms = RunningMeanStd(shape=())
        self.nets: dict[str, Any] | None = None
        self.state_keys = ("dim", *self.module_names(), "optimizer", "obs_rms")

    @property
    def torch(self) -> Any:
        """The torch module; not an attribute, so that the bonus deep-copies (RecordConstructorArgs does)."""
        return import_extra("torch", "models", type(self).__name__)

    def mlp(self, inputs: int, outputs: int) -> Any:
        """A 2-layer MLP with ReLU, ``hidden`` units."""
        nn = self.torch.nn
        return nn.Sequential(nn.Linear(inputs, self.hidden), nn.ReLU(), nn.Linear(self.hidden, outputs))

    def module_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def modules(self, dim: int) -> dict[str, Any]:
        """The modules, by the names of :meth:`module_names`, for observations of width ``dim``."""
        raise NotImplementedError

    def fresh(self, dim: int) -> tuple[dict[str, Any], Any]:
        """New seeded modules for observations of width ``dim`` and the optimiser of the trained ones."""
        torch = self.torch
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            nets = self.modules(dim)
        for name, net in nets.items():
            net.requires_grad_(name in self.trained)
        params = [p for name in self.trained for p in nets[name].parameters()]
        return nets, torch.optim.Adam(params, lr=self.lr)

    def build(self, dim: int) -> None:
        self.nets, self.optimizer = self.fresh(dim)
        self.obs_rms, self.dim = RunningMeanStd(shape=(dim,)), dim

    def whiten(self, x: np.ndarray, active: np.ndarray) -> Any:
        """The flat batch as a float32 tensor, whitened by the running statistics (updated first with the
        active rows unless frozen); the modules are built on the first call."""
        if self.nets is None:
            self.build(x.shape[1])
        if self.update and active.any():
            update_rms(self.obs_rms, x[active])
        return self.whitened(x)

    def whitened(self, x: np.ndarray) -> Any:
        z = np.clip((x - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + 1e-8), -5.0, 5.0)
        return self.torch.as_tensor(z, dtype=self.torch.float32)

    def learn(self, loss: Any) -> None:
        """One Adam step on ``loss``."""
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        """Modules, optimiser and whitening statistics (empty before the first observation)."""
        if self.nets is None:
            return {}
        nets = {name: net.state_dict() for name, net in self.nets.items()}
        state = {"dim": self.dim, **nets, "optimizer": self.optimizer.state_dict()}
        return {**copy.deepcopy(state), "obs_rms": rms_state(self.obs_rms)}

    def fitted(self, state: dict[str, Any]) -> tuple[int, dict[str, Any], Any, Moments] | None:
        """``state``'s width, modules, optimiser and whitening statistics, loaded into fresh modules (this one
        unchanged); None for the empty state of one that saw nothing; a one-line InputError if they do not fit."""
        if state == {}:
            return None
        check_state(self, state, self.state_keys)
        dim = state["dim"]
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise InputError(f"{type(self).__name__}.load_state_dict: 'dim' must be the observations' width, a "
                             f"positive integer (got {dim!r}); load what state_dict() returned")
        dim = int(dim)
        values = moments(state, "obs_rms", type(self).__name__, (dim,))
        nets, optimizer = self.fresh(dim)
        try:
            for name, net in nets.items():
                net.load_state_dict(state[name])
            optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            why = str(exc).strip().splitlines()[-1].strip()
            raise InputError(f"{type(self).__name__}.load_state_dict: the saved networks do not fit this one ({why}); "
                             "load the state of one made with the same hidden and out") from None
        return dim, nets, optimizer, values

    def check_loadable(self, state: Any) -> None:
        """The error :meth:`load_state_dict` would raise, if any: the networks are loaded on the side."""
        self.fitted(state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        fitted = self.fitted(state)  # nothing changes unless every part fits
        if fitted is None:  # the state of one that saw nothing: be that one (built on the next batch)
            self.nets, self.obs_rms = None, RunningMeanStd(shape=())
            return
        self.dim, self.nets, self.optimizer, values = fitted
        self.obs_rms = RunningMeanStd(shape=(self.dim,))
        load_rms(self.obs_rms, values)


class RND(Networks, OnePass):
    """‖f̂(s′) − f(s′)‖² between a trained predictor and a fixed random target (Burda et al. 2018)."""

    trained = ("predictor",)

    def __init__(self, hidden: int = 64, out: int = 16, lr: float = 1e-3, seed: int = 0) -> None:
        Networks.__init__(self, hidden, out, lr, seed)

    def module_names(self) -> tuple[str, ...]:
        return ("target", "predictor")

    def modules(self, dim: int) -> dict[str, Any]:
        return {"target": self.mlp(dim, self.out), "predictor": self.mlp(dim, self.out)}  # in this order: seeded

    def see(self, obs: Any, seen: np.ndarray, paid: np.ndarray) -> np.ndarray:
        t = self.whiten(flat(obs, self.num_envs), seen)
        nets = self.nets or {}
        pred, goal = nets["predictor"](t), nets["target"](t)
        bonus = self.bonus(pred, goal)
        mask = self.torch.as_tensor(seen.copy())  # seen may be a read-only shared mask
        if self.update and mask.any():
            self.learn(self.loss(pred[mask], goal[mask], bonus[mask]))
        return np.where(paid, bonus.detach().numpy().astype(np.float64), 0.0)

    def bonus(self, pred: Any, goal: Any) -> Any:
        """Per row: ‖f̂(s) − f(s)‖²."""
        return ((pred - goal) ** 2).sum(dim=1)

    def loss(self, pred: Any, goal: Any, bonus: Any) -> Any:
        """The predictor's loss on the active rows: the mean bonus."""
        return bonus.mean()


class RDD(RND):
    """(1/d)·‖f_θ(s) − μ(s)‖², f_θ trained on draws f_tar(s) ~ N(μ(s), σ²I) (Fang et al. 2025, eq. 11)."""

    def __init__(self, hidden: int = 64, out: int = 16, lr: float = 1e-3, sigma: float = 1.0, seed: int = 0) -> None:
        self.sigma = check_number(sigma, "RDD: sigma", "a number >= 0, the target distribution's std",
                                  lambda s: s >= 0)
        super().__init__(hidden, out, lr, seed)
        self.state_keys = (*self.state_keys, "noise")
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

    def check_loadable(self, state: Any) -> None:
        super().check_loadable(state)
        self.check_noise(state)

    def check_noise(self, state: dict[str, Any]) -> None:
        """A one-line InputError unless a non-empty ``state`` holds a torch generator state under 'noise'."""
        if state:
            check_state(self, state, ("noise",))
            try:
                self.torch.Generator().set_state(state["noise"])
            except (RuntimeError, TypeError) as exc:
                raise InputError(f"RDD.load_state_dict: 'noise' is not a torch generator's state ({exc}); "
                                 "pass what state_dict() of an RDD returned") from None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.check_noise(state)  # before the networks load: a refused state loads nothing
        super().load_state_dict(state)
        if state:
            self.noise.set_state(state["noise"])
        else:  # one that saw nothing has drawn nothing
            self.noise.manual_seed(self.seed)

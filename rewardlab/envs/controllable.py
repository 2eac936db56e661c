"""NGU's controllable-state embedding, learnt online by an inverse-dynamics model.

Badia et al. 2020, "Never Give Up: Learning Directed Exploration Strategies" (ICLR
2020), §2 ("the embedding network"): the episodic memory holds f(x), an embedding
trained to keep what the agent controls and drop what it does not (noise, distractors),
by predicting the action from two consecutive observations,

    p(a_t | x_t, x_{t+1}) = softmax(h(f(x_t), f(x_{t+1}))),   L = −log p(a_t | x_t, x_{t+1}),

f and h trained together (NGU: f a small conv net, h a one-hidden-layer MLP over the
concatenation [f(x_t), f(x_{t+1})]); only f is used by the episodic bonus. Here f and h
are 2-layer MLPs on the flattened observations, whitened and clipped as RND's are (a
choice here, NGU feeds frames); a continuous (Box) action is regressed with the squared
error ‖h(·) − a_t‖² instead of the softmax.

:class:`InverseDynamics` is given as the ``embed`` of :class:`~rewardlab.envs.EpisodicKNN`
(or :class:`~rewardlab.envs.LogDetGain`); the intrinsic-reward wrapper then feeds it the
actions. Each step it embeds the observations reached with the model as it is, then takes
one Adam step on the transitions (x_t, a_t, x_{t+1}) of the active envs, through the
training machinery RND uses (:class:`~rewardlab.envs.distill.Networks`). The reset
observation is x_0 (the bonus's ``start`` embeds it with no training step), so an episode's
first transition (x_0, a_0, x_1) is trained on, as NGU trains on every transition.
One model for all the envs of a vector (a global learner, as RND): a vector of wrapped
envs and a wrapped vector env agree for one env. ``update = False`` (the wrapper's
``update_running_mean``) freezes the model and its statistics.
"""

from __future__ import annotations

from typing import Any, TypeVar

import gymnasium as gym
import numpy as np

from rewardlab.envs.distill import Networks
from rewardlab.envs.novelty import Embedding, check_state
from rewardlab.errors import InputError, SpecError

I = TypeVar("I", bound="InverseDynamics")  # noqa: E741


class InverseDynamics(Networks, Embedding):
    """f(x), trained online to predict a_t from (f(x_t), f(x_{t+1})) (NGU's embedding; see the module)."""

    trained = ("encoder", "head")

    def __init__(self, action_space: gym.spaces.Space[Any], hidden: int = 64, out: int = 32, lr: float = 1e-3,
                 seed: int = 0) -> None:
        if isinstance(action_space, gym.spaces.Discrete):
            self.discrete, self.actions_out, self.start = True, int(action_space.n), int(action_space.start)
        elif isinstance(action_space, gym.spaces.Box):
            self.discrete, self.actions_out, self.start = False, int(np.prod(action_space.shape)), 0
        else:
            raise SpecError(f"InverseDynamics: action_space must be a gymnasium Discrete or Box space (got "
                            f"{action_space!r}); give the single env's action space (envs.single_action_space)")
        super().__init__(hidden, out, lr, seed)
        self.state_keys = (*self.state_keys, "prev", "has_prev")
        self.last_loss: float | None = None  # the inverse-dynamics loss of the last training step

    def module_names(self) -> tuple[str, ...]:
        return ("encoder", "head")

    def modules(self, dim: int) -> dict[str, Any]:
        return {"encoder": self.mlp(dim, self.out), "head": self.mlp(2 * self.out, self.actions_out)}

    def bind(self: I, num_envs: int) -> I:
        self.num_envs = num_envs
        self.prev = np.zeros((num_envs, 0))  # x_t of each env, sized on the first batch
        self.has_prev = np.zeros(num_envs, dtype=bool)
        self._actions: np.ndarray | None = None
        return self

    def observe_actions(self, actions: Any) -> None:
        self._actions = np.array(actions, dtype=np.float64).reshape(self.num_envs, -1)

    def step(self, x: np.ndarray, active: np.ndarray) -> np.ndarray:
        z = self.whiten(x, active)
        encoder = (self.nets or {})["encoder"]
        e = encoder(z)
        valid = active & self.has_prev
        if self.update and valid.any():
            self.learn(self.loss(encoder(self.whitened(self.prev[valid])), e[self.torch.as_tensor(valid)], valid))
        if self.prev.shape[1] != x.shape[1]:
            self.prev = np.zeros_like(x)
        self.prev[active] = x[active]
        self.has_prev |= active
        self._actions = None  # each step's actions are used once
        return e.detach().numpy().astype(np.float64)

    def loss(self, before: Any, after: Any, valid: np.ndarray) -> Any:
        """−log p(a_t | f(x_t), f(x_{t+1})) for a discrete action, ‖h − a_t‖² for a Box one; mean over rows."""
        if self._actions is None:
            raise InputError("InverseDynamics needs the actions: use it through IntrinsicReward or "
                             "VectorIntrinsicReward, or call observe_actions(actions) before each step")
        torch = self.torch
        out = (self.nets or {})["head"](torch.cat([before, after], dim=1))
        a = self._actions[valid]
        if self.discrete:
            target = torch.as_tensor(a[:, 0] - self.start, dtype=torch.long)
            loss = torch.nn.functional.cross_entropy(out, target)
        else:
            loss = ((out - torch.as_tensor(a, dtype=torch.float32)) ** 2).sum(dim=1).mean()
        self.last_loss = float(loss.detach())
        return loss

    def reset(self, mask: np.ndarray) -> None:
        self.has_prev[mask] = False

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        return {**state, "prev": self.prev.copy(), "has_prev": self.has_prev.copy()} if state else {}

    def rows(self, state: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """The per-env part of a non-empty ``state`` (x_t and whether there is one), checked for this many envs."""
        check_state(self, state, self.state_keys)
        prev, has_prev = np.array(state["prev"], dtype=np.float64), np.array(state["has_prev"], dtype=bool)
        if prev.ndim != 2 or len(prev) != self.num_envs or has_prev.shape != (self.num_envs,):
            raise InputError(
                f"InverseDynamics.load_state_dict: 'prev' has shape {prev.shape} and 'has_prev' {has_prev.shape}, "
                f"this embedding is bound to {self.num_envs} envs; load the state of one bound to as many envs"
            )
        return prev, has_prev

    def check_loadable(self, state: Any) -> None:
        if state:
            self.rows(state)
        super().check_loadable(state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        rows = self.rows(state) if state else None  # the per-env part checked before anything loads
        super().load_state_dict(state)
        if rows is None:  # one that saw nothing has no x_t
            rows = np.zeros((self.num_envs, 0)), np.zeros(self.num_envs, dtype=bool)
        self.prev, self.has_prev = rows


__all__ = ["InverseDynamics"]

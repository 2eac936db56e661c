"""NGU's inverse-dynamics embedding: it learns online from the wrapper's transitions, freezes and saves."""

from __future__ import annotations

import io
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import SyncVectorEnv

from rewardlab.envs import EpisodicKNN, IntrinsicReward, InverseDynamics, LogDetGain, VectorIntrinsicReward
from rewardlab.envs.intrinsic import BonusSet
from rewardlab.errors import InputError, SpecError
from tests.test_envs_intrinsic_ngu import _same_state

CELLS, NOISE = 8, 3


class Ring(gym.Env):
    """Position on a ring of 8 cells (one-hot) plus 3 uncontrollable noise features; left, stay or right."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(CELLS + NOISE,))
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.cell = int(self.np_random.integers(CELLS))
        return self._obs(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self.cell = (self.cell + int(action) - 1) % CELLS
        return self._obs(), 0.0, False, False, {}

    def _obs(self) -> np.ndarray:
        noise = self.np_random.uniform(-1.0, 1.0, size=NOISE)
        return np.concatenate([np.eye(CELLS)[self.cell], noise]).astype(np.float32)


def ring_envs(embedding: InverseDynamics, n: int = 8) -> VectorIntrinsicReward:
    envs = VectorIntrinsicReward(SyncVectorEnv([lambda: gym.wrappers.TimeLimit(Ring(), 40) for _ in range(n)]),
                                 EpisodicKNN(k=5, embed=embedding))
    envs.reset(seed=0)
    return envs


def test_inverse_dynamics_loss_falls_on_a_toy_env() -> None:
    torch.set_num_threads(1)
    embedding = InverseDynamics(Ring.action_space, hidden=32, out=8, lr=3e-3, seed=0)
    envs = ring_envs(embedding)
    rng = np.random.default_rng(0)
    losses: list[Any] = []
    for _ in range(250):
        info = envs.step(rng.integers(0, 3, size=8))[4]
        assert np.isfinite(info["intrinsic"]).all()
        losses.append(embedding.last_loss)
        assert embedding.has_prev.all()  # s_0 is x_0, at reset and on the autoreset step (step 40) alike
    assert losses[0] is not None  # the first step is the transition (x_0, a_0, x_1): trained on at once
    assert losses[1] == pytest.approx(np.log(3), abs=0.3)  # chance: one of three actions
    assert np.mean(losses[-20:]) < 0.3 * np.mean(losses[1:21])
    with torch.no_grad():  # the embedding keeps the position and leaves out most of the noise
        same_cell = np.eye(CELLS + NOISE)[[0, 0]] + np.array([[0.0] * CELLS + [0.9, -0.9, 0.5], [0.0] * 11])
        other_cell = np.eye(CELLS + NOISE)[[0, 4]]
        f = (embedding.nets or {})["encoder"]
        near = np.linalg.norm(np.diff(f(embedding.whitened(same_cell)).numpy(), axis=0))
        far = np.linalg.norm(np.diff(f(embedding.whitened(other_cell)).numpy(), axis=0))
    assert near < far


def test_box_actions_are_regressed() -> None:
    """x_{t+1} = x_t + a_t with a Box action: the squared-error head learns the difference."""
    torch.set_num_threads(1)
    embedding = InverseDynamics(gym.spaces.Box(-1.0, 1.0, shape=(2,)), hidden=32, out=8, lr=3e-3, seed=1)
    bonus = BonusSet(LogDetGain(embed=embedding, capacity=8), "sum", 0.0, 5.0, 4)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 2))
    losses: list[Any] = []
    for t in range(300):
        a = rng.uniform(-1, 1, size=(4, 2))
        if t % 8 == 0:  # episodes of 8 steps from a fresh start s_0
            x = rng.normal(size=(4, 2))
            bonus.start(x, np.ones(4, dtype=bool))
        x = x + a
        bonus(x, np.ones(4, dtype=bool), a)
        losses.append(embedding.last_loss)
    assert np.mean(losses[-30:]) < 0.3 * np.mean(losses[1:31])


def train(envs: VectorIntrinsicReward, steps: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        envs.step(rng.integers(0, 3, size=envs.num_envs))


def test_frozen_embedding_stops_training() -> None:
    embedding = InverseDynamics(Ring.action_space, hidden=16, out=4, seed=0)
    envs = ring_envs(embedding, n=2)
    train(envs, 20, 0)
    envs.update_running_mean = False
    assert embedding.update is False
    before = embedding.state_dict()
    loss = embedding.last_loss
    train(envs, 24, 1)  # the episodes end at step 40: the autoreset step (x_0 of the next) frozen too
    after = embedding.state_dict()
    learnt = ("encoder", "head", "optimizer", "obs_rms")
    assert _same_state({k: before[k] for k in learnt}, {k: after[k] for k in learnt})
    assert embedding.last_loss == loss  # no training step at all
    envs.update_running_mean = True
    train(envs, 4, 2)
    assert not _same_state(before["encoder"], embedding.state_dict()["encoder"])


def test_state_dict_round_trip_continues_the_stream() -> None:
    """Saved through torch.save with the kNN bonus it embeds for, loaded into a fresh one: the same next
    bonuses, embeddings and losses on the same transitions."""
    embeddings: list[InverseDynamics] = []

    def make() -> BonusSet:
        embeddings.append(InverseDynamics(Ring.action_space, hidden=16, out=4, seed=2))
        return BonusSet(EpisodicKNN(k=3, embed=embeddings[-1]), "sum", 0.0, 5.0, 2)

    rng = np.random.default_rng(3)
    both = np.ones(2, dtype=bool)
    a = make()
    for _ in range(15):
        a(rng.normal(size=(2, 5)), both, rng.integers(0, 3, size=2))
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    b = make()
    b.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=False))
    ea, eb = embeddings
    for _ in range(5):
        x, act = rng.normal(size=(2, 5)), rng.integers(0, 3, size=2)
        np.testing.assert_allclose(a(x, both, act)[0], b(x, both, act)[0], rtol=1e-6)
        assert ea.last_loss == pytest.approx(eb.last_loss, rel=1e-6)
    fresh = make()
    x, act = rng.normal(size=(2, 5)), rng.integers(0, 3, size=2)
    assert not np.allclose(fresh(x, both, act)[0], a(x, both, act)[0])  # the state mattered


def test_single_env_wrapper_feeds_actions_and_bad_use_is_named() -> None:
    embedding = InverseDynamics(Ring.action_space, hidden=16, out=4)
    env = IntrinsicReward(Ring(), EpisodicKNN(k=3, embed=embedding))
    env.reset(seed=0)
    for action in (0, 2, 1):
        env.step(action)
    assert embedding.last_loss is not None  # trained from the single wrapper's transitions
    bare = EpisodicKNN(k=3, embed=InverseDynamics(Ring.action_space)).bind(1)
    bare(np.zeros((1, 4)), np.ones(1, dtype=bool))
    with pytest.raises(InputError, match="InverseDynamics needs the actions"):
        bare(np.ones((1, 4)), np.ones(1, dtype=bool))
    with pytest.raises(SpecError, match="InverseDynamics: action_space must be a gymnasium Discrete or Box"):
        InverseDynamics(gym.spaces.MultiBinary(3))


def test_frozen_wrapper_with_the_learnt_embedding_passes_the_env_checker() -> None:
    from tests.test_envs_support import check_wrapped_env

    env = IntrinsicReward(gym.wrappers.TimeLimit(Ring(), 30), EpisodicKNN(k=3, embed=InverseDynamics(
        Ring.action_space, hidden=16, out=4)))
    env.reset(seed=0)
    for action in (0, 1, 2, 2, 1):
        env.step(action)
    env.update_running_mean = False
    check_wrapped_env(env)


def test_a_state_for_other_envs_is_refused_and_loads_nothing() -> None:
    """The bonus's memory shapes are checked before its embedding loads, and the embedding checks its own
    per-env rows: a 2-env state loaded into 3 envs replaced the embedding's networks and rows (then the next
    step failed on a broadcast), or loaded silently into a bare InverseDynamics."""
    def make(n: int) -> tuple[InverseDynamics, BonusSet]:
        embedding = InverseDynamics(Ring.action_space, hidden=8, out=4, seed=n)
        return embedding, BonusSet(EpisodicKNN(k=3, capacity=8, embed=embedding), "sum", 0.0, 5.0, n)

    rng = np.random.default_rng(4)
    two, a = make(2)
    for _ in range(3):
        a(rng.normal(size=(2, 5)), np.ones(2, dtype=bool), rng.integers(0, 3, size=2))
    three, b = make(3)
    b(rng.normal(size=(3, 5)), np.ones(3, dtype=bool), rng.integers(0, 3, size=3))
    before = three.state_dict()
    with pytest.raises(InputError, match=r"EpisodicKNN.load_state_dict: 'memory' has shape \(2, 8, 4\)"):
        b.load_state_dict(a.state_dict())
    assert _same_state(before, three.state_dict())  # nothing loaded
    b(rng.normal(size=(3, 5)), np.ones(3, dtype=bool), rng.integers(0, 3, size=3))  # and it still steps
    bare = InverseDynamics(Ring.action_space, hidden=8, out=4).bind(3)
    with pytest.raises(InputError, match=r"'prev' has shape \(2, 5\) and 'has_prev' \(2,\), this embedding is "
                                         r"bound to 3 envs"):
        bare.load_state_dict(two.state_dict())
    assert bare.state_dict() == {}


def test_one_embedding_given_to_two_bonuses_is_refused() -> None:
    """Shared, it took two training steps an env step, the second on (x, x) without actions: the step failed
    with "InverseDynamics needs the actions: use it through IntrinsicReward", though it was."""
    embedding = InverseDynamics(Ring.action_space, hidden=8, out=4)
    with pytest.raises(SpecError, match=r"one learnt embedding .* given to several bonuses; give each bonus its own"):
        BonusSet({"knn": EpisodicKNN(k=3, embed=embedding), "logdet": LogDetGain(capacity=8, embed=embedding)},
                 "sum", 0.0, 5.0, 2)
    own = [InverseDynamics(Ring.action_space, hidden=8, out=4) for _ in range(2)]
    pair = BonusSet({"knn": EpisodicKNN(k=3, embed=own[0]), "logdet": LogDetGain(capacity=8, embed=own[1])},
                    "sum", 0.0, 5.0, 2)
    for _ in range(2):
        pair(np.ones((2, 4)), np.ones(2, dtype=bool), np.zeros(2, dtype=np.int64))


def test_networks_of_another_size_are_refused_in_one_line_and_load_nothing() -> None:
    """A state saved with another ``hidden`` replaced the trained networks by fresh ones, then raised torch's
    multi-line size-mismatch error (for InverseDynamics and for RND, which share the loading code)."""
    from rewardlab.envs import RND

    small, big = (InverseDynamics(Ring.action_space, hidden=h, out=4).bind(2) for h in (8, 16))
    for embedding in (small, big):
        embedding.observe_actions(np.zeros(2))
        embedding.step(np.ones((2, 5)), np.ones(2, dtype=bool))
    rnd_small, rnd_big = (RND(hidden=h).bind(1) for h in (8, 16))
    for rnd in (rnd_small, rnd_big):
        rnd(np.ones((1, 5)), np.ones(1, dtype=bool))
    for target, source in ((big, small), (rnd_big, rnd_small)):
        before = target.state_dict()
        with pytest.raises(InputError, match=r"load_state_dict: the saved networks do not fit this one \(size "
                                             r"mismatch.*\); load the state of one made with the same hidden") as err:
            target.load_state_dict(source.state_dict())
        assert "\n" not in str(err.value)
        assert _same_state(before, target.state_dict())

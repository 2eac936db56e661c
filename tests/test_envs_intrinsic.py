"""Intrinsic rewards: novelty falls on revisits, stays out of the reward unless asked, same in both forms."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

from rewardlab.envs import (
    RND,
    Bonus,
    CoverageGain,
    EpisodicCount,
    EpisodicKNN,
    IntrinsicReward,
    InverseDynamics,
    SimHashCount,
    VectorIntrinsicReward,
)
from rewardlab.errors import SpecError
from tests.test_envs_support import ChainMDP, assert_same_stream, check_wrapped_env, run_parity

ONE = np.ones(1, dtype=bool)


def repeat(bonus: object, obs: np.ndarray, times: int) -> list[float]:
    return [float(bonus(obs, ONE)[0]) for _ in range(times)]  # type: ignore[operator]


def test_simhash_count_falls_as_one_over_sqrt_n_and_a_new_state_is_novel_again() -> None:
    bonus = SimHashCount(bits=16).bind(1)
    assert repeat(bonus, np.array([[0.3, -1.2, 0.5]]), 4) == pytest.approx([1, 1 / np.sqrt(2), 1 / np.sqrt(3), 0.5])
    assert repeat(bonus, np.array([[-5.0, 4.0, -2.0]]), 1) == [1.0]


def test_episodic_count_is_per_env_and_restarts_with_the_episode() -> None:
    bonus = EpisodicCount(bits=16).bind(2)
    both = np.ones(2, dtype=bool)
    same = np.array([[1.0, 2.0], [1.0, 2.0]])
    first, second = bonus(same, both), bonus(same, both)
    np.testing.assert_allclose(first, [1.0, 1.0])  # each env counts its own episode
    np.testing.assert_allclose(second, [1 / np.sqrt(2)] * 2)
    bonus.reset(np.array([True, False]))
    np.testing.assert_allclose(bonus(same, both), [1.0, 1 / np.sqrt(3)])
    np.testing.assert_allclose(bonus(same, np.array([False, True])), [0.0, 0.5])  # inactive env: no bonus, no count


def test_rnd_error_falls_on_revisits_and_stays_high_on_a_new_state() -> None:
    bonus = RND(seed=0).bind(1)
    rng = np.random.default_rng(0)
    seen = rng.normal(size=(1, 6))
    for x in rng.normal(size=(50, 1, 6)):  # whitening statistics from a spread of states
        bonus(x, ONE)
    errors = repeat(bonus, seen, 150)
    assert errors[-1] < 0.2 * errors[0]
    count = bonus.obs_rms.count
    assert float(bonus(seen + 3.0, np.zeros(1, dtype=bool))[0]) == 0.0  # inactive: reported 0, not counted
    assert bonus.obs_rms.count == count
    assert float(bonus(seen + 3.0, ONE)[0]) > 3 * errors[-1]  # the error is computed before the update


def one_hot_chain() -> gym.Env:
    """The chain with one-hot observations: SimHash is on signs of projections, so states need directions."""
    space = gym.spaces.Box(0.0, 1.0, shape=(5,))
    return gym.wrappers.TransformObservation(ChainMDP(), lambda s: np.eye(5, dtype=np.float32)[s], space)


def test_intrinsic_is_reported_not_folded_unless_beta() -> None:
    env = IntrinsicReward(one_hot_chain(), EpisodicCount(bits=8))
    env.reset()
    bonuses = []
    for action in (1, 0, 1, 0, 1):  # 3, 2, 3, 2, 3 from s_0 = 2: revisits, and returns to the start
        _, reward, _, _, info = env.step(action)
        assert reward == info["raw_reward"] == 0.0
        bonuses.append(info["intrinsic"])
    # The reset observation 2 is in the episode's count: a return to it is a second visit (1/√2), not a first
    assert bonuses == pytest.approx([1, 1 / np.sqrt(2), 1 / np.sqrt(2), 1 / np.sqrt(3), 1 / np.sqrt(3)])
    env.reset()
    assert env.step(1)[4]["intrinsic"] == 1.0  # a new episode
    folded = IntrinsicReward(one_hot_chain(), EpisodicCount(bits=8), beta=0.5)
    folded.reset(options={"state": 3})
    _, reward, _, _, info = folded.step(1)
    assert reward == pytest.approx(info["raw_reward"] + 0.5 * info["intrinsic"]) and info["raw_reward"] == 1.0


def test_vector_and_single_give_the_same_stream() -> None:
    out_a, out_b = run_parity(
        lambda e: IntrinsicReward(e, EpisodicCount(bits=6), beta=0.1),
        lambda v: VectorIntrinsicReward(v, EpisodicCount(bits=6), beta=0.1),
        steps=80,
    )
    assert_same_stream(out_a, out_b, ("raw_reward", "intrinsic"))
    both = {"global": SimHashCount(bits=6), "episodic": EpisodicCount(bits=6)}
    out_a, out_b = run_parity(
        lambda e: IntrinsicReward(e, {"global": SimHashCount(bits=6), "episodic": EpisodicCount(bits=6)},
                                  combine="product"),
        lambda v: VectorIntrinsicReward(v, both, combine="product"),
        num_envs=1, steps=80,
    )
    assert_same_stream(out_a, out_b, ("intrinsic",))
    assert any((i["intrinsic"] < 1.0).any() for *_, i in out_b)


def test_autoreset_observation_is_the_next_episodes_start_in_both_forms() -> None:
    """NEXT_STEP autoreset: the autoreset step's observation is the new episode's s_0, unpaid (masked) but in
    the episode's count, in a wrapped vector env as in a vector of wrapped envs; every return to the start
    state 2 is a revisit (at most 1/√2), every step."""
    n = 3
    a = SyncVectorEnv([lambda: IntrinsicReward(one_hot_chain(), EpisodicCount(bits=8)) for _ in range(n)])
    b = VectorIntrinsicReward(SyncVectorEnv([one_hot_chain] * n), EpisodicCount(bits=8))
    a.reset(seed=0)
    b.reset(seed=0)
    rng, returns, autoresets = np.random.default_rng(0), 0, 0
    for _ in range(60):
        actions = rng.integers(0, 2, size=n)
        obs, _, _, _, info_a = a.step(actions)
        _, _, _, _, info_b = b.step(actions)
        paid = info_b["_intrinsic"]
        np.testing.assert_array_equal(info_a.get("_intrinsic", np.zeros(n, dtype=bool)), paid)
        if paid.any():  # absent from the vector of wrapped envs when every env is on its autoreset step
            np.testing.assert_allclose(info_a["intrinsic"][paid], info_b["intrinsic"][paid], rtol=1e-12)
        assert (info_b["intrinsic"][~paid] == 0.0).all()
        at_start = paid & (obs.argmax(axis=1) == 2)
        assert (info_b["intrinsic"][at_start] <= 1 / np.sqrt(2) + 1e-12).all()
        returns, autoresets = returns + int(at_start.sum()), autoresets + int((~paid).sum())
    assert returns >= 5 and autoresets >= 5


def test_global_bonuses_learn_from_the_reset_observation() -> None:
    """SimHash counts s_0 (Tang et al.'s Algorithm 1 counts every state acted in); RND trains on it and
    whitens with it (Burda et al.'s code trains on every observation); the reset itself pays nothing."""
    env = IntrinsicReward(one_hot_chain(), SimHashCount(bits=8))
    assert "intrinsic" not in env.reset()[1]
    assert [env.step(action)[4]["intrinsic"] for action in (1, 0)] == pytest.approx([1.0, 1 / np.sqrt(2)])
    rnd = RND(seed=0)
    IntrinsicReward(gym.make("CartPole-v1"), rnd).reset(seed=0)
    assert rnd.obs_rms.count == pytest.approx(1.0, abs=1e-3) and rnd.optimizer.state_dict()["state"]


class Recorder(Bonus):
    """A bonus of one's own (``__call__`` only): records each call's observations and mask, and returns 1 for
    the active envs in one array of its own, rewritten by each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[int], list[bool]]] = []
        self.out = np.zeros(0)

    def __call__(self, obs: np.ndarray, active: np.ndarray) -> np.ndarray:
        self.calls.append((np.asarray(obs).argmax(axis=-1).tolist(), active.tolist()))
        self.out.resize(len(active), refcheck=False)
        self.out[:] = active
        return self.out


def test_a_bonus_of_ones_own_sees_the_start_as_a_call() -> None:
    """Bonus.start by default shows s_0 as one call with the starting envs active; on an autoreset step it
    follows the call with the stepping envs (the one the step's actions are for)."""
    single = Recorder()
    env = IntrinsicReward(one_hot_chain(), single)
    env.reset()
    assert single.calls == [([2], [True])]
    vector = Recorder()
    envs = VectorIntrinsicReward(SyncVectorEnv([one_hot_chain] * 2), vector)
    envs.reset(options={"state": 3})
    envs.step(np.array([1, 0]))  # env 0 ends (4); env 1 goes to 2
    _, _, _, _, info = envs.step(np.array([0, 0]))  # env 0 autoresets to 2, env 1 goes to 1
    assert vector.calls[-2:] == [([2, 1], [False, True]), ([2, 1], [True, False])]
    assert info["intrinsic"].tolist() == [0.0, 1.0]


class Doubled(EpisodicCount):
    """A built-in bonus with a ``__call__`` of one's own (twice the count bonus), recording each call's mask."""

    def __init__(self) -> None:
        super().__init__(bits=8)
        self.masks: list[list[bool]] = []

    def __call__(self, obs: np.ndarray, active: np.ndarray) -> np.ndarray:
        self.masks.append(active.tolist())
        return 2.0 * super().__call__(obs, active)


def test_a_built_in_bonus_with_its_own_call_sees_the_start_and_autoresets_through_it() -> None:
    """A subclass's ``__call__`` is what the wrapper calls at a reset and on an autoreset step too: the built-in
    bonuses' one pass bypassed it there (s_0 never reached it, and the wrapped vector env paid the plain bonus
    on autoreset steps where the vector of wrapped envs paid the doubled one)."""
    single = Doubled()
    IntrinsicReward(one_hot_chain(), single).reset()
    assert single.masks == [[True]]
    out_a, out_b = run_parity(lambda e: IntrinsicReward(e, Doubled()), lambda v: VectorIntrinsicReward(v, Doubled()),
                              num_envs=3, steps=60, make=one_hot_chain)
    assert any(not info["_intrinsic"].all() for *_, info in out_b)  # autoreset steps in the stream
    assert_same_stream(out_a, out_b, ("intrinsic",))


class KeepsStartOut(EpisodicCount):
    """A built-in bonus whose ``start`` keeps s_0 out, as the docs say to write it."""

    def start(self, obs: np.ndarray, mask: np.ndarray) -> None:
        self.reset(mask)


class DoubledKNN(EpisodicKNN):
    """NGU's kNN bonus on a learnt embedding, with a ``__call__`` of one's own."""

    def __call__(self, obs: np.ndarray, active: np.ndarray) -> np.ndarray:
        return 2.0 * super().__call__(obs, active)


def test_a_built_in_bonus_keeps_its_own_start_and_actions_on_autoreset_steps() -> None:
    """A subclass's ``start`` is what an autoreset step starts the episode with (the one pass fed s_0 in
    anyway: the wrapped vector env counted it where the vector of wrapped envs did not); and with a learnt
    embedding the step's call gets the step's actions (the start call used them up first: an error)."""
    out_a, out_b = run_parity(lambda e: IntrinsicReward(e, KeepsStartOut(bits=8)),
                              lambda v: VectorIntrinsicReward(v, KeepsStartOut(bits=8)),
                              num_envs=3, steps=60, make=one_hot_chain)
    assert any(not info["_intrinsic"].all() for *_, info in out_b)
    assert_same_stream(out_a, out_b, ("intrinsic",))
    envs = VectorIntrinsicReward(SyncVectorEnv([one_hot_chain] * 2),
                                 DoubledKNN(k=3, embed=InverseDynamics(gym.spaces.Discrete(2))))
    envs.reset(seed=0)
    rng, autoresets = np.random.default_rng(0), 0
    for _ in range(40):
        info = envs.step(rng.integers(0, 2, size=2))[4]
        paid = info["_intrinsic"]
        autoresets += int(paid.any() and not paid.all())  # one env starts while the other steps
        assert np.isfinite(info["intrinsic"]).all() and (info["intrinsic"][paid] > 0).all()
    assert autoresets >= 3


def test_env_checker_and_bad_arguments() -> None:
    check_wrapped_env(IntrinsicReward(gym.make("CartPole-v1").unwrapped, EpisodicCount()))
    with pytest.raises(SpecError, match="give a Bonus or a mapping"):
        IntrinsicReward(ChainMDP(), {"x": lambda o, a: o})  # type: ignore[dict-item]
    with pytest.raises(SpecError, match="combine must be 'sum', 'product' or 'ngu'"):
        IntrinsicReward(ChainMDP(), EpisodicCount(), combine="max")  # type: ignore[arg-type]


def test_coverage_gain_is_one_for_a_new_cell_then_zero() -> None:
    """Marginal gains of the coverage function: 1, 0 on a revisit, 1 on a new cell, and again after a reset."""
    bonus = CoverageGain(bits=16).bind(1)
    a, b = np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, -1.0, 0.0]])
    assert [float(bonus(x, ONE)[0]) for x in (a, a, b, a, b)] == [1.0, 0.0, 1.0, 0.0, 0.0]
    bonus.reset(ONE)
    assert float(bonus(a, ONE)[0]) == 1.0
    bonus.start(a, ONE)  # an episode from s_0 = a: a is covered already, b is new
    assert [float(bonus(x, ONE)[0]) for x in (a, b)] == [0.0, 1.0]


def test_rnd_wraps_an_env() -> None:
    """The wrapper records its constructor arguments (a deep copy): a network bonus must copy."""
    env = IntrinsicReward(gym.make("CartPole-v1"), RND(seed=0))
    env.reset(seed=0)
    assert env.step(0)[4]["intrinsic"] > 0.0

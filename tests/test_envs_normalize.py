"""NormalizeReward: parity with Gymnasium's wrappers, SB3 reset semantics, saved/frozen/merged statistics."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv
from gymnasium.wrappers import NormalizeReward as GymNormalizeReward
from gymnasium.wrappers.vector import NormalizeReward as GymVectorNormalizeReward

from rewardlab.envs import NormalizeReward, VectorNormalizeReward, merge_stats
from rewardlab.errors import InputError, SpecError
from tests.test_envs_support import assert_same_stream, check_wrapped_env, make_noisy, run_parity


def single_stream(env: gym.Env, steps: int = 300) -> list[float]:
    """Rewards of ``steps`` steps with random actions, resetting after each episode."""
    env.reset(seed=3)
    rng, out = np.random.default_rng(1), []
    for _ in range(steps):
        _, reward, terminated, truncated, _ = env.step(int(rng.integers(0, 2)))
        out.append(float(reward))
        if terminated or truncated:
            env.reset()
    return out


def test_single_matches_gymnasium_normalize_reward() -> None:
    ours = single_stream(NormalizeReward(make_noisy(), gamma=0.97))
    theirs = single_stream(GymNormalizeReward(make_noisy(), gamma=0.97))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_vector_matches_gymnasium_vector_normalize_reward() -> None:
    """Gymnasium keeps the returns in float32, hence the tolerance."""
    def stream(env: gym.vector.VectorEnv) -> np.ndarray:
        env.reset(seed=5)
        rng = np.random.default_rng(2)
        return np.array([env.step(rng.integers(0, 2, size=4))[1] for _ in range(150)])

    ours = stream(VectorNormalizeReward(SyncVectorEnv([make_noisy] * 4), gamma=0.97))
    theirs = stream(GymVectorNormalizeReward(SyncVectorEnv([make_noisy] * 4), gamma=0.97))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


@pytest.mark.parametrize("returns", ["gymnasium", "sb3"])
def test_vector_of_one_equals_single(returns: str) -> None:
    """One statistics object per wrapper: a vector of one env and the single wrapper give the same stream."""
    out_a, out_b = run_parity(
        lambda e: NormalizeReward(e, 0.97, center=True, returns=returns),  # type: ignore[arg-type]
        lambda v: VectorNormalizeReward(v, 0.97, center=True, returns=returns),  # type: ignore[arg-type]
        num_envs=1, steps=200, make=make_noisy,
    )
    assert_same_stream(out_a, out_b, ("raw_reward",))


def test_sb3_mode_restarts_the_return_after_truncation_gymnasium_mode_does_not() -> None:
    for returns, expected in (("sb3", 0.0), ("gymnasium", None)):
        env = NormalizeReward(gym.wrappers.TimeLimit(make_noisy(), 2), 0.9, returns=returns)  # type: ignore[arg-type]
        env.reset(seed=0)
        r = [env.step(0)[4]["raw_reward"] for _ in range(2)]
        left = env.scaler.returns[0]
        assert left == (expected if expected is not None else pytest.approx(0.9 * r[0] + r[1]))


def test_center_subtracts_the_running_reward_mean_and_clip_bounds() -> None:
    env = NormalizeReward(make_noisy(), 0.99, center=True, clip=0.5)
    env.reset(seed=0)
    for _ in range(50):
        _, reward, terminated, truncated, info = env.step(1)
        stats = env.state_dict()
        expected = (info["raw_reward"] - stats["reward"]["mean"]) / np.sqrt(stats["return"]["var"] + 1e-8)
        assert reward == pytest.approx(float(np.clip(expected, -0.5, 0.5)))
        if terminated or truncated:
            env.reset()
    assert stats["reward"]["count"] > 50  # counts start at RunningMeanStd's epsilon


def test_statistics_save_load_and_freeze() -> None:
    trained = NormalizeReward(make_noisy(), 0.99)
    single_stream(trained, 100)
    saved = json.loads(json.dumps(trained.state_dict()))
    evaluation = NormalizeReward(make_noisy(), 0.99)
    evaluation.load_state_dict(saved)
    evaluation.update_running_mean = False
    evaluation.reset(seed=9)
    for _ in range(30):
        _, reward, terminated, truncated, info = evaluation.step(0)
        assert reward == pytest.approx(info["raw_reward"] / np.sqrt(saved["return"]["var"] + 1e-8))
        if terminated or truncated:
            evaluation.reset()
    assert evaluation.state_dict() == saved


def test_merge_counts_each_copy_once_and_syncs_vector_copies() -> None:
    """Copies loaded from a common base, stepped on different data, merge to the statistics of all the data."""
    envs = SyncVectorEnv([lambda: NormalizeReward(make_noisy(), 0.99) for _ in range(3)])
    envs.reset(seed=11)
    rng = np.random.default_rng(0)
    for _ in range(40):
        _, _, terminated, truncated, _ = envs.step(rng.integers(0, 2, size=3))
    base = merge_stats(envs.call("state_dict"))
    envs.call("load_state_dict", base)
    seen: list[list[float]] = [[] for _ in range(3)]  # the returns each copy adds after the sync
    stepped = ~(terminated | truncated)  # False for a copy on its autoreset step (its wrapper is not stepped)
    for _ in range(40):
        _, _, terminated, truncated, _ = envs.step(rng.integers(0, 2, size=3))
        for i, env in enumerate(envs.envs):
            if stepped[i]:
                seen[i].append(env.get_wrapper_attr("scaler").returns[0])
        stepped = ~(terminated | truncated)
    merged = merge_stats(envs.call("state_dict"), base=base)
    reference = NormalizeReward(make_noisy(), 0.99)
    reference.load_state_dict(base)
    reference.scaler.return_rms.update(np.concatenate(seen))
    for key in ("mean", "var", "count"):
        assert merged["return"][key] == pytest.approx(reference.state_dict()["return"][key], rel=1e-9)
    envs.call("load_state_dict", merged)
    assert all(s == merged for s in envs.call("state_dict"))


def test_env_checker_and_bad_arguments() -> None:
    """A learning normaliser is by design not reset-deterministic (its statistics persist), so check a frozen one."""
    frozen = NormalizeReward(make_noisy(), 0.99)
    frozen.load_state_dict({k: {"mean": 0.5, "var": 4.0, "count": 10.0} for k in ("return", "reward")})
    frozen.update_running_mean = False
    check_wrapped_env(frozen)
    with pytest.raises(SpecError, match="epsilon must be a number > 0"):
        NormalizeReward(make_noisy(), 0.99, 0.0)
    with pytest.raises(SpecError, match="returns must be 'gymnasium' or 'sb3'"):
        NormalizeReward(make_noisy(), returns="baselines")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="need 'return' with a finite mean, var >= 0 and count >= 0"):
        NormalizeReward(make_noisy()).load_state_dict({"return": {"mean": 0.0}})


def test_update_rms_is_gymnasiums_update_to_the_last_bit() -> None:
    """The cheaper moments give exactly the floats of RunningMeanStd.update (np.mean / np.var)."""
    from gymnasium.wrappers.utils import RunningMeanStd

    from rewardlab.envs._base import update_rms

    rng = np.random.default_rng(0)
    for shape in [(), (3,)]:
        ours, theirs = RunningMeanStd(shape=shape), RunningMeanStd(shape=shape)
        for n in (16, 1, 7, 16, 33):
            x = rng.normal(3.0, 5.0, size=(n, *shape)) ** 3
            update_rms(ours, x)
            theirs.update(x)
            np.testing.assert_array_equal(ours.mean, theirs.mean)
            np.testing.assert_array_equal(ours.var, theirs.var)
            assert ours.count == theirs.count


def test_nan_or_malformed_statistics_are_refused_not_loaded() -> None:
    """NaN statistics would make every reward NaN: refused, in load_state_dict and in merge_stats."""
    env = NormalizeReward(make_noisy())
    good = env.state_dict()
    for bad in ({**good, "return": {**good["return"], "var": float("nan")}},
                {**good, "reward": {**good["reward"], "count": -1.0}}):
        with pytest.raises(InputError, match="finite mean, var >= 0 and count >= 0"):
            env.load_state_dict(bad)
        with pytest.raises(InputError, match="finite mean, var >= 0 and count >= 0"):
            merge_stats([good, bad])
    with pytest.raises(InputError, match="need 'reward' with a finite mean"):
        merge_stats([good, {"return": good["return"]}])
    assert env.state_dict() == good


def test_a_refused_state_loads_nothing() -> None:
    """Every part of a state is checked before any is loaded: a bad 'reward' left a new 'return' loaded before."""
    env = NormalizeReward(make_noisy())
    good = env.state_dict()
    bad = {"return": {"mean": 3.0, "var": 9.0, "count": 50.0}, "reward": {"mean": 0.0, "var": -1.0, "count": 5.0}}
    with pytest.raises(InputError, match="need 'reward' with a finite mean, var >= 0 and count >= 0"):
        env.load_state_dict(bad)
    assert env.state_dict() == good

"""RewardTerms: named weighted terms, per-term logging, schedules, rewardlab combiners, vector parity."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from rewardlab.envs import Cosine, Linear, RewardTerms, Step, Term, VectorRewardTerms
from rewardlab.errors import InputError, SpecError
from tests.test_envs_support import assert_same_stream, check_wrapped_env, run_parity, steps_with_copies


def upright(obs: Any, action: Any, next_obs: Any, info: Any, terminated: Any, truncated: Any) -> Any:
    return 1.0 - np.abs(next_obs[..., 2]) * 4.0


def centred(obs: Any, action: Any, next_obs: Any, info: Any, terminated: Any, truncated: Any, scale: float) -> Any:
    return -scale * np.abs(next_obs[..., 0])


def moved(obs: Any, action: Any, next_obs: Any, info: Any, terminated: Any, truncated: Any) -> Any:
    return np.abs(next_obs[..., 1] - obs[..., 1])


TERMS: dict[str, Term | Callable[..., Any]] = {
    "upright": Term(upright, weight=Linear(1.0, 0.2, 30)),
    "centred": Term(centred, weight=0.5, params={"scale": 2.0}),
    "moved": moved,
}


CONSTANT: dict[str, Term | Callable[..., Any]] = {**TERMS, "upright": Term(upright, 0.7)}


@pytest.mark.parametrize("terms", [TERMS, CONSTANT], ids=["scheduled", "constant"])
def test_vector_and_single_give_the_same_terms_sums_and_rewards(terms: dict[str, Any]) -> None:
    out_a, out_b = run_parity(lambda e: RewardTerms(e, terms), lambda v: VectorRewardTerms(v, terms), steps=100)
    assert any(t.any() for _, t, _, _ in out_b)
    assert_same_stream(out_a, out_b, ("raw_reward",))
    for (_, _, _, ia), (_, _, _, ib) in zip(out_a, out_b, strict=True):
        for key in ("reward_terms", "reward_terms_episode"):
            np.testing.assert_array_equal(ia.get(f"_{key}", np.zeros(4, bool)), ib.get(f"_{key}", np.zeros(4, bool)))
            if key not in ia:
                continue
            for name in TERMS:
                m = ib[key][f"_{name}"]
                np.testing.assert_array_equal(ia[key][f"_{name}"], m)
                np.testing.assert_allclose(ia[key][name][m], ib[key][name][m], rtol=1e-12)


def test_reward_is_the_weighted_sum_and_episode_sums_add_up() -> None:
    env = RewardTerms(gym.make("CartPole-v1"), TERMS, env_weight=2.0)
    env.reset(seed=0)
    totals = dict.fromkeys(TERMS, 0.0)
    done = False
    while not done:
        w = env.weights()
        _, reward, terminated, truncated, info = env.step(1)
        terms = info["reward_terms"]
        assert reward == pytest.approx(2.0 * info["raw_reward"] + sum(w[n] * terms[n] for n in TERMS))
        for n in TERMS:
            totals[n] += terms[n]
        done = terminated or truncated
        assert ("reward_terms_episode" in info) == done  # reported when the episode ends
    assert info["reward_terms_episode"] == pytest.approx(totals)
    assert env.weights()["upright"] < 1.0  # the schedule moved with the steps taken


def test_schedules() -> None:
    t = np.array([0, 5, 10, 20])
    np.testing.assert_allclose(Linear(1.0, 0.0, 10)(t), [1.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(Cosine(1.0, 0.0, 10)(t), [1.0, 0.5, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(Cosine(1.0, 0.0, 10)(np.array([2])), [0.5 * (1 + np.cos(0.2 * np.pi))])
    steps = Step([1.0, 0.5, 0.1], [5, 10])
    np.testing.assert_allclose(steps(np.array([0, 4, 5, 9, 10, 99])), [1, 1, 0.5, 0.5, 0.1, 0.1])
    with pytest.raises(SpecError, match="steps must be a positive integer"):
        Linear(1.0, 0.0, 0)
    with pytest.raises(SpecError, match="one more value than boundaries"):
        Step([1.0], [5])


def penalty(obs: Any, action: Any, next_obs: Any, info: Any, terminated: Any, truncated: Any) -> Any:
    """A CaRL-style infraction factor in [0, 1]: 0.5 when the cart is right of centre."""
    return np.where(next_obs[..., 0] > 0, 0.5, 1.0)


def test_rewardlab_combiners_product_and_gated() -> None:
    env = RewardTerms(gym.make("CartPole-v1"), {"penalty": penalty}, combine="product")
    env.reset(seed=1)
    for i in range(10):
        obs, reward, *_ , info = env.step(i % 2)
        assert reward == pytest.approx(info["raw_reward"] * (0.5 if obs[0] > 0 else 1.0))
    gated = RewardTerms(
        gym.make("CartPole-v1"), {"penalty": penalty}, combine="gated", combine_params={"gate": "penalty"}
    )
    gated.reset(seed=1)
    for i in range(10):
        obs, reward, *_ = gated.step(i % 2)
        assert reward == (2.0 if obs[0] <= 0 else 0.5)  # env 1 + gate 1 when passed, else the gate's 0.5


def test_env_checker_and_bad_terms() -> None:
    # a schedule's clock runs across resets (annealing over training): check with constant weights
    check_wrapped_env(RewardTerms(gym.make("CartPole-v1").unwrapped, CONSTANT))
    with pytest.raises(SpecError, match="none named 'env'"):
        RewardTerms(gym.make("CartPole-v1"), {"env": moved})
    with pytest.raises(SpecError, match="weight schedules need combine='weighted_sum'"):
        RewardTerms(gym.make("CartPole-v1"), TERMS, combine="product")
    env = RewardTerms(gym.make("CartPole-v1"), {"bad": lambda *a: float("nan")})
    env.reset(seed=0)
    with pytest.raises(InputError, match="reward term 'bad' returned nan"):
        env.step(0)


def test_stacked_wrappers_keep_the_env_reward_and_parity() -> None:
    """raw_reward stays CartPole's own 1.0 under three rewardlab wrappers, in both forms."""
    from rewardlab.envs import PotentialShaping, VectorPotentialShaping

    def phi(o: Any) -> Any:
        return -np.abs(o[..., 2])

    out_a, out_b = run_parity(
        lambda e: PotentialShaping(RewardTerms(e, TERMS), phi, 0.99),
        lambda v: VectorPotentialShaping(VectorRewardTerms(v, TERMS), phi, 0.99),
        steps=60,
    )
    assert_same_stream(out_a, out_b, ("raw_reward", "shaping"))
    for _, _, _, info in out_b:
        assert (info["raw_reward"][info["_raw_reward"]] == 1.0).all()


def test_vector_term_of_the_wrong_shape_is_named() -> None:
    envs = VectorRewardTerms(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2),
                             {"ok": moved, "scalar": lambda *a: 1.0})
    envs.reset(seed=0)
    with pytest.raises(InputError, match=r"reward term 'scalar' must return one value per environment"):
        envs.step(np.zeros(2, dtype=int))


def test_vector_terms_of_any_numeric_dtype_stack_and_text_is_named() -> None:
    """Integers, booleans and lists are numbers (float64 in info); text is a one-line error naming the term."""
    def make(terms: dict[str, Any]) -> VectorRewardTerms:
        envs = VectorRewardTerms(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2), terms)
        envs.reset(seed=0)
        return envs

    envs = make({"int": lambda *a: np.array([1, 2]), "bool": lambda *a: np.array([True, False]),
                 "list": lambda *a: [0.5, 1.0]})
    _, reward, _, _, info = envs.step(np.zeros(2, dtype=int))
    np.testing.assert_array_equal(reward, [1.0 + 1 + 1 + 0.5, 1.0 + 2 + 0 + 1.0])
    assert all(info["reward_terms"][n].dtype == np.float64 for n in ("int", "bool", "list"))
    with pytest.raises(InputError, match=r"reward term 'text' must return numbers, one per environment"):
        make({"ok": moved, "text": lambda *a: np.array(["1", "x"])}).step(np.zeros(2, dtype=int))


@pytest.mark.parametrize("vector", [True, False], ids=["vector", "single"])
def test_a_complex_term_is_named_not_cut_to_its_real_part(vector: bool) -> None:
    """A complex value is not a reward (NumPy would keep its real part with only a warning), as a list,
    an array or a NumPy scalar, in both wrappers; a reviewer's find (a list of complex numbers was an error
    before the stacking without a dtype, then silently its real part)."""
    outs: list[Callable[..., Any]] = [lambda *a: [1 + 2j, 3j], lambda *a: np.array([1 + 2j, 3j]),
                                      lambda *a: [np.complex128(1 + 2j), np.complex128(1)]]
    if not vector:
        outs = [lambda *a: np.complex128(1 + 2j), lambda *a: np.array(1 + 2j)]
    for out in outs:
        terms = {"ok": moved, "imaginary": out}
        env: Any = (VectorRewardTerms(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2), terms)
                    if vector else RewardTerms(gym.make("CartPole-v1"), terms))
        env.reset(seed=0)
        with pytest.raises(InputError, match=r"reward term 'imaginary' .*complex"):
            env.step(np.zeros(2, dtype=int) if vector else 0)


def test_a_vector_term_numpy_reads_as_numbers_still_stacks() -> None:
    """A term whose values only stack with the env reward through float64 one by one (timedelta64 seconds,
    as before the stacking without a dtype) is summed, not a bare TypeError from an empty matrix."""
    envs = VectorRewardTerms(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2),
                             {"seconds": lambda *a: np.array([1, 2], dtype="timedelta64[s]")})
    envs.reset(seed=0)
    _, reward, _, _, info = envs.step(np.zeros(2, dtype=int))
    np.testing.assert_array_equal(reward, [2.0, 3.0])
    np.testing.assert_array_equal(info["reward_terms"]["seconds"], [1.0, 2.0])


def test_vector_info_is_not_changed_by_later_steps() -> None:
    """The wrapper updates its sums in place and shares read-only masks: what a step reported stays as it was."""
    envs = VectorRewardTerms(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 4), CONSTANT)
    kept = steps_with_copies(envs)
    for (reward, info), (reward0, info0) in kept:
        np.testing.assert_array_equal(reward, reward0)
        for key in ("raw_reward", "_raw_reward"):
            np.testing.assert_array_equal(info[key], info0[key])
        for key in ("reward_terms", "reward_terms_episode"):
            for name, value in info.get(key, {}).items():
                np.testing.assert_array_equal(value, info0[key][name])


def test_the_schedules_clock_is_saved_loaded_and_frozen() -> None:
    """A resumed run anneals on from where it was; a frozen clock stays (and the checker passes)."""
    env = RewardTerms(gym.make("CartPole-v1"), TERMS)
    env.reset(seed=0)
    for i in range(12):
        if any(env.step(i % 2)[2:4]):
            env.reset()
    state = json.loads(json.dumps(env.state_dict()))  # plain data
    assert state == {"steps": [12]}
    resumed = RewardTerms(gym.make("CartPole-v1"), TERMS)
    resumed.load_state_dict(state)
    assert resumed.weights() == env.weights() != RewardTerms(gym.make("CartPole-v1"), TERMS).weights()
    vec = VectorRewardTerms(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2), TERMS)
    vec.load_state_dict({"steps": [3, 12]})
    expected = [float(Linear(1.0, 0.2, 30)(np.array(3))), env.weights()["upright"]]
    np.testing.assert_allclose(vec.weights()["upright"], expected)
    env.update_running_mean = False
    before = env.weights()
    check_wrapped_env(env)  # reset-deterministic once frozen
    assert env.weights() == before and env.state_dict() == state
    with pytest.raises(InputError, match="need 'steps', 1 non-negative integers"):
        env.load_state_dict({"steps": [1, 2]})


class NaNReward(gym.Wrapper):
    """CartPole whose own reward is NaN: a broken environment."""

    def step(self, action: Any) -> Any:
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, float("nan"), terminated, truncated, info


def scalar_term(func: Callable[..., Any]) -> Callable[..., float]:
    """``func`` returning a float, for the single-env wrapper."""
    return lambda *a: float(func(*a))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("vector", [False, True])
def test_a_nan_env_reward_or_an_overflowing_sum_is_named_not_returned(vector: bool) -> None:
    """Each value finite is not enough: the combined reward is checked too (it was returned as NaN / inf)."""
    big = {"a": lambda *a: np.full(np.shape(a[2])[:-1], 1e308), "b": lambda *a: np.full(np.shape(a[2])[:-1], 1e308)}
    cases = [(lambda: NaNReward(gym.make("CartPole-v1")), {"ok": moved}, "the environment's reward is not finite"),
             (lambda: gym.make("CartPole-v1"), big, r"the weighted sum \(an overflow\) is not finite")]
    for make, terms, message in cases:
        if vector:
            env: Any = VectorRewardTerms(gym.vector.SyncVectorEnv([make] * 2), terms)
            action: Any = np.zeros(2, dtype=int)
        else:
            env, action = RewardTerms(make(), {n: scalar_term(f) for n, f in terms.items()}), 0
        env.reset(seed=0)
        with pytest.raises(InputError, match=message):
            env.step(action)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_a_combiner_is_named_for_its_own_overflow_and_not_blamed_for_the_plain_sum() -> None:
    """With a combiner the error named "the weighted sum (an overflow)", which it does not compute, and finite
    values whose plain sum overflows were refused before the combiner ran (lexicographic ranks them: 0 here)."""
    def full(value: float) -> Callable[..., Any]:
        return lambda *a: np.full(len(a[2]), value)

    def first_step(terms: dict[str, Any], combine: str, params: dict[str, Any]) -> Any:
        envs = VectorRewardTerms(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2), terms,
                                 combine=combine, combine_params=params)
        envs.reset(seed=0)
        return envs.step(np.zeros(2, dtype=int))[1]

    with pytest.raises(InputError, match="RewardTerms: the 'product' combination is not finite"):
        first_step({"a": full(1e200), "b": full(1e200)}, "product", {})
    reward = first_step({"a": full(1e308), "b": full(1e308)}, "lexicographic", {"order": ["a", "b"]})
    np.testing.assert_array_equal(reward, [0.0, 0.0])

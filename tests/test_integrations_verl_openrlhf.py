"""verl and OpenRLHF adapters, loaded and called exactly as those libraries' loaders do."""

from __future__ import annotations

import importlib.util
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rewardlab.integrations.verl as verl_module
from rewardlab.errors import RewardlabError
from rewardlab.integrations.openrlhf import UnscorableError, make_reward_func

SPEC_TOML = """
[rewards.fmt]
type = "format.tags"
weight = 0.5
[rewards.exact]
type = "text.exact_match"
extract = "answer_tag"
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC_TOML)
    return path


# --- verl: verl.trainer.ppo.reward.get_custom_reward_fn -------------------------------

def _call_with_kwargs(raw_fn: Any, extra_kwargs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
    return raw_fn(*args, **{**kwargs, **extra_kwargs})  # verl: reward_kwargs take precedence


def _verl_load(path: str, name: str, reward_kwargs: dict[str, Any]) -> Any:
    """What verl's get_custom_reward_fn does with custom_reward_function.{path,name,reward_kwargs}."""
    spec = importlib.util.spec_from_file_location("custom_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_module"] = module
    try:
        spec.loader.exec_module(module)
        raw_fn = getattr(module, name)
    finally:
        del sys.modules["custom_module"]
    return partial(_call_with_kwargs, raw_fn, dict(reward_kwargs))


def test_verl_naive_manager_convention(spec: Path) -> None:
    compute_score = _verl_load(verl_module.__file__, "compute_score", {"spec": str(spec)})
    # NaiveRewardManager: compute_score(data_source=, solution_str=, ground_truth=, extra_info=)
    out = compute_score(data_source="gsm8k", solution_str="<think>a</think><answer>42</answer>", ground_truth="42",
                        extra_info={"index": 3, "split": "train"})
    assert out["exact"] == 1.0 and out["score"] == pytest.approx(1.0 + 0.5 * out["fmt"])
    assert out["rewardlab_unscorable"] is False
    assert all(isinstance(v, float) for k, v in out.items() if k != "rewardlab_unscorable")


def test_verl_batch_manager_convention(spec: Path) -> None:
    compute = _verl_load(verl_module.__file__, "compute_score_batch", {"spec": str(spec)})
    # BatchRewardManager: compute_score(data_sources=, solution_strs=, ground_truths=, extra_infos=)
    data_sources = np.array(["a", "a", "b"], dtype=object)
    solutions = ["<answer>1</answer>", "<think>x</think><answer>2</answer>", "<answer>3</answer>"]
    out = compute(data_sources=data_sources, solution_strs=solutions, ground_truths=["1", "1", "3"],
                  extra_infos=np.array([{"uid": "u1"}, {"uid": "u1"}, None], dtype=object))
    assert [d["exact"] for d in out] == [1.0, 0.0, 1.0]
    assert len({frozenset(d) for d in out}) == 1  # verl stacks every key into reward_extra_info


def test_verl_unscorable_raises_or_uses_the_explicit_fallback(spec: Path) -> None:
    strict = _verl_load(verl_module.__file__, "compute_score", {"spec": str(spec)})
    with pytest.raises(UnscorableError, match="on_unscorable"):
        strict(data_source="x", solution_str="<answer>1</answer>", ground_truth="")
    lenient = _verl_load(verl_module.__file__, "compute_score", {"spec": str(spec), "unscorable_reward": -1.0})
    out = lenient(data_source="x", solution_str="<answer>1</answer>", ground_truth="")
    assert out["score"] == -1.0 and out["rewardlab_unscorable"] is True and np.isnan(out["exact"])


def _verl_load_async(path: str, name: str, reward_kwargs: dict[str, Any]) -> Any:
    """get_custom_reward_fn for a coroutine function (verl >= 0.7): reward_kwargs bound the same way."""
    raw_fn = _verl_load(path, name, {}).args[0]

    async def call(*args: Any, **kwargs: Any) -> Any:
        return await raw_fn(*args, **{**kwargs, **reward_kwargs})

    return call


def test_verl_async_calls_that_arrive_together_share_one_run(spec: Path) -> None:
    """The reward loop gathers run_single for every sample; concurrent calls are one pipeline run."""
    import asyncio

    from rewardlab.integrations._common import stop_batchers

    spec = spec.with_name("kimi.toml")
    spec.write_text(SPEC_TOML + '[rewards.short]\ntype = "length.kimi"\ncorrectness = "exact"\nweight = 0.1\n')
    compute = _verl_load_async(verl_module.__file__, "compute_score_async", {"spec": str(spec)})
    texts = ["<answer>1</answer>", "<think>a b c d e f</think><answer>1</answer>", "<answer>1</answer>"]

    async def main() -> list[Any]:
        calls = [compute(data_source="d", solution_str=t, ground_truth=["1", "1", ""][i], extra_info={"index": 0})
                 for i, t in enumerate(texts)]
        out = await asyncio.gather(*calls, return_exceptions=True)
        await stop_batchers()
        return out

    first, second, third = asyncio.run(main())
    assert isinstance(third, UnscorableError)  # unscorable alone: the others still get their scores
    assert (first["short"], second["short"]) == (0.5, -0.5)  # one group: scored together
    out = _verl_load(verl_module.__file__, "compute_score", {"spec": str(spec)})(
        data_source="d", solution_str="<answer>1</answer>", ground_truth="1", response_length=7)
    assert out["exact"] == 1.0


def test_verl_response_length_reaches_length_rewards(spec: Path) -> None:
    spec = spec.with_name("overlong.toml")
    spec.write_text('[rewards.overlong]\ntype = "length.overlong"\nmax_tokens = 1024\nbuffer = 128\n')
    compute = _verl_load(verl_module.__file__, "compute_score", {"spec": str(spec)})
    assert compute(data_source="d", solution_str="short", ground_truth="", response_length=1100)["score"] == -1.0
    assert compute(data_source="d", solution_str="short", ground_truth="")["score"] == 0.0


# --- OpenRLHF: RemoteRewardModel / SingleTurnExecutor loading of a .py remote_url -----

_found = importlib.util.find_spec("rewardlab.integrations.openrlhf_reward_func")
assert _found is not None and _found.origin is not None
OPENRLHF_FILE = _found.origin

def _openrlhf_load(path: str) -> Any:
    """What OpenRLHF does when --reward.remote_url (older --remote_rm_url) ends with .py."""
    spec = importlib.util.spec_from_file_location("reward_func", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reward_func


def test_openrlhf_reward_func_file(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("REWARDLAB_SPEC", str(spec))
    reward_func = _openrlhf_load(OPENRLHF_FILE)
    prompts = ["<|user|>1+1?<|assistant|>", "<|user|>1+1?<|assistant|>"]
    queries = [prompts[0] + "<think>t</think><answer>2</answer>", prompts[1] + "<answer>3</answer>"]
    out = reward_func(queries, prompts, ["2", "2"])
    assert set(out) == {"rewards", "scores", "extra_logs"}
    assert isinstance(out["rewards"], torch.Tensor) and out["rewards"].shape == (2,)
    assert out["extra_logs"]["exact"].tolist() == [1.0, 0.0]
    assert torch.equal(out["rewards"], out["scores"])


def test_openrlhf_unscorable_is_explicit(spec: Path) -> None:
    pytest.importorskip("torch")
    strict = make_reward_func(spec)
    with pytest.raises(UnscorableError, match="invalid_reference"):
        strict(["p<answer>1</answer>"], ["p"], [None])
    out = make_reward_func(spec, unscorable_reward=-0.5)(["p<answer>1</answer>"], ["p"], [None])
    assert out["rewards"].tolist() == [-0.5] and out["extra_logs"]["rewardlab/unscorable"].tolist() == [1.0]


def test_openrlhf_file_without_a_spec_fails_when_loaded(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REWARDLAB_SPEC", raising=False)
    with pytest.raises(RewardlabError, match="REWARDLAB_SPEC"):
        _openrlhf_load(OPENRLHF_FILE)
    monkeypatch.setenv("REWARDLAB_SPEC", str(spec.with_name("missing.toml")))
    with pytest.raises(RewardlabError, match=r"missing\.toml"):
        _openrlhf_load(OPENRLHF_FILE)
    monkeypatch.setenv("REWARDLAB_SPEC", str(spec))
    monkeypatch.setenv("REWARDLAB_UNSCORABLE_REWARD", "minus one")
    with pytest.raises(RewardlabError, match="REWARDLAB_UNSCORABLE_REWARD='minus one' is not a number"):
        _openrlhf_load(OPENRLHF_FILE)


def test_openrlhf_end_token_text_and_token_counts(spec: Path) -> None:
    """OpenRLHF decodes with special tokens kept: the response ends in the EOS text, stripped before scoring."""
    pytest.importorskip("torch")
    prompt = "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n"
    out = make_reward_func(spec)([prompt + "<think>t</think><answer>2</answer><|im_end|>"], [prompt], ["2"])
    assert out["extra_logs"]["fmt"].tolist() == [1.0] and out["extra_logs"]["exact"].tolist() == [1.0]
    overlong = spec.with_name("overlong.toml")
    overlong.write_text('[rewards.overlong]\ntype = "length.overlong"\nmax_tokens = 1024\nbuffer = 128\n')
    lengths = make_reward_func(overlong)(["p a", "p b"], ["p", "p"], [None, None], response_lengths=[1100, 3])
    assert lengths["rewards"].tolist() == [-1.0, 0.0]

"""verl's reward loop (verl 0.9.x) run with its own code: loader, reward managers, RewardLoopWorker batching.

Skipped where verl's reward-loop modules cannot be imported. They need omegaconf, which pins
antlr4-python3-runtime 4.9.*, while rewardlab's math-verify extra pins 4.13.2, so they do not
import in rewardlab's dev environment; they run in one with verl 0.9.1 (``pip install --no-deps
verl==0.9.1 tensordict omegaconf codetiming`` and antlr4-python3-runtime 4.9.3); ``tests/run_verl_loop.sh``
builds such an overlay beside the dev environment and runs this file there (CI runs it). See docs/integrations.md.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rewardlab.integrations.verl as verl_module


def _import_verl() -> Any:
    try:
        from verl.experimental.reward_loop import reward_loop
    except Exception as exc:  # omegaconf's generated parser raises a bare Exception under antlr 4.13
        if os.environ.get("REWARDLAB_REQUIRE_VERL") == "1":  # tests/run_verl_loop.sh: verl must be there
            raise
        pytest.skip(f"verl's reward loop cannot be imported here: {type(exc).__name__}: {exc}",
                    allow_module_level=True)
    return reward_loop


reward_loop = _import_verl()
torch = pytest.importorskip("torch")
from omegaconf import OmegaConf  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls  # noqa: E402
from verl.trainer.ppo.reward import load_reward_manager  # noqa: E402

import rewardlab.integrations.verl_manager as manager_module  # noqa: E402
from rewardlab.errors import SpecError  # noqa: E402

WORDS = ["<pad>", "<unk>", "<think>", "</think>", "<answer>", "</answer>", "x", "y", "1", "2", "3", "4", "q"]


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>")


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # verl's managers take asyncio.get_event_loop() at construction
    yield loop
    loop.run_until_complete(verl_module.stop_batchers())
    loop.close()
    asyncio.set_event_loop(None)


def _config(spec: Path, name: str, manager: str = "naive", **kwargs: Any) -> Any:
    custom = {"path": verl_module.__file__, "name": name, "reward_kwargs": {"spec": str(spec), **kwargs}}
    rm: dict[str, Any] = {"source": "register", "name": manager, "module": {"path": None, "name": None}}
    if manager == "RewardlabRewardManager":
        rm = {"source": "importlib", "name": manager, "module": {"path": manager_module.__file__}}
    return OmegaConf.create({"reward": {"custom_reward_function": custom, "reward_manager": rm,
                                        "reward_model": {"enable": False}},
                             "trainer": {"experiment_name": "t"}})


def _batch(tok: Any, rows: list[tuple[str, str, Any, str]], width: int = 12) -> Any:
    """A DataProto as verl's rollout leaves it: right-padded responses, mask over prompt + response."""
    prompt = torch.tensor([[WORDS.index("q")]] * len(rows))
    responses, mask = [], []
    for text, _, _, _ in rows:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        responses.append(ids + [0] * (width - len(ids)))
        mask.append([1] + [1] * len(ids) + [0] * (width - len(ids)))
    non_tensors = {"data_source": np.array(["t"] * len(rows), dtype=object),
                   "reward_model": np.array([{"ground_truth": r[1]} for r in rows], dtype=object),
                   "extra_info": np.array([r[2] for r in rows], dtype=object),
                   "uid": np.array([r[3] for r in rows], dtype=object)}
    return DataProto.from_dict(tensors={"prompts": prompt, "responses": torch.tensor(responses),
                                        "attention_mask": torch.tensor(mask)}, non_tensors=non_tensors)


def _run(loop: asyncio.AbstractEventLoop, config: Any, data: Any, tok: Any) -> list[dict[str, Any]]:
    """verl's RewardLoopWorker.compute_score_batch: every sample's run_single, gathered."""
    worker = reward_loop.RewardLoopWorker.__new__(reward_loop.RewardLoopWorker)
    worker.config, worker.loop = config, loop
    worker.reward_manager = load_reward_manager(config, tok)
    return list(loop.run_until_complete(worker.compute_score_batch(data)))


SPEC = """
[rewards.fmt]
type = "format.tags"
weight = 0.5
[rewards.correct]
type = "text.exact_match"
extract = "answer_tag"
[rewards.short]
type = "length.kimi"
weight = 0.1
"""


def test_reward_loop_has_no_batch_manager_and_registers_the_documented_ones() -> None:
    for name in ("naive", "dapo", "gdpo", "rate_limited", "remote"):
        assert get_reward_manager_cls(name)
    with pytest.raises(ValueError, match="Unknown reward manager: batch"):
        get_reward_manager_cls("batch")


@pytest.mark.parametrize("manager", ["naive", "dapo"])
def test_async_per_sample_calls_are_scored_as_one_batch(
    tmp_path: Path, loop: asyncio.AbstractEventLoop, manager: str
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    tok = _tokenizer()
    rows = [("<think> x </think> <answer> 4 </answer>", "4", {"index": 0}, "u0"),
            ("<think> x y x y </think> <answer> 4 </answer>", "4", {"index": 0}, "u0"),
            ("<answer> 3 </answer>", "4", {"index": 1}, "u1"),
            ("<think> x </think> <answer> 4 </answer>", "4", {"index": 1}, "u1")]
    out = _run(loop, _config(spec, "compute_score_async", manager), _batch(tok, rows), tok)
    extra = [o["reward_extra_info"] for o in out]
    assert [e["correct"] for e in extra] == [1.0, 1.0, 0.0, 1.0]
    # length.kimi is group-relative: 0.5 / -0.5 only if each group's members were scored together
    assert [e["short"] for e in extra] == [0.5, -0.5, 0.0, -0.5]
    assert [o["reward_score"] for o in out] == pytest.approx([e["score"] for e in extra])
    assert len({frozenset(e) for e in extra}) == 1  # verl stacks every key across samples


def test_rewardlab_manager_hands_over_token_counts_and_uid(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC + '[rewards.overlong]\ntype = "length.overlong"\nmax_tokens = 8\nbuffer = 4\n')
    tok = _tokenizer()
    rows: list[tuple[str, str, Any, str]] = [("<answer> x x x x </answer>", "x x x x", {}, "a"),
                                               ("<answer> x </answer>", "x", {}, "a")]
    out = _run(loop, _config(spec, "compute_score_async", "RewardlabRewardManager"), _batch(tok, rows), tok)
    extra = [o["reward_extra_info"] for o in out]
    # 6 and 3 response tokens: (4 - 6) / 4 and 0; the text estimate (7 and 5) would give -0.75 and -0.25
    assert [e["overlong"] for e in extra] == [-0.5, 0.0]
    assert [e["short"] for e in extra] == [-0.5, 0.5]  # the uid made them one group


def test_reserved_component_name_is_refused_through_verls_loader(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text('[rewards.score]\ntype = "format.tags"\n')
    tok = _tokenizer()
    with pytest.raises(SpecError, match="'score' is a name"):
        _run(loop, _config(spec, "compute_score"), _batch(tok, [("<answer> 4 </answer>", "4", {}, "u")]), tok)

"""A real two-step TRL GRPOTrainer run whose reward is an LLM judge on the local server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rewardlab.integrations.trl import trl_reward_funcs
from tests.judge_server import Answer, JudgeServer, judge_server_fixture, server_fixture, user_text
from tests.test_integrations_trl import _tiny_tokenizer

__all__ = ["judge_server_fixture", "server_fixture"]  # fixtures used by name


def by_length(body: dict[str, Any], n: int) -> Answer:
    """Scores the response by its word count, so rewards vary within a group."""
    response = user_text(body).split("[Response]")[1].split("[Rubric]")[0]
    return Answer(f"Score: {min(10, 1 + len(response.split()))}")


@pytest.mark.slow
def test_grpo_trainer_two_steps_with_a_judge_reward(server: JudgeServer, tmp_path: Path) -> None:
    pytest.importorskip("trl")
    torch = pytest.importorskip("torch")
    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    server.respond = by_length
    spec = {"rewards": {"judge": {"type": "judge.rubric", "base_url": server.base_url, "model": "judge",
                                  "rubric": "Longer is better.", "cache": str(tmp_path / "judge.sqlite")}}}
    torch.manual_seed(0)
    tok = _tiny_tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None)
    rewards = trl_reward_funcs(spec)
    dataset = Dataset.from_list([{"prompt": "what is 2 + 2 ?"}, {"prompt": "add 1 and 3"}] * 4)
    args = GRPOConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=8, use_cpu=True, report_to=[], logging_steps=1, save_strategy="no",
                      bf16=False, seed=0, dataloader_num_workers=0)
    trainer = GRPOTrainer(model=LlamaForCausalLM(config), reward_funcs=rewards.funcs, args=args,
                          train_dataset=dataset, processing_class=tok)
    trainer.train()
    assert trainer.state.global_step == 2
    assert 0 < server.requests <= 8  # at most one request per distinct rollout
    means = [e["rewards/judge/mean"] for e in trainer.state.log_history if "rewards/judge/mean" in e]
    assert len(means) == 2 and all(0.0 < m <= 1.0 for m in means)

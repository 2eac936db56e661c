"""TRL: the adapter's calling convention, and a real two-step GRPOTrainer run on CPU."""

from __future__ import annotations

from typing import Any

import pytest

from rewardlab.integrations.trl import trl_reward_funcs

SPEC: dict[str, Any] = {
    "rewards": {
        "fmt": {"type": "format.tags", "weight": 0.25},
        "exact": {"type": "text.exact_match", "extract": "answer_tag"},
    },
}


def test_one_function_per_component_sharing_one_pipeline_run() -> None:
    rewards = trl_reward_funcs(SPEC)
    assert rewards.mode == "components"
    assert [f.__name__ for f in rewards.funcs] == ["fmt", "exact"] and rewards.weights == [0.25, 1.0]
    prompts = ["p1", "p1", "p2"]
    completions = ["<think>x</think><answer>4</answer>", "<answer>5</answer>", "<think>y</think><answer>9</answer>"]
    solution = ["4", "4", "9"]
    kwargs: dict[str, Any] = {"solution": solution, "trainer_state": object(), "log_extra": None}
    fmt, exact = (f(prompts=prompts, completions=completions, **kwargs) for f in rewards.funcs)
    assert exact == [1.0, 0.0, 1.0]
    assert all(isinstance(v, float) for v in fmt)
    combined = rewards.pipeline.run([{"completion": c, "reference": r} for c, r in
                                     zip(completions, solution, strict=True)]).rewards
    expected = [0.25 * float(f or 0.0) + float(e or 0.0) for f, e in zip(fmt, exact, strict=True)]
    assert None not in fmt and None not in exact and expected == pytest.approx(combined)


def test_reward_functions_pickle() -> None:
    import pickle

    rewards = trl_reward_funcs(SPEC)
    clone = pickle.loads(pickle.dumps(rewards.funcs[1]))
    assert clone.__name__ == "exact"
    assert clone(prompts=["p"], completions=["<answer>3</answer>"], solution=["3"]) == [1.0]


def test_unscorable_sample_is_none_from_every_function() -> None:
    """TRL masks a row only when every function returns None: never a partial sum, never 0.0."""
    rewards = trl_reward_funcs(SPEC)
    logged: dict[str, float] = {}
    out = [f(prompts=["p", "p"], completions=["<answer>1</answer>", "<answer>1</answer>"],
             solution=["1", ""], log_metric=logged.__setitem__) for f in rewards.funcs]
    assert [o[1] for o in out] == [None, None]
    assert out[1][0] == 1.0
    assert logged["rewardlab/unscorable_fraction"] == 0.5


def test_completion_ids_give_length_rewards_the_token_count() -> None:
    """A 1,100-token completion under a 1,024 limit is penalised as in process (not 2 words -> 0.0)."""
    rewards = trl_reward_funcs({"rewards": {"overlong": {"type": "length.overlong", "max_tokens": 1024,
                                                         "buffer": 128}}})
    completions = ["many tokens", "short"]
    (out,) = [f(prompts=["p", "p"], completions=completions, completion_ids=[[7] * 1100, [7] * 5])
              for f in rewards.funcs]
    assert out == [-1.0, 0.0]
    in_process = rewards.pipeline.run([{"completion": "many tokens", "meta": {"completion_tokens": 1100}}])
    assert in_process.rewards == [-1.0]


def test_chat_completions_and_combined_mode() -> None:
    spec = {**SPEC, "transforms": [{"type": "clip", "high": 0.5}]}  # not a plain weighted sum
    rewards = trl_reward_funcs(spec)
    assert rewards.mode == "combined" and rewards.weights == [1.0] and rewards.funcs[0].__name__ == "rewardlab"
    prompts = [[{"role": "user", "content": "2+2?"}]]
    completions = [[{"role": "assistant", "content": "<think>t</think><answer>4</answer>"}]]
    (value,) = rewards.funcs[0](prompts=prompts, completions=completions, answer=["4"])
    assert value == pytest.approx(0.5)
    with pytest.raises(Exception, match="combined transforms"):
        trl_reward_funcs(spec, mode="components")


def test_weight_schedules_follow_the_trainers_step() -> None:
    """A scheduled weight follows TRL's trainer_state.global_step (combined mode: TRL's own
    reward_weights are fixed, so a schedule cannot live there)."""
    from types import SimpleNamespace

    spec = {"rewards": {"fmt": {"type": "format.tags", "tags": ["answer"],
                                "weight": {"schedule": "linear", "start": 1.0, "end": 0.0, "steps": 100}}}}
    rewards = trl_reward_funcs(spec)
    assert rewards.mode == "combined"
    call = rewards.funcs[0]
    at = [call(prompts=["p"], completions=["<answer>4</answer>"], trainer_state=SimpleNamespace(global_step=t))
          for t in (0, 50, 100)]
    assert at == [[pytest.approx(1.0)], [pytest.approx(0.5)], [pytest.approx(0.0)]]
    with pytest.raises(Exception, match="weight schedules"):
        trl_reward_funcs(spec, mode="components")


def _tiny_tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = ["what is 2 + 2 ? <think> </think> <answer> 4 </answer>", "add 1 and 3 answer 4 think"] * 4
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<eos>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>")


@pytest.mark.slow
def test_grpo_trainer_two_steps_with_rewardlab_rewards(tmp_path: Any) -> None:
    pytest.importorskip("trl")
    torch = pytest.importorskip("torch")
    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    torch.manual_seed(0)
    tok = _tiny_tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None)
    model = LlamaForCausalLM(config)
    rewards = trl_reward_funcs(SPEC)
    calls: list[int] = []
    original = rewards.pipeline.run

    def counting_run(samples: Any, step: Any = None) -> Any:
        calls.append(len(samples))
        return original(samples, step)

    rewards.pipeline.run = counting_run  # type: ignore[method-assign]
    dataset = Dataset.from_list([{"prompt": "what is 2 + 2 ?", "solution": "4"},
                                 {"prompt": "add 1 and 3", "solution": "4"}] * 4)
    args = GRPOConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=8, use_cpu=True, report_to=[], logging_steps=1, save_strategy="no",
                      reward_weights=rewards.weights, bf16=False, seed=0, dataloader_num_workers=0)
    trainer = GRPOTrainer(model=model, reward_funcs=rewards.funcs, args=args, train_dataset=dataset,
                          processing_class=tok)
    trainer.train()
    assert trainer.state.global_step == 2
    logged = {k for entry in trainer.state.log_history for k in entry}
    assert {"rewards/fmt/mean", "rewards/exact/mean"} <= logged
    assert calls and all(n == 4 for n in calls)  # one pipeline run per batch, shared by both functions

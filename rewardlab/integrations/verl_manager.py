"""A reward manager for verl's reward loop (verl 0.9.x) that gives rewardlab the token count and group.

verl's own managers call ``compute_score`` with the decoded text only. This one, loaded with

    reward.reward_manager.source=importlib
    reward.reward_manager.name=RewardlabRewardManager
    reward.reward_manager.module.path=<this file>
    reward.custom_reward_function.path=<rewardlab/integrations/verl.py>
    reward.custom_reward_function.name=compute_score_async

also passes ``response_length`` (the valid response tokens, so length rewards count tokens,
not an estimate) and puts the rollout's ``uid`` (its GRPO group) into ``extra_info``. It calls
whichever function ``custom_reward_function`` configures, as verl loaded it (reward_kwargs bound).
This file imports verl: load it only inside verl.
"""

from __future__ import annotations

import inspect
from typing import Any

from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

__all__ = ["RewardlabRewardManager"]


class RewardlabRewardManager(RewardManagerBase):
    """verl's naive manager, plus the response's token count and ``uid`` for rewardlab."""

    def __init__(self, config: Any, tokenizer: Any, compute_score: Any, reward_router_address: Any = None,
                 reward_model_tokenizer: Any = None) -> None:
        super().__init__(config, tokenizer, compute_score)
        if compute_score is None:
            raise ValueError("RewardlabRewardManager needs reward.custom_reward_function.path = the file of "
                             "rewardlab.integrations.verl and .name = compute_score_async (or compute_score)")
        self.score_fn: Any = compute_score
        self.is_async = inspect.iscoroutinefunction(compute_score)

    async def run_single(self, data: Any) -> dict[str, Any]:
        item = data[-1:][0]  # multi-sequence outputs: the last sequence, as verl's managers do
        response_ids = item.batch["responses"]
        valid = int(item.batch["attention_mask"][-response_ids.shape[-1]:].sum())
        tokenizer: Any = self.tokenizer
        text = await self.loop.run_in_executor(
            None, lambda: tokenizer.decode(response_ids[:valid], skip_special_tokens=True))
        extra = dict(item.non_tensor_batch.get("extra_info") or {})
        uid = item.non_tensor_batch.get("uid")
        if uid is not None:
            extra["uid"] = str(uid)
        kwargs = {"data_source": item.non_tensor_batch["data_source"], "solution_str": text,
                  "ground_truth": item.non_tensor_batch["reward_model"]["ground_truth"],
                  "extra_info": extra, "response_length": valid}
        if self.is_async:
            result = await self.score_fn(**kwargs)
        else:
            result = await self.loop.run_in_executor(None, lambda: self.score_fn(**kwargs))
        return {"reward_score": result["score"], "reward_extra_info": dict(result)}

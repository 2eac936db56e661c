"""``model.prm``: per-step scores of a process reward model, aggregated to one reward."""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
from pydantic import Field

from rewardlab.core import Sample, Score
from rewardlab.models.batching import as_tensors
from rewardlab.models.inputs import prompt_ids, text_ids, uses_template
from rewardlab.models.loading import Kind, LoadedModel, ModelError
from rewardlab.models.params import ChatTemplate, ModelParams
from rewardlab.models.reward import Encoded, ModelReward
from rewardlab.registry import register

Aggregate = Literal["min", "prod", "mean", "last"]


class PRMParams(ModelParams):
    head_type: Literal["token_classification", "causal_lm"] = "token_classification"
    step_separator: str = Field(r"\n\s*\n", description="regex splitting the completion into steps")
    step_tag: str = Field("\n\n", min_length=1, description="text after each step; scored at its last token")
    good_label: int = Field(1, ge=0, description="token classification: the label meaning 'correct step'")
    good_token: str = "+"
    bad_token: str = "-"
    aggregate: Aggregate = "min"
    chat_template: ChatTemplate = "auto"


def aggregate(steps: np.ndarray, how: Aggregate) -> float:
    """One reward from step scores (RewardMATH's PRM aggregations: min, prod, mean, last)."""
    if how == "min":
        return float(steps.min())
    if how == "prod":
        return float(np.prod(steps))
    if how == "mean":
        return float(steps.mean())
    return float(steps[-1])


@register("reward", "model.prm")
class ProcessRewardModel(ModelReward):
    """Process reward model: a score per reasoning step, aggregated by min / prod / mean / last.

    Steps are ``meta["steps"]`` (a list of texts) when present, else the completion
    split on ``step_separator`` (default: blank lines). The input is the prompt
    (generation prompt of the chat template when there is one) followed by each step
    and ``step_tag``, each piece tokenised on its own, and a step's score is read at
    the last token of its tag:

    - ``head_type = "token_classification"`` (Qwen2.5-Math-PRM style): the softmax
      probability of ``good_label`` over the model's labels (sigmoid of the logit for a
      one-label head);
    - ``head_type = "causal_lm"`` (Math-Shepherd, arXiv 2312.08935): a causal LM's next
      token distribution at the tag restricted to {``good_token``, ``bad_token``};
      the step score is p(good) / (p(good) + p(bad)).

    The value is the aggregate; ``detail["step_rewards"]`` holds the per-step scores,
    which a ``[steps]`` table with ``key`` naming this component reads.
    """

    name = "model.prm"
    reads = ("prompt", "completion", "meta")
    Params = PRMParams

    def models(self) -> list[tuple[ModelParams, Kind]]:
        return [(self.params, self.params.head_type)]

    def steps(self, sample: Sample) -> list[str]:
        given = sample.meta.get("steps")
        if given is not None:
            if not isinstance(given, list) or not all(isinstance(s, str) for s in given):
                raise ValueError(f"meta['steps'] must be a list of texts, got {given!r:.80}")
            return [s for s in given if s.strip()]
        parts = re.split(self.params.step_separator, sample.completion_text)
        return [p.strip() for p in parts if p.strip()]

    def encode(self, loaded: LoadedModel, sample: Sample) -> Encoded | Score:
        steps = self.steps(sample)
        if not steps:
            return Score.no_answer(0.0, reason="the completion has no steps")
        tok = loaded.tokenizer
        ids = prompt_ids(tok, sample.prompt, uses_template(tok, self.params.chat_template, self.params.model))
        tag = text_ids(tok, self.params.step_tag)
        positions = []
        for step in steps:
            ids = ids + text_ids(tok, step) + tag
            positions.append(len(ids) - 1)
        enc = self.truncated(ids)
        enc.extra = [p - enc.cut for p in positions]
        return enc

    def _label_ids(self, loaded: LoadedModel) -> list[int]:
        ids = []
        for token in (self.params.good_token, self.params.bad_token):
            found = text_ids(loaded.tokenizer, token)
            if len(found) != 1:
                raise ModelError(f"model {self.params.model!r}: label token {token!r} is {len(found)} tokens; "
                                 "good_token and bad_token must be single tokens")
            ids.append(found[0])
        return ids

    def step_scores(self, loaded: LoadedModel, logits: Any) -> Any:
        """Per-position probability that the step is good, from the logits at the tags."""
        if self.params.head_type == "causal_lm":
            return logits[..., self._label_ids(loaded)].float().softmax(-1)[..., 0]
        if logits.shape[-1] == 1:
            return logits[..., 0].float().sigmoid()
        if self.params.good_label >= logits.shape[-1]:
            raise ModelError(f"good_label = {self.params.good_label}, but model {self.params.model!r} has "
                             f"{logits.shape[-1]} labels")
        return logits.float().softmax(-1)[..., self.params.good_label]

    def forward(self, loaded: LoadedModel, batch: list[Encoded]) -> list[Score]:
        pad = loaded.tokenizer.pad_token_id or 0  # masked out; positions read are real tokens
        tensors = as_tensors(loaded, [e.ids for e in batch], pad)
        probs = self.step_scores(loaded, loaded.model(**tensors).logits).cpu().numpy()
        scores = []
        for row, enc in zip(probs, batch, strict=True):
            kept = [p for p in enc.extra if p >= 0]
            steps = row[kept].astype(np.float64)
            detail: dict[str, Any] = {"step_rewards": steps.tolist()}
            if len(kept) < len(enc.extra):
                detail["steps_truncated"] = len(enc.extra) - len(kept)
            if not len(steps):
                scores.append(Score.no_answer(0.0, reason="every step was truncated away", **detail))
            else:
                scores.append(Score.ok(aggregate(steps, self.params.aggregate), **detail))
        return scores

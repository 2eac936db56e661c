"""Rewards from a causal LM's token probabilities: RLPR / VeriFree likelihood, DPO implicit reward."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from rewardlab.core import Sample, Score, Status
from rewardlab.models.causal import span_logprobs
from rewardlab.models.inputs import prompt_ids, text_ids, uses_template
from rewardlab.models.loading import Kind, LoadedModel, ModelError, load_model
from rewardlab.models.params import ChatTemplate, ModelParams
from rewardlab.models.reward import Encoded, ModelReward
from rewardlab.registry import register

Mode = Literal["mean_prob", "prob", "logprob", "mean_logprob"]


def reduce_logprobs(lp: np.ndarray, mode: Mode) -> float:
    """One value from the reference's token log-probabilities ``lp`` (see LikelihoodReward)."""
    if mode == "mean_prob":
        return float(np.exp(lp).mean())
    if mode == "prob":
        return float(np.exp(lp.sum()))
    if mode == "logprob":
        return float(lp.sum())
    return float(lp.mean())

_SAME_VOCAB: set[tuple[int, int]] = set()  # (model tokenizer, ref tokenizer) pairs already compared


class LikelihoodParams(ModelParams):
    mode: Mode = "mean_prob"
    answer_pattern: str = Field(r"<answer>(.*?)</answer>",
                                description="regex whose group 1 is the completion's final answer")
    debias: bool = False
    clip: tuple[float, float] | None = None
    no_answer_value: float | None = None
    chat_template: ChatTemplate = "auto"

    @model_validator(mode="after")
    def _check(self) -> LikelihoodParams:
        try:
            pattern = re.compile(self.answer_pattern)
        except re.error as exc:
            raise ValueError(f"answer_pattern is not a regex: {exc}") from None
        if pattern.groups < 1:
            raise ValueError("answer_pattern needs a group: the answer's span, e.g. <answer>(.*?)</answer>")
        if self.no_answer_value is None and self.mode in ("logprob", "mean_logprob"):
            raise ValueError(f"mode {self.mode!r} has no natural value for a completion without an answer "
                             "(0.0 would be the best log-probability): set no_answer_value, e.g. -20")
        if self.clip is not None and self.clip[0] > self.clip[1]:
            raise ValueError(f"clip = {self.clip}: low above high")
        return self


@dataclass
class _Spans:
    start: int  # first reference token in the main sequence
    base_ids: list[int] | None = None  # the no-reasoning sequence (debias)
    base_start: int = 0
    answer: str = ""


@register("reward", "model.likelihood")
class LikelihoodReward(ModelReward):
    """The policy's probability of the reference answer after its own reasoning (RLPR, VeriFree).

    The completion's final answer (group 1 of the last ``answer_pattern`` match) is
    replaced by the reference: the LM scores the reference's tokens z* after the
    prompt x and the completion's text up to the answer, y_<a:

    - ``mean_prob`` (RLPR, arXiv 2506.18254, the "probability reward"):
      r = (1/|z*|) sum_t pi(z*_t | x, y_<a, z*_<t);
    - ``prob`` (VeriFree, arXiv 2505.21493): r = pi(z* | x, y_<a) = prod_t pi(z*_t | …);
    - ``logprob``: log pi(z* | x, y_<a) (the log-probability the likelihood-reward
      comparison, SEEDS.md row 204, finds works best); ``mean_logprob`` its per-token mean.

    ``debias`` (RLPR): subtract the same quantity without the reasoning, i.e. after x
    and only the answer's opening text (``y[match start : answer start]``, e.g.
    ``<answer>``); ``clip = [lo, hi]`` then clips (RLPR clips the debiased reward to
    [0, 1]). Both as FORMULAS.md states them ("verify"). A completion without an
    answer is a scored ``no_answer`` with ``no_answer_value`` (0.0 for the probability
    modes; required for the log modes). ``detail["answer"]`` is the span replaced.
    """

    name = "model.likelihood"
    kind = "causal_lm"
    reads = ("prompt", "completion", "reference")
    needs_reference = True
    Params = LikelihoodParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._pattern = re.compile(self.params.answer_pattern, re.DOTALL)

    @property
    def rows_per_input(self) -> int:
        return 2 if self.params.debias else 1

    def encode(self, loaded: LoadedModel, sample: Sample) -> Encoded | Score:
        ref = sample.reference
        if isinstance(ref, bool) or not isinstance(ref, (str, int, float)) or not str(ref).strip():
            return Score.unscorable(Status.INVALID_REFERENCE, f"reference must be a non-empty text, got {ref!r:.80}")
        text = sample.completion_text
        matches = list(self._pattern.finditer(text))
        if not matches:
            value = self.params.no_answer_value or 0.0
            return Score.no_answer(value, reason=f"no match of {self.params.answer_pattern!r}")
        m = matches[-1]
        tok = loaded.tokenizer
        context = prompt_ids(tok, sample.prompt, uses_template(tok, self.params.chat_template, self.params.model))
        target = text_ids(tok, str(ref))
        enc = self.truncated(context + text_ids(tok, text[:m.start(1)]) + target)
        spans = _Spans(len(enc.ids) - len(target), answer=m.group(1)[:200])
        if self.params.debias:
            base = context + text_ids(tok, text[m.start(0):m.start(1)])
            spans.base_ids = (base + target)[-self.params.max_length:]
            spans.base_start = len(spans.base_ids) - len(target)
        enc.extra = spans
        return enc

    def forward(self, loaded: LoadedModel, batch: list[Encoded]) -> list[Score]:
        rows = [e.ids for e in batch]
        starts = [e.extra.start for e in batch]
        if self.params.debias:
            rows += [e.extra.base_ids for e in batch]
            starts += [e.extra.base_start for e in batch]
        lps = span_logprobs(loaded, rows, starts)
        scores = []
        for i, enc in enumerate(batch):
            value = reduce_logprobs(lps[i], self.params.mode)
            detail: dict[str, Any] = {"answer": enc.extra.answer, "reference_tokens": len(lps[i])}
            if self.params.debias:
                detail["with_reasoning"] = value
                detail["without_reasoning"] = reduce_logprobs(lps[len(batch) + i], self.params.mode)
                value -= detail["without_reasoning"]
            if self.params.clip is not None:
                value = float(np.clip(value, *self.params.clip))
            scores.append(Score.ok(value, **detail))
        return scores


class DPOParams(ModelParams):
    ref_model: str = Field(min_length=1)
    beta: float = Field(0.1, gt=0)
    per_token: bool = False
    chat_template: ChatTemplate = "auto"


@register("reward", "model.dpo_implicit")
class DPOImplicitReward(ModelReward):
    """DPO's implicit reward: beta * (log pi(y|x) - log pi_ref(y|x)), summed over the completion.

    Rafailov et al. 2023 (arXiv 2305.18290, eq. 5): r(x, y) = beta log pi(y|x)/pi_ref(y|x)
    (+ beta log Z(x), which cancels within a prompt group and is dropped). ``model`` is
    the DPO-trained policy, ``ref_model`` its reference; both must share a tokenizer.
    ``per_token = true`` adds the token-level form (RTO, arXiv 2404.18922: the reward
    of token t is beta log pi(y_t|x, y_<t)/pi_ref(y_t|x, y_<t)) as
    ``detail["step_rewards"]``, which a ``[steps]`` table reads. The prompt is rendered
    with the chat template's generation prompt (when there is one) and the completion
    tokenised on its own, as DPO trainers do.
    """

    name = "model.dpo_implicit"
    kind = "causal_lm"
    Params = DPOParams

    def models(self) -> list[tuple[ModelParams, Kind]]:
        ref = self.params.model_copy(update={"model": self.params.ref_model})
        return [(self.params, "causal_lm"), (ref, "causal_lm")]

    def _reference(self, loaded: LoadedModel) -> LoadedModel:
        ref = load_model(*self.models()[1])
        pair = (id(loaded.tokenizer), id(ref.tokenizer))  # loaded once per process: compare vocabularies once
        if pair not in _SAME_VOCAB:
            if ref.tokenizer.get_vocab() != loaded.tokenizer.get_vocab():
                raise ModelError(f"ref_model {self.params.ref_model!r} has another tokenizer than model "
                                 f"{self.params.model!r}: the implicit reward needs the same tokens under both")
            _SAME_VOCAB.add(pair)
        return ref

    def encode(self, loaded: LoadedModel, sample: Sample) -> Encoded | Score:
        tok = loaded.tokenizer
        context = prompt_ids(tok, sample.prompt, uses_template(tok, self.params.chat_template, self.params.model))
        completion = text_ids(tok, sample.completion_text)
        if not completion:
            return Score.no_answer(0.0, reason="empty completion")
        enc = self.truncated(context + completion)
        enc.extra = len(enc.ids) - len(completion)
        return enc

    def forward(self, loaded: LoadedModel, batch: list[Encoded]) -> list[Score]:
        rows, starts = [e.ids for e in batch], [e.extra for e in batch]
        policy = span_logprobs(loaded, rows, starts)
        reference = span_logprobs(self._reference(loaded), rows, starts)
        scores = []
        for lp, lp_ref in zip(policy, reference, strict=True):
            tokens = self.params.beta * (lp.astype(np.float64) - lp_ref)
            detail: dict[str, Any] = {"logprob": float(lp.sum()), "ref_logprob": float(lp_ref.sum())}
            if self.params.per_token:
                detail["step_rewards"] = tokens.tolist()
            scores.append(Score.ok(float(tokens.sum()), **detail))
        return scores

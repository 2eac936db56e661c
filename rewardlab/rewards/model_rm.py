"""``model.rm``: the scalar score of a sequence-classification reward model (Bradley–Terry RM)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from rewardlab.core import Sample, Score
from rewardlab.engine.worker import error_score
from rewardlab.models import vllm
from rewardlab.models.batching import as_tensors
from rewardlab.models.inputs import conversation_ids, uses_template
from rewardlab.models.loading import LoadedModel, ModelError
from rewardlab.models.params import ChatTemplate, ModelParams
from rewardlab.models.reward import Encoded, ModelReward
from rewardlab.registry import register
from rewardlab.transforms import sigmoid


class RMParams(ModelParams):
    chat_template: ChatTemplate = "auto"
    head: int | None = Field(None, ge=0, description="which output of a multi-objective RM")
    sigmoid: bool = False


def pad_id(loaded: LoadedModel) -> int:
    """The pad id a sequence classifier pools with; copied from the tokenizer when only it has one.

    transformers' sequence classifiers find each row's last real token from the pad
    id, so a batch cannot be scored without one.
    """
    config = loaded.model.config
    if config.pad_token_id is None:
        if loaded.tokenizer.pad_token_id is None:
            raise ModelError(f"model {loaded.identity['model']!r} has no pad token (neither config.json's "
                             "pad_token_id nor the tokenizer's pad_token): set one to score in batches")
        config.pad_token_id = loaded.tokenizer.pad_token_id
    return int(config.pad_token_id)


@register("reward", "model.rm")
class RewardModel(ModelReward):
    """Scalar reward from ``AutoModelForSequenceClassification`` (a Bradley–Terry reward model).

    Bradley–Terry (Ouyang et al. 2022, arXiv 2203.02155, eq. 1): the RM is trained so
    that P(y_w > y_l | x) = sigma(r(x, y_w) - r(x, y_l)); its score r(x, y) is the
    logit read at the last token of the conversation. Input: the prompt (text -> one
    user message; chat -> as given) and the completion as the assistant message,
    through the tokenizer's chat template, else prompt + completion text (see
    :mod:`rewardlab.models.inputs`). ``head`` picks one output of a multi-objective RM
    (ArmoRM-style, required when the model has several); ``sigmoid`` maps the logit to
    (0, 1). Equal to a single-example fp32 forward pass of the same model.

    Served by vLLM (``placement = "remote"``): the conversation goes as chat
    ``messages`` (the server's chat template renders it) or, with
    ``chat_template = "none"``, as prompt + completion text; see :mod:`rewardlab.models.vllm`.
    """

    name = "model.rm"
    kind = "sequence_classification"
    Params = RMParams

    def encode(self, loaded: LoadedModel, sample: Sample) -> Encoded | Score:
        labels = int(loaded.model.config.num_labels)
        head = self.params.head
        if head is None and labels > 1:
            raise ModelError(f"model {self.params.model!r} has {labels} outputs: set head = 0..{labels - 1}")
        if head is not None and head >= labels:
            raise ModelError(f"head = {head}, but model {self.params.model!r} has {labels} outputs")
        templated = uses_template(loaded.tokenizer, self.params.chat_template, self.params.model)
        assert sample.completion is not None  # the engine answers a missing completion before any reward
        return self.truncated(conversation_ids(loaded.tokenizer, sample.prompt, sample.completion, templated))

    def forward(self, loaded: LoadedModel, batch: list[Encoded]) -> list[Score]:
        tensors = as_tensors(loaded, [e.ids for e in batch], pad_id(loaded))
        logits = loaded.model(**tensors).logits.float().cpu()
        values = logits[:, self.params.head or 0].double().numpy()
        return [Score.ok(float(v)) for v in (sigmoid(values) if self.params.sigmoid else values)]

    def served_scores(self, server: vllm.VllmServer, samples: Sequence[Sample]) -> list[Score]:
        p = self.params
        scores = []
        for got in vllm.fetch(server, samples, chat=p.chat_template != "none"):
            if isinstance(got, Exception):  # this input's request failed
                scores.append(error_score(got))
                continue
            try:
                scores.append(Score.ok(vllm.rm_value(server.route, got, p.head, p.sigmoid, server.endpoint),
                                       model={"model": server.model, "revision": None, "chat_template": None}))
            except Exception as exc:  # this input's reply
                scores.append(error_score(exc))
        return scores

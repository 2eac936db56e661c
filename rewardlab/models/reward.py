"""The base class of model rewards: encode each sample, batch by length, forward, scatter back.

A subclass names the model ``kind`` it needs and implements :meth:`ModelReward.encode`
(one sample -> token ids, or a final :class:`Score` for a sample that cannot be
scored) and :meth:`ModelReward.forward` (one padded batch -> scores). This class does
the rest the same way for every model reward: loading once per process, length
buckets under ``batch_tokens``, out-of-memory splitting, ``torch.inference_mode``,
input order, the model's identity and truncation in ``detail``. With
``placement = "remote"`` the batch goes to a rewardlab server or a vLLM server instead
(:mod:`rewardlab.models.remote`), and the served scores' drift from a local copy is
measured at start (:mod:`rewardlab.models.drift`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rewardlab.core import BaseReward, CostClass, Deps, Sample, Score, Status, content_hash
from rewardlab.engine.worker import error_score
from rewardlab.models import drift
from rewardlab.models.batching import budget, plan_buckets, run_splitting
from rewardlab.models.inputs import truncate_left
from rewardlab.models.loading import Kind, LoadedModel, ModelError, check_model_dir, load_model
from rewardlab.models.params import ModelParams
from rewardlab.models.remote import Remote, connect, rewardlab_scores
from rewardlab.models.vllm import VllmServer


@dataclass
class Encoded:
    """One sample's model input: ids (already truncated), tokens cut, reward-specific extras."""

    ids: list[int]
    cut: int = 0
    extra: Any = None


class ModelReward(BaseReward):
    """Batched scoring with one model through the model runtime (see the module docstring)."""

    cost: ClassVar[CostClass] = CostClass.MODEL
    reads: ClassVar[tuple[str, ...]] = ("prompt", "completion")
    batches_itself: ClassVar[bool] = True  # the engine passes the whole batch: we bucket it
    kind: ClassVar[Kind] = "sequence_classification"
    Params: ClassVar[type[ModelParams]] = ModelParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._remote: Remote | None = None  # connected on first use, in the process that scores
        self._drift: dict[str, Any] | None = None
        if self.params.placement != "remote":  # a remote model lives on the server
            for model_params, kind in self.models():
                check_model_dir(model_params, kind)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_remote": None}  # a connection does not travel to another process

    # --- what the engine reads -----------------------------------------------------
    @property
    def placement(self) -> str:
        return str(self.params.placement)

    @property
    def worker_key(self) -> str:
        """Rewards with equal keys share one model worker process."""
        return content_hash([(p.model, p.revision, p.device, p.dtype) for p, _ in self.models()])

    @property
    def rows_per_input(self) -> int:
        """Sequences one input adds to a forward pass (at most its length each), for the budget."""
        return 1

    # --- what subclasses implement -------------------------------------------------
    def models(self) -> list[tuple[ModelParams, Kind]]:
        """Every model this reward uses, as (params, kind); the first is the main one."""
        return [(self.params, self.kind)]

    def encode(self, loaded: LoadedModel, sample: Sample) -> Encoded | Score:
        raise NotImplementedError

    def forward(self, loaded: LoadedModel, batch: list[Encoded]) -> list[Score]:
        raise NotImplementedError

    def served_scores(self, server: VllmServer, samples: Sequence[Sample]) -> list[Score]:
        """Scores from a vLLM server (``remote_api = "vllm"``); only ``model.rm`` has them."""
        raise ModelError(f"{self.name} cannot be scored by vLLM (its pooling endpoints serve sequence "
                         "classifiers: model.rm); serve it with `rewardlab serve` instead")

    # --- the shared machinery -----------------------------------------------------
    def load(self) -> LoadedModel:
        """The main model (the first of :meth:`models`), loaded once per process."""
        params, kind = self.models()[0]
        return load_model(params, kind)

    def truncated(self, ids: list[int], extra: Any = None) -> Encoded:
        kept, cut = truncate_left(ids, self.params.max_length)
        return Encoded(kept, cut, extra)

    def _encode_safely(self, loaded: LoadedModel, sample: Sample) -> Encoded | Score:
        try:
            return self.encode(loaded, sample)
        except Exception as exc:  # this sample's problem (a chat prompt without a template…)
            return error_score(exc)

    def score_one(self, sample: Sample, deps: Deps) -> Score:
        return self.score_batch([sample], [deps])[0]

    def score_batch(self, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        p = self.params
        if p.placement == "remote":  # no torch needed here
            return self._remote_batch(samples)
        import torch

        try:
            loaded = self.load()
        except Exception as exc:  # once for the batch, not again per sample
            return [error_score(exc)] * len(samples)
        out: list[Score | None] = [None] * len(samples)
        todo: dict[int, Encoded] = {}
        for i, sample in enumerate(samples):
            enc = self._encode_safely(loaded, sample)
            if isinstance(enc, Score):
                out[i] = enc
            else:
                todo[i] = enc
        slots = list(todo)
        identity = loaded.identity
        tokens, overhead = budget(p.batch_tokens, p.batch_overhead_tokens, loaded.device.type)
        rows = self.rows_per_input  # the plan counts inputs; each puts `rows` sequences in the pass
        buckets = plan_buckets([len(todo[i].ids) for i in slots], max(1, tokens // rows), p.max_batch_size,
                               overhead // rows)
        with torch.inference_mode():
            for bucket in buckets:
                members = [slots[j] for j in bucket]
                scores = run_splitting(
                    members, lambda idx: self.forward(loaded, [todo[i] for i in idx]),
                    lambda _i, exc: Score.unscorable(
                        Status.ERROR, f"out of memory on a single input: {exc}", exception="OutOfMemoryError"),
                )
                for i, score in zip(members, scores, strict=True):
                    out[i] = _finish(score, todo[i], identity)
        return [s if s is not None else Score.unscorable(Status.ERROR, "not scored") for s in out]


    def _remote_batch(self, samples: Sequence[Sample]) -> list[Score]:
        """Scores from the endpoint, with its identity and the drift measured at start in ``detail.remote``."""
        try:
            if self._remote is None:
                self._remote = connect(self.params)
            remote = self._remote
            if remote.server is not None:
                scores = self.served_scores(remote.server, samples)
            else:
                scores = rewardlab_scores(remote, samples)
        except Exception as exc:  # once for the batch, naming the endpoint
            return [error_score(exc)] * len(samples)
        if self._drift is None:
            self._drift = drift.measure(self, samples, scores)
        identity = {**remote.identity(), "drift": self._drift or {"measured": False, "reason": "nothing scored yet"}}
        refused = drift.refused(identity["drift"], self.params.drift_action)
        if refused is not None:
            return [Score.unscorable(Status.ERROR, refused, remote=identity)] * len(samples)
        return [Score(s.value, s.status, {**s.detail, "remote": identity}, s.elapsed) for s in scores]


def _finish(score: Score, enc: Encoded, identity: dict[str, Any]) -> Score:
    """The model's identity (and truncation, if any) added to a score's detail."""
    detail = {**score.detail, "model": identity}
    if enc.cut:
        detail["truncated"] = True
        detail["truncated_tokens"] = enc.cut
    return Score(score.value, score.status, detail, score.elapsed)

"""``model.similarity``: cosine similarity of completion and reference under a frozen text encoder."""

from __future__ import annotations

from typing import Any

from rewardlab.core import Sample, Score, Status
from rewardlab.models.batching import as_tensors
from rewardlab.models.inputs import text_ids
from rewardlab.models.loading import LoadedModel
from rewardlab.models.params import ModelParams
from rewardlab.models.reward import Encoded, ModelReward
from rewardlab.registry import register


@register("reward", "model.similarity")
class TextSimilarity(ModelReward):
    """Cosine similarity of mean-pooled sentence embeddings: cos(e(y), e(z*)), in [-1, 1].

    e(t) is the mean of the encoder's last hidden states over t's tokens (with the
    tokenizer's special tokens), the pooling of Sentence-BERT (Reimers & Gurevych 2019,
    arXiv 1908.10084); y is the completion's text and z* the reference (text). The
    encoder is any transformers model (``AutoModel``): a sentence-embedding model for
    meaningful values. Image encoders (CLIP/SigLIP/DINO) are not supported yet.
    """

    name = "model.similarity"
    kind = "encoder"
    reads = ("completion", "reference")
    needs_reference = True
    Params = ModelParams

    @property
    def rows_per_input(self) -> int:
        return 2

    def encode(self, loaded: LoadedModel, sample: Sample) -> Encoded | Score:
        ref = sample.reference
        if isinstance(ref, bool) or not isinstance(ref, (str, int, float)) or not str(ref).strip():
            return Score.unscorable(Status.INVALID_REFERENCE, f"reference must be a non-empty text, got {ref!r:.80}")
        if not sample.completion_text.strip():
            return Score.no_answer(0.0, reason="empty completion")
        enc = self.truncated(text_ids(loaded.tokenizer, sample.completion_text, special=True))
        enc.extra = text_ids(loaded.tokenizer, str(ref), special=True)[-self.params.max_length:]
        return enc

    def embed(self, loaded: LoadedModel, rows: list[list[int]]) -> Any:
        """Mean-pooled, L2-normalised embeddings of right-padded rows (pads excluded from the mean)."""
        import torch

        pad = loaded.tokenizer.pad_token_id or 0
        hidden = loaded.model(**as_tensors(loaded, rows, pad)).last_hidden_state.float()
        width = hidden.shape[1]
        mask = torch.tensor([[1.0] * len(r) + [0.0] * (width - len(r)) for r in rows], device=hidden.device)
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def forward(self, loaded: LoadedModel, batch: list[Encoded]) -> list[Score]:
        vectors = self.embed(loaded, [e.ids for e in batch] + [e.extra for e in batch])
        n = len(batch)
        cosines = (vectors[:n] * vectors[n:]).sum(-1).clamp(-1.0, 1.0).cpu().tolist()
        return [Score.ok(float(c)) for c in cosines]

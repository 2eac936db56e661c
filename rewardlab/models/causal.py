"""Token log-probabilities of a span under a causal LM, for a right-padded batch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rewardlab.models.batching import as_tensors
from rewardlab.models.loading import LoadedModel


def span_logprobs(loaded: LoadedModel, rows: Sequence[list[int]], starts: Sequence[int]) -> list[np.ndarray]:
    """``log p(ids[t] | ids[:t])`` for ``t`` in ``[start, len(ids))``, per row, in float32.

    One forward pass over the batch; the log-softmax is taken only over the span's
    positions (the logits at ``t - 1`` predict token ``t``), so memory stays at one
    vocabulary row per scored token rather than per input token.
    """
    import torch

    pad = loaded.tokenizer.pad_token_id or 0  # masked out: any id will do
    batch = as_tensors(loaded, rows, pad)
    logits = loaded.model(**batch).logits
    out = []
    for b, (ids, start) in enumerate(zip(rows, starts, strict=True)):
        start = max(1, start)
        span = logits[b, start - 1:len(ids) - 1].float().log_softmax(-1)
        target = torch.tensor(ids[start:], dtype=torch.long, device=span.device)
        out.append(span.gather(-1, target[:, None])[:, 0].cpu().numpy())
    return out

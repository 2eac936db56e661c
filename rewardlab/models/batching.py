"""Length-bucketed dynamic batching under a token budget, with out-of-memory splitting.

Why by hand: transformers' pipelines batch in input order with a fixed batch size, so
one long input pads the whole batch to its length. Sorting by length and packing
under a token budget (padded length x batch size <= ``batch_tokens``) wastes little
padding and keeps the memory of one forward pass bounded; results are scattered back
to input order by the caller. On a CUDA out-of-memory error a batch is split in
halves and each half retried, down to single inputs; only a single input that does
not fit fails, and only that input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rewardlab.models.loading import LoadedModel

T = TypeVar("T")
R = TypeVar("R")


def plan_buckets(lengths: Sequence[int], batch_tokens: int, max_batch_size: int) -> list[list[int]]:
    """Indices grouped into batches: longest first, each under the token budget.

    A batch's cost is its padded size, ``len(batch) * max(length)``; an input longer
    than the budget gets a batch of its own.

    >>> plan_buckets([5, 100, 7, 90], batch_tokens=200, max_batch_size=8)
    [[1, 3], [2, 0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = lengths[current[0]] if current else lengths[i]
        if current and ((len(current) + 1) * longest > batch_tokens or len(current) >= max_batch_size):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is an accelerator out-of-memory error."""
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):  # pragma: no cover - torch without OutOfMemoryError
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_cached_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def run_splitting(items: list[T], forward: Callable[[list[T]], list[R]],
                  on_fail: Callable[[T, BaseException], R]) -> list[R]:
    """``forward(items)``; on out-of-memory, halve and retry; one item that still fails -> ``on_fail``.

    Errors other than out-of-memory propagate (they are not a matter of batch size).
    """
    try:
        return forward(items)
    except Exception as exc:
        if not is_oom(exc):
            raise
        _free_cached_memory()
        if len(items) == 1:
            return [on_fail(items[0], exc)]
    half = len(items) // 2
    return run_splitting(items[:half], forward, on_fail) + run_splitting(items[half:], forward, on_fail)


def pad_right(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    """Right-padded ids and the attention mask.

    Right padding keeps every input's positions 0..n-1 as in an unpadded forward pass
    (causal models do not derive positions from the mask in a plain forward call), and
    causal attention keeps pads out of the real tokens' states.
    """
    width = max((len(r) for r in rows), default=0)
    ids = [list(r) + [pad_id] * (width - len(r)) for r in rows]
    mask = [[1] * len(r) + [0] * (width - len(r)) for r in rows]
    return ids, mask


def as_tensors(loaded: LoadedModel, rows: Sequence[Sequence[int]], pad_id: int) -> dict[str, Any]:
    """``input_ids`` (and ``attention_mask``) tensors of a right-padded batch, on the model's device.

    A causal model gets no mask: under causal attention a real token never sees the
    pads after it, so the mask changes nothing we read, and without one SDPA can take
    its fused causal path instead of applying a (length x length) padding mask.
    """
    import torch

    ids, mask = pad_right(rows, pad_id)
    tensors = {"input_ids": torch.tensor(ids, dtype=torch.long, device=loaded.device)}
    if not loaded.causal:
        tensors["attention_mask"] = torch.tensor(mask, dtype=torch.long, device=loaded.device)
    return tensors

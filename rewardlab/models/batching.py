"""Length-bucketed dynamic batching under a token budget, with out-of-memory splitting.

Why by hand: transformers' pipelines batch in input order with a fixed batch size, so
one long input pads the whole batch to its length. Sorting by length and splitting
the sorted inputs where padding would cost more than another forward pass, under a
token budget (padded length x batch size <= ``batch_tokens``), wastes little padding
and keeps the memory of one forward pass bounded; results are scattered back to input
order by the caller. On a CUDA out-of-memory error a batch is split in
halves and each half retried, down to single inputs; only a single input that does
not fit fails, and only that input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rewardlab.models.loading import LoadedModel

T = TypeVar("T")
R = TypeVar("R")


def plan_buckets(lengths: Sequence[int], batch_tokens: int, max_batch_size: int,
                 overhead_tokens: int = 0) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest batch first, each under the budget.

    A batch's cost is its padded size, ``len(batch) * max(length)``, plus
    ``overhead_tokens`` (one forward pass's fixed cost, in tokens' worth of compute).
    Once sorted by length every batch worth having is a run of the sorted order, and
    the split with the least total cost under the budget is found by dynamic programming
    over it. Greedy packing (fill each batch to the budget) was what this did before: it
    padded the workload of ``benchmarks/models.py`` by 19% where this pads it by 1-2%.
    An input longer than the budget gets a batch of its own.

    >>> plan_buckets([5, 100, 7, 90], batch_tokens=200, max_batch_size=8, overhead_tokens=20)
    [[1, 3], [2, 0]]
    >>> plan_buckets([5, 100, 7, 90], batch_tokens=200, max_batch_size=8, overhead_tokens=0)
    [[1], [3], [2], [0]]
    """
    import numpy as np

    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], -i))  # ascending
    sizes = np.array([lengths[i] for i in order], dtype=np.float64)
    best = np.zeros(len(order) + 1)  # best[e]: least cost of order[:e]
    start = np.zeros(len(order) + 1, dtype=np.int64)  # where the last batch of that split starts
    for end in range(1, len(order) + 1):  # the last batch is order[j:end]; its longest is sizes[end - 1]
        longest = sizes[end - 1]
        fits = int(min(max_batch_size, max(1, batch_tokens // max(longest, 1)), end))
        starts = np.arange(end - fits, end)
        cost = best[starts] + (end - starts) * longest + overhead_tokens
        pick = int(np.argmin(cost))  # ties: the earliest start, i.e. the larger batch
        best[end], start[end] = cost[pick], starts[pick]
    batches: list[list[int]] = []
    end = len(order)
    while end > 0:
        batches.append(order[int(start[end]):end][::-1])
        end = int(start[end])
    return batches


# On CPU a forward pass's time is its padded tokens' compute plus a fixed cost of about
# 110 tokens' worth (a per-call fit on benchmarks/models.py's tiny model, one thread), and
# batches of long inputs beyond ~2k tokens run slower per token than the same inputs one
# by one (cache); on CUDA a pass is cheap per token until the card is full, so the old
# large budget and as few passes as it allows are kept (not re-measured on a GPU here).
CPU_BATCH_TOKENS, CPU_OVERHEAD_TOKENS, CUDA_BATCH_TOKENS = 2048, 128, 16384


def budget(batch_tokens: int | str, overhead_tokens: int | str, device_type: str) -> tuple[int, int]:
    """``batch_tokens`` and ``batch_overhead_tokens`` with ``auto`` resolved for the device."""
    cpu = device_type == "cpu"
    tokens = int(batch_tokens) if batch_tokens != "auto" else (CPU_BATCH_TOKENS if cpu else CUDA_BATCH_TOKENS)
    if overhead_tokens != "auto":
        return tokens, int(overhead_tokens)
    return tokens, CPU_OVERHEAD_TOKENS if cpu else tokens


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

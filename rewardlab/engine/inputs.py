"""What every reward that reads the completion is given: rows without one are set aside, end tokens stripped.

Done here, once, for every reward the engine runs (not in each reward): a row whose
completion is missing or null is unscorable (``missing_input``), never scored as an empty
answer; and end-of-sequence / end-of-turn token texts that trainers leave at the end of a
decoded completion (OpenRLHF decodes with special tokens kept) are removed before a reward
reads it, and named in the score's ``detail["stripped_end_tokens"]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rewardlab.core import Messages, Sample, Score, Status

# The end-of-sequence / end-of-turn texts of common tokenizers: Llama 2 / Mistral, GPT-2 / Qwen,
# ChatML, Llama 3, Gemma, Phi-3, DeepSeek, Command-R, gpt-oss.
DEFAULT_END_TOKENS: tuple[str, ...] = (
    "</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|eom_id|>",
    "<end_of_turn>", "<eos>", "<|end|>", "<|return|>", "<｜end▁of▁sentence｜>", "<|END_OF_TURN_TOKEN|>",
)
STRIPPED = "stripped_end_tokens"


def reads_completion(reward: Any) -> bool:
    """Whether a reward looks at the completion (rewards without ``reads`` are assumed to)."""
    return "completion" in getattr(reward, "reads", ("completion",))


def missing_input(sample: Sample) -> Score:
    """The score of a row that has no completion: unscorable, naming the keys the row did have."""
    keys = sorted(sample.meta)
    seen = f"; other keys in the row: {', '.join(keys)}" if keys else ""
    return Score.unscorable(Status.MISSING_INPUT,
                            f"the row has no 'completion' (missing or null): not an empty answer{seen}",
                            keys=keys)


def strip_end_tokens(text: str, tokens: tuple[str, ...]) -> tuple[str, list[str]]:
    """``text`` without the end tokens (and the whitespace between them) at its end; the tokens
    removed. ``tokens`` are non-empty (:meth:`PreparedBatch.of` filters them once per batch).

    >>> strip_end_tokens("<answer>4</answer><|im_end|>\\n<|endoftext|>", DEFAULT_END_TOKENS)
    ('<answer>4</answer>', ['<|im_end|>', '<|endoftext|>'])
    """
    removed: list[str] = []
    end = len(text)
    while tokens:
        j = end
        while j > 0 and text[j - 1].isspace():
            j -= 1
        if not text.endswith(tokens, 0, j):  # one C-level test for the common case: no end token
            break
        token = next(t for t in tokens if text.endswith(t, 0, j))
        removed.append(token)
        end = j - len(token)
    return (text[:end], removed[::-1]) if removed else (text, [])


def _strip_completion(
    completion: str | Messages, tokens: tuple[str, ...]
) -> tuple[str | Messages, list[str]]:
    if isinstance(completion, str):
        return strip_end_tokens(completion, tokens)
    for k in range(len(completion) - 1, -1, -1):  # the last assistant message, as Sample.completion_text
        message = completion[k]
        if isinstance(message, dict) and message.get("role", "assistant") == "assistant":
            content = message.get("content")
            if not isinstance(content, str):
                break
            text, removed = strip_end_tokens(content, tokens)
            if removed:
                return [*completion[:k], {**message, "content": text}, *completion[k + 1:]], removed
            break
    return completion, []


@dataclass
class PreparedBatch:
    """A batch as a reward that reads the completion sees it; :meth:`merge` puts the scores back in place."""

    samples: list[Sample]  # the rows that have a completion, end tokens stripped
    kept: list[int]  # their positions in the batch
    stripped: list[list[str]]  # per kept row, the end tokens removed
    missing: dict[int, Score]  # position -> missing_input score

    @classmethod
    def of(cls, samples: Sequence[Sample], tokens: Sequence[str]) -> PreparedBatch:
        tokens = tuple(t for t in tokens if t)
        out = cls([], [], [], {})
        for i, sample in enumerate(samples):
            if sample.completion is None:
                out.missing[i] = missing_input(sample)
                continue
            completion, removed = _strip_completion(sample.completion, tokens) if tokens else (sample.completion, [])
            out.samples.append(dataclasses.replace(sample, completion=completion) if removed else sample)
            out.kept.append(i)
            out.stripped.append(removed)
        return out

    def merge(self, scores: Sequence[Score]) -> list[Score]:
        """Scores for the whole batch, in order: the kept rows' scores, with what was stripped in ``detail``."""
        out: list[Score | None] = [None] * (len(self.kept) + len(self.missing))
        for i, score in self.missing.items():
            out[i] = score
        for i, score, removed in zip(self.kept, scores, self.stripped, strict=True):
            if removed:
                score = Score(score.value, score.status, {**score.detail, STRIPPED: removed}, score.elapsed)
            out[i] = score
        return [s for s in out if s is not None]

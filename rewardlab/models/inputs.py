"""Turn samples into token ids: chat templates, plain text, truncation.

Input convention (every model reward): a text prompt becomes one user message, chat
prompts are used as given, and the completion is the assistant's message. With a
chat template the conversation is rendered with ``apply_chat_template(tokenize=False)``
and tokenised without adding special tokens (the template already has them); without
one, prompt and completion are concatenated as text and tokenised with the
tokenizer's own special tokens.

Truncation keeps the *last* ``max_length`` tokens: the completion is kept and the
prompt is cut from the left, since a reward model reads its score at the end and the
likelihood rewards score the tokens at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rewardlab.core import Messages
from rewardlab.models.loading import ModelError


def as_messages(value: str | Messages, role: str) -> Messages:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    return [dict(m) for m in value if isinstance(m, Mapping)]


def uses_template(tokenizer: Any, mode: str, name: str) -> bool:
    """Whether to render with the chat template; ``mode = "required"`` without one is an error."""
    has = bool(getattr(tokenizer, "chat_template", None))
    if mode == "required" and not has:
        raise ModelError(f"model {name!r}: its tokenizer has no chat template, and this reward has "
                         "chat_template = 'required' (set one in tokenizer_config.json, or use 'auto')")
    return has and mode != "none"


def as_text(value: str | Messages, what: str) -> str:
    if isinstance(value, str):
        return value
    raise ModelError(f"the {what} is a list of chat messages but the tokenizer has no chat template "
                     "(or chat_template = 'none'): give text, or a model with a chat template")


def text_ids(tokenizer: Any, text: str, special: bool = False) -> list[int]:
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


def conversation_ids(tokenizer: Any, prompt: str | Messages, completion: str | Messages,
                     templated: bool) -> list[int]:
    """Ids of prompt + completion as one conversation (see the module docstring)."""
    if templated:
        messages = as_messages(prompt, "user") + as_messages(completion, "assistant")
        return text_ids(tokenizer, tokenizer.apply_chat_template(messages, tokenize=False))
    return text_ids(tokenizer, as_text(prompt, "prompt") + as_text(completion, "completion"), special=True)


def prompt_ids(tokenizer: Any, prompt: str | Messages, templated: bool) -> list[int]:
    """Ids of the prompt up to where the assistant's text starts (generation prompt added)."""
    if templated:
        text = tokenizer.apply_chat_template(as_messages(prompt, "user"), tokenize=False,
                                             add_generation_prompt=True)
        return text_ids(tokenizer, text)
    return text_ids(tokenizer, as_text(prompt, "prompt"), special=True)


def truncate_left(ids: list[int], max_length: int) -> tuple[list[int], int]:
    """The last ``max_length`` ids and how many were cut from the left."""
    cut = max(0, len(ids) - max_length)
    return ids[cut:], cut

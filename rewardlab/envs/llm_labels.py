"""LLM labels for environment rewards, through the judge client: batched, concurrent or asynchronous.

The LLM-assisted rewards (:mod:`rewardlab.envs.subgoals`, :mod:`rewardlab.envs.preferences`)
ask an OpenAI-compatible endpoint about observations the user renders to text (or
to PNG bytes, sent as an image for a VLM). Every request goes through
:class:`rewardlab.judges.JudgeClient` (one client per endpoint: its concurrency
bound, retries, rate limits, key handling and persistent response cache, the
project's :class:`~rewardlab.cache_store.CacheStore`). :meth:`Labeller.ask` sends a
batch at once on the judge loop and waits for all of it, so a vector env's step
waits for the slowest reply, not for the sum; :meth:`Labeller.submit` does not
wait at all (ONI's asynchronous annotation).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import re
from collections.abc import Callable, Sequence
from typing import Any

from rewardlab.judges import EndpointConfig, JudgeClient, JudgeError, Reply
from rewardlab.judges.loop import run_sync, submit

Render = Callable[[Any], "str | bytes"]  # one observation -> text, or PNG bytes for a VLM
Part = str | bytes
YES = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
CHOICE = re.compile(r"^\W*(?:option\s+|observation\s+)?([012])\b", re.IGNORECASE)


class Labeller:
    """The judge client of one endpoint, for labels of observations (see the module docstring).

    ``endpoint``: :class:`~rewardlab.judges.EndpointConfig` fields (``base_url``, ``model``,
    ``api_key_env``, ``max_concurrency``, ``cache``…; temperature 0 by default, the
    response cache on by default: a repeated question is answered from the cache).
    """

    def __init__(self, **endpoint: Any) -> None:
        self.config = EndpointConfig.model_validate(endpoint)
        self.client = JudgeClient.shared(self.config)

    def __reduce__(self) -> tuple[Any, ...]:
        """Copied or pickled (a wrapper's recorded arguments, an AsyncVectorEnv's workers) as its
        settings: the copy uses the process's client for the same endpoint."""
        return _labeller, (self.config.endpoint_fields(),)

    def ask(self, questions: Sequence[Sequence[Part]]) -> list[str | JudgeError]:
        """Each question's reply text, or the :class:`JudgeError` it ended with; all sent at once."""
        async def gather() -> list[Reply | BaseException]:
            return await asyncio.gather(*(self.client.chat(messages(q)) for q in questions), return_exceptions=True)

        out: list[str | JudgeError] = []
        for r in run_sync(gather()) if questions else []:
            if isinstance(r, BaseException) and not isinstance(r, JudgeError):
                raise r
            out.append(r if isinstance(r, JudgeError) else r.text)
        return out

    def submit(self, question: Sequence[Part]) -> concurrent.futures.Future[Reply]:
        """Send ``question`` without waiting; the future holds the :class:`Reply` (or a JudgeError)."""
        return submit(self.client.chat(messages(question)))


def _labeller(endpoint: dict[str, Any]) -> Labeller:
    return Labeller(**endpoint)


def messages(question: Sequence[Part]) -> list[dict[str, Any]]:
    """One user message: the text parts joined, bytes parts as PNG images (OpenAI's ``image_url`` parts)."""
    if all(isinstance(p, str) for p in question):
        return [{"role": "user", "content": "\n".join(str(p) for p in question)}]
    content = [{"type": "text", "text": p} if isinstance(p, str) else
               {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(p).decode()}}
               for p in question]
    return [{"role": "user", "content": content}]


def rendered(render: Render, obs: Any) -> Part:
    """``render(obs)``, checked: text or PNG bytes (a clear error otherwise)."""
    out = render(obs)
    if not isinstance(out, (str, bytes)):
        raise TypeError(f"render must return text (str) or PNG bytes for one observation, got {type(out).__name__}")
    return out


def parse_yes(text: str) -> bool | None:
    """True for a reply starting with yes, False for no, None for anything else (undecided)."""
    m = YES.match(text)
    return None if m is None else m.group(1).lower() == "yes"


def parse_choice(text: str) -> float | None:
    """A pairwise preference: 1.0 for "1" (the first), 0.0 for "2", 0.5 for "0" (no preference), else None."""
    m = CHOICE.match(text)
    return None if m is None else {"1": 1.0, "2": 0.0, "0": 0.5}[m.group(1)]


__all__ = ["Labeller", "Render", "messages", "parse_choice", "parse_yes", "rendered"]

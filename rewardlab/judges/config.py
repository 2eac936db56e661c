"""Settings of one OpenAI-compatible chat-completions endpoint (the judge client's config)."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rewardlab.errors import SpecError


class EndpointConfig(BaseModel):
    """Where and how to call a judge model.

    The API key is never a parameter: ``api_key_env`` names the environment variable
    that holds it, read at request time and kept out of every log, detail, cache and
    run store.
    """

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field("http://127.0.0.1:8000/v1", description="the endpoint's /v1 root")
    model: str = Field(..., min_length=1, description="model name sent in each request")
    api_key_env: str | None = Field(
        None, description="name of the environment variable holding the API key (None: no key)"
    )
    max_concurrency: int = Field(16, ge=1, le=4096, description="requests in flight at most")
    requests_per_minute: float | None = Field(None, gt=0, description="client-side request rate limit")
    tokens_per_minute: float | None = Field(None, gt=0, description="client-side token rate limit")
    request_timeout: float = Field(60.0, gt=0, description="deadline of one HTTP attempt, seconds")
    max_retries: int = Field(6, ge=0, le=100, description="retries on 429, 5xx, connection errors, timeouts")
    backoff_base: float = Field(0.5, ge=0, description="first backoff, seconds (doubles each retry)")
    backoff_max: float = Field(30.0, ge=0, description="longest backoff, seconds (Retry-After may exceed it)")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int | None = Field(1024, ge=1, description="completion tokens per judge reply")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="more request fields")
    cache: bool | str = Field(
        True, description="persistent response cache: true (default file), false, or a path"
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return v.rstrip("/")

    def endpoint_fields(self) -> dict[str, Any]:
        """Only the endpoint settings (a reward's params subclass this model)."""
        return {k: getattr(self, k) for k in EndpointConfig.model_fields}

    def api_key(self) -> str | None:
        """The key from ``api_key_env``; a clear error when that variable is unset."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise SpecError(
                f"the judge's api_key_env names the environment variable {self.api_key_env!r}, "
                "which is not set: export it, or leave api_key_env out for an endpoint without keys"
            )
        return key

"""Request and response bodies of the reward server (they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from rewardlab.results import ColumnStats

Text = str | list[dict[str, Any]]


class SampleIn(BaseModel):
    """One sample, as in input files; unknown keys go to ``meta``; no ``completion`` (or null): ``missing_input``."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    id: StrictStr | StrictInt | None = None
    prompt: Text | None = ""
    completion: Text | None = None
    reference: Any = None
    group: StrictStr | StrictInt | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class ScoreRequest(BaseModel):
    """``POST /score``: one batch; its groups are scored apart from other requests'."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    samples: list[SampleIn] = Field(min_length=1, description="the samples of one batch")
    timeout: float | None = Field(None, ge=0.5, le=3600,
                                  description="deadline in seconds (capped by the server's); 504 when it passes")


class ScoreResponse(BaseModel):
    """The results table (one row per sample, request order) and its summary."""

    rows: list[dict[str, Any]]
    summary: list[ColumnStats]
    components: list[str]


class OpenRLHFRequest(BaseModel):
    """OpenRLHF's remote reward body: ``query`` is prompt + response text."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    query: list[str] = Field(min_length=1)
    prompts: list[str] | None = None
    labels: list[Any] | None = None
    response_lengths: list[int] | None = Field(None, description="tokens per response, for length rewards")


class OpenRLHFResponse(BaseModel):
    """``rewards`` train, ``scores`` drive OpenRLHF's dynamic filtering, ``extra_logs`` are logged."""

    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]


class ErrorResponse(BaseModel):
    detail: Any
    message: str


class Health(BaseModel):
    status: str
    components: list[str]
    queue_depth: int

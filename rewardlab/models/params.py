"""The parameters every model reward shares: which model, where, how batched."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Device = str  # "auto", "cpu", "cuda" or "cuda:N" (validated by the pattern below)
DType = Literal["auto", "float32", "bfloat16", "float16"]
Attention = Literal["auto", "eager", "sdpa", "flash_attention_2"]
Placement = Literal["worker", "in_process", "remote"]
RemoteApi = Literal["auto", "rewardlab", "vllm"]
ChatTemplate = Literal["auto", "required", "none"]


class ModelParams(BaseModel):
    """``model`` and the runtime settings; reward ``Params`` classes extend this.

    - ``model``: a local directory or a hub id (downloading is the user's business).
    - ``device``: ``auto`` (first CUDA device if any, else CPU), ``cpu``, ``cuda``, ``cuda:N``.
    - ``dtype``: ``auto`` is float32 on CPU and bfloat16 (float16 without bf16 support) on CUDA.
    - ``batch_tokens``: token budget of one forward pass (padded length x batch size);
      ``auto`` is 16384 on CUDA and 2048 on CPU (see :func:`rewardlab.models.batching.budget`).
    - ``batch_overhead_tokens``: what one more forward pass costs, in padded tokens; the
      length buckets minimise padded tokens + this x passes. ``auto`` is 128 on CPU
      (measured) and ``batch_tokens`` on CUDA (as few passes as the budget allows).
    - ``max_length``: longer inputs keep their last ``max_length`` tokens (the completion
      is kept, the prompt is cut from the left); ``detail.truncated`` says so.
    - ``placement``: ``worker`` (default) runs the model in a dedicated process owned by the
      engine, so a trainer never loads a second model into its own process by accident;
      ``in_process`` loads it in the caller's process; ``remote`` asks the rewardlab server
      at ``endpoint`` (``rewardlab serve`` with this reward), taking its
      ``remote_component`` (default: its only component), or vLLM's OpenAI-compatible
      server serving a reward model (``model.rm``; ``remote_model``, default: the only
      model it serves); ``remote_api`` says which, else it is detected at start. When
      ``model`` is a local directory, the first batch's first ``drift_samples`` scored
      inputs are also scored by that local copy (in a worker process) and the drift is
      reported in every score's ``detail.remote.drift``, logged as a warning above
      ``max_drift``, and turns the rows to ``error`` with ``drift_action = "error"``.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    model: str = Field(min_length=1)
    revision: str | None = None
    device: Device = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    dtype: DType = "auto"
    attn_implementation: Attention = "auto"
    batch_tokens: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    batch_overhead_tokens: Annotated[int, Field(ge=0)] | Literal["auto"] = "auto"
    max_batch_size: int = Field(256, ge=1)
    max_length: int = Field(4096, ge=2)
    placement: Placement = "worker"
    trust_remote_code: bool = False
    endpoint: str | None = Field(None, pattern=r"^https?://")
    remote_component: str | None = None
    remote_timeout: float = Field(300.0, gt=0)
    remote_api: RemoteApi = "auto"
    remote_model: str | None = None
    remote_concurrency: int = Field(16, ge=1)
    remote_retries: int = Field(2, ge=0)
    api_key_env: str | None = None  # the variable holding the endpoint's key (`vllm serve --api-key`)
    drift_samples: int = Field(4, ge=0)
    max_drift: float = Field(1e-3, ge=0)
    drift_action: Literal["warn", "error"] = "warn"

    @model_validator(mode="after")
    def _remote(self) -> ModelParams:
        if (self.placement == "remote") != (self.endpoint is not None):
            raise ValueError("placement = 'remote' and endpoint = 'http(s)://…' go together")
        return self

"""Load a model and its tokenizer once per process; resolve device and dtype; name the model.

Models are cached per process by (kind, path, revision, device, dtype, attention), so
every reward naming the same model shares one copy. The kind check reads
``config.json`` only (no weights, no torch import), so a reward can refuse a causal
LM given where a sequence classifier is expected at construction time, in the
trainer's process, without loading anything there.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rewardlab.errors import RewardlabError, SpecError
from rewardlab.models.params import ModelParams

Kind = Literal["sequence_classification", "causal_lm", "token_classification", "encoder"]

# The architecture-name suffix (transformers' convention) each kind expects.
_SUFFIX: dict[Kind, str] = {
    "sequence_classification": "ForSequenceClassification",
    "causal_lm": "ForCausalLM",
    "token_classification": "ForTokenClassification",
    "encoder": "",  # any model: its base (AutoModel) gives the hidden states
}


class ModelError(RewardlabError, RuntimeError):
    """A model that cannot be used as asked: missing, of the wrong kind, lacking a pad token…"""


@dataclass
class LoadedModel:
    """A model ready for inference, its tokenizer and its identity for ``detail``."""

    model: Any
    tokenizer: Any
    device: Any
    identity: dict[str, Any] = field(default_factory=dict)
    causal: bool = False  # every attention layer is causal: right pads need no mask


def is_causal(model: Any) -> bool:
    """Whether all of the model's attention modules declare ``is_causal = True``.

    transformers' decoder-only attention modules (Llama, Qwen2, Mistral…) set it;
    bidirectional encoders (BERT, DeBERTa reward models) set it False or lack it, and
    keep their attention mask.
    """
    flags = [m.is_causal for m in model.modules() if isinstance(getattr(m, "is_causal", None), bool)]
    return bool(flags) and all(flags)


def looks_local(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or Path(name).expanduser().exists()


def check_model_dir(params: ModelParams, kind: Kind) -> None:
    """Refuse a missing local directory or one whose config names another kind of model.

    Hub ids are checked when loaded. Raises :class:`SpecError` naming the path and what
    was expected.
    """
    name = params.model
    if not looks_local(name):
        return
    path = Path(name).expanduser()
    if not path.is_dir():
        raise SpecError(f"model {name!r}: no such directory (expected a saved transformers model "
                        "directory with config.json, or a hub id)")
    config = path / "config.json"
    if not config.is_file():
        raise SpecError(f"model {name!r}: no config.json in this directory (expected a model saved "
                        "with save_pretrained)")
    architectures = json.loads(config.read_text()).get("architectures") or []
    if architectures and not any(a.endswith(_SUFFIX[kind]) for a in architectures):
        raise SpecError(
            f"model {name!r} is a {', '.join(architectures)}; this reward needs a *{_SUFFIX[kind]} "
            f"model ({kind.replace('_', ' ')})"
        )


def resolve_device(device: str) -> Any:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but torch sees no CUDA device")
    return torch.device(device)


def resolve_dtype(dtype: str, device: Any) -> Any:
    import torch

    if dtype == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, dtype)


_AUTO_CLASS: dict[Kind, str] = {
    "sequence_classification": "AutoModelForSequenceClassification",
    "causal_lm": "AutoModelForCausalLM",
    "token_classification": "AutoModelForTokenClassification",
    "encoder": "AutoModel",
}

_cache: dict[tuple[Any, ...], LoadedModel] = {}
_lock = threading.Lock()


def load_model(params: ModelParams, kind: Kind) -> LoadedModel:
    """The model named by ``params`` as ``kind``, loaded once per process (thread-safe)."""
    key = (kind, params.model, params.revision, params.device, params.dtype,
           params.attn_implementation, params.trust_remote_code)
    with _lock:
        if key not in _cache:
            _cache[key] = _load(params, kind)
        return _cache[key]


def _load(params: ModelParams, kind: Kind) -> LoadedModel:
    import transformers

    check_model_dir(params, kind)
    device = resolve_device(params.device)
    kwargs: dict[str, Any] = {"revision": params.revision, "trust_remote_code": params.trust_remote_code,
                              "dtype": resolve_dtype(params.dtype, device)}
    if params.attn_implementation != "auto":
        kwargs["attn_implementation"] = params.attn_implementation
    try:
        config = transformers.AutoConfig.from_pretrained(
            params.model, revision=params.revision, trust_remote_code=params.trust_remote_code)
        archs = getattr(config, "architectures", None) or []
        if archs and not any(a.endswith(_SUFFIX[kind]) for a in archs):
            raise ModelError(f"model {params.model!r} is a {', '.join(archs)}; this reward needs a "
                             f"*{_SUFFIX[kind]} model ({kind.replace('_', ' ')})")
        auto = getattr(transformers, _AUTO_CLASS[kind])
        model = auto.from_pretrained(params.model, **kwargs)
        tokenizer = _tokenizer(transformers, params, kind)
    except ModelError:
        raise
    except Exception as exc:  # missing files, corrupt weights, unknown architectures…
        raise ModelError(f"model {params.model!r} could not be loaded as a {kind.replace('_', ' ')} "
                         f"model: {type(exc).__name__}: {exc}") from exc
    model.to(device).eval()
    identity = {"model": params.model,
                "revision": params.revision or getattr(config, "_commit_hash", None),
                "chat_template": template_hash(tokenizer)}  # fixed once loaded: hashed once, not per batch
    return LoadedModel(model, tokenizer, device, identity, is_causal(model))


def _tokenizer(transformers: Any, params: ModelParams, kind: Kind) -> Any:
    """The model's tokenizer; an image-only encoder (DINO) has none, and gets None."""
    try:
        return transformers.AutoTokenizer.from_pretrained(
            params.model, revision=params.revision, trust_remote_code=params.trust_remote_code)
    except (OSError, ValueError, KeyError):
        if kind != "encoder":
            raise
        return None  # the rewards that need one say so (model.similarity's _check_model)


def template_hash(tokenizer: Any) -> str | None:
    """Short hash of the tokenizer's chat template (None without one), for ``detail``.

    Recorded in every score so a changed template cannot silently change rewards.
    """
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return None
    text = template if isinstance(template, str) else json.dumps(template, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def clear_cache() -> None:
    """Forget every loaded model of this process (tests; freeing memory)."""
    with _lock:
        _cache.clear()

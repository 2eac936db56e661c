"""``model.similarity``: cosine similarity under a frozen encoder (text–text, image–text, image–image)."""

from __future__ import annotations

import base64
import functools
import io
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from rewardlab.core import Sample, Score, Status
from rewardlab.models.batching import as_tensors
from rewardlab.models.inputs import text_ids
from rewardlab.models.loading import LoadedModel, ModelError
from rewardlab.models.params import ModelParams
from rewardlab.models.reward import Encoded, ModelReward
from rewardlab.registry import register

Modality = Literal["text", "image_text", "image_image"]
ImagePooling = Literal["auto", "cls", "mean"]


class SimilarityParams(ModelParams):
    modality: Modality = "text"
    image_key: str = Field("image", description="meta key of the candidate's image (path or base64)")
    baseline: str | None = Field(None, description="VLM-RM baseline prompt (image_text)")
    alpha: float = Field(1.0, ge=0.0, le=1.0, description="VLM-RM projection strength")
    negative: str | None = Field(None, description="contrasting negative goal (image_text)")
    negative_weight: float = Field(1.0, ge=0.0)
    image_pooling: ImagePooling = Field("auto", description="image embedding of an encoder without "
                                        "get_image_features (DINO): its CLS token, or its patch tokens' mean")

    @model_validator(mode="after")
    def _check(self) -> SimilarityParams:
        if self.modality != "image_text" and (self.baseline is not None or self.negative is not None):
            raise ValueError("baseline and negative are goal prompts: they need modality = 'image_text'")
        return self


class ImageError(ValueError):
    """An image reference that is neither a readable file nor base64 image data."""


def open_image(ref: Any) -> Any:
    """A PIL RGB image from a path, a ``data:image/...;base64,`` URI or bare base64 text."""
    from PIL import Image

    if not isinstance(ref, str) or not ref.strip():
        raise ImageError(f"expected an image path or base64 text, got {ref!r:.80}")
    try:
        if ref.startswith("data:"):
            data = base64.b64decode(ref.split(",", 1)[1], validate=True)
        elif len(ref) < 4096 and Path(ref).expanduser().is_file():
            return Image.open(Path(ref).expanduser()).convert("RGB")
        else:
            data = base64.b64decode(ref, validate=True)
        return Image.open(io.BytesIO(data)).convert("RGB")
    except (OSError, ValueError) as exc:
        raise ImageError(f"not a readable image file or base64 image ({exc}): {ref[:80]!r}") from None


@functools.cache
def _image_processor(model: str, revision: str | None) -> Any:
    from transformers import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(model, revision=revision)


def _features(out: Any) -> Any:
    """Projected features from ``get_*_features`` (a tensor, or an output with ``pooler_output``)."""
    return out if hasattr(out, "norm") else out.pooler_output


@register("reward", "model.similarity")
class Similarity(ModelReward):
    """Cosine similarity of embeddings under a frozen encoder, in [-1, 1].

    - ``modality = "text"``: cos(e(y), e(z*)) of the completion y and the reference z*;
      e(t) is the mean of the encoder's last hidden states over t's tokens (special
      tokens included), the Sentence-BERT pooling (Reimers & Gurevych 2019, arXiv
      1908.10084). Any ``AutoModel``; a sentence-embedding model for meaningful values.
    - ``modality = "image_text"`` (CLIP / SigLIP through ``get_image_features`` and
      ``get_text_features``): the candidate's image ``meta[image_key]`` against the goal
      text in ``reference``: cos(x, g). With ``baseline`` b, VLM-RM's goal–baseline
      regularisation (Rocamonde et al. 2023, arXiv 2310.12921, eq. 3):
      R = 1 - 1/2 ||(x - g) P||^2, P = alpha d d^T / ||d||^2 + (1 - alpha) I, d = g - b,
      on unit-norm embeddings (alpha = 0 gives cos(x, g)). With ``negative`` n, the
      contrasting-goal form used by VLM-RL (arXiv 2412.15544):
      R = cos(x, g) - negative_weight cos(x, n) (weighting as stated here; verify).
    - ``modality = "image_image"``: cos of the image embeddings of ``meta[image_key]`` and of
      the reference image (e.g. a goal frame). A model with ``get_image_features``
      (CLIP, SigLIP) gives its projected features; a plain vision encoder through
      ``AutoModel`` (DINO, DINOv2: Oquab et al. 2023, arXiv 2304.07193) its final
      normalised CLS token (``image_pooling = "cls"``, the default there) or the mean of
      its patch tokens, register tokens left out (``"mean"``), as DINOv2's
      ``forward_features`` names them ``x_norm_clstoken`` and ``x_norm_patchtokens``.

    Images are file paths, ``data:image/...;base64,...`` URIs or bare base64 text. A row
    without its image is ``missing``; an unreadable candidate image is ``error``; an
    unreadable reference image is ``invalid_reference``.
    """

    name = "model.similarity"
    kind = "encoder"
    reads = ("completion", "reference", "meta")
    needs_reference = True
    Params = SimilarityParams

    @property
    def rows_per_input(self) -> int:
        return 1 + (self.params.baseline is not None) + (self.params.negative is not None)

    def load(self) -> LoadedModel:
        """The model, checked once per batch against the modality (not again per sample)."""
        loaded = super().load()
        self._check_model(loaded)
        return loaded

    # --- inputs --------------------------------------------------------------------
    def encode(self, loaded: LoadedModel, sample: Sample) -> Encoded | Score:
        ref = sample.reference
        if self.params.modality == "image_image":
            return self._encode_images(sample)
        if isinstance(ref, bool) or not isinstance(ref, (str, int, float)) or not str(ref).strip():
            return Score.unscorable(Status.INVALID_REFERENCE, f"reference must be a non-empty text, got {ref!r:.80}")
        ref_ids = text_ids(loaded.tokenizer, str(ref), special=True)[-self.params.max_length:]
        if self.params.modality == "image_text":
            pixels = self._pixels(sample)
            return pixels if isinstance(pixels, Score) else Encoded(ref_ids, 0, pixels)
        if not sample.completion_text.strip():
            return Score.no_answer(0.0, reason="empty completion")
        enc = self.truncated(text_ids(loaded.tokenizer, sample.completion_text, special=True))
        enc.extra = ref_ids
        return enc

    def _check_model(self, loaded: LoadedModel) -> None:
        """Refuse a model that cannot give what the modality needs, naming what is missing."""
        p, model = self.params, loaded.model
        projected = hasattr(model, "get_image_features")
        if p.modality == "image_text" and not hasattr(model, "get_text_features"):
            raise ModelError(f"model {p.model!r} has no text tower (get_text_features): modality = 'image_text' "
                             "needs an image-text model (CLIP, SigLIP)")
        if p.modality != "image_image" and loaded.tokenizer is None:
            raise ModelError(f"model {p.model!r} has no tokenizer: modality = {p.modality!r} needs one")
        if p.modality == "image_image" and projected and p.image_pooling != "auto":
            raise ModelError(f"model {p.model!r} gives projected image features (get_image_features): "
                             f"leave image_pooling = 'auto' (got {p.image_pooling!r})")

    def _pixels(self, sample: Sample) -> Any:
        key = self.params.image_key
        if sample.meta.get(key) is None:
            return Score.unscorable(Status.MISSING, f"the row has no image in meta[{key!r}]")
        try:
            image = open_image(sample.meta[key])
        except ImageError as exc:
            return Score.unscorable(Status.ERROR, f"meta[{key!r}]: {exc}")
        return self._process([image])

    def _process(self, images: list[Any]) -> Any:
        processor = _image_processor(self.params.model, self.params.revision)
        return processor(images=images, return_tensors="pt")["pixel_values"]

    def _encode_images(self, sample: Sample) -> Encoded | Score:
        pixels = self._pixels(sample)
        if isinstance(pixels, Score):
            return pixels
        try:
            reference = self._process([open_image(sample.reference)])
        except ImageError as exc:
            return Score.unscorable(Status.INVALID_REFERENCE, f"reference image: {exc}")
        return Encoded([], 0, (pixels, reference))

    # --- forward -------------------------------------------------------------------
    def forward(self, loaded: LoadedModel, batch: list[Encoded]) -> list[Score]:
        if self.params.modality == "text":
            vectors = self._mean_pooled(loaded, [e.ids for e in batch] + [e.extra for e in batch])
            return self._cosines(vectors[:len(batch)], vectors[len(batch):])
        if self.params.modality == "image_image":
            x = self._images(loaded, [e.extra[0] for e in batch])
            return self._cosines(x, self._images(loaded, [e.extra[1] for e in batch]))
        return self._goal_scores(loaded, batch)

    def _goal_scores(self, loaded: LoadedModel, batch: list[Encoded]) -> list[Score]:
        tok, n = loaded.tokenizer, len(batch)
        rows = [e.ids for e in batch]
        for prompt in (self.params.baseline, self.params.negative):  # one row each, broadcast over the batch
            if prompt is not None:
                rows.append(text_ids(tok, prompt, special=True))
        texts = self._texts(loaded, rows)
        x, g = self._images(loaded, [e.extra for e in batch]), texts[:n]
        if self.params.baseline is not None:
            d = g - texts[n:n + 1]
            d = d / d.norm(dim=-1, keepdim=True)
            diff = x - g
            along = (diff * d).sum(-1, keepdim=True) * d  # (x - g) projected on the goal direction
            proj = self.params.alpha * along + (1 - self.params.alpha) * diff
            values = 1 - 0.5 * (proj * proj).sum(-1)
        else:
            values = (x * g).sum(-1)
        if self.params.negative is not None:
            values = values - self.params.negative_weight * (x * texts[-1:]).sum(-1)
        return [Score.ok(float(v)) for v in values.cpu().tolist()]

    # --- embeddings ----------------------------------------------------------------
    @staticmethod
    def _unit(v: Any) -> Any:
        import torch

        return torch.nn.functional.normalize(v.float(), dim=-1)

    @staticmethod
    def _cosines(a: Any, b: Any) -> list[Score]:
        return [Score.ok(float(c)) for c in (a * b).sum(-1).clamp(-1.0, 1.0).cpu().tolist()]

    def _mean_pooled(self, loaded: LoadedModel, rows: list[list[int]]) -> Any:
        """Mean over each row's tokens (pads excluded) of the last hidden states, unit norm."""
        import torch

        hidden = loaded.model(**as_tensors(loaded, rows, loaded.tokenizer.pad_token_id or 0)).last_hidden_state
        width = hidden.shape[1]
        mask = torch.tensor([[1.0] * len(r) + [0.0] * (width - len(r)) for r in rows], device=hidden.device)
        return self._unit((hidden.float() * mask[..., None]).sum(1) / mask.sum(1, keepdim=True))

    def _texts(self, loaded: LoadedModel, rows: list[list[int]]) -> Any:
        inputs = as_tensors(loaded, rows, loaded.tokenizer.pad_token_id or 0)
        return self._unit(_features(loaded.model.get_text_features(**inputs)))

    def _images(self, loaded: LoadedModel, pixels: list[Any]) -> Any:
        import torch

        model = loaded.model
        stacked = torch.cat(pixels).to(loaded.device, next(model.parameters()).dtype)
        if hasattr(model, "get_image_features"):
            return self._unit(_features(model.get_image_features(pixel_values=stacked)))
        hidden = model(pixel_values=stacked).last_hidden_state  # (images, 1 + registers + patches, dim)
        if self.params.image_pooling == "mean":
            registers = int(getattr(model.config, "num_register_tokens", 0) or 0)
            return self._unit(hidden[:, 1 + registers:].mean(1))
        return self._unit(hidden[:, 0])

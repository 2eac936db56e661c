"""The one model runtime every model reward uses.

- :mod:`~rewardlab.models.params`: the shared parameters (``model``, ``device``, ``dtype``,
  ``batch_tokens``, ``max_length``, ``placement``…);
- :mod:`~rewardlab.models.loading`: load once per process, device and dtype, errors that
  name the path and what was expected, the model's identity;
- :mod:`~rewardlab.models.inputs`: chat templates, plain text, truncation;
- :mod:`~rewardlab.models.batching`: length buckets under a token budget, OOM splitting;
- :mod:`~rewardlab.models.reward`: the base class tying these together;
- where it runs: :mod:`rewardlab.engine.model_worker` (a dedicated process, the default),
  the caller's process, or a rewardlab server (:mod:`~rewardlab.models.remote`).

Nothing here imports torch or transformers until a model is loaded.
"""

from rewardlab.models.loading import LoadedModel, ModelError, clear_cache, load_model
from rewardlab.models.params import ModelParams
from rewardlab.models.reward import Encoded, ModelReward

__all__ = ["Encoded", "LoadedModel", "ModelError", "ModelParams", "ModelReward", "clear_cache", "load_model"]

"""Memory per chip (formulas.md sec. 4): one import point for the training and serving parts.

* :mod:`.memory_train`: weights (4.1), gradients and optimizer by ZeRO stage (4.2),
  activations per layer (4.3, Korthikanti et al. arXiv 2205.05198 and the modern
  recount), pipeline in-flight micro-batches (4.4, sec. 5), and the total per chip of a
  training plan on its worst pipeline stage.
* :mod:`.memory_serve`: KV cache per token (2.4, 4.5); weights, KV per sequence and the
  decode batch bound of a serving plan are in :mod:`superpod.serving.memory`.

All functions take numpy arrays for every plan field and broadcast; results are bytes.
"""

from superpod.cost.memory_serve import (
    kv_bytes_per_token,
    kv_bytes_per_token_per_layer,
)
from superpod.cost.memory_train import (
    PARTS,
    activation_bytes_per_layer,
    inflight_microbatches,
    training_memory,
    training_state_bytes,
    weight_bytes_per_chip,
)

__all__ = [
    "PARTS",
    "activation_bytes_per_layer",
    "inflight_microbatches",
    "kv_bytes_per_token",
    "kv_bytes_per_token_per_layer",
    "training_memory",
    "training_state_bytes",
    "weight_bytes_per_chip",
]

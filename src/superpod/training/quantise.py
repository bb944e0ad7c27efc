"""Quantisation passes of the low-precision training recipes, per layer per micro-batch.

Under FP8, MXFP8 and NVFP4 recipes every linear layer's GEMM inputs are quantised before the
GEMM (Transformer Engine, torchao float8): the forward quantises each GEMM's input activation,
the backward each output gradient, and both are written row-wise (fprop/dgrad) and column-wise
(wgrad) (the DeepSeek-V3-on-GB200 guide, training.md 7.2: "the fprop/wgrad/dgrad inputs of all
linear layers in the model are quantized at a 1x32 granularity"; router, attention core,
embedding and head stay in high precision). Each pass reads the BF16 tensor and writes the two
quantised copies and their scales, memory-bound (:func:`superpod.cost.compute.stream_s`):

* ``fp8`` (per-tensor current scaling): an amax pass (read 2 B) and a cast-transpose (read 2 B,
  write 1 + 1 B): 6 B per element;
* ``mxfp8``: read 2 B, write 1 + 1 B and an E8M0 scale per 32 elements per copy: 4.0625 B;
* ``fp4`` (NVFP4): read 2 B, write 0.5 + 0.5 B and an FP8 scale per 16 elements per copy: 3.125 B.

Weights are not re-quantised per micro-batch (FP8 primary weights, ``--fp8-param-gather``); the
byte counts are superpod's (confidence U).
"""

from __future__ import annotations

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.compute import stream_s
from superpod.cost.hardware import Hardware
from superpod.cost.layers import gemms
from superpod.spec.model import Model

#: bytes moved per quantised element, by recipe (module docstring)
PASS_BYTES = {"bf16": 0.0, "fp8": 6.0, "mxfp8": 2.0 + 2.0 + 2.0 / 32.0, "fp4": 2.0 + 1.0 + 2.0 / 16.0}


def quantised_elements(model: Model, moe_layer: bool, tokens, tp, etp=1.0) -> np.ndarray:
    """Elements one chip quantises in one layer for ``tokens`` tokens (forward inputs + backward
    output gradients of every linear GEMM except the router)."""
    T, t, e = floats(tokens), floats(tp), floats(etp)
    moe_tokens = T / t
    total = 0.0
    for g in gemms(model, moe_layer):
        if g.name == "router":
            continue
        k = g.k / t if g.shard == "row" else g.k + 0 * t
        n = g.n / t if g.shard == "col" else g.n + 0 * t
        rows = moe_tokens if g.name.startswith("shared") else T
        total = total + rows * (k + n)
    if moe_layer:
        m = model.moe
        mats = 2 if model.activation == "swiglu" else 1
        f = m.expert_ffn / e
        rows = moe_tokens * m.top_k * e  # rows this chip's experts run
        total = total + rows * ((model.hidden + mats * f) + (f + model.hidden))
    return total


def quantise_s(model: Model, moe_layer: bool, tokens, tp, hw: Hardware, recipe: str, etp=1.0) -> np.ndarray:
    """Seconds of one layer's quantisation passes for one micro-batch, forward and backward."""
    qb = PASS_BYTES[recipe]
    if qb == 0.0:
        return 0.0 * floats(tokens)
    return stream_s(quantised_elements(model, moe_layer, tokens, tp, etp) * qb, hw)

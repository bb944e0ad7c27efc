"""Activation offloading to host memory (Megatron-Core's activation offloading; the DeepSeek-V3-on-GB200
article's future work, sec. 3.1: "NVLink-C2C ... faster than PCIe 5.0, so offloading is a very promising
feature").

The activations a layer saves for its backward are copied to host memory during the forward (device to
host) and back before its backward (host to device) on the copy engines, over the chip's link to host
memory (``[host_memory]`` of the system: NVLink-C2C on GB200, PCIe on HGX; per direction, the lesser of
the link and the chip's share of the node's DRAM bandwidth). HBM keeps :data:`KEEP_LAYERS` layers'
activations of the micro-batch in flight (:func:`superpod.cost.memory_train.training_memory`). The copies
overlap the compute of the same pass; what outlasts it is exposed: per micro-batch on the slowest stage
``max(0, bytes / link - forward) + max(0, bytes / link - backward)``. Refused where the system has no host
memory in the catalog; a plan whose offloaded activations exceed the host DRAM share a chip may use
(``cache_share`` of the node's DRAM over its chips) is infeasible.
"""

from __future__ import annotations

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.memory_train import activation_bytes_per_layer
from superpod.spec.model import Model

#: layers of one micro-batch whose activations stay in HBM: the one being computed and the one in transfer
KEEP_LAYERS = 2.0


def offload_s(model: Model, plan, seq_len, dense_layers, moe_layers, fwd_s, bwd_s, link_Bps: float,
              modules=None) -> dict[str, np.ndarray]:
    """Exposed copy time of one micro-batch on one stage: ``fwd_s`` (device to host), ``bwd_s`` (host to
    device) and ``bytes`` (the stage's activations of one micro-batch)."""
    args = (model, seq_len, floats(plan.micro_batch), floats(plan.tp), plan.sp, floats(plan.cp), plan.recompute)
    total = floats(dense_layers) * activation_bytes_per_layer(*args, moe_layer=False, modules=modules)
    if model.moe is not None:
        total = total + floats(moe_layers) * activation_bytes_per_layer(*args, moe_layer=True, modules=modules)
    copy = total / link_Bps
    return {"fwd_s": np.maximum(copy - fwd_s, 0.0), "bwd_s": np.maximum(copy - bwd_s, 0.0), "bytes": total}

"""The host-bound regime of an eager training stack: a step cannot run faster than its kernel launches.

Without CUDA graphs the host (Python, PyTorch's dispatcher, the CUDA launch) issues every kernel of
every layer for every micro-batch; when the GPU runs those kernels faster than the host issues them,
the GPU waits ("the CPU kernel launch speed cannot keep up with the kernel execution speed on GPU":
Megatron-Core's DeepSeek-V3-on-GB200 baseline, training.md 7.2; FP8 recipes and fine-grained MoE
layers add many small quantisation and router kernels). Priced per layer per micro-batch:

* host time = eager operations x the host cost of one operation (``op_s``: the framework's, else the
  chip's eager-op cost from the kernel tables, :func:`superpod.training.dispatch.host_op_s`);
* the operations, counted from the layer's structure with the framework's counts
  (``host_ops`` in ``calibration/frameworks/training.toml``): per linear layer (its GEMM, forward;
  data- and weight-gradient GEMMs, backward), more per linear under a quantised recipe (the
  quantisation's buffer allocations, the quantise kernel, the scale swizzles), the router, the
  dispatcher's preprocess and permutations, and the layer's other kernels (norms, RoPE, attention
  core, residuals); each routed expert on this rank runs its own linears (the multi-stream cuBLAS
  grouped GEMM);
* the forward of an MoE layer synchronises the host with the device to learn the tokens per expert
  (the all-to-all splits, DeepEP's receive counts): the GPU's queue drains there, so the forward is two
  segments, before and after the synchronisation, each lasting ``max(host, GPU)``; the backward is one
  segment (the splits are known) and the recomputation runs in it.

What the step pays is the time the GPU waits: ``sum max(host, GPU) - GPU`` (never negative, and
``step >= the host's launch time``). A stack with CUDA graphs declares no ``host_ops`` and pays nothing.
"""

from __future__ import annotations

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.layers import gemms
from superpod.spec.model import Model


def linears(model: Model, moe_layer: bool, ep, etp) -> tuple[np.ndarray, np.ndarray]:
    """Linear layers one rank runs in one layer: (before the MoE synchronisation, after it).

    Dense layers run all theirs before (no synchronisation); an MoE layer runs its attention
    projections and router before, its shared experts and ``2 x local experts`` expert linears after
    (gate/up fused, down)."""
    names = [g.name for g in gemms(model, moe_layer) if g.name != "router"]
    if not moe_layer:
        return float(len(names)) + 0.0 * floats(ep), 0.0 * floats(ep)
    shared = sum(1 for n in names if n.startswith("shared"))
    local = np.maximum(model.moe.experts / (floats(ep) * floats(etp)), 1.0) * floats(etp)
    return float(len(names) - shared) + 0.0 * local, shared + 2.0 * local


def host_wait_s(ops, op_s: float, pre_gpu_s, post_gpu_s, bwd_gpu_s, model: Model, moe_layer: bool, ep, etp,
                quantised, dispatcher: str, recompute_linears) -> dict[str, np.ndarray]:
    """Per layer per micro-batch: the host's launch time and the GPU's wait for it (module docstring).

    ``ops``: the framework's counts (:class:`superpod.training.framework.HostOps`); ``*_gpu_s``: the
    GPU's time of the forward before / after the synchronisation and of the backward (recompute
    included); ``quantised``: bool array, a quantised GEMM recipe; ``recompute_linears``: linears the
    backward runs again (their forward ops are launched again). Returns ``host_s`` (launch time),
    ``fwd_wait_s`` and ``bwd_wait_s`` (what the step pays beyond the GPU's time, forward and backward)."""
    pre_l, post_l = linears(model, moe_layer, ep, etp)
    q = np.asarray(quantised, dtype=bool)
    lin_f = ops.linear[0] + np.where(q, ops.quantised_linear[0], 0.0)
    lin_b = ops.linear[1] + np.where(q, ops.quantised_linear[1], 0.0)
    pre_h = pre_l * lin_f + ops.layer[0]
    post_h = post_l * lin_f
    bwd_h = (pre_l + post_l) * lin_b + ops.layer[1] + floats(recompute_linears) * lin_f
    if moe_layer:
        disp = ops.dispatcher[dispatcher]
        pre_h = pre_h + ops.router[0] + disp[0]  # the preprocess (token counts) precedes the synchronisation
        post_h = post_h + disp[1]
        bwd_h = bwd_h + ops.router[1] + disp[2]
        # max(host, GPU) per segment, less the GPU's own time
        fwd_wait = np.maximum(pre_h * op_s - pre_gpu_s, 0.0) + np.maximum(post_h * op_s - post_gpu_s, 0.0)
    else:
        fwd_wait = np.maximum((pre_h + post_h) * op_s - (pre_gpu_s + post_gpu_s), 0.0)
    bwd_wait = np.maximum(bwd_h * op_s - bwd_gpu_s, 0.0)
    return {"host_s": (pre_h + post_h + bwd_h) * op_s, "fwd_wait_s": fwd_wait, "bwd_wait_s": bwd_wait}

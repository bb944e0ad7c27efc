"""The host-bound regime of an eager training stack: a step cannot run faster than its kernel launches.

Without CUDA graphs the host (Python, PyTorch's dispatcher, the CUDA launch) issues every kernel of
every layer for every micro-batch; when the GPU runs those kernels faster than the host issues them,
the GPU waits ("the CPU kernel launch speed cannot keep up with the kernel execution speed on GPU":
Megatron-Core's DeepSeek-V3-on-GB200 baseline, training.md 7.2; FP8 recipes and fine-grained MoE
layers add many small quantisation and router kernels). Priced per layer per micro-batch:

* host time = eager operations x the host cost of one operation: a call into a CUDA extension
  (Transformer Engine's GEMM and quantise calls, a graph replay; ``op_s``: the framework's, else
  ``op_tables_ratio`` x the chip's eager-op cost from the kernel tables,
  :func:`superpod.training.dispatch.host_op_s`; Megatron-Core's ratio is a calibration, fitted on the
  MC-DSV3-GB200 baseline row: benchmarks/train_dsv3_gb200_ablation.py --fit) or a plain PyTorch
  operation (``aten_op_s``: the buffer allocations, the router's element-wise kernels, the layer's
  other kernels, the dispatcher's preprocess and permutes);
* the operations, counted from the layer's structure with the framework's counts
  (``host_ops`` in ``calibration/frameworks/training.toml``): per linear layer (its GEMM, forward;
  data- and weight-gradient GEMMs, backward), more per linear under a quantised recipe (the
  quantisation's buffer allocations, the quantise kernel, the scale swizzles), the router, the
  dispatcher's preprocess and permutations, and the layer's other kernels (norms, RoPE, attention
  core, residuals); each routed expert on this rank runs its own linears (the multi-stream cuBLAS
  grouped GEMM);
* partial CUDA graphs (Megatron-Core ``--cuda-graph-scope``, ``host_ops.graph_scope``; the article's
  sec. 2.3): a captured part (``attn``: the attention projections and the layer's other kernels;
  ``mlp``: a dense layer's MLP; ``moe_router``: the router; ``moe_preprocess``: the dispatcher's
  preprocess, with the router; ``shared_experts``: the shared experts, with the router) is replayed by
  one graph launch per pass instead of its eager operations; the routed experts stay eager (their
  shapes are dynamic).

The host issues launches ahead of the GPU (the launch queue holds them), so within a stretch of work
the time is at least ``max(host, GPU)``, never their sum; only a host-device synchronisation drains the
queue. Over a stretch's parts in issue order the GPU finishes part ``j`` at ``F_j = max(F_{j-1} + G_j,
S_j + max(H_j, G_j))`` (:func:`stretch_s`): GPU work issued before a host-heavy part hides it, GPU work
issued after it waits for it.
The forward of an MoE layer has one (the tokens per expert: the all-to-all splits, DeepEP's receive
counts); the backward and the dense layers have none. On a pipeline stage whose chunks (virtual
stages) each hold ``n`` MoE layers, the 1F1B steady state alternates one chunk's forward with another
chunk's backward, so between consecutive synchronisations the host and GPU share either ``after-sync
part of layer i + before-sync part of layer i+1`` (``n - 1`` such stretches per chunk) or ``the last
layer's after-sync part + the whole backward of a chunk + the next chunk's first before-sync part``
(one). A model without MoE layers has no synchronisation: one stretch per micro-batch.

What the step pays is the time the GPU waits: ``sum stretch - GPU`` over the stretches (never
negative, and ``step >= the host's launch time`` of the stage). A stack with CUDA graphs over the whole
model declares no ``host_ops`` and pays nothing.
"""

from __future__ import annotations

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.layers import gemms
from superpod.errors import InvalidOptionError
from superpod.spec.model import Model

#: Megatron-Core's --cuda-graph-scope parts superpod prices (``shared_experts``: the router's graph also holds
#: the shared experts, Megatron-Core's moe_router without --moe-shared-expert-overlap)
GRAPH_SCOPES = ("attn", "mlp", "moe_router", "moe_preprocess", "shared_experts")


def parse_graph_scope(spec, model: Model) -> tuple[str, ...]:
    """``"attn moe_router moe_preprocess"`` (spaces or commas) or a list: Megatron-Core's ``--cuda-graph-scope``,
    checked (``moe_preprocess`` and ``shared_experts`` ride in the router's graph; the MoE parts need experts)."""
    names = spec.replace(",", " ").split() if isinstance(spec, str) else list(spec)
    for n in names:
        if n not in GRAPH_SCOPES:
            raise InvalidOptionError(f"--cuda-graph-scope: unknown part {n!r}; superpod prices {', '.join(GRAPH_SCOPES)}")
        if n in ("moe_router", "moe_preprocess", "shared_experts") and model.moe is None:
            raise InvalidOptionError(f"--cuda-graph-scope {n} needs an MoE model: {model.name} is dense")
    for n in ("moe_preprocess", "shared_experts"):
        if n in names and "moe_router" not in names:
            raise InvalidOptionError(f"--cuda-graph-scope {n} is captured with the router: add moe_router")
    return tuple(dict.fromkeys(names))


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


def layer_host_s(ops, op_s: float, aten_s: float, model: Model, moe_layer: bool, ep, etp, quantised, dispatcher: str,
                 recompute_linears) -> dict[str, np.ndarray]:
    """Host seconds of one layer for one micro-batch, with the framework's CUDA-graph scopes replayed as one
    launch each: ``pre`` (forward before the MoE synchronisation: the attention part, a dense layer's MLP),
    ``router`` (the router and the dispatcher's preprocess, just before it), ``post`` (after it: the
    experts) and ``bwd``. ``op_s``: one call into a CUDA extension (a linear's GEMM, quantise and swizzle
    calls; a graph replay); ``aten_s``: one plain PyTorch operation (the buffers, the router's kernels, the
    layer's other kernels, the dispatcher's)."""
    scope = set(getattr(ops, "graph_scope", ()) or ())
    names = [g.name for g in gemms(model, moe_layer) if g.name != "router"]
    n_mlp = float(sum(1 for n in names if n.startswith("mlp")))
    n_shared = float(sum(1 for n in names if n.startswith("shared")))
    n_attn = float(len(names)) - n_mlp - n_shared
    q = np.asarray(quantised, dtype=bool)
    alloc = getattr(ops, "quantised_aten", (0.0, 0.0))
    lin_f = (ops.linear[0] + np.where(q, ops.quantised_linear[0], 0.0)) * op_s + np.where(q, alloc[0], 0.0) * aten_s
    lin_b = (ops.linear[1] + np.where(q, ops.quantised_linear[1], 0.0)) * op_s + np.where(q, alloc[1], 0.0) * aten_s

    def part(n_lin, extra_f, extra_b, captured):
        """(forward, backward) host seconds of a part: one graph launch each when captured."""
        if captured:
            return op_s + 0.0 * lin_f, op_s + 0.0 * lin_b
        return n_lin * lin_f + extra_f * aten_s, n_lin * lin_b + extra_b * aten_s

    attn_f, attn_b = part(n_attn, ops.layer[0], ops.layer[1], "attn" in scope)
    pre, bwd = attn_f, attn_b + floats(recompute_linears) * lin_f
    post = 0.0 * lin_f
    if not moe_layer:
        mlp_f, mlp_b = part(n_mlp, 0.0, 0.0, "mlp" in scope)
        return {"pre": pre + mlp_f, "router": post, "post": post, "bwd": bwd + mlp_b}
    disp = ops.dispatcher[dispatcher]
    router = "moe_router" in scope
    r_f, r_b = part(0.0, ops.router[0], ops.router[1], router)
    bwd = bwd + r_b
    r_f = r_f + (0.0 if router and "moe_preprocess" in scope else disp[0] * aten_s)  # the preprocess precedes the sync
    if not (router and "shared_experts" in scope):  # else replayed inside the router's graph
        post, bwd = post + n_shared * lin_f, bwd + n_shared * lin_b
    local = np.maximum(model.moe.experts / (floats(ep) * floats(etp)), 1.0) * floats(etp)
    post = post + 2.0 * local * lin_f + disp[1] * aten_s
    bwd = bwd + 2.0 * local * lin_b + disp[2] * aten_s
    return {"pre": pre, "router": r_f, "post": post, "bwd": bwd}


def stretch_s(parts) -> np.ndarray:
    """Time of one stretch between synchronisations: ``parts`` in issue order, each ``(host_s, gpu_s)``
    spread evenly over its kernels. The GPU finishes part ``j`` at ``F_j = max(F_{j-1} + G_j, S_j + max(H_j,
    G_j))`` with ``S_j`` the host's time when it starts issuing part ``j`` (the queue empty at the start):
    the GPU runs behind the host, never ahead of it, and the host never waits for the GPU."""
    done = issued = 0.0
    for h, g in parts:
        done = np.maximum(done + g, issued + np.maximum(h, g))
        issued = issued + h
    return done


def stage_wait_s(dense: dict | None, moe: dict | None, dense_layers, moe_layers, vpp) -> dict[str, np.ndarray]:
    """The GPU's wait for the host on one pipeline stage for one micro-batch (module docstring).

    ``dense`` / ``moe``: per layer, the host's seconds (:func:`layer_host_s`) and the GPU's seconds of the
    same parts (``pre_s``, ``router_s``, ``post_s``, ``bwd_s``); ``dense_layers`` / ``moe_layers``: the
    stage's layers of each kind; ``vpp``: its chunks. Returns ``fwd_s`` and ``bwd_s`` (the wait, attributed
    to the forward and backward in proportion to the host work of its stretch) and ``host_s`` (the stage's
    launch time)."""
    z = 0.0 * floats(vpp)
    Ld, Lm, v = floats(dense_layers), floats(moe_layers), np.maximum(floats(vpp), 1.0)

    def hg(p, key, n=1.0):
        return (n * p[key], n * p[key + "_s"]) if p is not None else (z, z)

    dA, dB = hg(dense, "pre"), hg(dense, "bwd")
    if moe is None:  # no synchronisation: the host runs ahead over the whole micro-batch
        parts = [hg(dense, "pre", Ld), hg(dense, "bwd", Ld)]
        host = parts[0][0] + parts[1][0]
        wait = np.maximum(stretch_s(parts) - parts[0][1] - parts[1][1], 0.0)
        share = parts[0][0] / np.maximum(host, 1e-30)
        return {"fwd_s": wait * share, "bwd_s": wait * (1.0 - share), "host_s": host}
    A, R, E, B = (hg(moe, k) for k in ("pre", "router", "post", "bwd"))
    host = Ld * (dA[0] + dB[0]) + Lm * (A[0] + R[0] + E[0] + B[0])
    n_m, n_d = Lm / v, Ld / v  # per chunk
    inner = np.maximum(n_m - 1.0, 0.0)  # forward-only stretches per chunk: the experts of layer i, layer i+1 to its sync
    fwd_parts = [E, A, R]
    w_inner = np.maximum(stretch_s(fwd_parts) - sum(g for _, g in fwd_parts), 0.0)
    lead = np.minimum(n_m, 1.0)
    scale = lambda p, n: (n * p[0], n * p[1])  # noqa: E731
    # the chunk's last experts, the backward of another chunk, the next chunk's layers up to its first sync
    bwd = (n_m * B[0] + n_d * dB[0], n_m * B[1] + n_d * dB[1])
    mixed = [scale(E, lead), bwd, scale(dA, n_d), scale(A, lead), scale(R, lead)]
    w_mixed = np.maximum(stretch_s(mixed) - sum(g for _, g in mixed), 0.0)
    mixed_h = sum(h for h, _ in mixed)
    share = (mixed_h - bwd[0]) / np.maximum(mixed_h, 1e-30)
    return {"fwd_s": v * (inner * w_inner + share * w_mixed), "bwd_s": v * (1.0 - share) * w_mixed, "host_s": host}

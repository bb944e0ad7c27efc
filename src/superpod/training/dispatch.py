"""MoE token dispatchers of Megatron-Core training, per MoE layer per micro-batch (training.md 7.2).

``--dispatcher`` names the backend as Megatron-Core does (``--moe-token-dispatcher-type``):

* ``deepep`` (``flex`` with the DeepEP backend): the deduplicated DeepEP normal kernels with the
  global permutation fused into the communication (:func:`superpod.training.mechanisms.ep_alltoall_s`).
* ``hybridep`` (``flex`` with the HybridEP backend, the article's sec. 2.5): DeepEP's function
  "fully adapted to the NVL72 architecture" (TMA copies, no redundant traffic), priced as the
  deduplicated normal kernels at the fabric's calibrated rate without DeepEP's measured MNNVL floor
  below; its D2D copy out of the registered buffer is fused into the permute (not priced apart).
* ``alltoall`` (NCCL backend, ``MoEAlltoAllTokenDispatcher``), as the code runs it:

  - a host-device synchronisation per MoE layer in the forward pass: the tokens per expert
    are copied to the host to size the all-to-all splits, so the GPU's queue drains and the
    kernels up to the all-to-all (split bookkeeping, the permutation, the NCCL launch:
    :data:`SYNC_OPS` eager operations) are launched while it waits, each at the host cost
    of one eager PyTorch operation on that GPU (the eager-mode launch cost the kernel tables
    measure, ``custom_allreduce_perf`` eager vs CUDA graph, ``calibration/silicon/comm_perf.toml``);
  - an explicit global permutation before the dispatch (read ``T`` token rows, write
    ``T x top_k`` copies, one per token-expert pair) and the matching global un-permutation
    after the combine (read the ``T x top_k`` copies, write ``T`` rows), BF16, forward and
    backward (the local permute by expert that every dispatcher runs is :func:`local_permute_s`);
  - four NCCL all-to-alls (dispatch and combine, their gradients backward) of the
    ``T x top_k`` BF16 copies (no deduplication per rank; MXFP8 dispatch is not supported by
    that stack, so tokens travel in BF16), priced at the measured NCCL all-to-all fit of the
    chip's kernel tables (``nccl_perf``; groups above the tables' size take the largest fit)
    when the EP group sits in one NVLink domain, else on the fabric tiers (:mod:`superpod.cost.comm`).

  The transfers are never shorter than DeepEP's for the same tokens (a floor: NCCL moves a copy
  per token-expert pair where DeepEP moves one per token-rank pair, over the same links).
  Overlapped only under DualPipe, like DeepEP, with the same SMs taken from compute.

DeepEP's normal kernels across a multi-node NVLink domain (an EP group of more than 8 GPUs inside
one NVL72) run far below the links' rate: Megatron-Core measured about 400 GB/s dispatch and 190 GB/s
combine algorithm bandwidth at EP32 on GB200 (training.md 7.2, the article's sec. 2.2.1; "after
switching to DeepEP, we did not get the communication benefits", so the NCCL backend is no faster).
:func:`deepep_mnnvl_s` prices the four transfers at those rates over the BF16 rows each rank
receives (one per token and destination rank, :func:`ranks_per_token`; Megatron-Core dispatches in
BF16: "EP Dispatch" of MXFP8 data is "not yet supported", sec. 2.1.3); it is a floor under both
dispatchers' transfers there.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from superpod.cost.arrays import floats
from superpod.cost.comm import collective_s
from superpod.cost.compute import stream_s
from superpod.cost.hardware import BYTES, Hardware
from superpod.cost.kernel_costs import LEVELS, resolve
from superpod.cost.kernels.collectives import nccl_s
from superpod.errors import InvalidOptionError, SuperpodError
from superpod.spec.calibration import silicon_params, training_algorithms
from superpod.spec.catalog import load_chip

DISPATCHERS = ("deepep", "alltoall", "hybridep")
#: eager operations the host launches between the token-count synchronisation and the all-to-all
#: (input/output split lists, the permutation, the NCCL call): a count from Megatron-Core's
#: MoEAlltoAllTokenDispatcher (token_dispatcher.py), confidence U
SYNC_OPS = 3.0
#: the kernel-table entries read here (NCCL is the same library under every framework)
_CHOICE = {"tables": "NCCL", "moe_tables": "", "sm90": {}, "sm100": {}}
_EAGER = "SGLang_CustomAllReduce_eager"  # an eager PyTorch op measured with and without CUDA graphs
TABLE_MAX = 8


def check_dispatcher(name: str) -> str:
    if name not in DISPATCHERS:
        raise InvalidOptionError(f"--dispatcher must be one of {', '.join(DISPATCHERS)} (Megatron-Core's "
                                 f"--moe-token-dispatcher-type alltoall, or flex with the DeepEP or HybridEP backend), "
                                 f"got {name!r}")
    return name


@lru_cache(maxsize=None)
def _levels(chip_name: str) -> tuple[str, ...]:
    try:
        chip = load_chip(chip_name)
    except SuperpodError:  # a chip given by a path the catalog does not hold: the generic fit
        return ("generic",)
    fam = LEVELS.get(chip.kernel_family or "", (None, None))[1]
    return tuple(x for x in (chip.kernel_tables, fam, "generic") if x)


def host_op_s(chip_name: str) -> float:
    """Host cost of one eager PyTorch operation on ``chip_name``'s host (kernel tables, eager - graph)."""
    node = silicon_params("comm_perf")["custom_allreduce_perf"][_EAGER]["2"]
    for lv in _levels(chip_name):
        if lv in node:
            return float(node[lv]["launch_s"])
    return float(node["generic"]["launch_s"])


def nccl_alltoall_s(send_bytes, ep, stride, hw: Hardware) -> np.ndarray:
    """One NCCL all-to-all of ``send_bytes`` per rank over ``ep`` ranks ``stride`` apart."""
    ep = floats(ep)
    fabric = collective_s("all_to_all", send_bytes, ep, hw, stride)["total_s"]
    try:
        kern = resolve(hw.chip, _CHOICE) if hw.ranks_per_chip == 1 else None
    except SuperpodError:  # a chip from a user's file, known here by name only: the fabric model
        kern = None
    if kern is None:
        return np.where(ep > 1, fabric, 0.0)
    out = fabric
    for n in (2, 4, TABLE_MAX):
        p = kern.comm_params("nccl_perf", "alltoall", str(n))
        if p is None:
            continue
        lo = n // 2 if n > 2 else 1
        sel = (ep > lo) & ((ep <= n) | (n == TABLE_MAX))
        out = np.where(sel & (ep * floats(stride) <= hw.scaleup_domain), nccl_s("alltoall", ep, send_bytes, kern.hw, p), out)
    return np.where(ep > 1, out, 0.0)


ROUTINGS = ("balanced", "random")


def routing_skew(routing: str, rows_per_rank, ep) -> np.ndarray:
    """Load of the busiest EP rank over the mean for one MoE layer (formulas.md 3.3).

    ``balanced``: every rank gets the mean (Megatron-Core's ``--moe-router-force-load-balancing``,
    which both public MoE runs use); ``random``: tokens routed at random, ``mu`` rows per rank on ``ep``
    ranks, leave ``1 + sqrt(2 ln ep / mu)`` (balls into bins, Raab & Steger 1998), a floor under real
    routers' skew (hot experts need a measured expert-load histogram, which no source here gives)."""
    if routing not in ROUTINGS:
        raise InvalidOptionError(f"--routing must be one of {', '.join(ROUTINGS)}, got {routing!r}")
    ep = floats(ep)
    if routing == "balanced":
        return 1.0 + 0.0 * ep * floats(rows_per_rank)
    mu = np.maximum(floats(rows_per_rank), 1.0)
    return np.where(ep > 1, 1.0 + np.sqrt(2.0 * np.log(np.maximum(ep, 1.0)) / mu), 1.0)


def ranks_per_token(experts: int, top_k: int, ep) -> np.ndarray:
    """Expected EP ranks one token's ``top_k`` experts land on, with ``experts / ep`` experts per rank
    and balanced routing (each top-k set equally likely: Megatron's force-load-balancing)."""
    ep = floats(ep)
    per = experts / np.maximum(ep, 1.0)
    miss = np.ones_like(ep)
    for i in range(top_k):
        miss = miss * np.clip((experts - per - i) / (experts - i), 0.0, 1.0)
    return np.minimum(ep * (1.0 - miss), float(top_k))


def deepep_mnnvl_s(tokens, experts: int, top_k: int, hidden: int, ep, etp, hw: Hardware) -> np.ndarray:
    """DeepEP's four transfers (dispatch, combine, their gradients) of one MoE layer for one micro-batch
    where the EP group spans more than 8 GPUs of one NVLink domain (module docstring); 0 elsewhere."""
    mech = training_algorithms().mechanisms
    ep, group = floats(ep), floats(ep) * floats(etp)
    up = hw.tiers[0] if hw.tiers else None
    mnnvl = up is not None and up.name.startswith("nvlink") and up.domain > TABLE_MAX
    rows = floats(tokens) * ranks_per_token(experts, top_k, ep) * hidden * BYTES["bf16"]
    one = rows / mech["deepep_mnnvl_dispatch_Bps"].si + rows / mech["deepep_mnnvl_combine_Bps"].si
    on = mnnvl & (group > TABLE_MAX) & (group <= hw.scaleup_domain) & (ep > 1)
    return np.where(on, 2.0 * one, 0.0)


def local_permute_s(tokens, top_k, hidden, hw: Hardware) -> np.ndarray:
    """The local permute of one MoE layer for one micro-batch, forward and backward: the rows a rank
    receives (``tokens x top_k``, balanced routing) sorted by local expert before the grouped GEMM and
    un-permuted (weighted by the routing probabilities) before the combine, each a BF16 read and write
    of the rows; the backward runs both again on the gradients (Megatron-Core ``--moe-permute-fusion``,
    the article's sec. 2.1.1; HybridEP fuses its buffer copy and the M-padding into it, sec. 2.5).
    Memory-bound (:func:`superpod.cost.compute.stream_s`)."""
    rows = floats(tokens) * top_k * hidden * BYTES["bf16"]
    return 2.0 * stream_s(2.0 * 2.0 * rows, hw)


def alltoall_dispatcher_s(tokens, top_k, hidden, ep, etp, hw: Hardware, moe_compute_s, overlap, deepep_wire_s,
                          comm_sms: float) -> dict[str, np.ndarray]:
    """The NCCL all-to-all dispatcher of one MoE layer for one micro-batch (module docstring).

    ``tokens`` per rank (after SP); ``deepep_wire_s``: DeepEP's four transfers of the same tokens,
    a floor (NCCL moves a copy per token-expert pair, DeepEP one per token-rank pair, over the
    same links, and its normal kernels run near the links' rate); ``comm_sms``: the SMs the
    communication kernels hold while hidden (DualPipe). Returns ``exposed_s`` (what the step
    pays), ``wire_s`` (the four transfers), ``permute_s`` (global permute/un-permute passes,
    forward and backward) and ``sync_s`` (the host-device synchronisation)."""
    T = floats(tokens)
    copies = T * top_k * hidden * BYTES["bf16"]  # one BF16 row per token-expert pair
    wire = np.maximum(4.0 * nccl_alltoall_s(copies, ep, etp, hw), deepep_wire_s)
    rows = T * hidden * BYTES["bf16"]
    permute = 2.0 * stream_s(2.0 * (rows + copies), hw)  # (permute + un-permute) forward, the same backward
    sync = SYNC_OPS * host_op_s(hw.chip) + 0.0 * T
    cores = float(hw.kernels.gemm.cores.si)
    steal = min(comm_sms / max(cores - comm_sms, 1.0), 1.0)
    hidden_s = np.minimum(wire, moe_compute_s)
    comm = np.where(overlap, wire - hidden_s + steal * hidden_s, wire)
    on = floats(ep) > 1
    return {"exposed_s": np.where(on, comm + permute + sync, 0.0), "wire_s": np.where(on, wire, 0.0),
            "permute_s": np.where(on, permute, 0.0), "sync_s": np.where(on, sync, 0.0)}

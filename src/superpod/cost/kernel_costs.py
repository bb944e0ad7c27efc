"""Layer costs from the measured-kernel fits: one handle per (chip, framework), resolved once.

:func:`resolve` returns a :class:`Kernels` when the chip belongs to a fitted kernel family
(``kernel_family`` in its catalog entry: ``sm90`` Hopper, ``sm100`` Blackwell) and the serving
framework names its kernels (``[frameworks.kernels]`` in ``calibration/frameworks/serving.toml``);
else None, and the caller keeps the generic roofline (:mod:`superpod.cost.compute`). The hardware
facts the fitted models need come from the chip catalog (dense peaks, HBM bandwidth, SM count, SFU
exponential rate, NVLink bandwidth per direction); a chip with its own measured tables
(``kernel_tables``) also gets that GPU's fitted multipliers and, for GEMMs and attention, the facts its
fit was made with (:func:`fitted_facts`), any other chip of the family the family's parameters on the
catalog's facts (how superpod prices an unmeasured GPU).

Models (:mod:`superpod.cost.kernels`, parameters in ``calibration/silicon/*.toml``):

* dense GEMMs: the framework's GEMM kernel for the format (``gemm_perf`` fit); FP8 GEMMs of a
  block-scaled checkpoint run the framework's block-scale kernel (``fp8_block``) where its kernels say
  so (``fp8_block_gemm``);
* attention core: the framework's prefill and decode kernels (``context_/generation_attention``,
  ``context_/generation_mla`` for MLA), KV format as stored;
* routed experts: the whole MoE layer of the framework's MoE kernel (``moe_perf``: routing,
  permutation, grouped GEMMs, un-permutation), balanced routing, times the family's efficiency
  surface of that kernel (by tokens per expert, experts per GPU, inter per rank, hidden);
* TP all-reduce: the faster of the framework's custom one-shot/two-shot all-reduce and NCCL
  (``custom_allreduce_perf``, ``nccl_perf``): frameworks use their own kernel at decode sizes and
  fall back to NCCL beyond its buffer;
* EP dispatch/combine inside one NVLink domain: DeepEP low-latency (decode) and normal (prefill)
  kernels (``wideep_deepep_*``, measured under SGLang; every framework here runs DeepEP or a
  kernel of the same design, stated per framework in the catalog).

Everything broadcasts over plan arrays; results are seconds per call on one GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from superpod.cost.kernels import attention as A
from superpod.cost.kernels import collectives as C
from superpod.cost.kernels import gemm as G
from superpod.cost.kernels import moe as M
from superpod.cost.kernel_facts import _node, chip_facts, fitted_facts
from superpod.cost.kernels.surface import Surface
from superpod.spec.calibration import silicon_params
from superpod.spec.catalog import load_chip

#: superpod GEMM format -> the tables' dtype name
GEMM_DTYPE = {"bf16": "bfloat16", "fp8": "fp8", "fp8_block": "fp8_block", "fp4": "nvfp4"}
#: kernel family -> (MoE level name, NVLink generation level name)
LEVELS = {"sm90": ("hopper", "nvlink4"), "sm100": ("blackwell", "nvlink5")}
#: group sizes the collective tables hold
TABLE_GPUS = (2, 4, 8)


def _floats(node: dict) -> dict[str, float]:
    return {k: float(v) for k, v in node.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _split(ref: str, default_fw: str) -> tuple[str, str]:
    """``"FW/source"`` or ``"source"`` (the framework's own tables)."""
    fw, _, src = ref.rpartition("/")
    return (fw or default_fw), src


@dataclass(frozen=True)
class Kernels:
    """The fitted kernel models of one (chip, framework); see the module docstring."""

    chip: str
    family: str
    gpu: str | None  # the chip's own measured tables (per-GPU multipliers), if any
    hw: dict = field(repr=False)
    choice: dict = field(repr=False)  # [frameworks.kernels] of the framework (plain dict)
    #: the facts the GEMM and attention fits were made with (a measured GPU: its fit's own; else ``hw``)
    fit_hw: dict = field(default_factory=dict, repr=False)
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # ---------------------------------------------------------------- parameter look-up
    def _tables(self, key: str) -> str:
        return self.choice["tables"] if key != "moe" else self.choice["moe_tables"]

    def _pick(self, kind: str) -> Any:
        return _node(self.choice, self.family, kind)

    def _gemm_node(self, dtype: str) -> dict | None:
        ref = _node(self._pick("gemm") or {}, dtype)
        if ref is None:
            return None
        fw, src = _split(ref, self.choice["tables"])
        return _node(silicon_params("gemm"), "gemm", self.family, fw, dtype, src)

    @lru_cache(maxsize=None)
    def gemm_params(self, dtype: str) -> tuple[dict, float, float] | None:
        p = self._gemm_node(dtype)
        if p is None:
            return None
        g = self.gpu or ""
        return _floats(p), float(p.get("gpu_eta_c", {}).get(g, 1.0)), float(p.get("gpu_t0", {}).get(g, 1.0))

    @lru_cache(maxsize=None)
    def gemm_surface(self, dtype: str) -> Surface | None:
        """The kernel table's efficiency surface (shared by the family's GPUs), or None."""
        s = _node(self._gemm_node(dtype), "surface")
        return Surface.from_toml(s) if isinstance(s, dict) else None

    @lru_cache(maxsize=None)
    def attention_params(self, table: str, attn_dtype: str, kv_dtype: str) -> dict | None:
        """The kernel's form parameters (the GPU's multipliers applied) and its efficiency ``surface``
        (shared by the family; None where none was fitted), or None without a fit."""
        ref = self._pick(table)
        if ref is None:
            return None
        fw, src = _split(ref, self.choice["tables"])
        p = None
        for a in dict.fromkeys((attn_dtype, "bfloat16", kv_dtype)):  # the variants the kernel was measured in
            p = p or _node(silicon_params("attention"), table, self.family, fw, src, a, kv_dtype)
        if p is None:
            return None
        q = _floats(p)
        g = self.gpu or ""
        for name in ("eta_c", "eta_x"):
            if name in q:
                q[name] *= float(p.get("gpu_eta_c", {}).get(g, 1.0))
        q["eta_m"] *= float(p.get("gpu_eta_m", {}).get(g, 1.0))
        q["surface"] = Surface.from_toml(p["surface"]) if isinstance(p.get("surface"), dict) else None
        return q

    def _level(self, node: Any, net: bool = False) -> dict | None:
        fam = LEVELS[self.family][1 if net else 0]
        for lv in (self.gpu, fam, "generic"):
            if lv and isinstance(node, dict) and lv in node:
                return _floats(node[lv])
        return None

    @lru_cache(maxsize=None)
    def moe_params(self, moe_dtype: str) -> tuple[dict, str] | None:
        src = _node(self._pick("moe") or {}, moe_dtype)
        if src is None:
            return None
        fw, src = _split(src, self.choice["moe_tables"])
        p = self._level(_node(silicon_params("moe_perf"), "moe_perf", fw, src, moe_dtype, "balanced"))
        return None if p is None else (p, src)

    @lru_cache(maxsize=None)
    def moe_surface(self, moe_dtype: str) -> Surface | None:
        """The family's efficiency surface of the framework's MoE kernel for ``moe_dtype``, balanced routing
        (None: factor 1)."""
        ref = _node(self._pick("moe") or {}, moe_dtype)
        if ref is None:
            return None
        fw, src = _split(ref, self.choice["moe_tables"])
        s = _node(silicon_params("moe_perf"), "moe_perf", fw, src, moe_dtype, "balanced", "surface",
                  LEVELS[self.family][0])
        return Surface.from_toml(s) if s else None

    @lru_cache(maxsize=None)
    def comm_params(self, table: str, *keys: str) -> dict | None:
        return self._level(_node(silicon_params("comm_perf"), table, *keys), net=True)

    # ---------------------------------------------------------------- costs
    def has_gemm(self, quant: str) -> bool:
        return quant in GEMM_DTYPE and self.gemm_params(GEMM_DTYPE[quant]) is not None

    def gemm_s(self, m, n, k, quant: str, batch=1.0) -> np.ndarray:
        """Seconds of one ``[m, k] x [k, n]`` GEMM in ``quant`` (rows ``m`` = 0 cost nothing).
        Tabulated per layer shape: a serving estimate prices the same ``(n, k)`` weights at the same
        row counts for thousands of plans, so each ``(quant, n, k, batch)`` keeps the times of the row
        counts already priced and only new ones reach the model (element by element the same numbers)."""
        m, n, k, batch = (np.asarray(x, dtype=float) for x in (m, n, k, batch))
        key = (quant, *((x.shape, x.tobytes()) for x in (m, n, k, batch)))
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        m, n, k, batch = np.broadcast_arrays(m, n, k, batch)
        rows = np.maximum(m, 1.0).ravel()
        shapes, which = G.layer_shapes(n, k, batch)
        t = np.empty(rows.shape)
        for j, (nn, kk, bb) in enumerate(shapes):
            sel = slice(None) if len(shapes) == 1 else which == j
            t[sel] = self._gemm_rows(quant, float(nn), float(kk), float(bb), rows[sel])
        out = np.where(m > 0, t.reshape(m.shape), 0.0)
        out.setflags(write=False)
        if len(self._memo) > 20000:
            self._memo.clear()
        self._memo[key] = out
        return out

    def _gemm_rows(self, quant: str, n: float, k: float, batch: float, rows: np.ndarray) -> np.ndarray:
        """Seconds of GEMMs of one layer shape at row counts ``rows`` (>= 1), from this shape's table of
        row counts already priced; the new ones are priced by the model and join it."""
        key = ("gemm_rows", quant, n, k, batch)
        known_m, known_t = self._memo.get(key, (np.empty(0), np.empty(0)))
        pos = np.minimum(np.searchsorted(known_m, rows), max(len(known_m) - 1, 0))
        found = known_m[pos] == rows if len(known_m) else np.zeros(rows.shape, dtype=bool)
        if found.all():
            return known_t[pos]
        new = np.unique(rows[~found])
        p, mc, mt = self.gemm_params(GEMM_DTYPE[quant])
        hw, surf = self.fit_hw or self.hw, self.gemm_surface(GEMM_DTYPE[quant])
        memo = self._memo.setdefault(("gemm_anchors", quant), {})
        t_new = G.gemm_s(new, n, k, GEMM_DTYPE[quant], hw, p, mc, mt, batch=batch, surface=surf, memo=memo)
        all_m = np.concatenate([known_m, new])
        order = np.argsort(all_m, kind="stable")
        known_m, known_t = all_m[order], np.concatenate([known_t, t_new])[order]
        if len(known_m) > 200_000:  # bounded: keep only what this call needs
            known_m, known_t = np.unique(rows), None
            known_t = G.gemm_s(known_m, n, k, GEMM_DTYPE[quant], hw, p, mc, mt, batch=batch, surface=surf,
                               memo=memo)
        self._memo[key] = (known_m, known_t)
        return known_t[np.searchsorted(known_m, rows)]

    def generation_s(self, seqs, ctx, heads, kv_heads, head_dim, kv_dtype: str, window=0.0, mla=None):
        """One decode step's attention core for ``seqs`` sequences (one query row each; ``heads``
        query heads per sequence, MTP rows folded in), or None without a fit."""
        kv = "fp8" if kv_dtype == "fp8" else "bfloat16"
        kv_b = 1.0 if kv == "fp8" else 2.0
        b = np.asarray(seqs, dtype=float)
        if mla is not None:
            p = self.attention_params("generation_mla", "bfloat16", kv)
            if p is None:
                return None
            t = A.generation_s(np.maximum(b, 1.0), ctx, heads, 1.0, mla[0], mla[1], 0.0, 0.0, kv_b, self.fit_hw or self.hw,
                               p, mma_rows=64.0)
        else:
            p = self.attention_params("generation_attention", "bfloat16", kv)
            if p is None:
                return None
            t = A.generation_s(np.maximum(b, 1.0), ctx, heads, kv_heads, head_dim, head_dim, head_dim, window,
                               kv_b, self.fit_hw or self.hw, p)
        return np.where(b > 0, t, 0.0)

    def context_s(self, seqs, isl, heads, kv_heads, head_dim, quant: str, kv_dtype: str, window=0.0, mla=None):
        """Prefill attention core of ``seqs`` causal sequences of ``isl`` new tokens, or None."""
        kv = "fp8" if kv_dtype == "fp8" else "bfloat16"
        fp8 = quant != "bf16" and kv == "fp8"
        dt = "fp8" if fp8 else "bfloat16"
        table = "context_mla" if mla is not None else "context_attention"
        p = self.attention_params(table, dt, kv)
        if p is None:
            return None
        b = np.asarray(seqs, dtype=float)
        h_kv, dqk, dv, w = (heads, 192.0, 128.0, 0.0) if mla is not None else (kv_heads, head_dim, head_dim, window)
        t = A.context_s(np.maximum(b, 1e-9), np.maximum(isl, 1.0), heads, h_kv, dqk, dv, w, 1.0 if fp8 else 2.0,
                        1.0 if kv == "fp8" else 2.0, "fp8" if fp8 else "bf16", self.fit_hw or self.hw, p)
        return np.where(b > 0, t, 0.0)

    def moe_s(self, tokens, hidden, inter, topk, experts, moe_tp, moe_ep, moe_dtype: str, gated: bool = True,
              fin_tokens=None):
        """One MoE layer's expert compute on one GPU (``tokens``: tokens of the whole expert group
        entering the layer; ``fin_tokens``: those whose routed rows this GPU permutes and reduces,
        default all), or None without a fit for ``moe_dtype``."""
        got = self.moe_params(moe_dtype)
        if got is None:
            return None
        p, src = got
        tokens = np.asarray(tokens, dtype=float)
        # a decode grid's expert inputs do not depend on the context: a sweep prices the same ones for each
        # chunk of contexts in turn, so the last few distinct inputs keep their times (element by element the same)
        args = [np.asarray(x, dtype=float) for x in (tokens, hidden, inter, topk, experts, moe_tp, moe_ep)]
        fin = [] if fin_tokens is None else [np.asarray(fin_tokens, dtype=float)]
        key = (moe_dtype, gated, len(fin), *((x.shape, x.tobytes()) for x in args + fin))
        memo = self._memo.setdefault("moe", {})
        hit = memo.get(key)
        if hit is not None:
            return hit
        m = 3.0 if gated else 2.0
        t = M.moe_s(np.maximum(tokens, 1e-9), hidden, inter, topk, experts, moe_tp, moe_ep, self.hw, p,
                    M.weight_bytes(moe_dtype), self.hw[M.peak_key(moe_dtype, src)], m, fin_tokens,
                    surface=self.moe_surface(moe_dtype))
        out = np.where(tokens > 0, t, 0.0)
        out.setflags(write=False)
        if len(memo) >= 8:  # bounded (a refinement's inputs rarely repeat)
            memo.clear()
        memo[key] = out
        return out

    def allreduce_s(self, n, nbytes) -> np.ndarray:
        """TP all-reduce of ``nbytes`` per rank over ``n`` GPUs of one NVLink domain: the faster of
        the framework's custom all-reduce and NCCL (groups above the tables' 8: the 8-GPU fit)."""
        n = np.asarray(n, dtype=float)
        s = np.asarray(nbytes, dtype=float)
        out = np.full(np.broadcast(n, s).shape, np.inf)
        for i, g in enumerate(TABLE_GPUS):
            lo = TABLE_GPUS[i - 1] if i else 1
            sel = (n > lo) & ((n <= g) | (g == TABLE_GPUS[-1]))
            if not np.any(sel):
                continue
            nc = self.comm_params("nccl_perf", "all_reduce", str(g))
            ca = self.comm_params("custom_allreduce_perf", self.choice["custom_allreduce"], str(g))
            best = np.full(out.shape, np.inf)
            if nc is not None:
                best = np.minimum(best, C.nccl_s("all_reduce", n, s, self.hw, nc))
            if ca is not None:
                best = np.minimum(best, C.custom_allreduce_s(n, s, self.hw, ca))
            out = np.where(sel, best, out)
        return np.where(n > 1, out, 0.0)

    def collective_s(self, op: str, n, nbytes) -> np.ndarray:
        """NCCL ``all_gather`` / ``reduce_scatter`` of ``nbytes`` (whole buffer) over ``n`` GPUs."""
        n = np.asarray(n, dtype=float)
        out = np.full(np.broadcast(n, nbytes).shape, np.inf)
        for i, g in enumerate(TABLE_GPUS):
            lo = TABLE_GPUS[i - 1] if i else 1
            sel = (n > lo) & ((n <= g) | (g == TABLE_GPUS[-1]))
            p = self.comm_params("nccl_perf", op, str(g))
            if np.any(sel) and p is not None:
                out = np.where(sel, C.nccl_s(op, n, nbytes, self.hw, p), out)
        return np.where(n > 1, out, 0.0)

    def deepep_s(self, mode: str, tokens, hidden, topk, experts, ep) -> np.ndarray:
        """DeepEP dispatch + combine of ``tokens`` per rank over an EP group of ``ep`` GPUs in one
        NVLink domain (``mode`` ``ll``: low-latency decode kernels; ``normal``: prefill kernels
        on the SMs the framework gives them, ``deepep_normal_sms``)."""
        ep = np.asarray(ep, dtype=float)
        hw = dict(self.hw, ranks_per_node=np.maximum(ep, 1.0))
        total = 0.0
        for kind in ("dispatch", "combine"):
            if mode == "ll":
                p = self.comm_params("wideep_deepep_ll_perf", kind)
                total = total + C.deepep_ll_s(kind, tokens, hidden, topk, experts, hw, p)
            else:
                p = self.comm_params("wideep_deepep_normal_perf", kind)
                sms = float(self.choice.get("deepep_normal_sms", 24))
                total = total + C.deepep_normal_s(kind, tokens, hidden, topk, experts, sms, hw, p)
        return np.where((ep > 1) & (np.asarray(tokens) > 0), total, 0.0)

    def __hash__(self) -> int:  # lru_cache on methods: one handle per (chip, framework)
        return hash((self.chip, id(self.choice)))

    def __eq__(self, other: object) -> bool:
        return self is other


_HANDLES: dict = {}


def resolve(chip_name: str, choice: dict | None) -> Kernels | None:
    """The kernel handle of ``chip_name`` under a framework's kernel ``choice`` (its
    ``[frameworks.kernels]`` table as a dict), or None: no choice, or a chip outside the fitted
    families (no ``kernel_family`` / ``sm_count`` / ``exp_per_s`` in its catalog entry)."""
    if not choice:
        return None
    chip = load_chip(chip_name)  # under a what-if override, the overridden chip
    ok = (chip.kernel_family in LEVELS and chip.sm_count is not None and chip.exp_per_s is not None
          and chip.bf16_flops is not None and chip.kernel_family in choice)
    facts = chip_facts(chip) if ok else {}
    # keyed by the facts too: a handle made under a what-if override must not serve the plain chip (nor
    # the reverse), as one process runs both (a sweep with a chip.* axis, then anything else)
    key = (chip_name, id(choice), repr(sorted(facts.items())))
    if key in _HANDLES:
        return _HANDLES[key]
    if ok:
        fit = fitted_facts(chip.kernel_tables, facts) if chip.kernel_tables else facts
        k = Kernels(chip.name, chip.kernel_family, chip.kernel_tables, facts, choice, fit)
    else:
        k = None
    _HANDLES[key] = k
    return k

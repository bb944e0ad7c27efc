"""The predicted decode step of measured silicon rows, kernel by kernel, beside the measured TPOT.

    python benchmarks/silicon/decode_breakdown.py deepseek_r1 b200 trtllm      # rows whose id holds every word
    python benchmarks/silicon/decode_breakdown.py ROW_ID --gemms               # and each dense GEMM of one layer

One co-located row (``mode = agg``) is priced as ``validate silicon`` does (same context, plan and
formats), but as a pure decode step at the row's batch and mean context (no prefill in the iteration):
the layer parts of :func:`superpod.serving.forward.forward` summed over the layers (GEMMs, attention
core, MoE layer, elementwise, TP all-reduce, EP dispatch/combine), the LM head, and the framework's step
overhead, in ms. ``pred`` / ``meas`` are the row's closed-loop TPOT (with the prefill stalls) and the
measured one. Compare each part with the kernel tables of that GPU and framework to find a wrong fit or
a wrong mapping (which kernel the framework runs at that shape and format).
"""

from __future__ import annotations

import argparse

import numpy as np

from superpod.cost.layers import gemm_times
from superpod.planners import validation_silicon as V
from superpod.planners.silicon_rows import default_file, read_rows, row_settings
from superpod.serving.context import make_ctx
from superpod.serving.decode import attention_per_layer
from superpod.serving.forward import chips_of, forward, head_s, kernel_gemm, replicas
from superpod.serving.kernel_attention import decode_attention, indexer_s
from superpod.serving.plan import ServePlan, Workload


def one(x) -> float:
    return float(np.ravel(x)[0])


def priced(r):
    s = r.settings
    c = make_ctx(s["model"], s["system"], None, s["quant"], s["kv"], s["framework"], s["experts"], s["fp8_blocks"])
    mtp, ep = V._moe(c, s["tp"], s["dp"], s["moe_tp"], s["moe_ep"])
    plan = ServePlan.one(tp=s["tp"], ep=ep, moe_tp=mtp, dp=s["dp"], batch=s["batch"] / s["tp"], overlap=0)
    return c, plan, (mtp, ep)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("words", nargs="+", help="substrings every shown row id holds")
    ap.add_argument("--gemms", action="store_true", help="also list one layer's dense GEMMs (us)")
    a = ap.parse_args(argv)
    rows = [r for r in read_rows(default_file()) if all(w in r.id for w in a.words)]
    measured = {x["id"]: x for x in V.validate_silicon()["rows"]} if rows else {}
    for r in rows:
        row_settings(r)
        if r.status != "ok" or r.settings["mode"] != "agg":
            continue
        c, plan, (mtp, ep) = priced(r)
        s = r.settings
        wl = Workload(s["isl"], s["osl"])
        tp_c = chips_of(plan.tp, c.dev)
        D = s["batch"] / tp_c
        f, b = attention_per_layer(c, plan, D, 1.0, wl.decode_context)
        main_ = forward(c, plan, D, f, b, "decode", attn_kernel=decode_attention(c, plan, D, 1.0, wl.decode_context))
        head = head_s(c, D, tp_c)
        step = one(main_["total_s"]) + one(head) + c.fw.si("step_overhead_s")
        parts = " ".join(f"{k[:-2]}={one(v) * 1e3:.2f}" for k, v in main_.items()
                         if k.endswith("_s") and k != "total_s" and one(v) > 0)
        m = measured[r.id]
        print(f"{r.id}: {c.quant} kv {c.kv_dtype}{' fp8-blocks' if c.fp8_blocks else ''} tp {s['tp']} dp {s['dp']} "
              f"moe_tp {mtp} ep {ep} batch {s['batch']:.0f} ctx {one(wl.decode_context):.0f} | step {step * 1e3:.2f} ms: "
              f"head={one(head) * 1e3:.2f} {parts} | pred {m['predicted_tpot_ms']:.2f} meas {m['measured_tpot_ms']:.2f} "
              f"(x{m['predicted_tpot_ms'] / m['measured_tpot_ms']:.2f})")
        if c.model.sparse_attention is not None:  # the DSA indexer's share of attention (kernel_attention.indexer_s)
            ix = indexer_s(c, D * tp_c, wl.decode_context, D * tp_c, query_per_seq=1.0)
            print(f"    of attention, the DSA indexer (scoring, top-k, vector kernels): {one(ix) * 1e6:.1f} us per layer")
        if a.gemms:
            for moe in (False, True) if c.model.moe is not None else (False,):
                for g, t in gemm_times(c.model, moe, D * tp_c, tp_c, c.hw, c.quant, router_precision="bf16",
                                       weight_copies=replicas(plan.tp, c.dev), pricer=kernel_gemm(c)):
                    print(f"    {'moe' if moe else 'dense'} layer {g.name} k={g.k} n={g.n} ({g.shard}): {one(t) * 1e6:.1f} us")


if __name__ == "__main__":
    main()

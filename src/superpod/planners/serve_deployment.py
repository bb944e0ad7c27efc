"""Turn a serving estimate into what the request-level simulation runs: instances per
pool, batch caps, and step-time tables of the chosen plans; :func:`simulate` runs it
(``superpod simulate``), choosing the deployment mode when none is given."""

from __future__ import annotations

from math import floor
from typing import Any

import numpy as np

from superpod.cost.comm import p2p_s
from superpod.cost.memory_serve import kv_bytes_per_token
from superpod.errors import InfeasiblePlanError
from superpod.serving.closed_loop import scheduler
from superpod.serving.context import make_ctx
from superpod.serving.decode import decode
from superpod.planners.serve_estimate import serve
from superpod.serving.plan import ServePlan
from superpod.serving.prefill import prefill
from superpod.serving.simulate import Pools, parse_dist, simulate as run
from superpod.spec.catalog import load_model

MODES = ("pd", "colocated")
PREFILL_GRID = np.geomspace(16, 131072, 64)


def build_pools(model: str, system: str, mode: str, input_len: float, output_len: float, **opts: Any) -> tuple[Pools, dict]:
    """Plan the deployment with :func:`superpod.planners.serve_estimate.serve` and tabulate step times."""
    chips = opts.get("chips")
    c = make_ctx(model, system, chips, opts.get("quant"), opts.get("kv_dtype", "bf16"), opts.get("framework"))
    n_chips = chips or c.hw.n_chips
    phase = "pd" if mode == "pd" else "both"
    est = serve(model, system, phase=phase, input_len=input_len, output_len=output_len, **opts)
    kv_len = input_len + output_len / 2.0

    def row_plan(row, **extra):
        return {k: v for k, v in row.items() if k != "batch"} | extra

    if mode == "pd":
        dec, pre = est["decode"], est["prefill"]
        rows = est["plan"]["per_phase"]
        d_chips, p_chips = float(dec["chips"]), float(pre["chips"])
        if n_chips < d_chips + p_chips:
            raise InfeasiblePlanError(
                f"a disaggregated deployment needs at least {d_chips + p_chips:.0f} chips "
                f"({p_chips:.0f} prefill + {d_chips:.0f} decode); {n_chips} given")
        share = est["pd"]["prefill_chip_share"]
        n_dec = max(1, floor(n_chips * (1 - share) / d_chips))
        n_dec = min(n_dec, int((n_chips - p_chips) // d_chips))
        n_pre = max(1, int((n_chips - n_dec * d_chips) // p_chips))
        cap_chip = float(dec["batch_per_chip"])
        cap = max(int(round(cap_chip * d_chips)), 1)
        B = np.arange(0, cap + 1, dtype=float)
        g = ServePlan.grid(batch=np.maximum(B, 1) / d_chips, **{k: [v] for k, v in row_plan(rows["decode"]).items()})
        r = decode(c, g, kv_len)
        table = np.asarray(r["step_s"]).ravel()
        pr = prefill(c, ServePlan.grid(batch=PREFILL_GRID, **{k: [v] for k, v in row_plan(rows["prefill"]).items()}),
                     input_len)
        p_steps = np.asarray(pr["step_s"]).ravel()
        kv_tok = float(kv_bytes_per_token(c.model, c.kv_el))

        def transfer(s_in):
            return np.asarray(p2p_s(s_in * kv_tok, p_chips, c.hw)) / c.model.layers

        pools = Pools("pd", n_pre, float(pre["batch_tokens_per_chip"]) * p_chips,
                      lambda x: np.interp(x / p_chips, PREFILL_GRID, p_steps), n_dec, cap, table,
                      float(dec["tokens_per_step"]), transfer)
        info = {"prefill_instances": n_pre, "prefill_chips_per_instance": p_chips, "decode_instances": n_dec,
                "decode_chips_per_instance": d_chips, "decode_batch_cap": cap, "estimate": est}
        return pools, info
    both = est["both"]
    row = est["plan"]["per_phase"]["both"]
    i_chips = float(both["chips"]) if opts.get("concurrency") is None else float(max(row["tp"], row["ep"]) / c.dev)
    i_chips = max(i_chips, 1.0)
    n_inst = max(1, int(n_chips // i_chips))
    cap = max(int(round(float(both["concurrency_per_chip"]) * i_chips)), 1)
    B = np.arange(0, cap + 1, dtype=float)
    g = ServePlan.grid(batch=np.maximum(B, 1) / i_chips, **{k: [v] for k, v in row_plan(row).items()})
    table = np.asarray(decode(c, g, kv_len)["step_s"]).ravel()
    pr = prefill(c, ServePlan.grid(batch=PREFILL_GRID, **{k: [v] for k, v in row_plan(row).items()}), input_len)
    p_steps = np.asarray(pr["step_s"]).ravel()
    tps = float(np.ravel(decode(c, ServePlan.one(**row_plan(row, batch=1)), kv_len)["tokens_per_step"])[0])
    # the framework's per-iteration token budget of one scheduler (calibration/frameworks/scheduling.toml)
    budget = scheduler(c.fw.name).budget(c.hw.hbm_bytes, float(row.get("dp", 1)))
    pools = Pools("colocated", 0, budget,
                  lambda x: np.interp(x / i_chips, PREFILL_GRID, p_steps), n_inst, cap, table, tps,
                  lambda s: np.zeros_like(s))
    info = {"instances": n_inst, "chips_per_instance": i_chips, "batch_cap": cap, "estimate": est}
    return pools, info


def default_mode(model: str) -> str:
    """Disaggregated pools for MoE models (as DeepSeek and CloudMatrix-Infer deploy them), co-located otherwise."""
    return "pd" if load_model(model).moe is not None else "colocated"


def simulate(model: str, system: str, rate: float, requests: int, *, input_dist: str | None = None,
             output_dist: str | None = None, input_len: float = 4096, output_len: float = 1024,
             mode: str | None = None, chips: int | None = None, quant: str | None = None, kv_dtype: str = "bf16",
             mtp: int | None = None, mtp_accept: float | None = None, tpot_slo_s: float | None = None,
             ttft_slo_s: float | None = None, framework: str | None = None, seed: int = 0,
             progress=None, timeline: bool = False) -> dict[str, Any]:
    """The ``superpod simulate`` record: latency percentiles, throughput and goodput of ``requests``
    Poisson arrivals at ``rate``/s on the deployment :func:`build_pools` plans (``progress(done, n)``
    is called as requests finish)."""
    mode = mode or default_mode(model)
    if mode not in MODES:
        raise InfeasiblePlanError(f"--mode must be pd or colocated, not {mode!r}")
    idist, odist = parse_dist(input_dist, input_len), parse_dist(output_dist, output_len)
    pools, info = build_pools(model, system, mode, input_len, output_len, chips=chips, quant=quant, kv_dtype=kv_dtype,
                              mtp=mtp, mtp_accept=mtp_accept, tpot_slo_s=tpot_slo_s, framework=framework)
    out = run(pools, rate, requests, idist, odist, seed, progress=progress, ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s,
              timeline=timeline)
    out["mode"] = mode
    out["deployment"] = {k: v for k, v in info.items() if k != "estimate"}
    out["plan"] = info["estimate"]["plan"]
    return out

"""Options of the estimate commands: ``train``, ``serve``, ``simulate``."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, Optional

from pydantic import field_validator

from superpod.api.options.base import Eplb, Mode, Options, Phase, Recompute, Schedule, TrainPrecision, _as_list, opt
from superpod.api.options.scaling import _electricity, _price, _pue
from superpod.errors import InfeasiblePlanError, InvalidOptionError, SuperpodError

# ---------------------------------------------------------------------------- train

#: TensorRT-LLM hold settings of serve (serving/holds.py)
HOLDS = ("batch_wait_iters", "batch_wait_ratio", "adp_balance_iters", "adp_batching_wait_iters")

class TrainOptions(Options):
    """``superpod train`` / :func:`superpod.train`: any plan setting left out is searched."""

    positional: ClassVar = ("model", "systems")
    model: str = opt(help="Model name (superpod models) or path to a TOML / HF config.json.", argument=True)
    systems: list[str] = opt(help="One or more systems; NAME@N sizes one to N chips.", argument=True, metavar="SYSTEM...")
    chips: Optional[int] = opt(None, "Chips to use on every system (default: the system's size).", unit="chips", ge=1)
    seq_len: int = opt(4096, "Tokens per sequence.", unit="tokens")
    global_batch_tokens: Optional[int] = opt(None, "Tokens per optimizer step (default: the shared policy, clamp(chips / 4, 1,024, 15,360) 4K-token sequences, in tokens for another --seq-len; docs/conventions.md).", unit="tokens")
    global_batch: Optional[int] = opt(None, "Sequences per optimizer step (instead of --global-batch-tokens).",
                                      unit="sequences")
    tp: Optional[int] = opt(None, "Tensor-parallel degree in ranks (searched if left out; on ascend-910c and tpu-ironwood a multiple of 2: --tp 2 is one package).", unit="ranks")
    sp: Optional[bool] = opt(None, "Megatron sequence parallelism inside the TP group.", flag="--sp/--no-sp")
    pp: Optional[int] = opt(None, "Pipeline stages.", unit="ranks")
    vpp: Optional[int] = opt(None, "Virtual pipeline chunks per rank (interleaved schedule).")
    schedule: Optional[Schedule] = opt(None, "gpipe | 1f1b | interleaved | zero-bubble | dualpipe.")
    dp: Optional[int] = opt(None, "Data-parallel replicas.", unit="ranks")
    zero: Optional[int] = opt(None, "ZeRO stage 0-3 over DP (1 = distributed optimizer).")
    ep: Optional[int] = opt(None, "Expert-parallel degree in ranks (MoE); with --etp it folds over TP x CP x DP (Megatron MoE parallel folding): ETP x EP must divide TP x CP x DP.", unit="ranks")
    etp: Optional[int] = opt(None, "Expert tensor-parallel degree in ranks (MoE); expert data parallelism is derived.", unit="ranks")
    cp: Optional[int] = opt(None, "Context-parallel degree in ranks.", unit="ranks")
    micro_batch: Optional[int] = opt(None, "Sequences per micro-batch.", unit="sequences")
    recompute: Optional[Recompute] = opt(None, "none | selective (core attention) | full | ops (TorchTitan op-level: every second matmul and the elementwise ops).")
    recompute_modules: Optional[str] = opt(None, "Megatron-Core's --recompute-modules under selective recompute, e.g. \"mlp mla_up_proj\": core_attn | mla_up_proj | mlp | shared_experts | moe | moe_act | layernorm (default: core_attn).")
    cuda_graph_scope: Optional[str] = opt(None, "Megatron-Core's --cuda-graph-scope: the parts of each layer replayed from CUDA graphs by an eager stack, e.g. \"attn moe_router moe_preprocess\": attn | mlp | moe_router | moe_preprocess | shared_experts (with moe_router; routed experts stay eager; default: none).")
    offload_activations: Optional[bool] = opt(None, "Copy the layers' saved activations to the system's host memory and back (NVLink-C2C on GB200, PCIe on HGX; the copies that outlast compute are exposed; refused without [host_memory]).", flag="--offload-activations/--no-offload-activations")
    precision: TrainPrecision = opt("bf16", "Training recipe: bf16 | fp8 (per-tensor FP8 GEMMs) | mxfp8 | fp4 (NVFP4); refused on chips without the units.")
    framework: str = opt("megatron", "Software stack whose calibrated factors apply (superpod validate lists them).")
    power_limit_w: Optional[float] = opt(None, "Board power limit of every chip (nvidia-smi --power-limit); compute runs "
                                               "at the share of its peaks the chip's catalog power_curve gives there, HBM "
                                               "bandwidth unchanged (default: the chip's tdp_w, its default limit).",
                                         unit="W", gt=0)
    dispatcher: Optional[Literal["deepep", "alltoall", "hybridep"]] = opt(
        None, "MoE token dispatcher: deepep (Megatron-Core flex + DeepEP) | alltoall (NCCL all-to-all, explicit "
              "permutes, a host sync per MoE layer) | hybridep (flex + HybridEP: DeepEP's function at the NVL72's "
              "rate); default: the framework's (megatron: deepep).")
    routing: Literal["balanced", "random"] = opt("balanced", "MoE expert loads: balanced (Megatron-Core's --moe-router-force-load-balancing, as the public runs) | random (the busiest EP rank's balls-into-bins excess, 1 + sqrt(2 ln EP / rows per rank)).")
    top: int = opt(1, "Also list the K best plans.")
    compare_plan: Optional[str] = opt(None, "Also price this plan, e.g. \"tp=8 pp=16 dp=8 recompute=full\" (settings left out are searched), and say mechanism by mechanism why the best plan is faster.")
    trace: Optional[Path] = opt(None, "Write one step of the best plan as Chrome/Perfetto trace-event JSON to this file "
                                      "(open in ui.perfetto.dev or chrome://tracing).", metavar="OUT.json", strict=False)

    _as_list = field_validator("systems", mode="before")(_as_list)

    def check(self, name) -> None:
        if self.global_batch is not None and self.global_batch_tokens is not None:
            raise InfeasiblePlanError(f"give {name('global_batch')} or {name('global_batch_tokens')}, not both")


# ---------------------------------------------------------------------------- serve

KV_HELP = "KV-cache format: bf16 | fp8 | int8 (default: what the framework runs for the --quant: TensorRT-LLM FP8 KV with fp8/fp4 GEMMs, SGLang and vLLM auto = BF16; catalog/calibration/frameworks/serving.toml, kv_cache). fp8 changes the bytes attention reads as well as the memory; chips without fp8 units (Ascend 910B/910C) refuse it."
PHASE_HELP = ("prefill | decode: one pool of a disaggregated deployment; both: co-located (continuous batching, "
              "chunked prefill); pd: both pools of a disaggregated deployment sized for the request mix.")


# the prefix-cache options of serve and simulate (issue 16), declared once
CACHE_HIT = opt(0.0, "Share of prompt tokens served from the prefix cache: the reusable prefix, what an unbounded "
                 "cache would hit (the pool's capacity may serve less; see the cache object).", unit="fraction")
CACHE_PREFIXES = opt(None, "Distinct reusable prefixes (live conversations, shared system prompts): the "
                 "working set the host-memory pool must hold under LRU (default: it fits).",
                 unit="sequences")
CACHE_ZIPF = opt(None, "Zipf exponent of the prefixes' popularity (default: reuse spread evenly; "
                 "needs --cache-prefixes).", ge=0, le=5)
CACHE_POOL_BYTES = opt(None, "Capacity of the prefix-cache pool in GB (default: the catalog's host "
                 "memory x cache share over the nodes the pool spans).",
                 flag="--cache-pool-gb", cli_scale=1e9, gt=0)
CACHE_AFFINITY = opt(False, "Per-node host-memory tiers (NVL72, HGX): route each request to the node holding its "
                 "prefix (a KV-aware router), so the nodes' caches add up; default: each node caches "
                 "for every prefix.", flag="--cache-affinity/--no-cache-affinity")
CACHE_TRACE = opt(None, "Request trace (CSV: prefix_id,prefix_tokens,prompt_tokens, in arrival order) "
                 "replayed through the pool's LRU: gives the hit rate and the working set "
                 "instead of --cache-hit / --cache-prefixes.", metavar="TRACE.csv", strict=False)


class ServeOptions(Options):
    """``superpod serve`` / :func:`superpod.serve`: plan parameters left out are searched."""

    positional: ClassVar = ("model", "systems")
    model: str = opt(help="Catalog model name or a config file.", argument=True)
    systems: list[str] = opt(help="One or more systems (several: compared side by side).", argument=True,
                             metavar="SYSTEM...")
    chips: Optional[int] = opt(None, "Chips of the pool (prefill/decode) or deployment (both); default: the system's size.",
                               unit="chips", ge=1)
    phase: Phase = opt("decode", PHASE_HELP)
    input_len: float = opt(4096, "Prompt tokens per request.", unit="tokens")
    output_len: float = opt(1024, "Output tokens per request.", unit="tokens")
    kv_len: Optional[float] = opt(None, "Mean context per decode step (default input + output/2).", unit="tokens")
    cache_hit: float = CACHE_HIT
    cache_prefixes: Optional[int] = CACHE_PREFIXES
    cache_zipf: Optional[float] = CACHE_ZIPF
    cache_pool_bytes: Optional[float] = CACHE_POOL_BYTES
    cache_affinity: bool = CACHE_AFFINITY
    cache_trace: Optional[Path] = CACHE_TRACE
    batch_per_chip: Optional[float] = opt(None, "Decode: sequences per chip; prefill: tokens per chip per step.")
    concurrency: Optional[float] = opt(None, "Requests in flight on the --chips chips.", unit="requests")
    tpot_slo_s: Optional[float] = opt(None, "TPOT target: the largest decode batch meeting it.", flag="--tpot-slo-ms",
                                      unit="s", cli_scale=1e-3)
    ttft_slo_s: Optional[float] = opt(None, "TTFT target (prefill and co-located).", flag="--ttft-slo-ms", unit="s",
                                      cli_scale=1e-3)
    quant: Optional[str] = opt(None, "bf16 | fp8 | int8 | fp4 (default: the lowest precision the chip supports).")
    kv_dtype: Optional[str] = opt(None, KV_HELP)
    tp: Optional[int] = opt(None, "Tensor parallelism of attention/dense layers (ranks).", unit="ranks")
    moe_tp: Optional[int] = opt(None, "Expert tensor parallelism: ranks each routed expert is split over (its "
                                      "intermediate width divided; moe_tp x moe_ep = tp x dp-attention, as TensorRT-LLM "
                                      "and SGLang state it; default: searched, 1 or --tp).", unit="ranks", ge=1)
    moe_ep: Optional[int] = opt(None, "Expert parallelism: ranks the routed experts spread over (MoE).", unit="ranks",
                                ge=1)
    ep: Optional[int] = opt(None, "Alias of --moe-ep.", unit="ranks")
    dp: Optional[int] = opt(None, "Data-parallel attention ranks per instance (moe_tp x moe_ep = TP x this).", flag="--dp-attention",
                            unit="ranks")
    mtp: Optional[int] = opt(None, "MTP / speculative draft tokens per step.", unit="tokens")
    mtp_accept: Optional[float] = opt(None, "Per-token acceptance of the draft tokens.", unit="fraction")
    token_budget: Optional[int] = opt(None, "With --concurrency: prompt + decode tokens per scheduler iteration, as the "
                                            "server was launched (vLLM --max-num-batched-tokens, SGLang "
                                            "--chunked-prefill-size, TensorRT-LLM --max_num_tokens; default the "
                                            "framework's).", unit="tokens", ge=1)
    max_running: Optional[int] = opt(None, "With --concurrency: requests one scheduler runs at once (vLLM --max-num-seqs, "
                                           "SGLang --max-running-requests, TensorRT-LLM --max_batch_size); the rest "
                                           "queue.", unit="requests", ge=1)
    recv_interval: Optional[int] = opt(None, "With --concurrency: decode iterations between the scheduler's looks at "
                                             "its queue (SGLang --scheduler-recv-interval x "
                                             "--num-continuous-decode-steps; default 1).", unit="iterations", ge=1)
    batch_wait_iters: Optional[int] = opt(None, "With --concurrency, TensorRT-LLM without attention DP: iterations a "
                                                "context request is held while generation runs "
                                                "(batch_wait_timeout_iters; needs --batch-wait-ratio).",
                                          unit="iterations", ge=1)
    batch_wait_ratio: Optional[float] = opt(None, "With --batch-wait-iters: share of the token budget whose filling "
                                                  "ends the wait at once (batch_wait_max_tokens_ratio).",
                                            unit="fraction", gt=0, le=1)
    adp_balance_iters: Optional[int] = opt(None, "With --concurrency, TensorRT-LLM with attention DP: "
                                                 "attention_dp_config enable_balance with this timeout_iters (context "
                                                 "requests wait until every DP rank has one).", unit="iterations", ge=1)
    adp_batching_wait_iters: Optional[int] = opt(None, "With --adp-balance-iters: attention_dp_config "
                                                       "batching_wait_iters (default 10, TensorRT-LLM's).",
                                                 unit="iterations", ge=0)
    random_range_ratio: Optional[float] = opt(None, "With --concurrency: the benchmark draws each prompt and output "
                                                    "length uniformly in [R L, L] (vLLM benchmark_serving.py "
                                                    "--random-range-ratio R; default 1, fixed lengths).",
                                              unit="fraction", gt=0, le=1)
    eplb: Eplb = opt("balanced", "perfect (idealised balance) | balanced (real routing, EPLB) | none.")
    overlap: Optional[bool] = opt(None, "Two-micro-batch overlap of MoE communication (default: searched).",
                                  flag="--overlap/--no-overlap")
    framework: Optional[str] = opt(None, "Serving framework factors (cloudmatrix-infer, sglang, deepseek, tensorrt-llm; "
                                         "default per chip).")
    rate: Optional[float] = opt(None, "With --phase pd: requests/s the fleet must hold (as --target-requests-per-s).",
                                unit="requests/s")
    slo_percentile: int = opt(90, "Percentile at which the TTFT/TPOT targets must hold when sizing the "
                                                  "deployment's capacity (50, 90 or 99).")
    target_output_tokens_per_s: Optional[float] = opt(None, "Fleet: whole deployments (systems, racks, power) for this "
                                                            "many output tokens/s (--phase pd or both).", unit="tokens/s")
    target_requests_per_s: Optional[float] = opt(None, "Fleet: whole deployments for this many requests/s.",
                                                 unit="requests/s")
    electricity: Optional[str | float] = _electricity()
    _price = field_validator("electricity")(_price)
    capex_per_chip_usd: Optional[float] = opt(None, "All-in system capex per chip, USD (default catalog/scale/cost.toml, "
                                                    "as superpod scale).", flag="--capex", unit="USD", gt=0)
    years: Optional[float] = opt(None, "Capex amortisation (default 4 years, catalog/scale/cost.toml).", unit="years")
    pue: Optional[float] = _pue()
    pareto: bool = opt(False, "Add the Pareto frontier (tokens/s per user vs per chip over layouts and batches).")
    save_deployment: Optional[Path] = opt(None, "Write the chosen deployment to this TOML file "
                                                "(superpod simulate --deployment reads it).", metavar="FILE.toml",
                                          strict=False)

    _as_list = field_validator("systems", mode="before")(_as_list)

    def check(self, name) -> None:
        if self.batch_per_chip is not None and self.concurrency is not None:
            raise InfeasiblePlanError(f"give at most one of {name('batch_per_chip')} and {name('concurrency')}")
        if self.ep is not None and self.moe_ep is not None:
            raise SuperpodError(f"{name('ep')} is an alias of {name('moe_ep')}: give one of them")
        # an option that cannot apply to the phase asked for is an error, never silently ignored
        if self.ttft_slo_s is not None and self.phase == "decode":
            raise InvalidOptionError(f"{name('ttft_slo_s')} does not apply to --phase decode (TTFT is prefill's): "
                                     "use --phase prefill, both or pd")
        if self.tpot_slo_s is not None and self.phase == "prefill":
            raise InvalidOptionError(f"{name('tpot_slo_s')} does not apply to --phase prefill (TPOT is decode's)")
        if self.mtp_accept is not None and not self.mtp:
            raise InvalidOptionError(f"{name('mtp_accept')} needs {name('mtp')} >= 1 (draft tokens to accept)")
        for f in ("batch_per_chip", "concurrency"):
            if getattr(self, f) is not None and self.phase == "pd":
                raise InvalidOptionError(f"{name(f)} does not apply to --phase pd (its pools are sized for the "
                                         "request mix): use --phase prefill, decode or both")
        if self.rate is not None and self.phase != "pd":
            raise InvalidOptionError(f"{name('rate')} sizes the pools of --phase pd only")
        for f in ("token_budget", "max_running", "recv_interval", "random_range_ratio", *HOLDS):
            if getattr(self, f) is not None and (self.phase != "both" or self.concurrency is None):
                raise InvalidOptionError(f"{name(f)} describes a co-located benchmark at fixed concurrency: it "
                                         f"needs --phase both with {name('concurrency')}")
        # TensorRT-LLM waits only while both are above 0: one alone would change nothing
        if (self.batch_wait_iters is None) != (self.batch_wait_ratio is None):
            given, other = ("batch_wait_iters", "batch_wait_ratio")[:: 1 if self.batch_wait_iters is not None else -1]
            raise InvalidOptionError(f"{name(given)} needs {name(other)}: TensorRT-LLM holds context requests only "
                                     "while both are above 0")
        if self.adp_batching_wait_iters is not None and self.adp_balance_iters is None:
            raise InvalidOptionError(f"{name('adp_batching_wait_iters')} needs {name('adp_balance_iters')} (the "
                                     "attention-DP balance it belongs to)")
        sizing = [f for f in ("target_output_tokens_per_s", "target_requests_per_s", "electricity", "capex_per_chip_usd",
                              "years", "pue", "save_deployment") if getattr(self, f) is not None] + (["pareto"] if self.pareto else [])
        if sizing and (self.phase not in ("pd", "both") or self.concurrency is not None or self.batch_per_chip is not None):
            raise InvalidOptionError(f"{name(sizing[0])} sizes a deployment: use --phase pd or both "
                                     f"(without {name('concurrency')} / {name('batch_per_chip')})")
        if self.save_deployment is not None and len(self.systems) != 1:
            raise InvalidOptionError(f"{name('save_deployment')} writes one deployment: give one system")


class SimulateOptions(Options):
    """``superpod simulate`` / :func:`superpod.simulate`: request-level simulation of a deployment."""

    positional: ClassVar = ("model", "system")
    model: str = opt(help="Catalog model name or a config file.", argument=True)
    system: str = opt(help="System to serve on.", argument=True)
    rate: Optional[float] = opt(None, "Mean request arrivals per second (not with --requests-file or --find-capacity).",
                                unit="requests/s")
    requests: int = opt(2000, "Requests to simulate (--find-capacity: at least, each run four request lifetimes long).",
                        unit="requests")
    arrival: Literal["poisson", "bursty"] = opt("poisson", "Arrival process: poisson | bursty (gamma inter-arrivals of "
                                                           "shape 0.25, vLLM's --burstiness).")
    requests_file: Optional[Path] = opt(None, "Replay a trace: CSV (header arrival_s,input_tokens,output_tokens) or JSONL "
                                              "of arrival time (s), prompt and output tokens.", metavar="FILE.csv|jsonl",
                                        strict=False)
    deployment: Optional[Path] = opt(None, "Simulate the deployment serve --save-deployment wrote (MODEL and SYSTEM "
                                           "must be its own).", metavar="FILE.toml", strict=False)
    find_capacity: bool = opt(False, "Find the highest request rate meeting the TTFT/TPOT targets at --slo-percentile "
                                     "by simulation (capacity_requests_per_s).")
    slo_percentile: int = opt(90, "Percentile the targets must hold at (50, 90 or 99).")
    policy: Literal["fcfs", "chunked"] = opt("fcfs", "Prefill scheduling: fcfs (whole prompts up to the token budget) | "
                                                     "chunked (prompts split to fill every step to the budget).")
    prefill_budget: Optional[float] = opt(None, "Prompt tokens per prefill step of a worker (default: the deployment's "
                                                "batch; co-located: the framework's budget).", unit="tokens")
    max_batch: Optional[int] = opt(None, "Sequences a decode worker runs at most (default: the deployment's batch).",
                                   unit="sequences")
    input_dist: Optional[str] = opt(None, "Prompt lengths: fixed:L, uniform:LO,HI, normal:MEAN,STD, exp:MEAN, "
                                          "lognormal:MEAN,SIGMA (default fixed:--input-len).")
    output_dist: Optional[str] = opt(None, "Output lengths, same forms (default fixed:--output-len).")
    input_len: float = opt(4096, "Mean prompt length the plan is sized for.", unit="tokens")
    output_len: float = opt(1024, "Mean output length the plan is sized for.", unit="tokens")
    mode: Optional[Mode] = opt(None, "pd (disaggregated pools) | colocated (default: pd for MoE models, colocated otherwise).")
    chips: Optional[int] = opt(None, "Chips of the whole deployment (default: the system's size).", unit="chips", ge=1)
    quant: Optional[str] = opt(None, "bf16 | fp8 | int8 | fp4.")
    kv_dtype: Optional[str] = opt(None, KV_HELP)
    tp: Optional[int] = opt(None, "Tensor parallelism of attention/dense layers (ranks; as serve).", unit="ranks")
    moe_tp: Optional[int] = opt(None, "Expert tensor parallelism (ranks; as serve).", unit="ranks", ge=1)
    moe_ep: Optional[int] = opt(None, "Expert parallelism (ranks; as serve).", unit="ranks", ge=1)
    dp: Optional[int] = opt(None, "Data-parallel attention ranks per worker (as serve).", flag="--dp-attention",
                            unit="ranks")
    overlap: Optional[bool] = opt(None, "Two-micro-batch overlap of MoE communication (default: searched).",
                                  flag="--overlap/--no-overlap")
    eplb: Eplb = opt("balanced", "perfect | balanced | none.")
    mtp: Optional[int] = opt(None, "MTP draft tokens.", unit="tokens")
    mtp_accept: Optional[float] = opt(None, "Draft acceptance.", unit="fraction")
    tpot_slo_s: Optional[float] = opt(None, "TPOT SLO: sizes the decode batch cap and counts goodput.",
                                      flag="--tpot-slo-ms", unit="s", cli_scale=1e-3)
    ttft_slo_s: Optional[float] = opt(None, "TTFT SLO for goodput.", flag="--ttft-slo-ms", unit="s", cli_scale=1e-3)
    framework: Optional[str] = opt(None, "Serving framework factors.")
    seed: int = opt(0, "Random seed.")
    cache_hit: float = CACHE_HIT
    cache_prefixes: Optional[int] = CACHE_PREFIXES
    cache_zipf: Optional[float] = CACHE_ZIPF
    cache_pool_bytes: Optional[float] = CACHE_POOL_BYTES
    cache_affinity: bool = CACHE_AFFINITY
    cache_trace: Optional[Path] = CACHE_TRACE
    trace: Optional[Path] = opt(None, "Write the serving timeline (requests queued, prefilled and decoded per "
                                      "instance) as Chrome/Perfetto trace-event JSON to this file.", metavar="OUT.json", strict=False)

    def check(self, name) -> None:
        if self.mtp_accept is not None and not self.mtp:
            raise InvalidOptionError(f"{name('mtp_accept')} needs {name('mtp')} >= 1 (draft tokens to accept)")
        if self.find_capacity and self.ttft_slo_s is None and self.tpot_slo_s is None:
            raise InvalidOptionError(f"{name('find_capacity')} needs {name('ttft_slo_s')} and/or {name('tpot_slo_s')}")
        if self.find_capacity and self.requests_file is not None:
            raise InvalidOptionError(f"{name('find_capacity')} scales a synthetic rate: drop {name('requests_file')}")
        if not self.find_capacity and self.requests_file is None and self.rate is None:
            raise InvalidOptionError(f"give {name('rate')}, {name('requests_file')} or {name('find_capacity')}")
        if self.deployment is not None:
            given = [f for f in ("mode", "chips", "quant", "kv_dtype", "tp", "moe_tp", "moe_ep", "dp", "overlap", "mtp",
                                 "mtp_accept", "framework") if getattr(self, f) is not None]
            if given:
                raise InvalidOptionError(f"{name(given[0])} is fixed by {name('deployment')}: drop it")


class PlotParetoOptions(Options):
    """``superpod plot pareto``: the serving Pareto frontier of MODEL on several systems, chosen deployments marked."""

    positional: ClassVar = ("model", "systems")
    model: str = opt(help="Catalog model name or a config file.", argument=True)
    systems: list[str] = opt(help="One or more systems (one line each).", argument=True, metavar="SYSTEM...")
    out: Path = opt(help="Output file: .png (matplotlib) or .html (plotly).", strict=False)
    phase: Literal["pd", "both"] = opt("pd", "pd (disaggregated pools) | both (co-located replicas).")
    chips: Optional[int] = opt(None, "Chips of each system (default: its size).", unit="chips", ge=1)
    input_len: float = opt(4096, "Prompt tokens per request.", unit="tokens")
    output_len: float = opt(1024, "Output tokens per request.", unit="tokens")
    ttft_slo_s: Optional[float] = opt(None, "TTFT target.", flag="--ttft-slo-ms", unit="s", cli_scale=1e-3)
    tpot_slo_s: Optional[float] = opt(None, "TPOT target (the chosen deployment's).", flag="--tpot-slo-ms", unit="s",
                                      cli_scale=1e-3)
    slo_percentile: int = opt(90, "Percentile the targets must hold at (50, 90 or 99).")
    quant: Optional[str] = opt(None, "bf16 | fp8 | int8 | fp4 (default: the lowest precision each chip supports).")
    mtp: Optional[int] = opt(None, "MTP draft tokens per step.", unit="tokens")
    mtp_accept: Optional[float] = opt(None, "Per-token acceptance of the drafts.", unit="fraction")
    framework: Optional[str] = opt(None, "Serving framework factors (default per chip).")

    _as_list = field_validator("systems", mode="before")(_as_list)

    def check(self, name) -> None:
        if self.out.suffix.lower() not in (".png", ".html"):
            raise InvalidOptionError(f"{name('out')} must end in .png or .html, got {self.out.name!r}")
        if not self.out.expanduser().parent.is_dir():
            raise InvalidOptionError(f"{name('out')}: directory {str(self.out.parent)!r} does not exist (create it first)")
        if self.mtp_accept is not None and not self.mtp:
            raise InvalidOptionError(f"{name('mtp_accept')} needs {name('mtp')} >= 1 (draft tokens to accept)")

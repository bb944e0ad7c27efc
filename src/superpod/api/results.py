"""What each API function returns (see :mod:`superpod.api.base` for what every result can do)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from superpod.api.base import Figure, Result, Results, flat, pandas, text_table


# ---------------------------------------------------------------------------- specs

class Spec(Result):
    """A catalog entry: ``.spec`` is the validated pydantic object (attributes read through
    to it), ``.to_dict()`` is ``superpod show --json``."""

    __slots__ = ("spec",)

    def __init__(self, spec: Any, record: dict[str, Any]):
        super().__init__(record)
        object.__setattr__(self, "spec", spec)

    def __reduce__(self):
        return type(self), (self.spec, self.record)

    def __getattr__(self, name: str) -> Any:
        if name == "spec":
            raise AttributeError(name)
        return getattr(self.spec, name)


class SystemSpec(Spec):
    name = Figure("name", doc="catalog name", kind=str)
    totals = Figure("totals", doc="system totals at its size (SI: FLOP/s, bytes, bytes/s, W)", kind=dict)


class ModelSpec(Spec):
    name = Figure("name", doc="catalog name", kind=str)
    params = Figure("params", doc="total parameters (MTP modules excluded)")
    active_params = Figure("active_params", doc="parameters each token multiplies with")


class Row(Result):
    """One row of a listing (a chip, system, model, claim, calibration anchor)."""


# ---------------------------------------------------------------------------- train

class _FromRecord:
    """A frozen dataclass read from a record's sub-dict (keys it does not name are ignored)."""

    @classmethod
    def of(cls, d: dict[str, Any]):
        return cls(**{f.name: d.get(f.name) for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class TrainPlan(_FromRecord):
    """A training plan: parallel degrees (ranks), schedule, micro-batching, ZeRO, recompute."""

    tp: int  #: tensor parallel degree
    pp: int  #: pipeline stages
    dp: int  #: data-parallel replicas
    ep: int  #: expert-parallel degree
    cp: int  #: context-parallel degree
    sp: bool  #: Megatron sequence parallelism
    vpp: int  #: virtual pipeline chunks per rank
    micro_batch: int  #: sequences per micro-batch
    micro_batches: int  #: micro-batches per step and pipeline
    zero: int  #: ZeRO stage
    recompute: str  #: none | selective | full
    schedule: str  #: pipeline schedule
    etp: int | None = None  #: expert tensor parallelism (MoE parallel folding)

    def text(self) -> str:
        """``TP2+SP PP4 DP8 EP8, 1f1b, mb 1x16, ZeRO-1, recompute none``."""
        parts = [f"TP{self.tp}" + ("+SP" if self.sp else ""), f"PP{self.pp}", f"DP{self.dp}"]
        parts += [f"{k.upper()}{getattr(self, k)}" for k in ("ep", "etp", "cp") if (getattr(self, k) or 1) > 1]
        sched = self.schedule + (f"(v{self.vpp})" if self.vpp > 1 else "")
        return " ".join(parts) + (f", {sched}, mb {self.micro_batch}x{self.micro_batches}, ZeRO-{self.zero}, "
                                  f"recompute {self.recompute}")


MFU_FORMULA = (
    "MFU = (6 x N_active + 3 x 2 n_q (d_qk + d_v) x s/2 x L) x tokens / (step_s x chips x dense BF16 peak): "
    "model FLOPs per token with the causal attention term, no recompute; HFU adds recomputed FLOPs. "
    "FP8 runs are also reported against the BF16 peak, as papers do."
)


class _Training(Result):
    """What a training record and a scale record share: the job and its best plan."""

    model = Figure("model", doc="model name", kind=str)
    system = Figure("system", doc="system name", kind=str)
    chips = Figure("chips", doc="chips of the system (train: in the job; scale: installed)", kind=int)
    step_s = Figure("step_s", doc="one optimizer step, seconds")
    tokens_per_s = Figure("tokens_per_s", doc="training tokens/s of the whole job while it runs")
    mfu = Figure("mfu", doc="model FLOPs utilisation of the best plan vs the dense BF16 peak (0-1)")
    memory_per_chip_bytes = Figure("memory_per_chip_bytes", doc="memory of the worst pipeline stage, bytes per chip")
    breakdown = Figure("breakdown", doc="seconds per step by cause (compute_s, bubble_s, ...)", kind=dict)

    @property
    def plan(self) -> TrainPlan:
        """The plan priced (on the job's chips)."""
        return TrainPlan.of(self.record["plan"])

    def step_table(self) -> str:
        """Where the step time goes, as a text table."""
        r = self.record
        step = r["step_s"]
        rows = [[k.removesuffix("_s").replace("_", " "), f"{v:.3g} s", f"{v / step * 100:.0f}%"]
                for k, v in r["breakdown"].items()]
        return text_table(f"Where the step time goes: {r['system']}, {self.plan.text()}", ["part", "time", "share"],
                          rows + [["(step)", f"{step:.3g} s", "100%"]])


class TrainResult(_Training):
    """The best training plan of a model on one sized system (``superpod train``)."""

    tokens_per_s_per_chip = Figure("tokens_per_s_per_chip", doc="training tokens/s per chip")
    tflops_per_chip = Figure("tflops_per_chip", doc="model TFLOP/s per chip")
    hfu = Figure("hfu", doc="hardware FLOPs utilisation (recompute included; 0-1)")
    power_w = Figure("power_w", doc="the system's all-in power, W")

    @property
    def top(self) -> list[dict[str, Any]]:
        """The K best plans (with ``top`` > 1), best first."""
        return self.record.get("top", [self.record])

    def explain(self) -> str:
        from superpod.units import human

        r = self.record
        mem = ", ".join(f"{k} {human(v, 'bytes')}" for k, v in r["memory_breakdown_bytes"].items() if v)
        return "\n".join([self.step_table(), MFU_FORMULA, f"{r['system']}: memory per chip {mem}"])


class TrainResults(Results[TrainResult]):
    """``superpod train`` on several systems: one :class:`TrainResult` each."""


# ---------------------------------------------------------------------------- serve

#: the per-chip throughput key of each phase's block
RATE_KEYS = {"prefill": "tokens_per_s_per_chip", "decode": "tokens_per_s_per_chip",
             "both": "output_tokens_per_s_per_chip", "pd": "output_tokens_per_s_per_chip"}


@dataclass(frozen=True)
class ServePlan(_FromRecord):
    """A serving plan: precision, parallelism (ranks), MTP, EPLB, overlap and the workload it was priced for."""

    quant: str  #: weight/GEMM precision
    kv_dtype: str  #: KV-cache precision
    framework: str  #: serving framework whose factors applied
    tp: int  #: tensor parallelism of attention/dense layers (ranks)
    ep: int  #: expert parallelism (ranks)
    dp: int  #: data-parallel attention ranks per instance
    mtp_k: int  #: MTP draft tokens per step
    mtp_accept: float  #: per-token acceptance of the drafts
    eplb: str  #: perfect | balanced | none
    overlap: bool  #: two-micro-batch overlap of MoE communication
    input_len: float  #: prompt tokens per request
    output_len: float  #: output tokens per request
    kv_len: float  #: mean context per decode step, tokens
    cache_hit: float  #: share of prompt tokens from the prefix cache
    picked: list  #: the parameters superpod chose


class ServeResult(Result):
    """A serving estimate of a model on one system (``superpod serve``)."""

    model = Figure("model", doc="model name", kind=str)
    system = Figure("system", doc="system name", kind=str)
    chip = Figure("chip", doc="chip name", kind=str)
    framework = Figure("framework", doc="serving framework whose factors applied", kind=str)
    system_chips = Figure("system_chips", doc="chips of the sized system", kind=int)
    system_power_w = Figure("system_power_w", doc="the system's all-in power, W")
    breakdown = Figure("breakdown", doc="per phase: step_s, parts_s, share, hidden_comm_s, imbalance", kind=dict)
    deployment = Figure("deployment", doc="--phase pd/both: the integer deployment (mode, prefill/decode or replicas: "
                        "workers, chips_per_worker, tp, moe_tp, moe_ep, dp_attention, batch; chips_used, chips_left)",
                        kind=dict)
    capacity_requests_per_s = Figure("capacity_requests_per_s", doc="requests/s one deployment holds with the TTFT/TPOT "
                                     "targets met at slo_percentile")
    capacity_output_tokens_per_s = Figure("capacity_output_tokens_per_s", doc="output tokens/s at that capacity")
    slo_percentile = Figure("slo_percentile", doc="percentile the targets hold at (50, 90, 99)", kind=int)
    fleet = Figure("fleet", doc="with a target: instances, chips, racks, power_it_w, power_facility_w", kind=dict)
    cost = Figure("cost", doc="with cost options: usd_per_mtok_output, usd_per_mtok_input, tco_usd_per_year, "
                  "electricity_usd_per_kwh, pue, capex_usd (and their bases)", kind=dict)

    @property
    def plan(self) -> ServePlan:
        """The plan priced (the record's ``plan`` also holds ``per_phase`` rows and ``assumed``)."""
        return ServePlan.of(self.record["plan"])

    @property
    def phase(self) -> str:
        """The phase reported: pd, both, decode or prefill."""
        return next(p for p in ("pd", "both", "decode", "prefill") if p in self.record)

    @property
    def tokens_per_s_per_chip(self) -> float:
        """Per-chip throughput of the phase reported: input tokens/s for prefill, output tokens/s otherwise."""
        return self.record[self.phase][RATE_KEYS[self.phase]]

    @property
    def ttft_s(self) -> float | None:
        """Time to first token, seconds (prefill, both, pd)."""
        return next((self.record[p]["ttft_s"] for p in ("pd", "both", "prefill") if p in self.record), None)

    @property
    def tpot_s(self) -> float | None:
        """Time per output token seen by one user, seconds (decode, both, pd)."""
        return next((self.record[p]["tpot_s"] for p in ("pd", "both", "decode") if p in self.record), None)

    def explain(self) -> str:
        out = []
        for phase, b in self.record["breakdown"].items():
            rows = [[k.replace("_s", ""), f"{v * 1e3:,.2f}", f"{b['share'][k] * 100:.1f}%"] for k, v in b["parts_s"].items()]
            rows.append(["(step)", f"{b['step_s'] * 1e3:,.2f}", "100%"])
            out.append(text_table(f"{self.record['system']} {phase}: time per step (ms)", ["part", "ms", "share"], rows))
            out.append(f"communication hidden under compute: {b['hidden_comm_s'] * 1e3:,.2f} ms; "
                       f"busiest EP rank's MoE load / mean: {b['imbalance']:.3f}")
        from superpod.planners.serve_cache import explain  # the caching tier (issue 16)
        out += [t for t in [explain(self.record.get("cache"), self.record["system"])] if t]
        return "\n".join(out)


class ServeFailure(Result):
    """A system of a comparison that cannot serve the model: ``{"system", "error"}``."""

    system = Figure("system", doc="system name", kind=str)
    error = Figure("error", doc="why not (the one-line error)", kind=str)

    def explain(self) -> str:
        return f"{self.system}: {self.error}"


class ServeResults(Results[Result]):
    """``superpod serve`` on several systems: a :class:`ServeResult` or :class:`ServeFailure` each."""


class SimulateResult(Result):
    """Request-level simulation (``superpod simulate``): latency percentiles and goodput."""

    mode = Figure("mode", doc="pd (disaggregated pools) or colocated", kind=str)
    ttft_s = Figure("ttft_s", doc="time to first token {p50, p90, p99, mean}, seconds", kind=dict)
    tpot_s = Figure("tpot_s", doc="time per output token {p50, p90, p99, mean}, seconds", kind=dict)
    e2e_s = Figure("e2e_s", doc="end-to-end latency {p50, p90, p99, mean}, seconds", kind=dict)
    throughput_output_tokens_per_s = Figure("throughput_output_tokens_per_s", doc="output tokens/s, whole deployment")
    throughput_requests_per_s = Figure("throughput_requests_per_s", doc="completed requests/s")
    goodput_requests_per_s = Figure("goodput_requests_per_s", doc="requests/s meeting both SLOs")
    goodput_fraction = Figure("goodput_fraction", doc="share of requests meeting both SLOs (0-1)")
    deployment = Figure("deployment", doc="instances per pool, batch caps and the pools (deployment['pools'])", kind=dict)
    capacity_requests_per_s = Figure("capacity_requests_per_s", doc="--find-capacity: the highest simulated rate "
                                     "meeting the targets at slo_percentile, requests/s")
    queue = Figure("queue", doc="prefill/decode mean and max waiting requests", kind=dict)
    utilisation = Figure("utilisation", doc="prefill pool busy share and decode slot occupancy (0-1)", kind=dict)


# ---------------------------------------------------------------------------- scale

class ScaleResult(_Training):
    """Effective compute, goodput, power, energy and cost of a training job at scale (``superpod scale``)."""

    job_chips = Figure("job_chips", doc="chips the training job uses (the rest idle as spares)", kind=int)
    effective_flops = Figure("effective_flops", doc="job chips x dense BF16 peak x MFU x goodput, FLOP/s")
    paper_flops = Figure("paper_flops", doc="installed chips x dense peak at the run's precision, FLOP/s")
    goodput = Figure("goodput", doc="share of wall time that advances training (0-1)")
    useful_tokens_per_s = Figure("useful_tokens_per_s", doc="tokens/s x goodput")
    time_to_train_s = Figure("time_to_train_s", doc="seconds to train the token budget")
    job_mtbf_s = Figure("job_mtbf_s", doc="mean time between job interruptions, seconds")
    power_w = Figure("power_w", doc="facility power (PUE included), W")
    energy_j_per_token = Figure("energy_j_per_token", doc="facility energy per useful training token, J")
    cost_per_mtok = Figure("cost_per_mtok", doc="USD per million useful training tokens")

    def explain(self) -> str:
        from superpod.units import human

        r = self.record
        return "\n".join([
            self.step_table(),
            f"effective FLOP/s = {r['job_chips']:,} job chips x dense BF16 peak x MFU {r['mfu']:.3f} x goodput "
            f"{r['goodput']:.3f} = {human(r['effective_flops'], 'flops')} ({r['effective_share_of_paper'] * 100:.2f}% of "
            f"the paper {human(r['paper_flops'], 'flops')})",
            f"goodput: job MTBF {r['job_mtbf_s'] / 3600:,.2f} h, checkpoint every {r['checkpoint_interval_s'] / 60:,.1f} min "
            f"({r['checkpoint_s']:,.3g} s each), restart {r['restart_s']:,.3g} s",
            f"power {human(r['power_w'], 'power')} (PUE {r['cost_bases']['pue']:g}); {r['energy_j_per_token']:.3g} J and "
            f"${r['cost_per_mtok']:.3g} per million tokens",
        ])


class ScenarioResult(Results[ScaleResult]):
    """``superpod scenario``: one :class:`ScaleResult` per build (with key, label, fast_recovery, ratio_to_first)."""

    @property
    def builds(self) -> tuple[ScaleResult, ...]:
        return self.items


class ScalingResult(Result):
    """Scaling curves (``superpod plot scaling`` draws them): per system, arrays over chip counts."""

    model = Figure("model", doc="model name", kind=str)
    curves = Figure("curves", doc="one per system: chips, job_chips, effective_flops, mfu, goodput, ... (arrays)",
                    kind=list)

    def to_frame(self):
        """One row per (system, chip count)."""
        pd = pandas()
        frames = []
        for c in self.to_dict()["curves"]:
            cols = {k: v for k, v in c.items() if isinstance(v, list)}
            f = pd.DataFrame(cols)
            f.insert(0, "system", c["system"])
            frames.append(f)
        return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------- evidence

class CompareResult(Results[Row]):
    """``superpod compare``: one row of system totals per system (SI; ``*_bits_per_s`` in bits/s)."""

    def explain(self) -> str:
        """The basis of each total: count x per-chip value (source) [confidence]."""
        return "\n".join(f"{r['name']} {k}: {v}" for r in self.items for k, v in r["basis"].items())


class ClaimsResult(Results[Row]):
    """``superpod claims``: each published claim recomputed, with its verdict."""

    @property
    def counts(self) -> dict[str, int]:
        """Claims per verdict (reproduced, explained, disputed)."""
        return self.extra["counts"]

    @property
    def strict_failures(self) -> list[str]:
        """Ids of the claims ``--strict`` rejects."""
        return list(self.extra["strict_failures"])

    def to_dict(self) -> dict[str, Any]:
        return {"claims": [r.to_dict() for r in self.items], "counts": dict(self.counts)}

    def explain(self) -> str:
        """One line per claim: verdict, claimed vs computed, and the basis."""
        return "\n".join(f"{r['id']}: {r['verdict']} (claimed {r['op']} {r['claimed']:g} {r['unit']}, computed "
                         f"{r['computed']:.4g}; {r['basis']})" for r in self.items)


class ValidateResult(Result):
    """``superpod validate``: predictions vs published measurements, per group, with MAPE."""

    groups = Figure("groups", doc="per group: cases, mape, max_abs_error, targets, within_target", kind=list)

    @property
    def within_target(self) -> bool:
        """Every group within its stated MAPE and worst-case targets."""
        return all(g["within_target"] for g in self.record["groups"])

    def to_frame(self):
        """One row per case."""
        return pandas().DataFrame([flat(c) for g in self.to_dict()["groups"] for c in g["cases"]])

    def explain(self) -> str:
        return "\n".join(f"{g['group']}: MAPE {g['mape'] * 100:.1f}% (target <= {g['target_mape'] * 100:.0f}%), "
                         f"worst case {g['max_abs_error'] * 100:.1f}%" for g in self.record["groups"])


class SiliconResult(Result):
    """``superpod validate silicon``: measured serving runs priced with their own deployments."""

    rows = Figure("rows", doc="per row: id, status (ok | unsupported | infeasible), reason, predicted and measured "
                              "TTFT/TPOT in ms", kind=list)
    partitions = Figure("partitions", doc="per (framework, gpu, model, mode, precision): rows, answered, ttft_mape, "
                                          "tpot_mape", kind=list)
    summary = Figure("summary", doc="rows, answered, ttft_mape, tpot_mape, answered_share, gate, within_gate", kind=dict)

    @property
    def within_gate(self) -> bool:
        """TPOT and TTFT MAPE and the answered share within the accuracy gate."""
        return bool(self.record["summary"]["within_gate"])

    def to_frame(self):
        """One row per measured run."""
        return pandas().DataFrame(self.record["rows"])

    def explain(self) -> str:
        s, g = self.record["summary"], self.record["summary"]["gate"]
        pct = lambda v: "-" if v is None else f"{v * 100:.1f}%"  # noqa: E731
        return (f"{s['answered']:,} of {s['rows']:,} rows answered ({pct(s['answered_share'])} of the {s.get('gate_rows', 0):,} "
                f"supported models' rows that state their deployment; gate >= {g['answered_share'] * 100:.0f}%); TTFT MAPE {pct(s['ttft_mape'])} (gate <= "
                f"{g['ttft_mape'] * 100:.0f}%), TPOT MAPE {pct(s['tpot_mape'])} (gate <= {g['tpot_mape'] * 100:.0f}%)")

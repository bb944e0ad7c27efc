"""The options of every command, declared once.

Each command has one pydantic class here: a field's ``description`` is the ``--help`` text,
its default is the flag's default, and :func:`opt` adds the flag's spelling and the unit.
The Python API validates its keyword arguments with the same class
(:meth:`Options.parse`), and :mod:`superpod.faces.cli.options` builds the Typer command
from it, so a flag, its default and its help are written in one place.

API keywords are SI (``tpot_slo_s``); where the CLI takes another unit the field says
so (``--tpot-slo-ms``, ``cli_scale=1e-3``: the CLI value times the scale is the API value).
An unknown keyword, a value of the wrong type or one outside its range raises a one-line
:class:`~superpod.errors.SuperpodError` naming the keyword (or the flag, from the CLI).

>>> TrainOptions.parse(model="llama3-8b", systems="gb200-nvl72", tp=2).systems
['gb200-nvl72']
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Optional, Self

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator
from pydantic_core import PydanticUndefined

from superpod.errors import InfeasiblePlanError, InvalidOptionError, SuperpodError

Schedule = Literal["gpipe", "1f1b", "interleaved", "zero-bubble", "dualpipe"]
Recompute = Literal["none", "selective", "full"]
TrainPrecision = Literal["bf16", "fp8"]
Phase = Literal["prefill", "decode", "both", "pd"]
Eplb = Literal["perfect", "balanced", "none"]
Mode = Literal["pd", "colocated"]


def opt(default: Any = PydanticUndefined, help: str = "", *, flag: str | None = None, unit: str | None = None,
        cli_scale: float | None = None, argument: bool = False, metavar: str | None = None, **constraints) -> Any:
    """A field: ``default``, ``help`` (meaning + unit; the ``--help`` text), the CLI ``flag``
    (default ``--field-name``), the API ``unit`` and the CLI-to-API ``cli_scale``;
    ``argument`` makes it a positional CLI argument. ``constraints`` go to pydantic (``gt=0``)."""
    extra = {"flag": flag, "unit": unit, "cli_scale": cli_scale, "argument": argument, "metavar": metavar}
    return Field(default, description=help, json_schema_extra={k: v for k, v in extra.items() if v is not None},
                 **constraints)


def flag_decl(cls: type[BaseModel], name: str) -> str:
    """The CLI flag declaration of field ``name`` (``--seq-len``, ``--sp/--no-sp``)."""
    extra = cls.model_fields[name].json_schema_extra or {}
    return str(extra.get("flag") or "--" + name.replace("_", "-"))


def flag_of(cls: type[BaseModel], name: str) -> str:
    """How the CLI spells field ``name`` in a message: its flag (the first of a pair) or ARGUMENT."""
    if (cls.model_fields[name].json_schema_extra or {}).get("argument"):
        return name.upper()
    return flag_decl(cls, name).split("/")[0]


class Options(BaseModel):
    """Base of the per-command options: frozen, unknown keywords rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    #: fields that describe what is run on, not how (given positionally to the API function)
    positional: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def parse(cls, *, cli: bool = False, **values: Any) -> Self:
        """Validate ``values`` (API keywords, or with ``cli`` the CLI's values in CLI units)."""
        if cli:
            for name, v in list(values.items()):
                field = cls.model_fields.get(name)
                scale = (field.json_schema_extra or {}).get("cli_scale") if field is not None else None
                if scale is not None and v is not None:
                    values[name] = v * scale
        unknown = [k for k in values if k not in cls.model_fields]
        if unknown:
            known = [k for k in cls.model_fields if k not in cls.positional]
            raise SuperpodError(f"unknown option {', '.join(_hint(k, known) for k in unknown)}; options: {', '.join(known)}")
        try:
            out = cls(**values)
        except ValidationError as e:
            raise SuperpodError(_one_line(cls, e, cli)) from None
        spell = (lambda f: flag_of(cls, f)) if cli else (lambda f: f)
        out.bounds(spell)
        out.check(spell)
        return out

    def bounds(self, name) -> None:
        """Rules every numeric field obeys: finite, and within the range its unit allows
        (:data:`UNIT_RANGE`; a field's own ``ge``/``gt`` constraints come first)."""
        for f, field in type(self).model_fields.items():
            v = getattr(self, f)
            if isinstance(v, str) and not v.strip():
                raise InvalidOptionError(f"{name(f)} must not be empty (leave it out for the default)")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            if isinstance(v, float) and not math.isfinite(v):
                raise InvalidOptionError(f"{name(f)} must be a finite number, got {v}")
            lo, hi = UNIT_RANGE.get((field.json_schema_extra or {}).get("unit"), (None, 1e15))
            lo = RANGE.get(f, (lo, hi))[0]
            hi = RANGE.get(f, (lo, hi))[1]
            if lo is not None and (v < lo or (lo == _TINY and not v > 0)):
                raise InvalidOptionError(f"{name(f)} must be {'> 0' if lo == _TINY else f'>= {lo:g}'}, got {v:g}")
            if v > hi:
                raise InvalidOptionError(f"{name(f)} must be <= {hi:g}, got {v:g}")

    def check(self, name) -> None:
        """Rules across fields; ``name(field)`` spells a field as the caller knows it."""

    def kwargs(self, *exclude: str) -> dict[str, Any]:
        """The fields as keyword arguments (minus ``exclude`` and the positional ones)."""
        drop = set(exclude) | set(self.positional)
        return {k: getattr(self, k) for k in type(self).model_fields if k not in drop}


_TINY = 1e-12  # "strictly positive" (and not denormal: 1e-320 is refused)

#: (lowest, highest) by a field's unit; a float field at 0 that means "none" is listed in RANGE
UNIT_RANGE: dict[str | None, tuple[float | None, float]] = {
    "chips": (1, 1e8), "ranks": (1, 1 << 20), "sequences": (1, 1 << 30), "tokens": (_TINY, 1e16),
    "requests": (1, 1e7), "requests/s": (_TINY, 1e9), "s": (_TINY, 1e9), "fraction": (0, 1), "USD": (0, 1e12),
    "USD/kWh": (0, 1e3), "years": (_TINY, 100), "days": (_TINY, 1e5), "tokens/s": (_TINY, 1e12),
    None: (None, 1e15),
}
#: per field name, overriding its unit's range
RANGE: dict[str, tuple[float | None, float]] = {
    "zero": (0, 3), "top": (1, 1000), "vpp": (1, 1024), "mtp": (0, 16), "seed": (0, 2 ** 32 - 1),
    "pue": (1, 10), "failure_scale": (1e-6, 1e6), "points": (2, 10_000), "workers": (1, 1024),
    "min_chips": (1, 1e8), "max_chips": (1, 1e8), "seq_len": (1, 1 << 24), "global_batch_tokens": (1, 1e13),
    "global_batch": (1, 1 << 30), "batch_per_chip": (_TINY, 1e9), "concurrency": (_TINY, 1e12),
    "input_len": (1, 1 << 24), "output_len": (1, 1 << 24), "kv_len": (1, 1 << 24), "requests": (1, 1e6),
    "tokens": (1, 1e18),
}


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f"{name!r}" + (f" (did you mean {', '.join(close)}?)" if close else "")


def _one_line(cls: type[BaseModel], e: ValidationError, cli: bool) -> str:
    err = e.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else "?"
    name = flag_of(cls, field) if cli and field in cls.model_fields else field
    got = err.get("input")
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{name} must be one of {choices}, got {got!r}"
    if kind == "missing":
        return f"{name} is required"
    for k, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if k in ctx:
            return f"{name} must be {sign} {ctx[k]}, got {got!r}"
    return f"{name}: {err['msg'].lower()}, got {got!r}"


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


# ---------------------------------------------------------------------------- train

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
    ep: Optional[int] = opt(None, "Expert-parallel degree in ranks (MoE).", unit="ranks")
    cp: Optional[int] = opt(None, "Context-parallel degree in ranks.", unit="ranks")
    micro_batch: Optional[int] = opt(None, "Sequences per micro-batch.", unit="sequences")
    recompute: Optional[Recompute] = opt(None, "none | selective | full.")
    precision: TrainPrecision = opt("bf16", "GEMM precision: bf16 | fp8.")
    framework: str = opt("megatron", "Software stack whose calibrated factors apply (superpod validate lists them).")
    top: int = opt(1, "Also list the K best plans.")
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
    cache_hit: float = opt(0.0, "Share of prompt tokens served from the prefix cache.", unit="fraction")
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
    eplb: Eplb = opt("balanced", "perfect (idealised balance) | balanced (real routing, EPLB) | none.")
    overlap: Optional[bool] = opt(None, "Two-micro-batch overlap of MoE communication (default: searched).",
                                  flag="--overlap/--no-overlap")
    framework: Optional[str] = opt(None, "Serving framework factors (cloudmatrix-infer, sglang, deepseek, tensorrt-llm; "
                                         "default per chip).")
    rate: Optional[float] = opt(None, "With --phase pd: requests/s to size the pools for.", unit="requests/s")

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


class SimulateOptions(Options):
    """``superpod simulate`` / :func:`superpod.simulate`: request-level simulation of a deployment."""

    positional: ClassVar = ("model", "system")
    model: str = opt(help="Catalog model name or a config file.", argument=True)
    system: str = opt(help="System to serve on.", argument=True)
    rate: float = opt(help="Mean request arrivals per second (Poisson).", unit="requests/s")
    requests: int = opt(help="Requests to simulate.", unit="requests")
    input_dist: Optional[str] = opt(None, "Prompt lengths: fixed:L, uniform:LO,HI, normal:MEAN,STD, exp:MEAN, "
                                          "lognormal:MEAN,SIGMA (default fixed:--input-len).")
    output_dist: Optional[str] = opt(None, "Output lengths, same forms (default fixed:--output-len).")
    input_len: float = opt(4096, "Mean prompt length the plan is sized for.", unit="tokens")
    output_len: float = opt(1024, "Mean output length the plan is sized for.", unit="tokens")
    mode: Optional[Mode] = opt(None, "pd (disaggregated pools) | colocated (default: pd for MoE models, colocated otherwise).")
    chips: Optional[int] = opt(None, "Chips of the whole deployment (default: the system's size).", unit="chips", ge=1)
    quant: Optional[str] = opt(None, "bf16 | fp8 | int8 | fp4.")
    kv_dtype: Optional[str] = opt(None, KV_HELP)
    mtp: Optional[int] = opt(None, "MTP draft tokens.", unit="tokens")
    mtp_accept: Optional[float] = opt(None, "Draft acceptance.", unit="fraction")
    tpot_slo_s: Optional[float] = opt(None, "TPOT SLO: sizes the decode batch cap and counts goodput.",
                                      flag="--tpot-slo-ms", unit="s", cli_scale=1e-3)
    ttft_slo_s: Optional[float] = opt(None, "TTFT SLO for goodput.", flag="--ttft-slo-ms", unit="s", cli_scale=1e-3)
    framework: Optional[str] = opt(None, "Serving framework factors.")
    seed: int = opt(0, "Random seed.")
    trace: Optional[Path] = opt(None, "Write the serving timeline (requests queued, prefilled and decoded per "
                                      "instance) as Chrome/Perfetto trace-event JSON to this file.", metavar="OUT.json", strict=False)

    def check(self, name) -> None:
        if self.mtp_accept is not None and not self.mtp:
            raise InvalidOptionError(f"{name('mtp_accept')} needs {name('mtp')} >= 1 (draft tokens to accept)")


# ---------------------------------------------------------------------------- scale, scenario, plot

def _precision():
    return opt("bf16", "GEMM precision: bf16 | fp8 (MFU is against the BF16 peak).")


def _seq_len():
    return opt(None, "Tokens per sequence (default 4,096, DeepSeek-V3's).", unit="tokens")


def _global_batch():
    return opt(None, "Sequences per step (default: the shared policy, clamp(chips / 4, 1,024, 15,360) 4K-token "
               "sequences, 15,360 being DeepSeek-V3's largest; docs/conventions.md).", unit="sequences")


def _tokens():
    return opt(None, "Token budget for the time to train (default 15e12).", unit="tokens", gt=0)


def _pue():
    return opt(None, "Power usage effectiveness (default 1.3, catalog/scale/energy.toml).")


def _electricity():
    return opt(None, "Electricity price: us | china | china_unsubsidised, or USD per kWh.", unit="USD/kWh")


def _failure_scale():
    return opt(1.0, "Multiply every calibrated failure rate (1 = Llama 3's H100 record).", gt=0)


def _restart_s():
    return opt(None, "Replace the modelled restart time R by this many seconds.", unit="s", gt=0)


def _in_memory_ckpt():
    return opt(None, "Checkpoint to host/peer memory (default: the system's setting).",
               flag="--in-memory-ckpt/--storage-ckpt")


def _fast():
    return opt(False, "Search micro-batch 1 plans only (8x faster; within 0.8% of the full search on 72 cases).")


class _Recovery(Options):
    """What scale and scenario share: the run's precision/workload and the reliability knobs."""

    def planner(self, **more):
        """The planners' :class:`~superpod.planners.scale_estimate.ScaleOptions` for these options."""
        from superpod.planners.scale_estimate import ScaleOptions as Planner
        from superpod.scaling.recovery import RecoveryOptions

        d = {k: getattr(self, k, None) for k in ("precision", "seq_len", "global_batch", "tokens", "pue",
                                                  "electricity", "fast")} | more
        rec = RecoveryOptions(failure_scale=self.failure_scale, in_memory_checkpoint=self.in_memory_ckpt,
                              spares=d.pop("spares", True), restart_s=self.restart_s,
                              interval="young" if d.pop("young", False) else "daly")
        return Planner(recovery=rec, **d)


def _price(v: Any) -> Any:
    """An electricity price given as a number (or a numeric string) must be finite and >= 0."""
    try:
        x = float(v) if isinstance(v, str) else v
    except ValueError:
        return v  # a region name: the planner checks it
    if isinstance(x, bool) or (isinstance(x, (int, float)) and not (math.isfinite(x) and 0 <= x <= 1e3)):
        raise ValueError(f"must be a region or a finite price in USD/kWh in [0, 1000], got {v!r}")
    return v


class ScaleOptions(_Recovery):
    """``superpod scale`` / :func:`superpod.scale`: None means the catalog default (catalog/scale/*.toml)."""

    positional: ClassVar = ("model", "system")
    model: str = opt(help="Model name or path (superpod models).", argument=True)
    system: str = opt(help="System name or path; NAME@N sizes it.", argument=True)
    chips: Optional[int] = opt(None, "Chips installed (default: the system's size).", unit="chips", ge=1)
    days: Optional[float] = opt(None, "Run length for the expected interruptions (default: the time to train).",
                                unit="days", gt=0)
    tokens: Optional[float] = _tokens()
    precision: TrainPrecision = _precision()
    seq_len: Optional[int] = _seq_len()
    global_batch: Optional[int] = _global_batch()
    framework: str = opt("megatron", "Training stack whose calibrated factors apply.")
    pue: Optional[float] = _pue()
    electricity: Optional[str | float] = _electricity()
    _price = field_validator("electricity")(_price)
    amortisation_years: Optional[float] = opt(None, "Capex amortisation (default 4 years).", unit="years")
    capex_per_chip_usd: Optional[float] = opt(None, "System capex per chip in USD (default: catalog/scale/cost.toml).",
                                              flag="--capex-per-chip", unit="USD", gt=0)
    failure_scale: float = _failure_scale()
    restart_s: Optional[float] = _restart_s()
    in_memory_ckpt: Optional[bool] = _in_memory_ckpt()
    spares: bool = opt(True, "Use the system's hot spares and idle nodes.", flag="--spares/--no-spares")
    young: bool = opt(False, "Young's checkpoint interval instead of Daly's.")
    fast: bool = _fast()
    serve_tokens_per_s_per_chip: Optional[float] = opt(
        None, "Decode output tokens/s per chip at your TPOT target: adds J per output token.", unit="tokens/s")
    serve_tpot_s: Optional[float] = opt(None, "TPOT target; without the throughput above, asks the serving estimator.",
                                        flag="--serve-tpot-ms", unit="s", cli_scale=1e-3)

    def planner(self, **more):
        return super().planner(days=self.days, framework=self.framework, amortisation_years=self.amortisation_years,
                               capex_per_chip_usd=self.capex_per_chip_usd, spares=self.spares, young=self.young,
                               **more)


class ScenarioOptions(_Recovery):
    """``superpod scenario`` / :func:`superpod.scenario`: the same paper FLOPs built several ways."""

    positional: ClassVar = ("name",)
    name: str = opt("huaweiopolis", "Scenario name (catalog/scale/*.toml with builds).", argument=True)
    model: Optional[str] = opt(None, "Model to train (default: the scenario's).")
    nvidia: Optional[str] = opt(None, "Replace the NVL72 build's system (e.g. gb200-nvl72).")
    tokens: Optional[float] = _tokens()
    precision: TrainPrecision = _precision()
    seq_len: Optional[int] = _seq_len()
    global_batch: Optional[int] = _global_batch()
    pue: Optional[float] = _pue()
    electricity: Optional[str | float] = _electricity()
    _price = field_validator("electricity")(_price)
    failure_scale: float = _failure_scale()
    restart_s: Optional[float] = _restart_s()
    in_memory_ckpt: Optional[bool] = _in_memory_ckpt()
    fast: bool = _fast()


class ScalingOptions(Options):
    """:func:`superpod.scaling` (``superpod plot scaling`` draws it): curves over log-spaced chip counts."""

    positional: ClassVar = ("model", "systems")
    model: str = opt(help="Model name or path.", argument=True)
    systems: list[str] = opt(help="One or more systems.", argument=True, metavar="SYSTEM...")
    points: int = opt(30, "Chip counts from --min-chips to --max-chips (log-spaced).")
    min_chips: int = opt(64, "", unit="chips")
    max_chips: int = opt(1_000_000, "", unit="chips")
    precision: TrainPrecision = _precision()
    full_search: bool = opt(False, "Search every plan (slow).")
    workers: Optional[int] = opt(None, "Processes (default: one per CPU core).")

    _as_list = field_validator("systems", mode="before")(_as_list)

    def check(self, name) -> None:
        if not 1 <= self.min_chips < self.max_chips or self.points < 2:
            raise SuperpodError(f"need 1 <= {name('min_chips')} < {name('max_chips')} and {name('points')} >= 2")


class PlotScalingOptions(ScalingOptions):
    """``superpod plot scaling``: :class:`ScalingOptions` and the file to draw into."""

    out: Annotated[Path, Strict(False)] = opt(help="Output file: .png (matplotlib) or .html (plotly).")

    def check(self, name) -> None:
        if self.out.suffix.lower() not in (".png", ".html"):
            raise SuperpodError(f"{name('out')} must end in .png or .html, got {self.out.name!r}")
        parent = self.out.expanduser().parent
        if self.out.expanduser().is_dir():
            raise InvalidOptionError(f"{name('out')} {str(self.out)!r} is a directory: give a file name")
        if not parent.is_dir():
            raise InvalidOptionError(f"{name('out')}: directory {str(parent)!r} does not exist (create it first)")
        if str(parent.resolve()).startswith(("/proc", "/sys", "/dev")):
            raise InvalidOptionError(f"{name('out')}: cannot write a picture under {str(parent)!r}")
        super().check(name)


# ---------------------------------------------------------------------------- catalog commands

class CompareOptions(Options):
    """``superpod compare`` / :func:`superpod.compare`."""

    positional: ClassVar = ("systems",)
    systems: list[str] = opt(help="Two or more systems; NAME@N sizes one to N chips.", argument=True, metavar="SYSTEM...", min_length=1)
    chips: Optional[int] = opt(None, "Size every system to N chips (filling nodes first; clusters grow, fixed systems "
                                     "become copies).", unit="chips", ge=1)

    _as_list = field_validator("systems", mode="before")(_as_list)


class ValidateOptions(Options):
    """``superpod validate`` / :func:`superpod.validate`."""

    group: Optional[str] = opt(None, "training | serving | silicon (measured serving runs); default: training and "
                                     "serving.", argument=True, metavar="GROUP")
    file: Optional[str] = opt(None, "silicon only: a CSV of measured runs in AIConfigurator's silicon_sample.csv "
                                    "format (default: the public file shipped with superpod).", argument=True,
                              metavar="FILE.csv")
    groups: Optional[list[str]] = opt(None, "Only these groups (training, serving).", flag="--group")

    _as_list = field_validator("groups", mode="before")(_as_list)


class CalibrationOptions(Options):
    """``superpod calibration`` / :func:`superpod.calibration`."""

    holdout: Optional[Literal["h100_sxm", "h200_sxm", "b200_sxm", "gb200", "b300_sxm", "gb300"]] = opt(
        None, "A measured GPU (AIConfigurator name) to leave out: report each kernel table's error on it with the "
              "parameters fitted without it (recorded by the fits, which need the full tables).", metavar="GPU")
    refit: bool = opt(False, "With --holdout: refit every kernel model on the shipped samples without that GPU "
                             "and report its error (about 60 s; needs a source checkout and the 'fit' extra).")
    worst: int = opt(3, "Worst shapes listed per kernel table.", ge=0, le=50)

    def check(self, name) -> None:
        if self.refit and self.holdout is None:
            raise SuperpodError(f"{name('refit')} needs {name('holdout')} GPU (the GPU to leave out)")


# ---------------------------------------------------------------------------- report (faces)

class ReportOptions(Options):
    """``superpod report``: a self-contained static HTML page of the compare, train, serve, scale, claims and
    validation views."""

    html: Path = opt(help="Output file (.html): plots inline, opens with no network.", flag="--html",
                     metavar="OUT.html", strict=False)
    systems: list[str] = opt(["cloudmatrix384", "gb200-nvl72"], "Systems to compare (repeat the flag).",
                             flag="--systems")
    model: str = opt("deepseek-v3", "Model to train, serve and scale (catalog name or config file).")
    chips: Optional[int] = opt(384, "Size every system to N chips for compare and train (0: each system's own size).",
                               unit="chips", ge=0)
    silicon: bool = opt(True, "Include the measured-silicon validation scatter (about 5 s).",
                        flag="--silicon/--no-silicon")

    _as_list = field_validator("systems", mode="before")(_as_list)

    def check(self, name) -> None:
        if self.html.suffix.lower() not in (".html", ".htm"):
            raise SuperpodError(f"{name('html')} must end in .html, got {self.html.name!r}")
        if not self.systems:
            raise SuperpodError(f"{name('systems')}: give at least one system")


class UiOptions(Options):
    """``superpod ui``: the Streamlit dashboard (optional extra ``superpod[ui]``)."""

    port: int = opt(8501, "Port on 127.0.0.1 to serve the dashboard on.", ge=1, le=65535)

"""Options of the at-scale commands: ``scale``, ``scenario``, ``plot scaling`` (and the shared
workload, power, money and recovery fields)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, ClassVar, Optional

from pydantic import Strict, field_validator

from superpod.api.options.base import Options, TrainPrecision, _as_list, opt
from superpod.errors import InvalidOptionError, SuperpodError

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
    return opt(None, "Electricity price: us | china | china_unsubsidised | eu, or USD per kWh (catalog/scale/cost.toml).", unit="USD/kWh")


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

"""The rows of a measured-serving file (AIConfigurator's ``silicon_sample.csv`` format) and the
settings each row states, mapped to superpod's names: catalog system, framework and model
(``catalog/validation/silicon/*.toml``), GEMM and expert formats, pool layouts, the run's concurrency
and the benchmark client that measured it, and the speculative decoding a run used that its row does
not state (``speculative.toml``: sourced per image and date, confidence C). A row superpod cannot express gets ``status`` and ``reason``
here; pricing is :mod:`superpod.planners.validation_silicon`'s.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from superpod.cost.hardware import Hardware
from superpod.errors import SpecError
from superpod.serving.framework import mtp
from superpod.spec.catalog import catalog_root, load_system, read_toml

#: GEMM number formats of the rows -> superpod's ``quant``
QUANT = {"": "bf16", "bf16": "bf16", "fp8": "fp8", "fp8_block": "fp8", "nvfp4": "fp4"}
#: columns every row must have
REQUIRED = ("id", "backend", "model_path", "system", "mode", "isl", "osl", "silicon_ttft_ms", "silicon_tpot_ms")
#: why a disaggregated row without its decode pool is not priced (the gate's denominator leaves it out)
UNDETERMINED = ("no {pre}batch_size or {pre}num_workers: the row does not determine its deployment (how many "
                "prefill and decode workers share the run's concurrency); rows stating the same per-worker layouts "
                "at the same concurrency measure up to 8.7x apart in TTFT and 4.7x in TPOT")

def default_file() -> Path:
    return catalog_root() / "validation" / "silicon" / "serving_measured.csv"


@lru_cache(maxsize=1)
def mappings() -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, str]]]:
    """(AIConfigurator system -> catalog system, backend -> framework, HF id -> model entry)."""
    root = catalog_root() / "validation" / "silicon"
    s = read_toml(root / "systems.toml")
    models_path = root / "models.toml"
    models = read_toml(models_path).get("models", {}) if models_path.is_file() else {}
    return dict(s["systems"]), dict(s["frameworks"]), {k: dict(v) for k, v in models.items()}


@lru_cache(maxsize=1)
def _harnesses() -> list[dict[str, Any]]:
    path = catalog_root() / "validation" / "silicon" / "harness.toml"
    return list(read_toml(path).get("harness", [])) if path.is_file() else []


def harness(raw: dict[str, str]) -> tuple[int | None, float]:
    """(requests per client, length ratio) of the benchmark client that measured a row
    (``catalog/validation/silicon/harness.toml``, matched on ``silicon_data_source``)."""
    src = raw.get("silicon_data_source") or ""
    hs = _harnesses()
    for h in hs:
        if h["name"] != "default" and any(src.startswith(p) for p in h.get("sources", [])):
            return int(h["rounds"]["value"]), float(h["length_ratio"]["value"])
    d = next((h for h in hs if h["name"] == "default"), None)
    return (int(d["rounds"]["value"]), float(d["length_ratio"]["value"])) if d else (None, 1.0)


@lru_cache(maxsize=1)
def _speculative_rules() -> list[dict[str, Any]]:
    path = catalog_root() / "validation" / "silicon" / "speculative.toml"
    return list(read_toml(path).get("rule", [])) if path.is_file() else []


def measured_date(src: str) -> str:
    """The ``measured=`` field of a row's ``silicon_data_source`` ("" without one)."""
    for part in src.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "measured":
            return value
    return ""


def speculative(raw: dict[str, str], attention_dp: bool) -> tuple[int, float, str] | None:
    """(draft tokens, per-token acceptance, rule name) of a run that used speculative decoding its
    row does not state (``catalog/validation/silicon/speculative.toml``), or None. The acceptance is
    superpod's default (``[mtp.default_accept]``, frameworks/serving.toml), never fitted to the rows."""
    src = raw.get("silicon_data_source") or ""
    for rule in _speculative_rules():
        if (raw.get("backend") != rule["backend"] or raw.get("model_path") != rule["model_path"]
                or raw.get("mode") != rule.get("mode", raw.get("mode"))):
            continue
        if not all(s in src for s in rule.get("source_contains", [])):
            continue
        dates = rule.get("measured")
        if dates and not any(measured_date(src).startswith(d) for d in dates):
            continue
        depth = int(rule["depth_attention_dp"] if attention_dp and "depth_attention_dp" in rule else rule["depth"])
        return depth, float(mtp().default_accept.si), rule["name"]
    return None


def layout_product(raw: dict[str, str]) -> bool:
    """Whether the row's harness writes a ``tpT_epE`` layout as products (``harness.toml`` ``layout_product``)."""
    src = raw.get("silicon_data_source") or ""
    return any(h.get("layout_product", False) for h in _harnesses()
               if h["name"] != "default" and any(src.startswith(p) for p in h.get("sources", [])))


def _unproduct(tp: int, dp: int, moe_tp: int, moe_ep: int) -> tuple[int, int, int, int]:
    """(tp, dp, moe_tp, moe_ep) of a ``tpT_epE`` run (``T = E``) that the dump wrote as products, read
    back as ``E`` GPUs with experts EP ``E``:

    * ``tp x dp = T x E`` with ``moe_tp = T = moe_ep = E`` (TensorRT-LLM, SGLang): attention TP ``E``, or
      attention DP ``E`` where the dump's TP is 1;
    * ``tp = dp = T``, ``moe_tp = 1``, ``moe_ep = T x E`` (vLLM, whose EP is its TP group): attention TP ``T``.

    Any other layout is returned as it is."""
    if moe_tp > 1 and moe_tp == moe_ep and tp * dp == moe_tp * moe_ep:
        g = moe_ep
        return (1, g, 1, g) if dp > 1 else (g, 1, 1, g)
    if moe_tp == 1 and tp == dp > 1 and moe_ep == tp * dp:
        return tp, 1, 1, tp
    return tp, dp, moe_tp, moe_ep


@dataclass
class Row:
    """One measured run, parsed; ``status``/``reason`` are filled when it cannot be priced."""

    id: str
    raw: dict[str, str]
    line: int
    status: str = "ok"
    reason: str = ""
    predicted_ttft_ms: float | None = None
    predicted_tpot_ms: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    model_supported: bool = True
    deployment_stated: bool = True

    def num(self, key: str, default: float | None = None) -> float | None:
        v = self.raw.get(key, "")
        return default if v in ("", None) else float(v)

    def record(self) -> dict[str, Any]:
        r = self.raw
        return {"id": self.id, "status": self.status, "reason": self.reason,
                "framework": r["backend"], "gpu": r["system"], "model": r["model_path"], "mode": r["mode"],
                "precision": r.get("precision") or "bf16",
                "predicted_ttft_ms": self.predicted_ttft_ms, "predicted_tpot_ms": self.predicted_tpot_ms,
                "measured_ttft_ms": float(r["silicon_ttft_ms"]), "measured_tpot_ms": float(r["silicon_tpot_ms"]),
                "model_supported": self.model_supported, "deployment_stated": self.deployment_stated,
                "mtp_k": int(self.settings.get("mtp_k", 0))}


def read_rows(path: Path) -> list[Row]:
    """Parse the CSV; a missing column or a non-numeric measurement names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read as UTF-8 CSV: {e}") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise SpecError(f"{path}:1: missing column(s) {', '.join(missing)}")
    rows = []
    for i, raw in enumerate(reader, start=2):
        for c in ("isl", "osl", "silicon_ttft_ms", "silicon_tpot_ms"):
            try:
                float(raw[c])
            except (TypeError, ValueError):
                raise SpecError(f"{path}:{i}: {c} {raw.get(c)!r} is not a number") from None
        rows.append(Row(raw["id"], raw, i))
    if not rows:
        raise SpecError(f"{path}: no rows")
    return rows


def row_settings(row: Row) -> None:
    """Translate a row into superpod's serving settings, or mark why it cannot be priced."""
    systems, frameworks, models = mappings()
    r = row.raw
    model = models.get(r["model_path"])
    if model is None:
        row.model_supported = False
        return mark_unsupported(row, f"model {r['model_path']!r} is not in the catalog mapping")
    if model.get("unsupported"):
        row.model_supported = False
        return mark_unsupported(row, model["unsupported"])
    if r["system"] not in systems:
        return mark_unsupported(row, f"system {r['system']!r} has no catalog system")
    fw = frameworks.get(r["backend"])
    if fw is None:
        return mark_unsupported(row, f"backend {r['backend']!r} has no catalog framework")
    gq = r.get("gemm_quant_mode") or ""
    mq = r.get("moe_quant_mode") or gq
    if gq not in QUANT and gq not in WEIGHT_ONLY:
        return mark_unsupported(row, f"GEMM format {gq!r} is not modelled")
    if mq not in QUANT and mq not in WEIGHT_ONLY:
        return mark_unsupported(row, f"MoE format {mq!r} is not modelled")
    system = systems[r["system"]]
    quant, experts = _formats(gq, mq, system)
    mode = r["mode"]
    pre = "" if mode == "agg" else "decode_"
    tp = int(row.num(pre + "tp_size", 1))
    pp = int(row.num(pre + "pp_size", 1))
    if pp > 1:
        return mark_unsupported(row, f"pipeline parallelism in serving (pp {pp}) is not modelled")
    dp, moe_tp, moe_ep = _layout(row, pre, tp)
    batch = row.num(pre + "batch_size")
    if mode == "agg" and layout_product(r):
        dp0 = dp
        tp, dp, moe_tp, moe_ep = _unproduct(tp, dp, moe_tp, moe_ep)
        if batch is not None:
            batch = batch * dp0 / dp  # batch_size x attention_dp_size stays the run's concurrency
    # kv None: the framework's default for the GEMM format (frameworks/serving.toml [frameworks.kv_cache])
    if batch is None:
        workers = row.num(pre + "num_workers")
        conc = _concurrency(r)
        if conc == 1:
            workers = 1.0  # one request in flight runs on one worker
        if workers is None or conc is None:
            # the run's concurrency is spread over decode workers the row does not count: rows that state
            # the same layout at the same concurrency measure up to 8.7x apart (different worker counts)
            row.deployment_stated = False
            return mark_unsupported(row, UNDETERMINED.format(pre=pre))
        batch = conc / (workers * dp)
    # block-scaled FP8 GEMMs: the row says so, or the checkpoint is (models.toml fp8_scaling)
    blocks = gq == "fp8_block" or model.get("fp8_scaling") == "block"
    row.settings = dict(model=model["model"], system=system, framework=fw, quant=quant, kv=None, experts=experts,
                        fp8_blocks=blocks,
                        tp=tp, dp=dp, moe_tp=moe_tp, moe_ep=moe_ep, batch=float(batch),
                        isl=float(r["isl"]), osl=float(r["osl"]), mode=mode)
    spec = speculative(r, dp > 1)
    if spec is not None:
        row.settings.update(mtp_k=spec[0], mtp_accept=spec[1], mtp_rule=spec[2])
    if mode == "disagg":
        p_tp = int(row.num("prefill_tp_size", 1))
        p_dp, p_moe_tp, p_moe_ep = _layout(row, "prefill_", p_tp)
        row.settings.update(p_tp=p_tp, p_dp=p_dp, p_moe_ep=p_moe_ep, p_moe_tp=p_moe_tp)
        if int(row.num("prefill_pp_size", 1)) > 1:
            return mark_unsupported(row, "pipeline parallelism in serving (prefill pp) is not modelled")


def _concurrency(raw: dict[str, str]) -> float | None:
    """The run's requests in flight, from ``silicon_concurrency=N`` in ``silicon_data_source``."""
    for part in (raw.get("silicon_data_source") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == "silicon_concurrency":
            try:
                return float(value)
            except ValueError:
                return None
    return None


#: weight-only formats of the rows -> the stored weights' format (GEMMs in BF16: W4A16)
WEIGHT_ONLY = {"int4_wo": "int4"}


@lru_cache(maxsize=None)
def _units(system: str) -> frozenset[str]:
    """The GEMM formats the system's chip has units for."""
    return frozenset(Hardware.of(load_system(system).at(None)).peak_flops)


def _formats(gq: str, mq: str, system: str) -> tuple[str, str | None]:
    """(GEMM format, stored format of the routed experts or None) of a row.

    ``int4_wo`` is weight-only (INT4 weights dequantised into BF16 GEMMs). FP4 experts on a
    chip without FP4 units (Hopper) run weight-only too: the FP4 weights are dequantised into
    BF16 GEMMs (vLLM's Marlin/Triton MXFP4 MoE and TensorRT-LLM's Triton MoE on Hopper are W4A16).
    """
    quant = "bf16" if gq in WEIGHT_ONLY else QUANT[gq]
    experts = WEIGHT_ONLY.get(mq) or QUANT[mq]
    if quant == "fp4" and "fp4" not in _units(system):
        quant = "bf16"
    return quant, (None if experts == quant else experts)


def _layout(row: Row, pre: str, tp: int) -> tuple[int, int, int]:
    """(attention DP, moe_tp, moe_ep) of one pool; 0 or blank degrees are 1. When the expert
    layout spans more ranks than ``tp x dp`` (vLLM rows that leave the data-parallel size
    blank), the DP size is what makes ``moe_tp x moe_ep = tp x dp``."""
    dp = max(int(row.num(pre + "attention_dp_size", 1) or 1), 1)
    moe_tp = max(int(row.num(pre + "moe_tp_size", 1) or 1), 1)
    moe_ep = max(int(row.num(pre + "moe_ep_size", 1) or 1), 1)
    if moe_tp * moe_ep > tp * dp and (moe_tp * moe_ep) % tp == 0:
        dp = moe_tp * moe_ep // tp
    return dp, moe_tp, moe_ep


def mark_unsupported(row: Row, reason: str) -> None:
    row.status, row.reason = "unsupported", reason



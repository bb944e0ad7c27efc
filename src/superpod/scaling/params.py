"""The scale layer's defaults, loaded from ``catalog/scale/*.toml`` (every number sourced).

``reliability()``, ``energy()``, ``costs()`` and ``training()`` return validated, frozen
records. User inputs (``--pue``, ``--electricity``, ``--restart-s`` ...) travel in
:class:`superpod.planners.scale_estimate.ScaleOptions` and never edit the catalog.

>>> from superpod.scaling.reliability import component_rates_per_s
>>> round(component_rates_per_s(reliability())["accelerator"] * 86400 * 16384 * 54)
196
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from superpod.errors import SpecError
from superpod.spec import whatif
from superpod.spec.catalog import build, catalog_root, read_toml
from superpod.spec.quantity import Bandwidth, Bytes, Confidence, Count, Money, Ratio, Time

PER = Literal["chip", "node", "nic", "optical_module"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Record(_Frozen):
    """The calibration record: Llama 3's 54 days (training.md sec. 4.4)."""

    system: str
    description: str
    days: Time
    chips: Count
    unexpected: Count
    planned: Count
    effective_time: Ratio


class Component(_Frozen):
    per: PER
    title: str
    interruptions: Count


class Optics(_Frozen):
    switched_tier_per_chip: Count
    modules_per_link: Count
    crosscheck_clos_mtbf: Time


class Checkpoint(_Frozen):
    bytes_per_param: Bytes
    storage_write_Bps: Bandwidth
    storage_read_Bps: Bandwidth
    storage_chips: Count
    fixed_s: Time
    snapshot_Bps: Bandwidth


class Restart(_Frozen):
    detect_s: Time
    reschedule_s: Time
    spare_swap_s: Time
    init_s: Time
    warmup_s: Time
    repair_s: Time


class Reliability(_Frozen):
    name: str
    record: Record
    components: dict[str, Component] = Field(min_length=1)
    optics: Optics
    checkpoint: Checkpoint
    restart: Restart


class PowerCategories(_Frozen):
    source: str
    confidence: Confidence
    active: list[str]
    parts: dict[str, str]


class Energy(_Frozen):
    name: str
    accelerator_idle_fraction: Ratio
    pue: Ratio
    power_categories: PowerCategories


class Costs(_Frozen):
    name: str
    default_electricity: str
    amortisation: Time
    opex_other_per_year: Ratio
    electricity_usd_per_kwh: dict[str, Money] = Field(min_length=1)
    capex_system: dict[str, Money] = Field(default_factory=dict)
    capex_chip: dict[str, Money] = Field(default_factory=dict)

    def price_usd_per_kwh(self, which: str | float | None) -> tuple[float, str]:
        """An electricity price: a preset name (``us``, ``china``...) or a number in USD/kWh."""
        which = self.default_electricity if which is None else which
        if isinstance(which, (int, float)):
            if which <= 0:
                raise SpecError(f"--electricity must be > 0 USD/kWh, got {which}")
            return float(which), "user input"
        try:
            return float(which), "user input"
        except ValueError:
            pass
        q = self.electricity_usd_per_kwh.get(which)
        if q is None:
            raise SpecError(f"unknown electricity price {which!r}; presets: {', '.join(self.electricity_usd_per_kwh)} "
                            f"(or a number in USD/kWh)")
        return q.si, q.cite()


class Training(_Frozen):
    name: str
    seq_len: Count
    global_batch: Count  # the batch policy's cap (superpod.planners.conventions.default_global_batch)
    global_batch_min: Count
    chips_per_sequence: Count
    global_batch_step: Count
    tokens: Count


@lru_cache(maxsize=None)
def _load(model: type[BaseModel], stem: str, over: whatif.Overrides = ()):
    path, where = catalog_root() / "scale" / f"{stem}.toml", f"scale/{stem}.toml"
    return build(model, whatif.apply(read_toml(path), over, model, where), where)  # what-if: spec/whatif.py


def reliability() -> Reliability:
    return _load(Reliability, "reliability", whatif.active("reliability"))


def energy() -> Energy:
    return _load(Energy, "energy", whatif.active("energy"))


def costs() -> Costs:
    return _load(Costs, "cost", whatif.active("cost"))


def training() -> Training:
    return _load(Training, "training", whatif.active("training"))



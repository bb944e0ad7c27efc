"""Each serving framework's scheduler as the closed loop needs it (``catalog/calibration/frameworks/
scheduling.toml``): the iteration policy and token budget, the admission rule that counts a running
request's KV, the cap on running requests, the pool for sliding-window layers, and the request latency
(a calibration). :mod:`superpod.serving.closed_loop` runs the loop on it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from superpod.serving.context import Ctx
from superpod.serving.holds import Hold
from superpod.serving.memory import kv_bytes_per_sequence, usable_bytes
from superpod.serving.plan import ServePlan
from superpod.spec.calibration import calibration_file
from superpod.spec.files import build
from superpod.spec.quantity import Bytes, Count, Quantity, Ratio, Time

POLICIES = ("mixed", "chunked", "prefill-first")
#: TensorRT-LLM's hold settings (:mod:`superpod.serving.holds`)
HOLD_FIELDS = ("batch_wait_iters", "batch_wait_tokens_ratio", "adp_balance_iters", "adp_batching_wait_iters")


class Scheduler(BaseModel):
    """One framework's iteration scheduler (``catalog/calibration/frameworks/scheduling.toml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    policy: Literal["mixed", "chunked", "prefill-first"]
    policy_source: str
    token_budget: Count
    token_budget_large_hbm: Count | None = None
    large_hbm_bytes: Bytes | None = None
    budget_per_dp_rank: bool = False
    kv_reserve: Literal["max", "mean"] = "mean"
    kv_reserve_source: str = ""
    reserve_output_ratio: Ratio | None = None
    max_running: Count | None = None
    max_running_small_hbm: Count | None = None
    small_hbm_bytes: Bytes | None = None
    max_running_per_dp_rank: bool = False
    swa_kv: Literal["full", "window", "ratio"] = "full"
    swa_tokens_ratio: Ratio | None = None
    swa_kv_source: str = ""
    request_latency: Time | None = None
    recv_interval: Count | None = None
    decode_steps: Count | None = None
    #: a launch's memory fraction (SGLang ``--mem-fraction-static``, vLLM ``--gpu-memory-utilization``,
    #: TensorRT-LLM ``free_gpu_memory_fraction``) replacing the framework's ``kv_mem_fraction``;
    #: ``kv_mem_fraction_of`` says of what (:meth:`usable_kv_bytes`)
    kv_mem_fraction: Ratio | None = None
    kv_mem_fraction_of: Literal["free", "total", "static"] = "free"
    #: TensorRT-LLM batch waiting (``batch_wait_timeout_iters`` / ``batch_wait_max_tokens_ratio``): without
    #: attention DP, context requests are held while generation requests run, for up to this many
    #: iterations or until the iteration's tokens reach the ratio of ``max_num_tokens`` (:meth:`hold`)
    batch_wait_iters: Count | None = None
    batch_wait_tokens_ratio: Ratio | None = None
    #: TensorRT-LLM ``attention_dp_config`` with ``enable_balance``: with attention DP, context requests
    #: are held until every DP rank has one (or ``timeout_iters``), then ``batching_wait_iters`` more
    adp_balance_iters: Count | None = None
    adp_batching_wait_iters: Count | None = None

    def interval(self) -> int:
        """Decode iterations between two looks at the request queue: SGLang's ``--scheduler-recv-interval``
        N (``SchedulerRecvSkipper``: a decode iteration adds 1 to a counter, a prefill or idle loop fills it;
        the scheduler receives new requests when it reaches N) times ``--num-continuous-decode-steps`` K (each
        scheduled decode batch runs K steps before the loop turns). 1 (every iteration) without either."""
        n = self.recv_interval.si if self.recv_interval is not None else 1.0
        k = self.decode_steps.si if self.decode_steps is not None else 1.0
        return max(int(round(n * k)), 1)

    def hold(self, dp: float, budget: float) -> "Hold":
        """How this scheduler holds new prompts back while generation runs, on an instance of ``dp``
        attention-DP ranks with ``budget`` tokens per iteration (:class:`Hold`). TensorRT-LLM's
        ``PyExecutor._schedule`` (tensorrt_llm/_torch/pyexecutor/py_executor.py): batch waiting applies
        only without attention DP (``_waiting_requests``); the attention-DP balance only with it
        (``_balance_adp_requests``)."""
        if dp > 1:
            t = self.adp_balance_iters.si if self.adp_balance_iters is not None else 0.0
            w = self.adp_batching_wait_iters.si if self.adp_batching_wait_iters is not None else 0.0
            return Hold(adp_iters=int(t), adp_wait_iters=int(w), dp=int(dp)) if t > 0 else Hold()
        w = self.batch_wait_iters.si if self.batch_wait_iters is not None else 0.0
        r = self.batch_wait_tokens_ratio.si if self.batch_wait_tokens_ratio is not None else 0.0
        if w <= 0 or r <= 0:  # either at 0 ends every wait at once (count >= 0, tokens >= 0)
            return Hold()
        return Hold(batch_iters=int(w), batch_tokens=r * budget)

    def usable_kv_bytes(self, hbm_bytes: float, fw, weight_bytes: float) -> float:
        """HBM per chip left for the KV cache: the framework's rule (:func:`usable_bytes`) unless the
        launch states a memory fraction ``f``, which the three engines take of different things:

        * ``free`` (TensorRT-LLM ``kv_cache_config.free_gpu_memory_fraction``): of the memory free
          after the weights and the runtime's buffers, ``(HBM - reserve - weights) f``;
        * ``total`` (vLLM ``--gpu-memory-utilization``): of the whole HBM, which holds the weights,
          the activations and graphs (the runtime reserve) and the KV cache, ``f HBM - weights - reserve``;
        * ``static`` (SGLang ``--mem-fraction-static``): of the whole HBM for the weights and the KV
          pool only (activations live in the rest), ``f HBM - weights``."""
        if self.kv_mem_fraction is None:
            return float(np.ravel(usable_bytes(hbm_bytes, fw, weight_bytes))[0])
        f = self.kv_mem_fraction.si
        if self.kv_mem_fraction_of == "free":
            return (hbm_bytes - fw.si("runtime_reserve_bytes") - weight_bytes) * f
        if self.kv_mem_fraction_of == "total":
            return f * hbm_bytes - weight_bytes - fw.si("runtime_reserve_bytes")
        return f * hbm_bytes - weight_bytes

    def request_s(self) -> float:
        """Seconds a request's first token spends outside the engine's iterations (0 if none)."""
        return self.request_latency.si if self.request_latency is not None else 0.0

    def held_tokens(self, isl: float, osl: float) -> float:
        """Tokens of KV one running request takes from the cache as the admission rule counts them:
        its whole prompt + output where the engine guarantees it (``max``); else the mean context of a
        request in flight (``isl + osl / 2``: pages come as tokens do) plus the share
        ``reserve_output_ratio`` of its remaining output that the scheduler keeps free for it (SGLang's
        ``new_token_ratio``)."""
        if self.kv_reserve == "max":
            return float(isl) + float(osl)
        r = self.reserve_output_ratio.si if self.reserve_output_ratio is not None else 0.0
        return float(isl) + float(osl) / 2.0 * (1.0 + r)

    def running_cap(self, hbm_bytes: float, dp: float = 1.0) -> float:
        """Requests one scheduler runs at most, whatever the memory (vLLM ``max_num_seqs``, SGLang
        ``max_running_requests``, TensorRT-LLM ``max_batch_size``); infinite without an entry."""
        if self.max_running is None:
            return math.inf
        c = self.max_running.si
        if self.max_running_small_hbm is not None and self.small_hbm_bytes is not None and hbm_bytes < self.small_hbm_bytes.si:
            c = self.max_running_small_hbm.si
        return max(math.floor(c / max(dp, 1.0)), 1) if self.max_running_per_dp_rank else c

    def kv_per_sequence(self, c: Ctx, plan: ServePlan, context: float) -> float:
        """KV bytes per chip of one sequence of ``context`` tokens in this framework's pools
        (sliding-window layers: :func:`superpod.serving.memory.kv_bytes_per_sequence`)."""
        ratio = self.swa_tokens_ratio.si if self.swa_tokens_ratio is not None else 1.0
        return float(np.ravel(kv_bytes_per_sequence(c.model, plan, c.kv_el, c.dev, context, self.swa_kv, ratio))[0])

    def budget(self, hbm_bytes: float, dp: float = 1.0) -> float:
        """Tokens per iteration of one scheduler on a chip with ``hbm_bytes`` of HBM."""
        b = self.token_budget.si
        if self.token_budget_large_hbm is not None and self.large_hbm_bytes is not None and hbm_bytes >= self.large_hbm_bytes.si:
            b = self.token_budget_large_hbm.si
        return b / max(dp, 1.0) if self.budget_per_dp_rank else b


class Benchmark(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    rounds: Count


class SchedulingFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    benchmark: Benchmark
    frameworks: list[Scheduler]


@lru_cache(maxsize=1)
def _file() -> SchedulingFile:
    return build(SchedulingFile, *calibration_file("frameworks", "scheduling"))


def scheduler(framework: str) -> Scheduler:
    """The framework's scheduler, or the ``default`` entry."""
    by = {f.name: f for f in _file().frameworks}
    return by.get(framework, by["default"])


def launched_scheduler(framework: str, settings: dict[str, float | None] | None = None) -> Scheduler:
    """The framework's scheduler with the settings a server was launched with (``token_budget``,
    ``max_running``, ``recv_interval``, ``decode_steps`` and the hold fields ``HOLD_FIELDS``; ``None``
    keeps the framework's). A token
    budget or running cap given is the server flag's value: it replaces the framework's per-HBM defaults and
    is shared over attention-DP ranks as the framework shares its flag (``budget_per_dp_rank``,
    ``max_running_per_dp_rank``)."""
    base = scheduler(framework)
    given = {k: v for k, v in (settings or {}).items() if v is not None}
    if not given:
        return base
    given = {k: v for k, v in given.items() if v != 0 or k not in HOLD_FIELDS}  # a hold at 0 is no hold
    upd: dict = {k: Quantity(value=float(v), unit="ratio" if k == "batch_wait_tokens_ratio" else "count",
                             source="as launched (user setting)", confidence="A")
                 for k, v in given.items()}
    if "token_budget" in upd:
        upd["token_budget_large_hbm"] = None
    if "max_running" in upd:
        upd["max_running_small_hbm"] = None
    return base.model_copy(update=upd)


def rounds() -> int:
    """Requests per client of the benchmark harness (AIConfigurator's aiperf runs: 20)."""
    return int(_file().benchmark.rounds.si)


def advance(step, P: float, D: float, prefill_only: bool, finishing, waiting, room: int,
            now: float, it: int, S: int) -> tuple[float, int, int]:
    """The engine's next stretch of iterations, as both request loops run it
    (:func:`superpod.serving.closed_loop.run` by cohort, :func:`superpod.serving.waves.simulate` by
    request): with ``P`` prompt tokens scheduled, one iteration (prefill-only under prefill-first,
    else shared with the ``D`` decoding sequences); with none, the identical decode-only iterations up to
    the next finish (``finishing``: a heap whose head holds its decode step first) or the next waiting
    request allowed to join (``waiting``: entries whose ``[3]`` is the first iteration they may join;
    only with ``room``), priced at once. Returns the loop's (seconds, iteration, decode step) after it."""
    if P > 0:
        return now + step(P, 0.0 if prefill_only else D), it + 1, S + (0 if prefill_only else 1)
    m = finishing[0][0] - S if finishing else math.inf
    if waiting and room > 0 and waiting[0][3] > it:
        m = min(m, waiting[0][3] - it)
    m = max(int(m), 1)
    return now + m * step(0.0, D), it + m, S + m

"""The caching tier: prefix (context) KV caches and model weights in a host-memory pool.

CloudMatrix-Infer serves DeepSeek-R1 on three disaggregated resources: prefill, decode and
caching (Zuo et al., arXiv 2506.12708, the Elastic Memory Service: the Kunpeng hosts' DRAM
of a CloudMatrix 384 pooled over the UnifiedBus). What is modelled here (numpy, broadcasting):

* **Hit rate.** ``--cache-hit h`` is the share of prompt tokens that are a reusable prefix:
  what an unbounded cache would hit. A pool of finite capacity holds only part of the working
  set under LRU; the share of reuses it finds resident is ``C / N`` for reuse spread evenly
  over ``N`` prefixes (the independent-reference model with uniform popularity) or Che's
  approximation for Zipf(s) popularity (Che, Tung, Wang, IEEE JSAC 2002; Fricker, Robert,
  Roberts, ITC 2012): the characteristic time ``T`` solves ``sum_i (1 - exp(-p_i T)) = C`` and
  the hit ratio is ``sum_i p_i (1 - exp(-p_i T))``. A trace of requests is replayed through an
  exact LRU (:func:`lru_trace_hit`). The served hit rate is ``h`` times that ratio.
* **Fetch vs recompute.** A hit's KV comes from the pool over the chip's path
  (``path_Bps``), loaded layer by layer while the prefill computes (Mooncake, arXiv 2407.00079):
  the step takes ``max(compute, fetch) + fetch / layers``. The cache is used only when that
  is shorter than recomputing the prefix; otherwise superpod recomputes and says so.
* **Model caching.** Loading an instance's weights from the pool at the chip's path rate vs
  from storage at the node's storage rate (:func:`weight_load_s`).

:class:`PrefixCachePool` is the per-request form for a request-level simulator: one LRU pool
that answers hit or miss and the fetch time of each request.

>>> round(float(zipf_lru_hit(100, 10_000, 1.0)), 3)   # 1% of 10k Zipf(1) prefixes cached
0.391
>>> float(uniform_lru_hit(100, 10_000))
0.01
"""

from __future__ import annotations

import csv
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Hashable, Iterable

import numpy as np

from superpod.errors import InvalidOptionError

#: the most prefixes a Zipf popularity is summed over exactly (beyond: an error, not a slow call)
MAX_PREFIXES = 10_000_000
_BISECT_STEPS = 100


def uniform_lru_hit(capacity_items, n_items) -> np.ndarray:
    """LRU hit ratio of ``capacity_items`` slots over ``n_items`` equally popular items: ``min(C/N, 1)``."""
    c = np.asarray(capacity_items, dtype=float)
    n = np.asarray(n_items, dtype=float)
    return np.clip(c / np.maximum(n, 1.0), 0.0, 1.0)


def zipf_lru_hit(capacity_items, n_items: int, s: float) -> np.ndarray:
    """LRU hit ratio of ``capacity_items`` slots over ``n_items`` Zipf(``s``) items (Che's approximation).

    Broadcasts over ``capacity_items``; exact 1 when everything fits and 0 for no capacity."""
    n = int(n_items)
    if not 1 <= n <= MAX_PREFIXES:
        raise ValueError(f"n_items must be in [1, {MAX_PREFIXES:,}], got {n_items}")
    p = np.arange(1, n + 1, dtype=float) ** -float(s)
    p /= p.sum()
    c = np.asarray(capacity_items, dtype=float)
    flat = np.clip(c.reshape(-1, 1), 0.0, n)
    # occupancy(T) = sum_i (1 - exp(-p_i T)) rises from 0 to n: bisect log T per capacity
    lo = np.full_like(flat, np.log(1e-12 / p.max()))
    hi = np.full_like(flat, np.log(1e3 * n / p.min()))
    for _ in range(_BISECT_STEPS):
        mid = (lo + hi) / 2.0
        occ = (-np.expm1(-p * np.exp(mid))).sum(axis=1, keepdims=True)
        below = occ < flat
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    hit = (p * -np.expm1(-p * np.exp((lo + hi) / 2.0))).sum(axis=1, keepdims=True)
    hit = np.where(flat >= n, 1.0, np.where(flat <= 0, 0.0, hit))
    return np.clip(hit, 0.0, 1.0).reshape(c.shape)


def capacity_hit_ratio(pool_bytes, prefix_bytes, n_prefixes: int | None, zipf_s: float | None) -> np.ndarray:
    """Share of prefix reuses a pool of ``pool_bytes`` finds resident (1 when no working set is given)."""
    pool = np.asarray(pool_bytes, dtype=float)
    if n_prefixes is None:
        return np.ones_like(pool)
    slots = np.floor(pool / np.maximum(np.asarray(prefix_bytes, dtype=float), 1.0))
    if zipf_s is None or zipf_s == 0:
        return uniform_lru_hit(slots, n_prefixes)
    return zipf_lru_hit(slots, n_prefixes, zipf_s)


def step_with_fetch(compute_s, fetch_s, layers: int) -> np.ndarray:
    """A prefill step that loads its prefixes' KV from the pool layer by layer: the load of
    layer ``l + 1`` hides under the compute of layer ``l``; the first layer's load is exposed,
    and a fetch longer than the compute sets the pace (so the path is never over-subscribed)."""
    compute = np.asarray(compute_s, dtype=float)
    fetch = np.asarray(fetch_s, dtype=float)
    return np.maximum(compute, fetch) + fetch / max(int(layers), 1)


def weight_load_s(weight_bytes_per_chip, chip_Bps) -> np.ndarray:
    """Seconds to load one chip's weights at ``chip_Bps`` (all chips of an instance load at once)."""
    return np.asarray(weight_bytes_per_chip, dtype=float) / np.asarray(chip_Bps, dtype=float)


def lru_trace_hit(requests: Iterable[tuple[Hashable, float, float]], capacity_tokens: float) -> float:
    """Token hit rate of an exact LRU replay of a trace: ``requests`` are ``(prefix_id,
    prefix_tokens, prompt_tokens)``; a prefix not resident is inserted after its miss."""
    pool = PrefixCachePool(capacity_bytes=float(capacity_tokens), kv_bytes_per_token=1.0, fetch_Bps=1.0)
    hit = total = 0.0
    for pid, prefix, prompt in requests:
        hit += pool.lookup(pid, prefix).hit_tokens
        total += float(prompt)
    return hit / total if total > 0 else 0.0


def read_trace(path) -> list[tuple[str, float, float]]:
    """A request trace: CSV with a header ``prefix_id,prefix_tokens,prompt_tokens`` (one row per
    request, in arrival order; requests sharing a prefix share its id)."""
    p = Path(path)
    if not p.is_file():
        raise InvalidOptionError(f"--cache-trace {path}: no such file")
    rows = []
    with p.open(newline="") as f:
        reader = csv.DictReader(f)
        need = {"prefix_id", "prefix_tokens", "prompt_tokens"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise InvalidOptionError(f"--cache-trace {path}: the header must name {', '.join(sorted(need))}")
        for i, r in enumerate(reader, start=2):
            try:
                pre, prompt = float(r["prefix_tokens"]), float(r["prompt_tokens"])
            except (TypeError, ValueError):
                raise InvalidOptionError(f"--cache-trace {path}, line {i}: token counts must be numbers") from None
            if not (0 <= pre <= prompt and prompt > 0 and np.isfinite(prompt)):
                raise InvalidOptionError(f"--cache-trace {path}, line {i}: need 0 <= prefix_tokens <= prompt_tokens, prompt_tokens > 0")
            rows.append((r["prefix_id"], pre, prompt))
    if not rows:
        raise InvalidOptionError(f"--cache-trace {path}: no requests")
    return rows


@dataclass(frozen=True)
class CacheLookup:
    """One request's answer from the pool: tokens served from it and the time to fetch them."""

    hit_tokens: float
    fetch_s: float
    recomputed: bool = False  #: resident, but fetching would cost more than recomputing


@dataclass
class PrefixCachePool:
    """A prefix-KV pool under LRU, request by request (the hook for a request-level simulator).

    ``kv_bytes_per_token`` is what one token's KV takes in the pool; ``fetch_Bps`` the path
    of the chip that fetches it; ``recompute_s_per_token`` (optional) the prefill time a
    cached token saves: a hit whose fetch would take longer is recomputed instead.

    >>> pool = PrefixCachePool(capacity_bytes=2e6, kv_bytes_per_token=1e3, fetch_Bps=1e9)
    >>> pool.lookup("chat-1", 1000).hit_tokens, pool.lookup("chat-1", 1000).hit_tokens
    (0.0, 1000.0)
    """

    capacity_bytes: float
    kv_bytes_per_token: float
    fetch_Bps: float
    recompute_s_per_token: float | None = None
    _lru: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _used: float = 0.0
    hits: int = 0
    misses: int = 0
    fetched_bytes: float = 0.0

    def lookup(self, prefix_id: Hashable, prefix_tokens: float) -> CacheLookup:
        """Serve one request's prefix: a hit moves it to the front; a miss inserts it (evicting LRU)."""
        size = float(prefix_tokens) * self.kv_bytes_per_token
        if prefix_id in self._lru:
            self._lru.move_to_end(prefix_id)
            fetch = size / self.fetch_Bps
            if self.recompute_s_per_token is not None and fetch > self.recompute_s_per_token * float(prefix_tokens):
                self.misses += 1
                return CacheLookup(0.0, 0.0, recomputed=True)
            self.hits += 1
            self.fetched_bytes += size
            return CacheLookup(float(prefix_tokens), fetch)
        self.misses += 1
        if 0 < size <= self.capacity_bytes:
            while self._used + size > self.capacity_bytes:
                _, old = self._lru.popitem(last=False)
                self._used -= old
            self._lru[prefix_id] = size
            self._used += size
        return CacheLookup(0.0, 0.0)

    def resident(self, prefix_tokens: float) -> CacheLookup:
        """Serve a prefix taken as resident (no working set given): a hit unless recomputing is cheaper."""
        size = float(prefix_tokens) * self.kv_bytes_per_token
        fetch = size / self.fetch_Bps
        if size <= 0 or (self.recompute_s_per_token is not None and fetch > self.recompute_s_per_token * float(prefix_tokens)):
            self.misses += 1
            return CacheLookup(0.0, 0.0, recomputed=size > 0)
        self.hits += 1
        self.fetched_bytes += size
        return CacheLookup(float(prefix_tokens), fetch)

    @property
    def hit_rate(self) -> float:
        """Share of lookups that were served from the pool."""
        n = self.hits + self.misses
        return self.hits / n if n else 0.0


@dataclass
class PrefixRequests:
    """The caching tier as ``superpod simulate``'s third resource: each request's prefix id
    (``ids``; ``None``: every prefix taken as resident, the pool sized to fit) and the share of
    its prompt that is that prefix, served by one LRU ``pool`` whose ``fetch_Bps`` is a prefill
    instance's path (its chips' paths added). The fetch loads layer by layer under the step's
    compute (:func:`step_with_fetch`, ``layers``)."""

    pool: PrefixCachePool
    ids: list | None
    share: np.ndarray
    layers: int

    def serve(self, s_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hit tokens and fetch seconds of each request, in arrival order (at least one new token each)."""
        n = len(s_in)
        share = np.broadcast_to(np.asarray(self.share, dtype=float), (n,))
        prefix = np.minimum(np.round(share * s_in), s_in - 1.0)
        hit, fetch = np.zeros(n), np.zeros(n)
        for i in range(n):
            lk = self.pool.resident(prefix[i]) if self.ids is None else self.pool.lookup(self.ids[i], prefix[i])
            hit[i], fetch[i] = lk.hit_tokens, lk.fetch_s
        return hit, fetch


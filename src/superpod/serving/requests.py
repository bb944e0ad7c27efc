"""Request streams for the simulation: synthetic arrivals (Poisson, bursty), length distributions
(:func:`parse_dist`) and trace files.

* ``poisson``: exponential inter-arrival times at the mean rate;
* ``bursty``: gamma inter-arrival times of shape ``BURSTINESS`` (< 1: clustered arrivals) and the same
  mean rate, as vLLM's ``benchmark_serving.py --burstiness`` draws them (shape 1 is Poisson);
* a trace file: CSV with a header, or JSON Lines, each row an arrival time (seconds), prompt tokens
  and output tokens. Column names: ``arrival_s`` (or ``timestamp``, ``arrival``), ``input_tokens``
  (or ``input_len``, ``prompt_tokens``), ``output_tokens`` (or ``output_len``, ``completion_tokens``).
  A bad row is a one-line error naming its line.

>>> import numpy as np; bool(np.all(np.diff(arrivals("bursty", 10.0, 100, 0)) >= 0))
True
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Callable

import numpy as np

from superpod.errors import InvalidOptionError

ARRIVALS = ("poisson", "bursty")
#: gamma shape of the bursty stream (vLLM benchmark_serving.py --burstiness; 1 = Poisson)
BURSTINESS = 0.25
MAX_TOKENS = float(1 << 24)  # longest prompt or output (tokens): keeps the simulation's loop bounded
COLUMNS = {"arrival_s": ("arrival_s", "timestamp", "arrival", "arrival_time"),
           "input_tokens": ("input_tokens", "input_len", "prompt_tokens", "input_length"),
           "output_tokens": ("output_tokens", "output_len", "completion_tokens", "output_length")}


def arrivals(kind: str, rate: float, n: int, seed: int = 0) -> np.ndarray | None:
    """Arrival times of ``n`` requests at mean ``rate``/s; ``None`` for Poisson (the simulation draws it
    from its own stream, so a seed gives the same run as before)."""
    if kind not in ARRIVALS:
        raise InvalidOptionError(f"--arrival must be poisson or bursty, not {kind!r}")
    if kind == "poisson":
        return None
    if not (np.isfinite(rate) and rate > 0) or n < 1:
        raise InvalidOptionError("--rate must be a finite number > 0 and --requests >= 1")
    rng = np.random.default_rng(seed + 7919)
    return np.cumsum(rng.gamma(BURSTINESS, 1.0 / (rate * BURSTINESS), n))


def _pick(row: dict, name: str, where: str):
    for k in COLUMNS[name]:
        if k in row and row[k] not in (None, ""):
            return row[k]
    raise InvalidOptionError(f"{where}: no {name} (columns: {', '.join(COLUMNS[name])})")


def _number(v, name: str, where: str, lo: float, hi: float) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InvalidOptionError(f"{where}: {name} must be a number, got {v!r}") from None
    if not (np.isfinite(x) and lo <= x <= hi):
        raise InvalidOptionError(f"{where}: {name} must be in [{lo:g}, {hi:g}], got {v!r}")
    return x


def read_requests(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrival times (from 0, non-decreasing), prompt tokens and output tokens of a CSV or JSONL trace."""
    p = Path(path)
    if not p.is_file():
        raise InvalidOptionError(f"requests file {p} does not exist")
    rows: list[tuple[int, dict]] = []
    with p.open(newline="") as f:
        if p.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            for ln, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InvalidOptionError(f"{p}:{ln}: not JSON ({e.msg})") from None
                if not isinstance(obj, dict):
                    raise InvalidOptionError(f"{p}:{ln}: expected an object with arrival_s, input_tokens, output_tokens")
                rows.append((ln, obj))
        else:
            reader = csv.DictReader(f)
            if not reader.fieldnames:
                raise InvalidOptionError(f"{p}: empty CSV (a header arrival_s,input_tokens,output_tokens is expected)")
            for row in reader:
                rows.append((reader.line_num, row))
    if not rows:
        raise InvalidOptionError(f"{p}: no requests")
    t, s_in, s_out = np.empty(len(rows)), np.empty(len(rows)), np.empty(len(rows))
    for i, (ln, row) in enumerate(rows):
        where = f"{p}:{ln}"
        t[i] = _number(_pick(row, "arrival_s", where), "arrival_s", where, 0.0, 1e9)
        s_in[i] = round(_number(_pick(row, "input_tokens", where), "input_tokens", where, 1.0, MAX_TOKENS))
        s_out[i] = round(_number(_pick(row, "output_tokens", where), "output_tokens", where, 1.0, MAX_TOKENS))
        if i and t[i] < t[i - 1]:
            raise InvalidOptionError(f"{where}: arrival_s {t[i]:g} is before the previous row's {t[i - 1]:g} "
                                     "(sort the trace by arrival)")
    return t - t[0] + 1e-9, s_in, s_out


MAX_SIGMA = 4.0  # lognormal sigma: beyond it the draws are all at the clip


def _check_dist(spec: str, kind: str, vals: list[float]) -> None:
    """Guard a distribution's parameters: finite, lengths in [1, MAX_TOKENS], spreads >= 0 (no hang, no numpy error)."""
    def bad(why: str):
        raise InvalidOptionError(f"bad length distribution {spec!r}: {why}")

    if not all(np.isfinite(vals)):
        bad("parameters must be finite")
    mean, spread = vals[0], (vals[1] if len(vals) > 1 else 0.0)
    if not 1 <= mean <= MAX_TOKENS:
        bad(f"{'LO' if kind == 'uniform' else 'L' if kind == 'fixed' else 'MEAN'} must be in [1, {MAX_TOKENS:.0f}] tokens")
    if kind == "uniform" and not mean <= spread <= MAX_TOKENS:
        bad(f"HI must be in [LO, {MAX_TOKENS:.0f}] tokens")
    if kind == "normal" and not 0 <= spread <= MAX_TOKENS:
        bad(f"STD must be in [0, {MAX_TOKENS:.0f}] tokens")
    if kind == "lognormal" and not 0 <= spread <= MAX_SIGMA:
        bad(f"SIGMA must be in [0, {MAX_SIGMA:g}]")


def parse_dist(spec: str | None, default: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    """``fixed:L`` | ``uniform:lo,hi`` | ``normal:mean,std`` | ``exp:mean`` | ``lognormal:mean,sigma``
    (lengths are rounded and at least 1)."""
    if not spec:
        spec = f"fixed:{default}"
    kind, _, args = spec.partition(":")
    try:
        vals = [float(x) for x in args.split(",")] if args else []
    except ValueError:
        raise InvalidOptionError(f"bad length distribution {spec!r}: numbers expected after ':'") from None
    need = {"fixed": 1, "uniform": 2, "normal": 2, "exp": 1, "lognormal": 2}
    if kind not in need or len(vals) != need[kind]:
        raise InvalidOptionError(
            f"bad length distribution {spec!r}; use fixed:L, uniform:LO,HI, normal:MEAN,STD, exp:MEAN or lognormal:MEAN,SIGMA")
    _check_dist(spec, kind, vals)

    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        if kind == "fixed":
            x = np.full(n, vals[0])
        elif kind == "uniform":
            x = rng.uniform(vals[0], vals[1], n)
        elif kind == "normal":
            x = rng.normal(vals[0], vals[1], n)
        elif kind == "exp":
            x = rng.exponential(vals[0], n)
        else:  # lognormal with the given mean
            mu = np.log(vals[0]) - vals[1] ** 2 / 2
            x = rng.lognormal(mu, vals[1], n)
        return np.clip(np.round(x), 1.0, MAX_TOKENS)

    return draw

"""A spec's points (the Cartesian product of its axes) and each point's row of results.

A point is ``{name: value}`` for every fixed option and axis. Its row is the planner's JSON
record flattened (``decode.tokens_per_s_per_chip`` -> column ``decode_tokens_per_s_per_chip``)
plus every input (``chip.hbm_Bps`` -> ``chip_hbm_Bps``), the superpod version, the catalog
hash (the catalog TOML bytes + the point's what-if overrides) and the point hash (the
question, the point and the catalog hash): ``--resume`` skips a point whose hash is stored.
A point the planner rejects (does not fit, no plan meets the SLO) keeps its inputs and
carries the one-line reason in ``error``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from functools import lru_cache
from typing import Any, Iterator

from importlib.metadata import PackageNotFoundError, version

import numpy as np

from superpod.errors import SuperpodError
from superpod.planners.sweep import fast
from superpod.planners.sweep.chunk import Builder, as_list
from superpod.planners.sweep.flat import DROP, column, flatten  # noqa: F401 (the row's names, here as before)
from superpod.planners.sweep.options import call
from superpod.planners.sweep.spec import Spec
from superpod.spec.files import catalog_root
from superpod.spec.whatif import ROOTS, overriding

try:
    __version__ = version("superpod")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "unknown"

META = ("point_hash", "catalog_hash", "superpod_version", "question", "error")


@lru_cache(maxsize=1)
def catalog_bytes_hash() -> str:
    """sha256 of every shipped catalog TOML file (path and bytes), in path order."""
    h = hashlib.sha256()
    root = catalog_root()
    for p in sorted(root.rglob("*.toml")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@lru_cache(maxsize=4096)
def is_catalog_path(name: str) -> bool:
    return "." in name and name.split(".")[0] in ROOTS


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:32]


def catalog_hash(point: dict[str, Any]) -> str:
    over = {k: v for k, v in point.items() if is_catalog_path(k)}
    return _digest([catalog_bytes_hash(), over]) if over else catalog_bytes_hash()[:32]


def point_hash(question: str, point: dict[str, Any], catalog: str | None = None) -> str:
    return _digest([question, point, catalog or catalog_hash(point)])


def _encoded(v: Any) -> str:
    """``json.dumps`` of one value of a point (as :func:`_digest` encodes it), remembered by type and value."""
    try:
        key = (type(v), v)
        s = _ENCODED.get(key)
    except TypeError:  # unhashable (a list): not remembered
        return json.dumps(v, sort_keys=True, default=str)
    if s is None:
        s = json.dumps(v, sort_keys=True, default=str)
        if len(_ENCODED) < 1 << 16 and not (type(v) is float and v == 0):  # 0.0 == -0.0: neither remembered
            _ENCODED[key] = s
    return s


_ENCODED: dict[tuple, str] = {}


def point_hashes(question: str, chunk: list[dict[str, Any]], catalogs: list[str]) -> list[str]:
    """:func:`point_hash` of every point, the same digests: the JSON text :func:`_digest` hashes,
    ``[question, point, catalog]`` with the point's keys sorted, joined from each key's and value's
    own encoding (``json.dumps`` encodes a value inside a list or dict as it encodes it alone)."""
    head = "[" + _encoded(question) + ", {"
    enc = _ENCODED
    out = []
    last: tuple = ()
    keys: list[str] = []
    names: list[str] = []
    for p, cat in zip(chunk, catalogs):
        ks = tuple(p)
        if ks != last or not out:
            if not all(type(k) is str for k in ks):  # json.dumps would convert the key: its own call
                out.append(point_hash(question, p, cat))
                continue
            last, keys = ks, sorted(ks)
            names = [_encoded(k) + ": " for k in keys]
        try:
            body = ", ".join([nm + (enc.get((type(p[k]), p[k])) or _encoded(p[k])) for nm, k in zip(names, keys)])
        except TypeError:  # an unhashable value
            body = ", ".join([nm + _encoded(p[k]) for nm, k in zip(names, keys)])
        text = head + body + "}, " + _encoded(cat) + "]"
        out.append(hashlib.sha256(text.encode()).hexdigest()[:32])
    return out


def points(spec: Spec, grouped: bool = False) -> Iterator[dict[str, Any]]:
    """Every point of the spec, axes varying in the order written (the last fastest).

    ``grouped``: the axes :data:`.fast.PER_POINT` names (lengths, targets, batch) vary
    fastest, so the points of one deployment come side by side (a chunk prices them in few
    stacked calls); each point's keys keep the spec's order."""
    names = list(spec.axes)
    if not grouped:
        for combo in itertools.product(*spec.axes.values()):
            yield {**spec.fixed, **dict(zip(names, combo))}
        return
    order = [n for n in names if n not in fast.PER_POINT] + [n for n in names if n in fast.PER_POINT]
    where = [order.index(n) for n in names]
    for combo in itertools.product(*(spec.axes[n] for n in order)):
        yield {**spec.fixed, **{n: combo[j] for n, j in zip(names, where)}}


def row(question: str, point: dict[str, Any], record: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
    cat = catalog_hash(point)
    r: dict[str, Any] = {"point_hash": point_hash(question, point, cat), "catalog_hash": cat,
                         "superpod_version": __version__, "question": question, "error": error}
    inputs = {column(k): v for k, v in point.items()}
    r.update(inputs)
    for k, v in flatten(record or {}).items():
        if k in r:
            if r[k] == v:
                continue
            k = f"result_{k}"
        r[k] = v
    return r


def _one(question: str, opts: dict[str, Any]) -> tuple[dict | None, str | None]:
    try:
        return call(question, opts), None
    except SuperpodError as e:
        return None, str(e)


def _results(question: str, chunk: list[dict[str, Any]], stacked: bool, columnar: bool = False) -> tuple[list, list[list[int]]]:
    """``(record, error)`` per point, and the index lists of the stacked groups (records of one
    group have one key structure). ``columnar``: a group may come as ``(indices, columns)`` instead
    (:func:`.fast.evaluate_group`; its points' records are :data:`.fast.IN_COLUMNS`)."""
    over: list[dict[str, Any]] = []
    over_keys: list[str] = []
    options: list[dict[str, Any]] = []
    paths: dict[tuple, tuple] = {}  # the what-if keys of each key order (a spec's points share one)
    for p in chunk:
        ks = tuple(p)
        cat = paths.get(ks)
        if cat is None:
            cat = paths[ks] = tuple(k for k in ks if is_catalog_path(k))
        if not cat:  # no what-if: the point's options are the point (read, never changed)
            over.append({})
            over_keys.append("")
            options.append(p)
            continue
        o = {k: p[k] for k in cat}
        over.append(o)
        over_keys.append(json.dumps(o, sort_keys=True, default=str))
        options.append({k: v for k, v in p.items() if k not in cat})

    def opts(i):
        return options[i]

    results: dict[int, tuple[dict | None, str | None]] = {}
    groups: list[list[int]] = []
    for _, group in itertools.groupby(sorted(range(len(chunk)), key=over_keys.__getitem__), key=over_keys.__getitem__):
        group = list(group)
        with overriding(over[group[0]]):
            single = [i for i in group if not (stacked and fast.eligible(question, opts(i)))]
            alone = set(single)
            gkey = {i: fast.group_key(opts(i)) for i in group if i not in alone}
            many = sorted(gkey, key=gkey.__getitem__)
            for _, same in itertools.groupby(many, key=gkey.__getitem__):
                same = list(same)
                shared = {k: v for k, v in opts(same[0]).items() if k not in fast.PER_POINT}
                got = fast.evaluate_group(shared, [opts(i) for i in same], columnar) if len(same) > 1 else None
                if got is None:
                    single += same
                elif columnar:
                    got, cols = got
                    results.update(zip(same, got))
                    groups.append(same if cols is None else ([same[j] for j in cols[0]], cols[1]))
                else:
                    results.update(zip(same, got))
                    groups.append(same)
            for i in single:
                results[i] = _one(question, opts(i))
    return [results[i] for i in range(len(chunk))], groups


def evaluate(question: str, chunk: list[dict[str, Any]], stacked: bool = True) -> list[dict[str, Any]]:
    """The rows of a chunk of points. Points sharing what-if overrides share catalog loads;
    decode points sharing a deployment are priced in one stacked call (:mod:`.fast`) unless
    ``stacked`` is false (one planner call per point, as the CLI makes)."""
    results, _ = _results(question, chunk, stacked)
    return [row(question, chunk[i], *results[i]) for i in range(len(chunk))]


def _walk(template: dict[str, Any], recs: list, prefix: str, emit) -> None:
    """Every value :func:`flatten` keeps, for records shaped like ``template``, a column at a
    time: ``emit(column, values, as_json)`` (raises KeyError/TypeError if a record differs)."""
    for k, v in template.items():
        name = prefix + column(str(k))
        if name in DROP:
            continue
        vals = [r[k] for r in recs]
        if isinstance(v, dict):
            _walk(v, vals, name + "_", emit)
        else:
            emit(name, vals, not (v is None or isinstance(v, (bool, int, float, str))))


def _as_json(vals: list) -> list:
    """JSON strings of ``vals`` (lists repeat from point to point: each distinct one encoded once)."""
    memo: dict[Any, str] = {}
    out = []
    for v in vals:
        try:
            key = (type(v), tuple(v)) if isinstance(v, list) else None
            hash(key)
        except TypeError:
            key = None
        if key is None:
            out.append(json.dumps(v, default=str))
        else:
            s = memo.get(key)
            if s is None:
                s = memo[key] = json.dumps(v, default=str)
            out.append(s)
    return out


def evaluate_columns(question: str, chunk: list[dict[str, Any]], stacked: bool = True,
                     arrays: bool = False) -> dict[str, Any]:
    """The rows of a chunk as columns (name -> one value per point, None where a row has none):
    the same rows as :func:`evaluate`, with the records of a stacked group flattened once per
    column instead of once per point. ``arrays``: numeric columns may come as numpy arrays or
    :class:`.chunk.Masked` (what the store takes; :func:`.chunk.as_list` gives their lists)."""
    n = len(chunk)
    results, groups = _results(question, chunk, stacked, columnar=True)
    b = Builder(n)
    cats: dict[str, str] = {}  # the catalog hash, by the point's what-if overrides
    catalog = []
    keys = list(chunk[0]) if chunk else []
    same_keys = all(list(p) == keys for p in chunk)
    plain = same_keys and not any(is_catalog_path(k) for k in keys)  # no what-if: one catalog hash
    for p in chunk:
        over = "" if plain else json.dumps({k: v for k, v in p.items() if is_catalog_path(k)}, sort_keys=True,
                                           default=str)
        cat = cats.get(over)
        if cat is None:
            cat = cats[over] = catalog_hash(p)
        catalog.append(cat)
    for name, vals in (("point_hash", point_hashes(question, chunk, catalog)), ("catalog_hash", catalog),
                       ("superpod_version", [__version__] * n), ("question", [question] * n),
                       ("error", [r[1] for r in results])):
        b.set(name, vals)
    if same_keys:  # the points of one spec: the same options, column by column
        for k in keys:
            b.set(column(k), [p[k] for p in chunk])
    else:
        for i, p in enumerate(chunk):
            for k, v in p.items():
                b.put(column(k), i, v)
    taken = set(b.cols)  # input and meta names (the same for every point of a spec)
    by_template: set[int] = set()
    for group in groups:
        if isinstance(group, tuple):  # priced as columns (.columns): already flattened
            good, columns = group
            values = {name: (vals, False) for name, vals in columns.items()}
        else:
            good = [i for i in group if results[i][0] is not None]
            if len(good) < 2:
                continue
            recs = [results[i][0] for i in good]
            values = {}
            try:
                _walk(recs[0], recs, "", lambda name, vals, as_json: values.__setitem__(name, (vals, as_json)))
            except (KeyError, TypeError):
                continue
        rows = np.asarray(good, dtype=np.intp)
        for name, (vals, as_json) in values.items():
            if as_json:
                vals = _as_json(vals)
            if name in taken:  # an output named like an input: as row() does, point by point
                for i, v in zip(good, as_list(vals)):
                    if v != b.get(name, i):
                        b.put(f"result_{name}", i, v)
                continue
            b.fill(name, rows, vals)
        by_template.update(good)
    for i in range(n):
        if i in by_template or results[i][0] is None:
            continue
        for k, v in flatten(results[i][0]).items():
            if k in taken:
                if b.get(k, i) == v:
                    continue
                k = f"result_{k}"
            b.put(k, i, v)
    return b.cols if arrays else {name: as_list(col) for name, col in b.cols.items()}

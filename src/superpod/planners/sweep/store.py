"""Where sweep rows go: a DuckDB table ``results`` or a Parquet file, written batch by batch.

DuckDB: each batch is one transaction (columns a batch brings are added first) holding only
the points whose ``point_hash`` is not stored yet (the one writer keeps the stored hashes), so a crash or ``kill -9`` loses at most
the batch in flight and a rerun never duplicates. Parquet: each batch is a part file
written to a temporary name and renamed (atomic) into ``OUT.parts/``; closing merges the
parts and any earlier file into ``OUT`` (columns unioned by name). DuckDB and pyarrow are
the ``sweep`` extra, imported here only.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Union

import numpy as np

from superpod.errors import SpecError
from superpod.planners.sweep.chunk import KINDS, Masked

TABLE = "results"
ALWAYS = ("error",)  # string columns kept even when a batch has no value in them
_TYPES = {"double": "DOUBLE", "string": "VARCHAR", "bool": "BOOLEAN", "large_string": "VARCHAR"}


def _need(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise SpecError(f"sweep stores need {module}: pip install 'superpod[sweep]'") from None


Batch = Union[list[dict[str, Any]], dict[str, list], Any]  # rows, columns (name -> one value per row), or an Arrow table


def columns_of(batch: Batch) -> dict[str, list]:
    """A batch as columns (rows: every key of any row, None where a row has none)."""
    if isinstance(batch, dict):
        return batch
    names: dict[str, None] = {}
    for r in batch:
        names.update(dict.fromkeys(r))
    return {n: [r.get(n) for r in batch] for n in names}


def _numeric(pa, vals):
    """A numpy column (:mod:`.chunk`: an array, or a :class:`.chunk.Masked` one) as an Arrow array, as
    its list would convert: bools as bool, ints and floats as float64; None (no array) when no row has a value."""
    values, valid = (vals.values, vals.valid) if isinstance(vals, Masked) else (vals, None)
    mask = None
    if valid is not None and not valid.all():
        if not valid.any():
            return None
        mask = ~valid
    if values.dtype.kind == "b":
        return pa.array(values, pa.bool_(), mask=mask)
    return pa.array(values.astype(np.float64, copy=False), pa.float64(), mask=mask)


def arrow_table(batch: Batch):
    """Rows or columns -> a pyarrow table: numbers as float64, booleans as bool, the rest as
    strings. A column with no value in this batch is left out (it stays NULL). Columns may be
    numpy arrays (:mod:`.chunk`), converted without a Python object per value."""
    pa = _need("pyarrow")
    if isinstance(batch, pa.Table):
        return batch
    cols = {}
    for n, vals in columns_of(batch).items():
        if isinstance(vals, np.ndarray) and vals.dtype.kind not in KINDS:
            vals = vals.tolist()
        if isinstance(vals, (np.ndarray, Masked)):
            arr = _numeric(pa, vals)
            if arr is not None:
                cols[n] = arr
            continue
        kinds = set(map(type, vals)) - {type(None)}
        if not kinds:
            if n in ALWAYS:
                cols[n] = pa.array(vals, pa.string())
        elif kinds <= {float, int}:
            cols[n] = pa.array(vals, pa.float64())
        elif kinds == {bool}:
            cols[n] = pa.array(vals, pa.bool_())
        elif kinds == {str}:
            cols[n] = pa.array(vals, pa.string())
        else:  # mixed kinds (or numpy scalars): numbers as float64 when they all are, else strings
            nums = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals if v is not None)
            cols[n] = (pa.array([None if v is None else float(v) for v in vals], pa.float64()) if nums else
                       pa.array([None if v is None else v if isinstance(v, str) else json.dumps(v, default=str)
                                 for v in vals], pa.string()))
    return pa.table(cols)


class DuckStore:
    """The DuckDB table ``results``; see the module docstring."""

    def __init__(self, path: Path):
        duckdb = _need("duckdb")
        self.path = path
        # one thread: this process is the one writer, and the workers pricing the chunks use the cores
        # (DuckDB's threads cost CPU time on a busy machine and save no wall time: 14-16 -> 11-12 us/pt)
        self.con = duckdb.connect(str(path), config={"threads": 1})
        self.columns = self._columns()
        self._done = self._read_done()

    def _columns(self) -> dict[str, str]:
        rows = self.con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
                                [TABLE]).fetchall()
        return dict(rows)

    def _read_done(self) -> set[str]:
        if not self.columns:
            return set()
        return {h for (h,) in self.con.execute(f"SELECT point_hash FROM {TABLE}").fetchall()}

    def done(self) -> set[str]:
        return set(self._done)

    def count(self) -> int:
        return self.con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] if self.columns else 0

    def write(self, rows: Batch) -> int:
        batch = arrow_table(rows)
        # this process is the one writer: the hashes stored are known, so a batch is filtered here
        # (a retried chunk, a point given twice) and inserted whole, without a join against the table
        keep, seen = [], set()
        for i, h in enumerate(batch.column("point_hash").to_pylist() if batch.num_rows else []):
            if h not in self._done and h not in seen:
                keep.append(i)
                seen.add(h)
        if not keep:
            return 0
        if len(keep) < batch.num_rows:
            batch = batch.take(keep)
        self.con.register("batch", batch)
        self.con.execute("BEGIN TRANSACTION")
        try:
            if not self.columns:
                self.con.execute(f"CREATE TABLE {TABLE} AS SELECT * FROM batch LIMIT 0")
            else:
                for f in batch.schema:
                    if f.name not in self.columns:
                        self.con.execute(f'ALTER TABLE {TABLE} ADD COLUMN "{f.name}" {_TYPES.get(str(f.type), "VARCHAR")}')
            self.con.execute(f"INSERT INTO {TABLE} BY NAME SELECT * FROM batch")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        finally:
            self.con.unregister("batch")
        self._done |= seen
        if any(f.name not in self.columns for f in batch.schema):
            self.columns = self._columns()
        return len(keep)

    def close(self) -> None:
        self.con.close()


class ParquetStore:
    """A Parquet file built from atomically renamed part files; see the module docstring."""

    def __init__(self, path: Path, read_done: bool = True):
        _need("pyarrow")
        self.path = path
        self.parts = path.with_name(path.name + ".parts")
        self._done = self._read_done() if read_done else set()

    def _files(self) -> list[Path]:
        parts = sorted(self.parts.glob("part-*.parquet")) if self.parts.is_dir() else []
        return ([self.path] if self.path.is_file() else []) + parts

    def _read_done(self) -> set[str]:
        import pyarrow.parquet as pq

        out: set[str] = set()
        for f in self._files():
            out.update(pq.read_table(f, columns=["point_hash"]).column("point_hash").to_pylist())
        return out

    def done(self) -> set[str]:
        return set(self._done)

    def count(self) -> int:
        return len(self._done)

    def write(self, rows: Batch) -> int:
        import pyarrow.parquet as pq

        table = arrow_table(rows)
        if not table.num_rows:
            return 0
        keep, seen = [], set()
        for i, h in enumerate(table.column("point_hash").to_pylist()):
            if h not in self._done and h not in seen:
                keep.append(i)
                seen.add(h)
        if not keep:
            return 0
        fresh = table if len(keep) == table.num_rows else table.take(keep)
        self.parts.mkdir(exist_ok=True)
        n = len(list(self.parts.glob("part-*.parquet")))
        final = self.parts / f"part-{n:08d}-{os.getpid()}.parquet"
        tmp = final.with_suffix(".tmp")
        pq.write_table(fresh, tmp)
        os.replace(tmp, final)
        self._done |= seen
        return len(keep)

    def close(self) -> None:
        """Merge the parts (and an earlier file) into ``path``."""
        duckdb = _need("duckdb")
        parts = [f for f in self._files() if f != self.path]
        if not parts:
            return
        files = [str(f) for f in self._files()]
        tmp = self.path.with_name(self.path.name + ".tmp")
        con = duckdb.connect()
        con.execute(f"COPY (SELECT * FROM read_parquet({files!r}, union_by_name = true)) TO '{tmp}' (FORMAT parquet)")
        con.close()
        os.replace(tmp, self.path)
        shutil.rmtree(self.parts, ignore_errors=True)


def open_store(path: str | Path, resume: bool = False):
    """The store for ``path`` (``.duckdb``/``.db`` or ``.parquet``); an existing one needs ``resume``."""
    p = Path(path)
    if p.suffix not in (".duckdb", ".db", ".parquet"):
        raise SpecError(f"--out {path}: give a .duckdb or .parquet file")
    exists = p.exists() or p.with_name(p.name + ".parts").exists()
    if exists and not resume:
        raise SpecError(f"{path} exists: add --resume to complete it, or remove it to start over")
    return ParquetStore(p) if p.suffix == ".parquet" else DuckStore(p)


def connect(path: str | Path):
    """A read-only DuckDB connection where ``results`` is the sweep's rows (a table or a Parquet view)."""
    duckdb = _need("duckdb")
    p = Path(path)
    if p.suffix == ".parquet":  # the file and the parts of a sweep still running or interrupted
        files = [str(f) for f in ParquetStore(p, read_done=False)._files()]
        if not files:
            raise SpecError(f"{path}: no such file")
        con = duckdb.connect()
        con.execute(f"CREATE VIEW {TABLE} AS SELECT * FROM read_parquet({files!r}, union_by_name = true)")
        return con
    if not p.exists():
        raise SpecError(f"{path}: no such file")
    try:
        return duckdb.connect(str(p), read_only=True)
    except duckdb.Error as e:
        raise SpecError(f"{path}: cannot open: {e}") from None


def query(path: str | Path, sql: str) -> tuple[list[str], list[tuple]]:
    """Columns and rows of ``sql`` over the sweep store at ``path``."""
    duckdb = _need("duckdb")
    con = connect(path)
    try:
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description or []]
        return cols, cur.fetchall()
    except duckdb.Error as e:
        raise SpecError(f"query failed: {str(e).splitlines()[0]}") from None
    finally:
        con.close()

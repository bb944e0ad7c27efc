"""Running a sweep: the points not yet stored, in chunks, on this machine or on Ray, to one writer.

``local`` evaluates chunks in this process (``workers=1``) or in a process pool; ``ray``
starts a local Ray cluster (``workers`` CPUs) unless ``address`` joins one, and runs each
chunk as a task (Ray retries a task whose worker dies, so a killed worker's chunk is
redone). Either way rows stream back to this process, which writes them batch by batch
(:mod:`.store`), so Ctrl-C or a crash leaves a consistent store and ``resume`` completes it
with every point exactly once. Ray is the ``sweep`` extra, imported only here.
"""

from __future__ import annotations

import itertools
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from superpod.errors import SpecError
from superpod.planners.sweep.points import evaluate_columns, is_catalog_path, point_hash, points
from superpod.planners.sweep.spec import Spec
from superpod.planners.sweep.store import arrow_table, open_store

ENGINES = ("local", "ray")
#: test hook: a Ray task whose worker finds no file at this path creates it and kills its own process once
CHAOS_ENV = "SUPERPOD_SWEEP_KILL_ONCE"


@dataclass
class Summary:
    points: int  # in the spec
    skipped: int  # already stored (resume)
    written: int
    errors: int  # points the planner rejected (their rows carry the reason)
    seconds: float
    engine: str
    out: str

    @property
    def points_per_s(self) -> float:
        return (self.written / self.seconds) if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "points_per_s": self.points_per_s}


def _check_overrides(spec: Spec) -> None:
    """Fail before the sweep if the first point's what-if paths or names are wrong."""
    from superpod.scaling import params
    from superpod.spec.catalog import load_model, load_system
    from superpod.spec.whatif import overriding

    first = next(points(spec))
    over = {k: v for k, v in first.items() if is_catalog_path(k)}
    if not over:
        return
    with overriding(over):
        if isinstance(first.get("system"), str):
            load_system(first["system"].split("@")[0])
        if isinstance(first.get("model"), str):
            load_model(first["model"])
        roots = {k.split(".")[0] for k in over}
        for root, load in (("reliability", params.reliability), ("energy", params.energy), ("cost", params.costs),
                           ("training", params.training)):
            if root in roots:
                load()


def _evaluate(question: str, chunk: list[dict[str, Any]]):
    """A chunk's rows as an Arrow table, built where the chunk is priced (a worker), so the
    one writer receives buffers, not Python objects."""
    return arrow_table(evaluate_columns(question, chunk, arrays=True))


#: glibc mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_tuned = False


def _keep_freed_memory() -> None:
    """In a worker process: keep freed memory in the heap for the next chunk's arrays.

    Pricing a chunk allocates and frees numpy temporaries of a few MB thousands of times; glibc
    serves blocks this large from fresh mmap pages or trims the heap's top back to the system,
    so each new array page-faults its pages in again (about 4 faults and 8-10 us of system time
    per point). With the mmap threshold at 64 MB and the trim threshold at 1 GB the pages are
    reused (about 1 fault per point); the worker's peak memory is unchanged, it is just not given
    back until the worker exits. Not glibc (no ``mallopt``): nothing changes."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 64 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):
        pass


def _chunk_task(question: str, chunk: list[dict[str, Any]]):
    _keep_freed_memory()
    marker = os.environ.get(CHAOS_ENV)
    if marker and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), 9)
    return _evaluate(question, chunk)


def _local(question, chunks, workers, sink):
    if workers <= 1:
        for c in chunks:
            sink(_evaluate(question, c))
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=_keep_freed_memory) as pool:
        it, running = iter(chunks), set()
        for c in it:
            running.add(pool.submit(_evaluate, question, c))
            if len(running) >= 2 * workers:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for f in done:
                    sink(f.result())
        for f in running:
            sink(f.result())


def _ray(question, chunks, workers, address, sink):
    try:
        import ray
    except ImportError:
        raise SpecError("--engine ray needs Ray: pip install 'superpod[sweep]'") from None
    started = False
    if not ray.is_initialized():
        env = {CHAOS_ENV: os.environ[CHAOS_ENV]} if CHAOS_ENV in os.environ else {}
        kw: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False,
                                  runtime_env={"env_vars": env} if env else None)
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=workers, _node_ip_address="127.0.0.1", **kw)
        started = True
    try:
        task = ray.remote(max_retries=5)(_chunk_task)
        window = 2 * max(int(ray.cluster_resources().get("CPU", workers)), 1)
        it, running = iter(chunks), []
        for c in it:
            running.append(task.remote(question, c))
            if len(running) >= window:
                done, running = ray.wait(running, num_returns=1)
                for ref in done:
                    sink(ray.get(ref))
        while running:
            done, running = ray.wait(running, num_returns=1)
            for ref in done:
                sink(ray.get(ref))
    finally:
        if started:
            ray.shutdown()


def run(spec: Spec, out: str | Path, engine: str = "local", address: str | None = None, resume: bool = False,
        workers: int | None = None, progress: Callable[[int, int], None] | None = None) -> Summary:
    """Evaluate every point of ``spec`` not yet in ``out`` and store its row; see the module docstring.

    ``progress(done, total)`` is called after each written batch (``done`` counts skipped points).
    """
    if engine not in ENGINES:
        raise SpecError(f"--engine must be local or ray, not {engine!r}")
    workers = workers or ((os.cpu_count() or 1) if engine == "ray" else 1)
    if workers < 1:
        raise SpecError(f"--workers must be >= 1, got {workers}")
    _check_overrides(spec)
    store = open_store(out, resume)
    t0 = time.perf_counter()
    written = errors = 0
    try:
        done = store.done()
        total = spec.size
        # points of one deployment side by side, so a chunk prices them in few stacked calls (.fast)
        if done:  # resume: the points not stored yet
            todo = [p for p in points(spec, grouped=True) if point_hash(spec.question, p) not in done]
            skipped, todo_iter = total - len(todo), iter(todo)
        else:
            skipped, todo_iter = 0, points(spec, grouped=True)
        chunks = iter(lambda: list(itertools.islice(todo_iter, spec.batch)), [])
        if progress:
            progress(skipped, total)

        def sink(table):
            nonlocal written, errors
            written += store.write(table)
            errors += table.num_rows - table.column("error").null_count
            if progress:
                progress(skipped + written, total)

        if engine == "local":
            _local(spec.question, chunks, workers, sink)
        else:
            _ray(spec.question, chunks, workers, address, sink)
    finally:
        store.close()
    return Summary(spec.size, skipped, written, errors, time.perf_counter() - t0, engine, str(out))

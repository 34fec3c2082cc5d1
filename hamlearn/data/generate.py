"""Reference data for a dataset: cached, parallel over molecules, failures collected.

`generate` takes structures and `ReferenceSettings`; molecules whose record is in the
cache are read back, the others are computed (in this process, in local worker
processes, or on a Dask distributed cluster) and written to the cache as each one
finishes, so an interrupted run loses only the molecules in flight. A molecule that
fails (bad input, SCF not converged, a pyscf error) becomes a `Failure` naming it and the
reason; the rest of the dataset completes.

Threads: each local worker runs pyscf with ``threads_per_worker`` OpenMP/BLAS threads
(environment set before the worker starts, ``pyscf.lib.num_threads`` in it), and the
number of workers is reduced so that workers x threads <= cores.

Example:
    >>> result = load_dataset(load_config("configs/quickstart.yaml").data,  # doctest: +SKIP
    ...                       root="configs")
    >>> print(result.summary())                                            # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from hamlearn.data.cache import Cache, cache_key
from hamlearn.data.record import Reference
from hamlearn.data.reference import (ReferenceDataError, ReferenceSettings, check_structure,
                                     compute_reference, model_basis_data)
from hamlearn.data.sources import load_structures
from hamlearn.data.structure import Structure
from hamlearn.faults import fault_point

log = logging.getLogger(__name__)
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclasses.dataclass(frozen=True)
class Failure:
    """A molecule without reference data: its position in the input, name and reason."""

    index: int
    name: str
    reason: str


@dataclasses.dataclass(frozen=True)
class GenerateResult:
    """What `generate` produced.

    Attributes:
        references: successful references in input order.
        failures: one `Failure` per molecule that could not be computed.
        n_cached: molecules read from the cache; n_computed: molecules computed now.
        n_corrupt: damaged cache records found (and recomputed).
        seconds: wall time.
        skipped: frames of structure files that could not be read (`SkippedFrame`).
    """

    references: list[Reference]
    failures: list[Failure]
    n_cached: int
    n_computed: int
    n_corrupt: int
    seconds: float
    skipped: tuple = ()

    def summary(self) -> str:
        """Human-readable report: counts, time and one line per failure or skipped frame."""
        n = len(self.references) + len(self.failures)
        lines = [f"reference data: {n} molecules: {len(self.references)} ok "
                 f"({self.n_cached} from cache, {self.n_computed} computed), "
                 f"{len(self.failures)} failed, {self.n_corrupt} damaged cache records "
                 f"recomputed, {self.seconds:.1f} s"
                 + (f"; {len(self.skipped)} unreadable frames skipped" if self.skipped else "")]
        lines += [f"  SKIPPED {s}" for s in self.skipped]
        lines += [f"  FAILED #{f.index} {f.reason}" for f in self.failures]
        return "\n".join(lines)


# --------------------------------------------------------------------------- workers
def _compute_safe(structure: Structure, settings: ReferenceSettings) -> tuple[bool, object]:
    """``(True, Reference)`` or ``(False, reason)``: a worker never raises for one molecule."""
    try:
        return True, compute_reference(structure, settings)
    except ReferenceDataError as err:
        return False, str(err)
    except Exception as err:  # pyscf and numpy errors: report, keep the dataset going
        return False, f"{structure.label}: {type(err).__name__}: {err}"


def _compute_with_threads(structure, settings, threads: int) -> tuple[bool, object]:
    """`_compute_safe` after limiting pyscf's OpenMP threads (Dask workers)."""
    import pyscf.lib

    pyscf.lib.num_threads(threads)
    return _compute_safe(structure, settings)


def _init_worker(threads: int) -> None:
    """Local worker start-up: leave Ctrl-C to the parent, limit threads."""
    import signal

    import pyscf.lib

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update({v: str(threads) for v in _THREAD_VARS})
    pyscf.lib.num_threads(threads)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def plan_workers(n_workers: int, threads: int, n_tasks: int) -> tuple[int, int]:
    """``(workers, threads)`` with workers x threads <= cores.

    ``n_workers`` 0 fills the cores: one worker per ``threads`` cores, and when there are
    fewer molecules than that, the spare cores go to the workers' threads.
    """
    cores = available_cores()
    threads = max(1, min(threads, cores))
    workers = cores // threads if n_workers <= 0 else min(n_workers, cores)
    workers = max(1, min(workers, n_tasks))
    if n_workers <= 0:
        threads = max(threads, cores // workers)
    threads = max(1, min(threads, cores // workers))
    return workers, threads


@contextlib.contextmanager
def _thread_env(threads: int):
    """Thread-count variables for child processes started inside the block."""
    saved = {v: os.environ.get(v) for v in _THREAD_VARS}
    os.environ.update({v: str(threads) for v in _THREAD_VARS})
    try:
        yield
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old


# --------------------------------------------------------------------------- backends
Outcome = tuple[str, tuple[bool, object]]


def _run_serial(todo, settings, threads: int) -> Iterator[Outcome]:
    import pyscf.lib

    before = pyscf.lib.num_threads()
    pyscf.lib.num_threads(threads)
    try:
        for key, structure in todo:
            yield key, _compute_safe(structure, settings)
    finally:
        pyscf.lib.num_threads(before)


def _run_local(todo, settings, workers: int, threads: int) -> Iterator[Outcome]:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")  # no fork of a process that runs JAX threads
    with _thread_env(threads):  # workers are spawned by the submits, inside this block
        pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(threads,))
        futures = {pool.submit(_compute_safe, s, settings): (key, s) for key, s in todo}
    finished = False
    try:
        for fut in as_completed(futures):
            key, structure = futures[fut]
            err = fut.exception()
            yield key, (False, f"{structure.label}: worker failed: {err!r}") if err else fut.result()
        finished = True
    finally:
        _stop_pool(pool, finished)


def _stop_pool(pool, finished: bool) -> None:
    """Normal end: wait for the workers. Interrupted: cancel and terminate them now."""
    if finished:
        pool.shutdown(wait=True)
        return
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()


def _run_dask(todo, settings, address: str, threads: int) -> Iterator[Outcome]:
    from distributed import Client, as_completed

    with Client(address, set_as_default=False) as client:
        structures = [s for _, s in todo]
        futures = client.map(_compute_with_threads, structures, settings=settings,
                             threads=threads, pure=False)
        by_key = {fut.key: (key, s) for fut, (key, s) in zip(futures, todo)}
        try:
            for fut in as_completed(futures, loop=client.loop):
                key, structure = by_key[fut.key]
                if fut.status == "finished":
                    yield key, fut.result()
                else:
                    yield key, (False, f"{structure.label}: dask task {fut.status}: "
                                       f"{fut.exception()!r}")
        finally:
            client.cancel(futures)


# --------------------------------------------------------------------------- driver
def generate(structures: Sequence[Structure], settings: ReferenceSettings,
             cache_dir: str | Path | None = None, *, n_workers: int = 0,
             threads_per_worker: int = 1, scheduler: str | None = None,
             progress: bool = True) -> GenerateResult:
    """References of ``structures``: from the cache when present, else computed.

    Args:
        structures: the molecules (names are kept, also for records from the cache).
        settings: method, bases, SCF settings.
        cache_dir: cache folder; None computes everything and stores nothing.
        n_workers: local worker processes; 0 fills the cores; with one worker (or one
            molecule to compute) it runs in this process.
        threads_per_worker: pyscf OpenMP/BLAS threads per worker.
        scheduler: Dask distributed scheduler address; replaces the local workers.
        progress: show a tqdm bar (done/total, rate, ETA) on stderr.

    Returns:
        `GenerateResult` with the references (input order) and the failures.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    cache = Cache(cache_dir) if cache_dir is not None else None
    results, todo = _split_cached(structures, settings, cache)
    n_cached = len(results)
    tasks = [(key, structures[idx[0]]) for key, idx in todo.items()]  # one per distinct key
    failures: list[Failure] = []
    bar = tqdm(total=len(structures), initial=n_cached, desc="references", unit="mol",
               disable=not progress, dynamic_ncols=True)
    with bar, contextlib.closing(_backend(tasks, settings, n_workers, threads_per_worker,
                                          scheduler)) as outcomes:
        for key, (ok, value) in outcomes:
            if ok:
                value = dataclasses.replace(value, meta={**value.meta, "cache_key": key})
                if cache is not None:
                    cache.put(key, value)  # now: a later interruption cannot lose it
                    fault_point("record")
            for i in todo[key]:
                if ok:
                    results[i] = dataclasses.replace(value, structure=structures[i])
                else:
                    failures.append(Failure(i, structures[i].label, str(value)))
                    log.warning("reference failed: %s", value)
            bar.update(len(todo[key]))
    return GenerateResult(references=[results[i] for i in sorted(results)],
                          failures=sorted(failures, key=lambda f: f.index), n_cached=n_cached,
                          n_computed=len(structures) - n_cached - len(failures),
                          n_corrupt=len(cache.corrupted) if cache is not None else 0,
                          seconds=time.perf_counter() - t0)


def _split_cached(structures, settings, cache):
    """``({index: cached Reference}, {key: [indices to compute]})``; cached records get the
    caller's structure (its name) back."""
    results: dict[int, Reference] = {}
    todo: dict[str, list[int]] = {}
    for i, structure in enumerate(structures):
        key = cache_key(structure, settings)
        ref = cache.get(key) if cache is not None else None
        if ref is not None:
            results[i] = dataclasses.replace(ref, structure=structure)
        else:
            todo.setdefault(key, []).append(i)
    return results, todo


def _backend(tasks, settings, n_workers, threads, scheduler) -> Iterator[Outcome]:
    if not tasks:
        return (outcome for outcome in ())
    if scheduler:
        return _run_dask(tasks, settings, scheduler, max(1, threads))
    workers, threads = plan_workers(n_workers, threads, len(tasks))
    if workers == 1:
        return _run_serial(tasks, settings, threads)
    log.info("computing %d references on %d workers x %d threads", len(tasks), workers, threads)
    return _run_local(tasks, settings, workers, threads)


def load_dataset(data, root: str | Path = ".", *, progress: bool = True) -> GenerateResult:
    """The reference data of a `hamlearn.config.DataConfig` (``root``: the config's folder).

    Reads the sources (unreadable frames of structure files are skipped and listed in
    ``GenerateResult.skipped``), then `generate` with the config's settings, cache folder (relative
    to ``root``), workers, threads and scheduler.
    """
    settings = ReferenceSettings.from_config(data)
    skipped: list = []
    structures = load_structures(data, root, skipped)
    for frame in skipped:
        log.warning("skipped: %s", frame)
    result = generate(structures, settings, _cache_dir(data, root), n_workers=data.n_workers,
                      threads_per_worker=data.threads_per_worker,
                      scheduler=data.dask_scheduler, progress=progress)
    return dataclasses.replace(result, skipped=tuple(skipped))


def load_cached(data, root: str | Path = ".") -> tuple[list[Reference], list[Structure]]:
    """The references of a `hamlearn.config.DataConfig` that are in its cache, and the
    structures that are not (nothing is computed), both in dataset order."""
    settings = ReferenceSettings.from_config(data)
    structures = load_structures(data, root, [])
    found, todo = _split_cached(structures, settings, Cache(_cache_dir(data, root)))
    missing = sorted(i for idx in todo.values() for i in idx)
    return [found[i] for i in sorted(found)], [structures[i] for i in missing]


def _cache_dir(data, root) -> Path:
    cache_dir = Path(data.cache_dir).expanduser()
    return cache_dir if cache_dir.is_absolute() else Path(root) / cache_dir


def scf_sample(n: int, size: int | None, seed: int = 0) -> np.ndarray:
    """Positions (ascending) of the molecules that get the model-basis SCF: all of ``n``
    when ``size`` is None or not smaller, else a seeded sample of ``size``."""
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def load_model_references(data, root: str | Path = ".", *,
                          progress: bool = True) -> GenerateResult:
    """Model-basis references of a `hamlearn.config.DataConfig`'s molecules for published
    labels: the SCF (through the cache, as `load_dataset`) of the `scf_sample` of
    ``data.model_scf_sample`` molecules, the model-basis integrals only (no Fock) for the
    others. Inputs the SCF would refuse are refused here too (`check_structure`), by name.
    """
    if data.model_scf_sample is None:
        return load_dataset(data, root, progress=progress)
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    settings = ReferenceSettings.from_config(data)
    skipped: list = []
    structures = load_structures(data, root, skipped)
    for frame in skipped:
        log.warning("skipped: %s", frame)
    pick = scf_sample(len(structures), data.model_scf_sample, data.model_scf_seed)
    log.info("model-basis SCF for %d of %d molecules (data.model_scf_sample), integrals "
             "only for the others", len(pick), len(structures))
    scf = generate([structures[i] for i in pick], settings, _cache_dir(data, root),
                   n_workers=data.n_workers, threads_per_worker=data.threads_per_worker,
                   scheduler=data.dask_scheduler, progress=progress)
    failures = [dataclasses.replace(f, index=int(pick[f.index])) for f in scf.failures]
    failed = {f.index for f in failures}
    by_pos = dict(zip([int(i) for i in pick if int(i) not in failed], scf.references))
    rest = np.setdiff1d(np.arange(len(structures)), pick)
    for i in tqdm(rest.tolist(), desc="integrals", unit="mol", disable=not progress,
                  dynamic_ncols=True):
        s = structures[i]
        try:
            check_structure(s, settings)
            model = model_basis_data(s, settings.model_basis)
        except (ReferenceDataError, ValueError, RuntimeError) as err:
            failures.append(Failure(i, s.label, str(err)))
            log.warning("reference failed: %s", err)
            continue
        by_pos[i] = Reference(structure=s, method=settings.method, model=model, labels={},
                              meta={"model_scf": False})
    return GenerateResult(references=[by_pos[i] for i in sorted(by_pos)],
                          failures=sorted(failures, key=lambda f: f.index),
                          n_cached=scf.n_cached, n_computed=scf.n_computed,
                          n_corrupt=scf.n_corrupt, seconds=time.perf_counter() - t0,
                          skipped=tuple(skipped))

"""Process-level JAX settings for entry points (scripts, notebooks, benchmarks).

`setup_jax()` keeps float64 on and turns on JAX's persistent compilation cache, so the
second run of a CLI on the same shapes skips XLA compilation (tens of seconds for the
training step). The cache folder is ``$HAMLEARN_JAX_CACHE`` if set (empty: off), else
``~/.cache/hamlearn/jax``. It also turns on `hamlearn.aot` (stored traces under
``<cache>/export/``: a new process skips tracing the features and the model, not only their
compilation) unless ``$HAMLEARN_AOT=0``. Library code never calls this: it only changes
process state.

`setup_threads()` (called by `setup_jax`) sets the BLAS/OpenMP thread count: the argument,
else ``$HAMLEARN_THREADS``, else `default_threads`: half the cores this process may use (at
least 1), because XLA's own CPU thread pool already spans every core and BLAS threads that
busy-wait beside it oversubscribe them. Measured on 2 cores (ethanol B3LYP/STO-3G SCF;
``np.linalg.solve`` 2000 x 2000): idle, 1 thread 1.0 s / 0.10 s against 2 threads 1.4 s /
0.06 s; with the other core busy, 1.0 s / 0.10 s against 1.75 s / 0.17 s.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_limits = None  # threadpoolctl limiter, kept alive for the process


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_threads() -> int:
    """Half the usable cores, at least 1 (see the module docstring for the measurement)."""
    return max(1, _cores() // 2)


def setup_threads(n: int | None = None) -> int:
    """Limit BLAS/OpenMP threads to ``n`` (default ``$HAMLEARN_THREADS``, else
    `default_threads`).

    Applies to pyscf (``pyscf.lib.num_threads``), to the BLAS/OpenMP libraries loaded in this
    process (threadpoolctl, when installed), and sets OMP/OPENBLAS/MKL_NUM_THREADS for child
    processes (and libraries loaded later) unless the user already set them. Returns ``n``.
    """
    global _limits
    if n is None:
        env = os.environ.get("HAMLEARN_THREADS", "").strip()
        if env:
            try:
                n = int(env)
            except ValueError:
                raise ValueError(f"HAMLEARN_THREADS must be a positive integer, got {env!r}") from None
            if n < 1:
                raise ValueError(f"HAMLEARN_THREADS must be a positive integer, got {env!r}")
        else:
            n = default_threads()
    elif isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads (HAMLEARN_THREADS) must be a positive integer, got {n!r}")
    for var in _THREAD_VARS:
        os.environ.setdefault(var, str(n))
    import pyscf.lib
    import scipy.linalg  # noqa: F401  (load its BLAS before limiting)

    pyscf.lib.num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return n
    _limits = threadpool_limits(n)
    return n


def setup_jax(cache_dir: str | Path | None = None) -> Path | None:
    """Enable float64, the persistent compilation cache and stored traces (`hamlearn.aot`);
    returns the cache folder (None: no cache, no stored traces)."""
    jax.config.update("jax_enable_x64", True)
    setup_threads()
    if cache_dir is None:
        env = os.environ.get("HAMLEARN_JAX_CACHE")
        if env == "":
            return None
        cache_dir = env or Path.home() / ".cache" / "hamlearn" / "jax"
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache_dir))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    from hamlearn import aot

    aot.enable(None if os.environ.get("HAMLEARN_AOT", "1") == "0" else cache_dir)
    return cache_dir

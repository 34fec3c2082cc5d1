"""Process-level JAX settings for entry points (scripts, notebooks, benchmarks).

`setup_jax()` keeps float64 on and turns on JAX's persistent compilation cache, so the
second run of a CLI on the same shapes skips XLA compilation (tens of seconds for the
training step). The cache folder is ``$HAMLEARN_JAX_CACHE`` if set (empty: off), else
``~/.cache/hamlearn/jax``. Library code never calls this: it only changes process state.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax


def setup_jax(cache_dir: str | Path | None = None) -> Path | None:
    """Enable float64 and the persistent compilation cache; returns the cache folder."""
    jax.config.update("jax_enable_x64", True)
    if cache_dir is None:
        env = os.environ.get("HAMLEARN_JAX_CACHE")
        if env == "":
            return None
        cache_dir = env or Path.home() / ".cache" / "hamlearn" / "jax"
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache_dir))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return cache_dir

"""Traced-function cache on disk (`jax.export`): a process that calls a jitted function on
shapes an earlier process already saw skips Python tracing, not only XLA compilation.

JAX's persistent compilation cache (`hamlearn.runtime.setup_jax`) saves the compile, but
every new process still traces: for `predict.py` on one molecule that was most of the
compute (the feature pipeline, with e3nn's symbolic spherical harmonics, and the model +
QM layer). `call(name, fn, args, static=...)` exports ``fn`` once per (argument shapes,
``static``, hamlearn source, JAX version, backend), stores the serialized StableHLO under
``<cache>/export/``, and later calls run the stored function (its compile then comes from
the compilation cache). A process that only runs stored functions never imports e3nn.

Off unless `enable` was called (the CLIs do it through `setup_jax`; library code and the
tests trace as usual). A file that cannot be read back is re-exported (and named in a
warning); writes are atomic, so an interrupted process leaves no partial file.

``static`` must describe everything ``fn`` closes over that changes its result (a config,
a model's static structure): it is part of the key, together with a hash of every source
file of the package, so editing hamlearn invalidates every entry.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Callable, Hashable

import jax
import numpy as np

log = logging.getLogger(__name__)

#: custom calls without JAX's compatibility guarantee that hamlearn's functions use
_UNVERSIONED_CALLS = ("lapack_dsygvd_ffi", "lapack_ssygvd_ffi", "lapack_zhegvd_ffi",
                      "lapack_chegvd_ffi")

_dir: Path | None = None
_memo: dict[str, Any] = {}
_failed: set[str] = set()
_fingerprint: str | None = None
_lapack_ready = False


def enable(cache_dir: str | Path | None) -> None:
    """Store and reuse exported functions under ``cache_dir/export`` (None: off)."""
    global _dir
    _dir = None if cache_dir is None else Path(cache_dir) / "export"
    _memo.clear()


def enabled() -> bool:
    return _dir is not None


def source_fingerprint() -> str:
    """sha256 of every ``.py`` file of the hamlearn package (path and content)."""
    global _fingerprint
    if _fingerprint is None:
        root = Path(__file__).parent
        h = hashlib.sha256()
        for p in sorted(root.rglob("*.py")):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
        _fingerprint = h.hexdigest()
    return _fingerprint


def _leaf_spec(x) -> str:
    a = x if hasattr(x, "shape") and hasattr(x, "dtype") else np.asarray(x)
    return f"{a.dtype}{tuple(a.shape)}"


def _key(name: str, leaves, treedef, static) -> str:
    h = hashlib.sha256()
    for part in (name, repr(static), str(treedef), ",".join(_leaf_spec(x) for x in leaves),
                 source_fingerprint(), jax.__version__, jax.default_backend(),
                 str(jax.config.jax_enable_x64)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def exported(name: str, fn: Callable, args: tuple, *, static: Hashable):
    """The `jax.export.Exported` of ``fn(*args)`` for these argument shapes: from memory,
    from disk, or exported now (and stored). Requires `enable`.

    ``static`` (hashable, with a deterministic ``repr``) describes what ``fn`` closes over.
    """
    from jax import export

    leaves, treedef = jax.tree_util.tree_flatten(args)
    fast = (name, static, treedef, tuple((np.shape(x), str(getattr(x, "dtype", type(x))))
                                         for x in leaves))
    if fast in _memo:
        return _memo[fast]
    key = _key(name, leaves, treedef, static)
    assert _dir is not None, "hamlearn.aot.exported needs hamlearn.aot.enable(...)"
    path = _dir / f"{name}-{key}.bin"
    exp = None
    if path.is_file():
        try:
            exp = export.deserialize(bytearray(path.read_bytes()))
        except Exception as err:  # a damaged or foreign file: export it again
            log.warning("exported function %s is unreadable (%s): exporting it again",
                        path, err)
    if exp is None:
        def flat_fn(*flat):
            return fn(*jax.tree_util.tree_unflatten(treedef, flat))

        specs = [jax.ShapeDtypeStruct(np.shape(x), getattr(x, "dtype", None)
                                      or np.asarray(x).dtype) for x in leaves]
        # LAPACK's generalised eigensolver (pyscfad's eigh(F, S)) has no cross-version
        # guarantee; the key pins the JAX version and backend, so the check is moot here
        checks = [export.DisabledSafetyCheck.custom_call(t) for t in _UNVERSIONED_CALLS]
        exp = export.export(jax.jit(flat_fn), disabled_checks=checks)(*specs)
        _write_atomic(path, exp.serialize())
    else:
        # a stored trace may call pyscfad's LAPACK targets without having lowered them
        # (scanning the module text for them cost ~30 ms a function)
        _init_pyscfad_lapack()
    _memo[fast] = exp
    return exp


def _init_pyscfad_lapack() -> None:
    """Register pyscfadlib's LAPACK targets and load their function pointers (once): done
    when a trace lowers pyscfad's ``eigh(F, S)``; a stored trace skips that, and calling
    the target uninitialised crashes the process."""
    global _lapack_ready
    if not _lapack_ready:
        from pyscfadlib import lapack

        lapack.lp.initialize()
        _lapack_ready = True


def call(name: str, fn: Callable, args: tuple, *, static: Hashable):
    """``fn(*args)`` through the stored export when enabled (and ``args`` are concrete),
    else ``jax.jit(fn)(*args)``."""
    leaves = jax.tree_util.tree_leaves(args)
    if not enabled() or any(isinstance(x, jax.core.Tracer) for x in leaves):
        return jax.jit(fn)(*args)  # under an outer trace: inline, differentiable
    try:
        exp = exported(name, fn, args, static=static)
    except Exception as err:  # cannot be exported (e.g. a new custom call): trace as usual
        if name not in _failed:
            log.warning("could not store the trace of %s (%s: %s); tracing it each run",
                        name, type(err).__name__, str(err).splitlines()[0][:200])
            _failed.add(name)
        return jax.jit(fn)(*args)
    return exp.call(*leaves)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)

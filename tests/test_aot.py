"""hamlearn.aot: a stored trace is reused by a fresh process state without tracing again,
gives the numbers of plain jit, is keyed by what the function closes over, survives a
damaged file, and stays differentiable under an outer trace."""

import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hamlearn import aot


@pytest.fixture
def store(tmp_path):
    aot.enable(tmp_path)
    yield tmp_path / "export"
    aot.enable(None)


def _poly(x, y, *, power):
    return {"s": jnp.sum(x**power) + y, "v": jnp.sin(x) * power}


def _args():
    return (jnp.linspace(0.1, 1.0, 7), jnp.asarray(0.5))


def _forget():
    """A new process as far as aot can tell: no in-memory entries."""
    aot._memo.clear()


def test_disabled_is_plain_jit(tmp_path):
    aot.enable(None)
    out = aot.call("poly", functools.partial(_poly, power=3), _args(), static=3)
    ref = jax.jit(functools.partial(_poly, power=3))(*_args())
    np.testing.assert_array_equal(out["s"], ref["s"])
    assert not (tmp_path / "export").exists()


def test_stored_trace_is_reused_without_exporting(store, monkeypatch):
    fn = functools.partial(_poly, power=3)
    first = aot.call("poly", fn, _args(), static=3)
    files = sorted(store.glob("poly-*.bin"))
    assert len(files) == 1 and files[0].stat().st_size > 0
    _forget()

    def refuse(*a, **k):
        raise AssertionError("traced again although a stored trace exists")

    monkeypatch.setattr(jax.export, "export", refuse)
    again = aot.call("poly", fn, _args(), static=3)
    ref = jax.jit(fn)(*_args())
    for k in ref:
        np.testing.assert_array_equal(again[k], first[k])
        np.testing.assert_array_equal(again[k], ref[k])


def test_static_and_shapes_are_part_of_the_key(store):
    aot.call("poly", functools.partial(_poly, power=3), _args(), static=3)
    out = aot.call("poly", functools.partial(_poly, power=2), _args(), static=2)
    np.testing.assert_allclose(out["s"], float(jnp.sum(_args()[0] ** 2) + 0.5))
    aot.call("poly", functools.partial(_poly, power=2), (jnp.ones(4), jnp.asarray(0.0)),
             static=2)
    assert len(list(store.glob("poly-*.bin"))) == 3


def test_damaged_file_is_named_and_exported_again(store, caplog):
    fn = functools.partial(_poly, power=3)
    ref = aot.call("poly", fn, _args(), static=3)
    (path,) = store.glob("poly-*.bin")
    path.write_bytes(b"\x00garbage" * 10)
    _forget()
    with caplog.at_level(logging.WARNING, logger="hamlearn.aot"):
        out = aot.call("poly", fn, _args(), static=3)
    assert any(path.name in r.getMessage() and "unreadable" in r.getMessage()
               for r in caplog.records)
    np.testing.assert_array_equal(out["s"], ref["s"])
    _forget()
    aot.exported("poly", fn, _args(), static=3)  # the rewritten file reads back
    assert not list(store.glob(".*.tmp"))


def test_gradient_through_call_under_an_outer_trace(store):
    x = jnp.linspace(0.1, 1.0, 7)

    def loss(x):
        return aot.call("poly", functools.partial(_poly, power=3), (x, jnp.asarray(0.0)),
                        static=3)["s"]

    np.testing.assert_allclose(jax.grad(loss)(x), 3 * x**2, rtol=1e-12)
    np.testing.assert_allclose(jax.jit(jax.grad(loss))(x), 3 * x**2, rtol=1e-12)


def test_unexportable_function_falls_back_once_with_a_warning(store, caplog, monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("no serialization for this custom call")

    monkeypatch.setattr(jax.export, "export", broken)
    aot._failed.discard("poly")
    with caplog.at_level(logging.WARNING, logger="hamlearn.aot"):
        a = aot.call("poly", functools.partial(_poly, power=3), _args(), static=3)
        b = aot.call("poly", functools.partial(_poly, power=3), _args(), static=3)
    np.testing.assert_array_equal(a["s"], b["s"])
    assert sum("could not store" in r.getMessage() for r in caplog.records) == 1


def test_generalised_eigh_runs_from_a_stored_trace(store):
    """pyscfad's eigh(F, S) lowers to an unversioned LAPACK custom call: the export must
    be allowed and the stored trace must run (its target initialised) with the same
    eigenvalues as scipy."""
    import scipy.linalg

    from hamlearn.qm import generalized_eigh

    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    f = a + a.T
    b = rng.normal(size=(6, 6))
    s = b @ b.T + 6 * np.eye(6)

    def solve(f, s):
        return generalized_eigh(f, s)[0]

    aot.call("geigh", solve, (jnp.asarray(f), jnp.asarray(s)), static=0)
    _forget()
    e = aot.call("geigh", solve, (jnp.asarray(f), jnp.asarray(s)), static=0)
    np.testing.assert_allclose(e, scipy.linalg.eigh(f, s, eigvals_only=True), atol=1e-12)

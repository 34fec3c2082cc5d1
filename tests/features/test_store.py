"""The on-disk feature store (featurize(store=...)): the same features as in memory,
memory-mapped, read back without computing, keyed by what they depend on, and complete
or absent after an interruption."""

import logging

import numpy as np
import pytest

from hamlearn.config import FeaturesConfig
from hamlearn.data.sources import from_ase_name
from hamlearn.features import featurize
from hamlearn.model import make_batch

CFG = FeaturesConfig(n_radial=3, l_max=2, n_radial_pair=3)


@pytest.fixture(scope="module")
def mols():
    return [from_ase_name(n) for n in ("H2O", "CH3OH", "NH3", "HCN")]


def _same(a, b, rtol=0.0):
    assert a.types.keys() == b.types.keys()
    for key, ta in a.types.items():
        tb = b.types[key]
        for name in ("mol", "rows", "cols", "atoms", "offsets"):
            np.testing.assert_array_equal(getattr(ta, name), getattr(tb, name))
        for ir, x in ta.features.items():
            np.testing.assert_allclose(tb.features[ir], x, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_array_equal(a.nao, b.nao)
    assert a.names == b.names


def _module():
    import sys

    return sys.modules["hamlearn.features.featurize"]


def test_store_equals_memory_and_is_read_back_without_computing(mols, tmp_path, monkeypatch):
    ref = featurize(mols, CFG)
    stored = featurize(mols, CFG, store=tmp_path)
    _same(ref, stored)
    arr = next(iter(stored.types["6"].features.values()))
    assert isinstance(arr, np.memmap) and not arr.flags.writeable
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert (folder / "manifest.json").is_file()

    def refuse(*a, **k):
        raise AssertionError("features computed although a store exists")

    monkeypatch.setattr(_module(), "_run_chunk", refuse)
    _same(ref, featurize(mols, CFG, store=tmp_path))
    b_ref, b_st = make_batch(ref, [0, 1, 3]), make_batch(stored, [0, 1, 3])
    for key, t in b_ref.types.items():
        for ir, x in t.features.items():
            np.testing.assert_array_equal(b_st.types[key].features[ir], x)


@pytest.mark.parametrize("gated", [False, True])
def test_float32_store_batches_are_upcast_exactly_by_the_model(mols, tmp_path, gated):
    """A float32 store's batches carry float32 features (half the bytes to move); the model
    casts them to its float64 weights, giving exactly the F of a float64 copy on the host."""
    import dataclasses

    import jax

    from hamlearn.model import HamiltonianModel

    ref = featurize(mols, CFG)
    st = featurize(mols, CFG, store=tmp_path, dtype=np.float32)
    assert next(iter(st.types["1-8"].features.values())).dtype == np.float32
    _same(ref, st, rtol=1e-6)
    batch = make_batch(st, [1, 2])
    assert all(x.dtype == np.float32 for t in batch.types.values() for x in t.features.values())
    as64 = dataclasses.replace(batch, types={
        k: dataclasses.replace(t, features={ir: np.asarray(x, np.float64)
                                            for ir, x in t.features.items()})
        for k, t in batch.types.items()})
    model = HamiltonianModel(st.spec, key=jax.random.PRNGKey(1), gated=gated,
                             gate_scale=0.5 if gated else 0.0)
    f32, f64 = np.asarray(model(batch)), np.asarray(model(as64))
    assert f32.dtype == np.float64 and np.abs(f64).max() > 1e-3
    np.testing.assert_array_equal(f32, f64)


def test_key_covers_structures_settings_and_dtype(mols, tmp_path):
    featurize(mols, CFG, store=tmp_path)
    featurize(mols[:3], CFG, store=tmp_path)
    featurize(mols, FeaturesConfig(n_radial=2, l_max=2, n_radial_pair=3), store=tmp_path)
    featurize(mols, CFG, store=tmp_path, dtype=np.float32)
    w = mols[0]
    moved = [type(w)(numbers=w.numbers, positions=w.positions * 1.01, name=w.label), *mols[1:]]
    featurize(moved, CFG, store=tmp_path)
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 5


def test_damaged_store_is_named_and_recomputed(mols, tmp_path, caplog):
    ref = featurize(mols, CFG)
    featurize(mols, CFG, store=tmp_path)
    (folder,) = list(tmp_path.iterdir())
    victim = sorted(folder.glob("1-6_*e.npy"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        again = featurize(mols, CFG, store=tmp_path)
    assert any(folder.name in r.getMessage() and "unreadable" in r.getMessage()
               for r in caplog.records)
    _same(ref, again)


def test_interrupted_store_leaves_nothing_usable(mols, tmp_path, monkeypatch):
    calls = []
    real = _module()._run_chunk

    def dies(*a, **k):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(_module(), "_run_chunk", dies)
    with pytest.raises(KeyboardInterrupt):
        featurize(mols, CFG, store=tmp_path)
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    monkeypatch.setattr(_module(), "_run_chunk", real)
    _same(featurize(mols, CFG), featurize(mols, CFG, store=tmp_path))

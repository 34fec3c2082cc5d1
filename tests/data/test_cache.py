"""The reference cache: exact round trip, keys, atomic writes, damaged records detected."""

import dataclasses

import numpy as np
import pytest

from hamlearn.data.cache import Cache, cache_key, reference_to_arrays
from hamlearn.data.record import Labels, ModelBasisData, Reference
from hamlearn.data.reference import ReferenceSettings


def fake_reference(structure, rng) -> Reference:
    """A Reference with random numbers (no pyscf): the cache only moves bytes."""
    n = 7
    sym = rng.normal(size=(n, n))
    model = ModelBasisData(basis="sto-3g", ovlp=sym + sym.T, dip_ints=rng.normal(size=(3, n, n)),
                           origin=structure.charge_centre(), fock=rng.normal(size=(n, n)))
    labels = {
        "sto-3g": Labels("sto-3g", np.sort(rng.normal(size=n)), 5, rng.normal(size=3),
                         polarizability_uncoupled=rng.normal(size=(3, 3)), e_tot=-75.3),
        "def2-svp": Labels("def2-svp", np.sort(rng.normal(size=24)), 5, rng.normal(size=3),
                           polarizability_coupled=rng.normal(size=(3, 3))),
    }
    return Reference(structure=structure, method="b3lyp", model=model, labels=labels,
                     meta={"settings": {"conv_tol": 1e-11}, "note": "ünïcode"})


def assert_same(a: Reference, b: Reference):
    assert a.method == b.method and a.meta == b.meta and list(a.labels) == list(b.labels)
    for f in ("numbers", "positions"):
        np.testing.assert_array_equal(getattr(a.structure, f), getattr(b.structure, f))
    assert (a.structure.charge, a.structure.spin, a.structure.name) == (
        b.structure.charge, b.structure.spin, b.structure.name)
    for f in dataclasses.fields(ModelBasisData):
        x, y = getattr(a.model, f.name), getattr(b.model, f.name)
        assert x == y if isinstance(x, str) else np.array_equal(x, y)
    for basis, la in a.labels.items():
        for f in dataclasses.fields(Labels):
            x, y = getattr(la, f.name), getattr(b.labels[basis], f.name)
            assert (x is None and y is None) or np.array_equal(x, y), (basis, f.name)


@pytest.fixture
def filled(tmp_path, small_molecules, rng):
    cache = Cache(tmp_path / "cache")
    ref = fake_reference(small_molecules["H2O"], rng)
    key = cache_key(ref.structure, ReferenceSettings())
    cache.put(key, ref)
    return cache, key, ref


def test_round_trip_is_exact(filled):
    cache, key, ref = filled
    assert key in cache and cache.keys() == [key]
    assert_same(cache.get(key), ref)
    assert not list(cache.directory.rglob("*.tmp"))  # atomic write left nothing behind


def test_key_depends_on_what_changes_results(small_molecules):
    s, base = small_molecules["H2O"], ReferenceSettings()
    k = cache_key(s, base)
    changed = [dataclasses.replace(base, method="pbe0"), dataclasses.replace(base, conv_tol=1e-9),
               dataclasses.replace(base, target_bases=("def2-tzvp",)),
               dataclasses.replace(base, polarizability=("uncoupled",)),
               dataclasses.replace(base, grid_level=3)]
    assert len({k, *(cache_key(s, c) for c in changed)}) == 1 + len(changed)
    assert cache_key(dataclasses.replace(s, charge=2), base) != k
    assert cache_key(dataclasses.replace(s, name="water"), base) == k  # the name is a label
    assert cache_key(s, dataclasses.replace(base, max_cycle=300)) == k  # no effect if converged
    assert cache_key(s, dataclasses.replace(base, method="RHF", grid_level=3)) == cache_key(
        s, dataclasses.replace(base, method="rhf", grid_level=5))  # no grid in RHF


def test_missing_is_none(tmp_path):
    assert Cache(tmp_path).get("ab" * 32) is None


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "empty"])
def test_damaged_file_is_detected_and_removed(filled, damage):
    cache, key, ref = filled
    path = cache.path(key)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip_byte":  # inside the Fock matrix's bytes
        data[data.find(ref.model.fock.tobytes()) + 17] ^= 0xFF
    else:
        data = b""
    path.write_bytes(bytes(data))
    assert cache.get(key) is None
    assert cache.corrupted == [key] and not path.exists()


def test_consistent_zip_with_altered_numbers_fails_the_checksum(filled):
    """A record rewritten with different numbers but the old checksum is not used."""
    cache, key, ref = filled
    path = cache.path(key)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["model/fock"] = arrays["model/fock"] + 1e-12
    np.savez(path, **arrays)
    assert cache.get(key) is None and cache.corrupted == [key]


def test_arrays_have_no_objects(filled):
    _, _, ref = filled
    assert all(a.dtype != object for a in reference_to_arrays(ref).values())

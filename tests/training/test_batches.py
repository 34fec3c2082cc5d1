"""Batcher: a short batch (filled with masked copies) gives the loss of its real molecules
alone, and padding (fillers, a larger AO bucket, fixed entry counts) leaves F unchanged."""

import jax
import numpy as np
import pytest

from hamlearn.config import Config, FeaturesConfig, LossConfig, TrainConfig
from hamlearn.data.reference import ReferenceSettings, compute_reference
from hamlearn.data.sources import from_ase_name
from hamlearn.model import ridge_fit
from hamlearn.training.batches import Batcher, prepare
from hamlearn.training.run import build_model, make_loss_fn

NAMES = ("H2O", "NH3", "CH4", "HCN", "H2CO", "CH3OH", "C2H4", "CH3CN")
LOSS_ALL = LossConfig(eigenvalues=1.0, gap=1.0, dipole=1.0, polarizability=1.0, matrix=1.0)
WEIGHTS = {t: 1.0 for t in ("eigenvalues", "gap", "dipole", "polarizability", "matrix")}


def small_config(loss: LossConfig = LOSS_ALL, **train) -> Config:
    feats = FeaturesConfig(l_max=2, n_radial=3, n_radial_pair=4, atom_cutoff_ang=3.0,
                           pair_cutoff_ang=4.0)
    return Config(features=feats, train=TrainConfig(target_basis="sto-3g", loss=loss, **train))


def rhf_references(names=NAMES):
    """RHF/STO-3G references (labels in the model basis), a fraction of a second each."""
    settings = ReferenceSettings(method="rhf", target_bases=(), polarizability=("uncoupled",),
                                 conv_tol=1e-10)
    return [compute_reference(from_ase_name(n), settings) for n in names]


@pytest.fixture(scope="module")
def setup():
    cfg = small_config()
    data = prepare(rhf_references(NAMES[:4]), cfg)
    model = build_model(cfg, key=jax.random.PRNGKey(3))
    # a ridge fit on two of the molecules: realistic F (random weights give near-degenerate
    # spectra and polarizabilities of 1e16), with non-zero errors on all four
    model = ridge_fit(model, data.features, [data.refs[i].model.fock for i in (0, 2)],
                      1e-2, indices=[0, 2])
    return cfg, data, model


def test_short_batch_loss_equals_real_molecules_only(setup):
    cfg, data, model = setup
    loss_fn = jax.jit(make_loss_fn(WEIGHTS, {k: 1.0 for k in WEIGHTS}))
    short = Batcher(data, cfg, 4).batch([1, 0, 2])  # one filler (a copy of molecule 1)
    exact = Batcher(data, cfg, 3).batch([1, 0, 2])
    np.testing.assert_array_equal(short["mol_mask"], [True, True, True, False])
    total_s, terms_s = loss_fn(model, short)
    total_e, terms_e = loss_fn(model, exact)
    assert set(terms_s) == set(WEIGHTS)
    # a filler counted in a term changes it by O(1) (a fourth molecule); the tolerance
    # allows for the batch shape's summation order in an ill-conditioned polarizability
    # (errors ~500 a.u. here: 3e-12 relative seen between machines)
    for k in terms_e:
        assert float(terms_e[k]) > 0
        assert float(terms_s[k]) == pytest.approx(float(terms_e[k]), rel=1e-9), k
    assert float(total_s) == pytest.approx(float(total_e), rel=1e-9)


def test_padded_blocks_equal_unpadded(setup):
    cfg, data, model = setup
    plain = Batcher(data, cfg, 2).batch([3, 0])
    padded = Batcher(data, cfg, 4, fixed_shape=True).batch([3, 0])
    assert padded["blocks"].batch_size == 4 and padded["blocks"].nao_pad >= plain["blocks"].nao_pad
    f_plain = np.asarray(model(plain["blocks"]))
    f_pad = np.asarray(model(padded["blocks"]))
    for k, m in enumerate([3, 0]):
        n = int(data.nao[m])
        assert np.abs(f_plain[k, :n, :n]).max() > 1e-2
        np.testing.assert_allclose(f_pad[k, :n, :n], f_plain[k, :n, :n], atol=1e-12)


@pytest.mark.parametrize("kind, rtol", [("float64", 0.0), ("float32", 1e-5)])
def test_feature_store_gives_the_in_memory_batches_loss_and_ridge_fit(tmp_path, kind, rtol):
    """data.feature_store: the training data on disk (memory-mapped) gives the batches,
    ridge initialisation and loss of the in-memory features (float32: within its rounding)."""
    import dataclasses

    import jax

    from hamlearn.model import ridge_fit
    from hamlearn.training.run import build_model, initial_scales, make_loss_fn, predict_batch

    cfg = small_config()
    on_disk = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, cache_dir=str(tmp_path), feature_store=kind))
    refs = rhf_references(NAMES)
    mem, disk = prepare(refs, cfg), prepare(refs, on_disk, store=True)
    assert (tmp_path / "features").is_dir()
    arr = next(iter(disk.features.types["6"].features.values()))
    assert isinstance(arr, np.memmap) and arr.dtype == np.dtype(kind)
    train = list(range(len(refs)))
    focks = [r.model.fock for r in refs]
    models = [ridge_fit(build_model(cfg, key=jax.random.PRNGKey(0)), d.features, focks, 1e-6)
              for d in (mem, disk)]
    for a, b in zip(jax.tree_util.tree_leaves(models[0]), jax.tree_util.tree_leaves(models[1])):
        np.testing.assert_allclose(b, a, rtol=max(rtol, 1e-12) * 100, atol=rtol * 1e-2)
    batches = [Batcher(d, cfg, len(refs)).batch(train) for d in (mem, disk)]
    weights = {"eigenvalues": 1.0, "dipole": 1.0}
    loss_fn = make_loss_fn(weights, initial_scales(models[0], batches[:1], weights))
    if kind == "float64":
        assert float(loss_fn(models[0], batches[1])[0]) == float(loss_fn(models[0],
                                                                         batches[0])[0])
    # float32 features: Hartree-scale outputs move by ~1e-7 (the loss of this exact fit is
    # a ratio of tiny residuals: not a fair measure of rounding)
    outs = [predict_batch(models[0], b) for b in batches]
    for key in ("mo_energy", "dipole", "polarizability"):
        np.testing.assert_allclose(outs[1][key], outs[0][key], rtol=0, atol=rtol * 0.3 + 1e-12)


def test_lazy_batches_equal_eager_ones_and_stop_cleanly():
    """LazyBatches (prefetching in a thread) yields exactly the eagerly built batches, in
    order; slices resume mid-epoch; an error while building is raised in the consumer;
    stopping early leaves no worker behind."""
    import threading
    import time

    from hamlearn.training.batches import LazyBatches

    built = []

    def build(c):
        built.append(tuple(c))
        return {"ids": np.asarray(c) * 2}

    chunks = [[0, 1], [2, 3], [4], [5, 6]]

    def broken(c):
        if c == [4]:
            raise ValueError("bad molecule 4")
        return c

    for prefetch in (0, 1, 3):
        lazy = LazyBatches(build, chunks, prefetch=prefetch)
        assert len(lazy) == 4 and lazy[2]["ids"].tolist() == [8]
        got = [b["ids"].tolist() for b in lazy]
        assert got == [[0, 2], [4, 6], [8], [10, 12]]
        assert [b["ids"].tolist() for b in lazy[1:]] == got[1:] and len(lazy[3:]) == 1
        with pytest.raises(ValueError, match="bad molecule 4"):
            list(LazyBatches(broken, chunks, prefetch=prefetch))
        for _ in LazyBatches(build, chunks * 50, prefetch=prefetch):
            break
    time.sleep(0.5)
    assert not [t for t in threading.enumerate() if t.name == "hamlearn-batches"]


def test_fixed_shape_holds_every_short_batch_with_its_fillers(setup):
    """Short batches are filled with the molecule with the fewest entries, and the fixed
    entry padding covers every mix of real molecules and fillers (copies of a batch's
    first molecule overflowed it: 213 N-O entries > 192 on a QM9 sample)."""
    import itertools
    import types

    from hamlearn.model import filler_molecule, max_entries

    cfg, data, _ = setup
    batcher = Batcher(data, cfg, 3, fixed_shape=True)
    totals = sum(np.diff(tf.offsets) for tf in data.features.types.values())
    assert batcher.filler == int(np.argmin(totals))
    for n in (1, 2, 3):
        for chunk in itertools.permutations(range(4), n):
            b = batcher.batch(list(chunk))
            np.testing.assert_array_equal(np.asarray(b["mol_mask"]), np.arange(3) < n)
    # the bound itself: one molecule rich in a type, the others without it
    fake = types.SimpleNamespace(types={"x": types.SimpleNamespace(
        offsets=np.cumsum([0, 50, 0, 1, 0]))})
    assert filler_molecule(fake) == 1
    from hamlearn.features.spec import bucket_size

    assert max_entries(fake, 3, filler=1) == {"x": bucket_size(51)}
    # the old filler (a copy of molecule 0) would need 150 entries in a batch [0, f, f]
    assert max_entries(fake, 3, filler=0) == {"x": bucket_size(150)}


def test_likely_and_worst_case_shapes_give_the_same_loss_and_gradient(setup):
    """Fixed-shape batches take the shape random batches fit, or the worst case when a batch
    does not fit; padding entries are masked, so loss and gradient are the same either way."""
    import equinox as eqx

    from hamlearn.model import entry_counts, likely_entries

    cfg, data, model = setup
    batcher = Batcher(data, cfg, 3, fixed_shape=True)
    likely = likely_entries(data.features, 3)
    assert all(batcher.entry_pad[k] == min(likely[k], batcher.worst_pad[k]) for k in likely)
    chunk = [2, 0, 1]
    counts = entry_counts(data.features, chunk)
    assert all(counts[k] <= batcher.worst_pad[k] for k in counts)
    # a shape this batch just fits, and one it does not fit (so the worst case is taken)
    batcher.entry_pad = {k: max(counts[k], 1) for k in counts}
    fits = batcher.batch(chunk)
    batcher.entry_pad = {k: max(counts[k] - 1, 0) for k in counts}
    worst = batcher.batch(chunk)
    n_fit = {k: tb.rows.shape[0] for k, tb in fits["blocks"].types.items()}
    n_worst = {k: tb.rows.shape[0] for k, tb in worst["blocks"].types.items()}
    assert n_fit == {k: max(counts[k], 1) for k in counts}
    assert n_worst == batcher.worst_pad and n_worst != n_fit
    loss_fn = make_loss_fn(WEIGHTS, {k: 1.0 for k in WEIGHTS})
    (l_fit, _), g_fit = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model, fits)
    (l_worst, _), g_worst = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model, worst)
    assert float(l_fit) > 0
    assert float(l_fit) == pytest.approx(float(l_worst), rel=1e-10)
    for a, b in zip(jax.tree_util.tree_leaves(g_fit), jax.tree_util.tree_leaves(g_worst)):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10 * float(np.abs(b).max() + 1))


def test_prior_term_is_the_relative_distance_from_the_initial_weights(setup):
    """train.prior_weight: total = targets + weight * ||w - w0||^2 / ||w0||^2 (0 at the prior,
    1 at zero weights), with its gradient 2 weight (w - w0) / ||w0||^2."""
    import equinox as eqx
    import jax.numpy as jnp

    from hamlearn.training.run import prior_distance

    cfg, data, model = setup
    batch = Batcher(data, cfg, 4).batch([0, 1, 2, 3])
    assert float(prior_distance(model, model)) == 0.0
    zeros = jax.tree_util.tree_map(lambda x: jnp.zeros_like(x) if eqx.is_inexact_array(x)
                                   else x, model)
    assert float(prior_distance(zeros, model)) == pytest.approx(1.0, rel=1e-12)
    moved = jax.tree_util.tree_map(lambda x: 1.1 * x if eqx.is_inexact_array(x) else x, model)
    assert float(prior_distance(moved, model)) == pytest.approx(0.01, rel=1e-9)
    scales = {k: 1.0 for k in WEIGHTS}
    plain = make_loss_fn(WEIGHTS, scales)
    with_prior = make_loss_fn(WEIGHTS, scales, prior=model, prior_weight=3.0)
    assert float(with_prior(moved, batch)[0]) == pytest.approx(
        float(plain(moved, batch)[0]) + 3.0 * 0.01, rel=1e-10)
    g_prior = eqx.filter_grad(lambda m: prior_distance(m, model))(moved)
    norm = sum(float(jnp.sum(x**2)) for x in jax.tree_util.tree_leaves(
        eqx.filter(model, eqx.is_inexact_array)))
    params = eqx.filter(model, eqx.is_inexact_array)
    for gp, w in zip(*(jax.tree_util.tree_leaves(t) for t in (g_prior, params))):
        np.testing.assert_allclose(gp, 2 * 0.1 * np.asarray(w) / norm, rtol=1e-9, atol=1e-15)

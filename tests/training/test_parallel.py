"""Data-parallel training over 2 host CPU devices equals a single-device run (up to
summation order). Runs in a subprocess: the device count must be set before JAX starts."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np, equinox as eqx
    jax.config.update("jax_enable_x64", True)
    assert len(jax.devices()) == 2, jax.devices()
    from hamlearn.config import TrainConfig
    from hamlearn.training.step import make_optimizer, make_train_step
    from hamlearn.training.parallel import make_mesh, shard_batch, replicate

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(16, 4))); y = jnp.asarray(rng.normal(size=(16,)))
    def loss_fn(model, batch):
        xb, yb = batch
        l = jnp.mean((jax.vmap(model)(xb)[:, 0] - yb) ** 2)
        return l, {}
    cfg = TrainConfig(learning_rate=0.01, schedule="constant")
    results = []
    for n in (1, 2):
        mesh = make_mesh(n)
        model = eqx.nn.MLP(4, 1, 8, 2, key=jax.random.PRNGKey(0))
        opt = make_optimizer(cfg, 1)
        state = opt.init(eqx.filter(model, eqx.is_inexact_array))
        model, state = replicate(model, mesh), replicate(state, mesh)
        step = make_train_step(loss_fn, opt)
        batch = shard_batch((x, y), mesh)
        if n == 2:
            assert len(batch[0].sharding.device_set) == 2
        for _ in range(20):
            model, state, loss, _, _ = step(model, state, batch)
        results.append((float(loss), np.asarray(model.layers[0].weight)))
    assert abs(results[0][0] - results[1][0]) < 1e-12 * max(1, abs(results[0][0])), results
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-10, atol=1e-12)
    print("OK", results[0][0], results[1][0])
""")


def test_two_device_training_matches_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("OK")


HYBRID_SCRIPT = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp, numpy as np, equinox as eqx
    jax.config.update("jax_enable_x64", True)
    assert len(jax.devices()) == 2, jax.devices()
    sys.path.insert(0, sys.argv[1])
    from test_batches import LOSS_ALL, WEIGHTS, rhf_references, small_config
    from hamlearn.config import TrainConfig
    from hamlearn.model import ridge_fit
    from hamlearn.training.batches import Batcher, prepare
    from hamlearn.training.parallel import make_mesh, replicate, shard_batch
    from hamlearn.training.run import build_model, initial_scales, make_loss_fn
    from hamlearn.training.step import make_optimizer, make_train_step

    cfg = small_config(LOSS_ALL)
    data = prepare(rhf_references(("H2O", "NH3", "CH4")), cfg)
    base = ridge_fit(build_model(cfg, key=jax.random.PRNGKey(0)), data.features,
                     [data.refs[i].model.fock for i in (0, 1, 2)], 1e-2)
    batch = Batcher(data, cfg, 3, multiple_of=2).batch([0, 1, 2])  # 4 rows: one filler
    assert batch["mol_mask"].tolist() == [True, True, True, False]
    loss_fn = make_loss_fn(WEIGHTS, initial_scales(base, [batch], WEIGHTS))  # starts at 5
    results = []
    for n in (1, 2):
        mesh = make_mesh(n)
        opt = make_optimizer(TrainConfig(learning_rate=1e-5, schedule="constant"), 1)
        model = replicate(base, mesh)
        state = replicate(opt.init(eqx.filter(base, eqx.is_inexact_array)), mesh)
        b = shard_batch(batch, mesh)
        if n == 2:
            assert len(b["qm"].ovlp.sharding.device_set) == 2
        step = make_train_step(loss_fn, opt)
        losses = []
        for _ in range(3):
            model, state, loss, terms, finite = step(model, state, b)
            assert bool(finite)
            losses.append(float(loss))
        leaves = [np.asarray(x) for x in
                  jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))]
        results.append((np.array(losses), leaves))
    (l1, p1), (l2, p2) = results
    # the terms are MSEs of small residuals (ridge init): 1e-16 rounding in F becomes
    # up to ~3e-12 relative in the loss (measured); the parameters agree to ~2e-15
    np.testing.assert_allclose(l2, l1, rtol=1e-10, atol=0)
    moved = max(np.abs(a - b).max() for a, b in zip(p1, jax.tree_util.tree_leaves(
        eqx.filter(base, eqx.is_inexact_array))))
    assert moved > 1e-6, moved  # the steps really changed the parameters
    for a, b in zip(p1, p2):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    print("OK loss rel diff", np.abs(l2 / l1 - 1).max(), "param diff",
          max(np.abs(a - b).max() for a, b in zip(p1, p2)))
""")


def test_two_device_hybrid_model_step_matches_one_device():
    """The Hamiltonian model + QM layer, all five loss terms, a short batch with a filler:
    3 data-parallel steps on 2 host devices equal 1 device (losses to 1e-10 relative,
    parameters to 1e-12)."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", HYBRID_SCRIPT, here], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("OK"), out.stdout[-2000:]

def test_too_many_devices_is_a_clear_error():
    import pytest

    from hamlearn.training.parallel import make_mesh

    with pytest.raises(ValueError, match="xla_force_host_platform_device_count"):
        make_mesh(64)

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


def test_too_many_devices_is_a_clear_error():
    import pytest

    from hamlearn.training.parallel import make_mesh

    with pytest.raises(ValueError, match="xla_force_host_platform_device_count"):
        make_mesh(64)

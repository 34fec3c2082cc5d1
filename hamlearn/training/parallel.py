"""Data parallelism with `jax.sharding`: batch sharded over devices, parameters replicated.

The jitted step is unchanged: arrays placed with a `NamedSharding` over a 1-D device mesh
make XLA partition the batch axis and all-reduce the gradients (GSPMD). Losses are masked
means over the whole batch, so the result equals a single-device run up to summation
order. Batches must hold a multiple of the device count (pad with masked molecules).

On a CPU-only machine, several host devices for testing come from
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` set before JAX starts.
"""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def make_mesh(n_devices: int) -> Mesh | None:
    """A 1-D mesh named ``'batch'`` over the first ``n_devices`` devices (None for 1).

    Raises:
        ValueError: if fewer devices are visible than asked for.
    """
    if n_devices <= 1:
        return None
    devices = jax.devices()
    if len(devices) < n_devices:
        raise ValueError(f"train.devices={n_devices} but JAX sees {len(devices)} device(s) "
                         f"({devices[0].platform}); on CPU set XLA_FLAGS="
                         f"--xla_force_host_platform_device_count={n_devices}")
    return Mesh(np.asarray(devices[:n_devices]), ("batch",))


def shard_batch(tree, mesh: Mesh | None):
    """Split every array leaf's leading axis over the mesh (no-op for None).

    Leaves whose leading axis is not a multiple of the device count (flat per-block
    arrays of odd length, scalars) are replicated instead: jit's semantics do not depend
    on placement, only the communication does.
    """
    if mesh is None:
        return tree
    split = NamedSharding(mesh, PartitionSpec("batch"))
    whole = NamedSharding(mesh, PartitionSpec())

    def place(x):
        if not eqx.is_array(x):
            return x
        divisible = x.ndim > 0 and x.shape[0] % mesh.size == 0
        return jax.device_put(x, split if divisible else whole)

    return jax.tree_util.tree_map(place, tree)


def replicate(tree, mesh: Mesh | None):
    """Place every array leaf fully replicated on the mesh (no-op for None)."""
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree_util.tree_map(lambda x: jax.device_put(x, sharding) if eqx.is_array(x) else x,
                                  tree)

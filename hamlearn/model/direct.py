"""Direct Hamiltonian learning by gradient descent on the matrix loss.

``loss = sum_k sum_{mu nu real} (F_pred - F_ref)^2 / n_real_entries`` (Hartree^2), the
baseline of arXiv:2504.01187 that fits F itself rather than observables derived from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from hamlearn.features.featurize import FeatureSet
from hamlearn.model.batch import BlockBatch, make_batch
from hamlearn.model.hamiltonian import HamiltonianModel


def pad_focks(focks: Sequence[np.ndarray], nao_pad: int) -> np.ndarray:
    """Stack ``(nao_k, nao_k)`` matrices into ``(batch, nao_pad, nao_pad)``, zero padded."""
    out = np.zeros((len(focks), nao_pad, nao_pad))
    for k, f in enumerate(focks):
        n = f.shape[0]
        out[k, :n, :n] = f
    return out


def fock_loss(model: HamiltonianModel, batch: BlockBatch,
              target: Float[Array, "batch nao_pad nao_pad"]) -> Float[Array, ""]:
    """Mean squared error over the real AO entries of the batch (Hartree^2)."""
    mask = batch.ao_mask[:, :, None] & batch.ao_mask[:, None, :]
    diff = jnp.where(mask, model(batch) - target, 0.0)
    return jnp.sum(diff**2) / jnp.sum(mask)


def fit_fock(model: HamiltonianModel, feature_set: FeatureSet, focks: Sequence[np.ndarray], *,
             steps: int = 100, learning_rate: float = 1e-3, batch_size: int = 16,
             indices: Sequence[int] | None = None, seed: int = 0) -> tuple[HamiltonianModel, list]:
    """Adam on `fock_loss` over random mini-batches; returns ``(model, losses)``.

    Args:
        model, feature_set: as in `ridge_fit`; ``focks[k]`` belongs to ``indices[k]``.
        steps, learning_rate, batch_size, seed: optimiser settings.
    """
    indices = list(range(feature_set.n_molecules)) if indices is None else list(indices)
    nao_pad = int(feature_set.nao[indices].max())
    opt = optax.adam(learning_rate)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    state = opt.init(params)

    @eqx.filter_jit
    def step(params, state, batch, target):
        loss, grads = jax.value_and_grad(
            lambda p: fock_loss(eqx.combine(p, static), batch, target))(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    rng, losses = np.random.default_rng(seed), []
    for _ in range(steps):
        pick = rng.choice(len(indices), size=min(batch_size, len(indices)), replace=False)
        batch = make_batch(feature_set, [indices[k] for k in pick], nao_pad)
        target = jnp.asarray(pad_focks([focks[k] for k in pick], nao_pad))
        params, state, loss = step(params, state, batch, target)
        losses.append(float(loss))
    return eqx.combine(params, static), losses

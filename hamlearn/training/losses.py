"""Loss terms: the masked MSE of every target (`hamlearn.training.targets.TARGETS`), and
their weighted, normalised sum.

Every term is a masked mean squared error divided by a fixed scale: its value for the
initial model on the training set (see `hamlearn.training.run`), so every term starts at
its weight and a weight says how much its relative improvement counts, whatever the
unit. Predictions and targets are batched (leading axis
``batch``) and padded; masks say which entries are real.

Under ``train.loss.normalise: per_atom`` (arXiv:2504.01187's ``mse_per_atom``) a term is
instead the mean over the batch's labelled molecules of each molecule's weighted squared
error (`per_molecule_mse`, weights from `hamlearn.training.targets.molecule_weights`) and
the scales are 1: the weights are absolute.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from hamlearn.training.targets import TARGETS


def masked_mse(pred: Array, target: Array, mask: Array) -> Float[Array, ""]:
    """Mean of ``(pred - target)^2`` over entries where ``mask`` is true (0 if none)."""
    mask = jnp.broadcast_to(mask, pred.shape).astype(pred.dtype)
    sq = jnp.where(mask > 0, (pred - target) ** 2, 0.0)
    return sq.sum() / jnp.maximum(mask.sum(), 1.0)


def per_molecule_mse(pred: Array, target: Array, mask: Array,
                     weight: Float[Array, " batch"]) -> Float[Array, ""]:
    """``mean_n w_n sum_entries (pred - target)^2`` over the molecules with ``w_n > 0``
    (entries where ``mask`` is false do not count; 0 if no molecule is labelled)."""
    mask = jnp.broadcast_to(mask, pred.shape)
    sq = jnp.where(mask, (pred - target) ** 2, 0.0).reshape(pred.shape[0], -1).sum(1)
    labelled = (weight > 0).astype(pred.dtype)
    return jnp.sum(weight * sq) / jnp.maximum(labelled.sum(), 1.0)


def loss_terms(pred: dict, tgt: dict) -> dict[str, Array]:
    """Unweighted, unnormalised terms for the targets present in ``tgt``: the masked MSE
    of each `hamlearn.training.targets.Target`'s prediction against its label, or, where
    ``tgt`` holds ``<name>_weight`` (``normalise: per_atom``), `per_molecule_mse`.

    Args:
        pred: batched QM-layer outputs (``mo_energy``, ``gap``, ``homo``, ``lumo``,
            ``dipole``, ``polarizability``, ``fock``).
        tgt: `hamlearn.training.targets.build_targets` output: ``<name>`` and
            ``<name>_mask`` per target.
    """
    out = {}
    for t in TARGETS:
        if t.name not in tgt:
            continue
        args = (t.predict(pred), tgt[t.name], tgt[f"{t.name}_mask"])
        weight = tgt.get(f"{t.name}_weight")
        out[t.name] = masked_mse(*args) if weight is None else per_molecule_mse(*args, weight)
    return out


def weighted_loss(terms: dict[str, Array], weights: dict[str, float],
                  scales: dict[str, float]) -> Array:
    """``sum_t weights[t] * terms[t] / scales[t]`` over the terms with a non-zero weight."""
    total = jnp.zeros(())
    for name, value in terms.items():
        w = weights.get(name, 0.0)
        if w:
            total = total + w * value / scales[name]
    return total

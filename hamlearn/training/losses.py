"""Loss terms: one pure function per target, and their weighted, normalised sum.

Every term is a masked mean squared error divided by a fixed scale: its value for the
initial model on the training set (see `hamlearn.training.run`), so every term starts at
its weight and a weight says how much its relative improvement counts, whatever the
unit. Predictions and targets are batched (leading axis
``batch``) and padded; masks say which entries are real.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

TERMS = ("eigenvalues", "gap", "dipole", "polarizability", "matrix")


def masked_mse(pred: Array, target: Array, mask: Array) -> Float[Array, ""]:
    """Mean of ``(pred - target)^2`` over entries where ``mask`` is true (0 if none)."""
    mask = jnp.broadcast_to(mask, pred.shape).astype(pred.dtype)
    sq = jnp.where(mask > 0, (pred - target) ** 2, 0.0)
    return sq.sum() / jnp.maximum(mask.sum(), 1.0)


def eigenvalue_loss(mo_energy: Float[Array, "batch mo"], target: Float[Array, "batch mo"],
                    window: Bool[Array, "batch mo"]) -> Float[Array, ""]:
    """MSE of the MO energies inside each molecule's window (Hartree^2)."""
    return masked_mse(mo_energy, target, window)


def gap_loss(gap: Float[Array, " batch"], target: Float[Array, " batch"],
             mol_mask: Bool[Array, " batch"]) -> Float[Array, ""]:
    """MSE of the HOMO-LUMO gap (Hartree^2)."""
    return masked_mse(gap, target, mol_mask)


def dipole_loss(dipole: Float[Array, "batch 3"], target: Float[Array, "batch 3"],
                mol_mask: Bool[Array, " batch"]) -> Float[Array, ""]:
    """MSE of the dipole components ((e Bohr)^2)."""
    return masked_mse(dipole, target, mol_mask[:, None])


def polarizability_loss(alpha: Float[Array, "batch 3 3"], target: Float[Array, "batch 3 3"],
                        mol_mask: Bool[Array, " batch"]) -> Float[Array, ""]:
    """MSE of the polarizability components (Bohr^6)."""
    return masked_mse(alpha, target, mol_mask[:, None, None])


def matrix_loss(fock: Float[Array, "batch ao ao"], target: Float[Array, "batch ao ao"],
                ao_mask: Bool[Array, "batch ao"]) -> Float[Array, ""]:
    """MSE of the model-basis Hamiltonian entries (Hartree^2)."""
    pair_mask = ao_mask[:, :, None] & ao_mask[:, None, :]
    return masked_mse(fock, target, pair_mask)


def loss_terms(pred: dict, tgt: dict) -> dict[str, Array]:
    """Unweighted, unnormalised terms for the targets present in ``tgt``.

    Args:
        pred: batched predictions: ``mo_energy``, ``gap``, ``dipole``, ``polarizability``,
            ``fock`` (as produced by the model + QM layer).
        tgt: batched targets with the same keys plus masks ``eig_window``, ``mol_mask``,
            ``ao_mask``.
    """
    out = {}
    if "mo_energy" in tgt:
        out["eigenvalues"] = eigenvalue_loss(pred["mo_energy"], tgt["mo_energy"],
                                             tgt["eig_window"])
    if "gap" in tgt:
        out["gap"] = gap_loss(pred["gap"], tgt["gap"], tgt["mol_mask"])
    if "dipole" in tgt:
        out["dipole"] = dipole_loss(pred["dipole"], tgt["dipole"], tgt["mol_mask"])
    if "polarizability" in tgt:
        out["polarizability"] = polarizability_loss(pred["polarizability"],
                                                    tgt["polarizability"], tgt["mol_mask"])
    if "fock" in tgt:
        out["matrix"] = matrix_loss(pred["fock"], tgt["fock"], tgt["ao_mask"])
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

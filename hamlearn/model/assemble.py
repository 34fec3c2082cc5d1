"""Scatter per-type blocks into the symmetric Fock matrices of a padded batch."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from hamlearn.model.batch import BlockBatch


def assemble_fock(blocks: dict[str, Float[Array, "n da db"]],
                  batch: BlockBatch) -> Float[Array, "batch nao_pad nao_pad"]:
    """``F = U + U^T`` with ``U`` the sum of all blocks at their AO indices.

    Off-site blocks are stored once per unordered pair (rows of atom i, columns of atom j),
    on-site blocks already carry the 1/2 of their diagonal shell pairs (`block_map`), so F
    is symmetric by construction. Molecule k occupies ``F[k, :nao_k, :nao_k]`` in pyscf AO
    order; padded rows/columns are exactly 0 (the QM layer adds its own shift).

    Args:
        blocks: type key -> ``(n, nao_i, nao_j)`` blocks (Hartree), entries as in ``batch``.
        batch: the `BlockBatch` the blocks were computed from.

    Returns:
        ``(batch, nao_pad, nao_pad)`` float64 (Hartree).
    """
    n_mol, nao_pad = batch.ao_mask.shape
    upper = jnp.zeros((n_mol, nao_pad, nao_pad), dtype=jnp.float64)
    for key, x in blocks.items():
        tb = batch.types[key]
        upper = upper.at[tb.mol[:, None, None], tb.rows[:, :, None], tb.cols[:, None, :]].add(
            x, mode="drop")
    return upper + jnp.swapaxes(upper, 1, 2)

"""Occupations and the one-particle density matrix ``P = C diag(n) C^T``."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int


def closed_shell_occupations(
    nao: int,
    nocc: int | Int[Array, ""],
    ao_mask: Bool[Array, " ao"] | None = None,
) -> Float[Array, " mo"]:
    """Closed-shell occupation numbers: 2 for the ``nocc`` lowest MOs, 0 above.

    Args:
        nao: number of MOs (= AOs, padded AOs included), static.
        nocc: number of doubly occupied MOs; may be traced (per molecule under vmap).
        ao_mask: ``(ao,)`` True on real AOs. In a padded molecule the padded AOs are the
            last ones and their MOs sit at the top of the spectrum (see
            `hamlearn.qm.padding`), so MO ``k`` is real iff ``ao_mask[k]``; occupations are
            zeroed where the mask is False (they already are when ``nocc <= nao_real``).

    Returns:
        ``(mo,)`` float64 occupations (electrons per MO).

    Example:
        >>> closed_shell_occupations(4, 1).tolist()
        [2.0, 0.0, 0.0, 0.0]
    """
    occ = jnp.where(jnp.arange(nao) < nocc, 2.0, 0.0)
    if ao_mask is not None:
        occ = jnp.where(ao_mask, occ, 0.0)
    return occ


def make_density(
    mo_coeff: Float[Array, "ao mo"], mo_occ: Float[Array, " mo"]
) -> Float[Array, "ao ao"]:
    """Density matrix ``P_{mu nu} = sum_k n_k C_{mu k} C_{nu k}`` (pyscf's ``make_rdm1``).

    Args:
        mo_coeff: ``(ao, mo)`` MO coefficients C.
        mo_occ: ``(mo,)`` occupations n_k (2 for doubly occupied).

    Returns:
        ``(ao, ao)`` symmetric density P, ``tr(P S) = sum_k n_k`` electrons.
    """
    return (mo_coeff * mo_occ) @ mo_coeff.T

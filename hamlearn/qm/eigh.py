"""The generalized symmetric eigenproblem ``F C = S C e`` with degeneracy-safe derivatives.

`generalized_eigh` is the one eigensolver of the QM layer. It wraps pyscfad's
``pyscfad.scipy.linalg.eigh`` (LAPACK ``sygvd`` forward; a JVP rule, and by transposition
a VJP, whose ``1/(e_j - e_i)`` factors are set to zero where ``|e_j - e_i| <= deg_thresh``).
Gauge-invariant outputs (density, dipole, sum-over-states polarizability, eigenvalues)
therefore keep finite derivatives at exactly degenerate eigenvalues, e.g. the t2 orbitals
of methane or the e1g/e2u pairs of benzene.

It was measured against `generalized_eigh_cholesky` (Cholesky orthogonalisation followed by
``jnp.linalg.eigh``, JAX's own derivative rule): jitted value-and-grad through pyscfad's
solver is faster at every size tried (``benchmarks/bench_qm.py``), and both agree to
round-off (``tests/qm/test_eigh.py``). The Cholesky route is kept as that reference.
"""

from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array, Float
from pyscfad.scipy.linalg import eigh as _pyscfad_eigh

#: Eigenvalue differences at or below this (Hartree) are treated as degenerate in the
#: derivative: their ``1/(e_j - e_i)`` coupling is dropped. pyscfad's float64 default.
DEG_THRESH: float = 1e-9


def generalized_eigh(
    fock: Float[Array, "ao ao"],
    ovlp: Float[Array, "ao ao"],
    *,
    deg_thresh: float = DEG_THRESH,
) -> tuple[Float[Array, " mo"], Float[Array, "ao mo"]]:
    """Solve ``F C = S C e`` for all MOs, with degeneracy-masked derivatives.

    Args:
        fock: ``(ao, ao)`` symmetric Fock / effective Hamiltonian F (Hartree). Only its
            lower triangle is read (it is symmetrised first), so F need not be exactly
            symmetric, but its derivative is taken as that of ``(F + F^T)/2``.
        ovlp: ``(ao, ao)`` symmetric positive definite overlap S.
        deg_thresh: degeneracy threshold of the derivative (Hartree), static.

    Returns:
        mo_energy: ``(mo,)`` eigenvalues e, ascending (Hartree); ``mo == ao``.
        mo_coeff: ``(ao, mo)`` eigenvectors C as columns, ``C^T S C = 1``. Their signs
            (and rotations within degenerate sets) are arbitrary: compare densities.

    Example:
        >>> import jax.numpy as jnp
        >>> e, c = generalized_eigh(jnp.diag(jnp.array([1.0, -1.0])), jnp.eye(2))
        >>> e.tolist()
        [-1.0, 1.0]
    """
    return _pyscfad_eigh(fock, ovlp, deg_thresh=deg_thresh)


def generalized_eigh_cholesky(
    fock: Float[Array, "ao ao"], ovlp: Float[Array, "ao ao"]
) -> tuple[Float[Array, " mo"], Float[Array, "ao mo"]]:
    """Reference solver: ``S = L L^T``, ``eigh(L^-1 F L^-T)``, ``C = L^-T U`` (plain JAX).

    Same contract as `generalized_eigh`, but differentiated by ``jnp.linalg.eigh``'s own
    rule, which is NOT finite at exactly degenerate eigenvalues. Used by the benchmark and
    as an independent check of the forward solution.
    """
    fock = 0.5 * (fock + fock.T)
    chol = jnp.linalg.cholesky(0.5 * (ovlp + ovlp.T))
    linv = jsl.solve_triangular(chol, jnp.eye(fock.shape[-1], dtype=fock.dtype), lower=True)
    mo_energy, u = jnp.linalg.eigh(linv @ fock @ linv.T)
    return mo_energy, linv.T @ u

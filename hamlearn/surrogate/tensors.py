"""Real L = 2 harmonics <-> symmetric traceless Cartesian 3x3 tensors (e3nn-jax order).

e3nn-jax orders the five real l = 2 components of a direction ``n = (x, y, z)`` as
``sqrt(15) * (xz, xy, (y^2 - (x^2 + z^2)/2)/sqrt(3), yz, (z^2 - x^2)/2)`` (y is the polar
axis). `l2_to_cartesian` maps a 5-vector ``b`` to ``T(b) = sum_m b_m E_m`` with the
orthonormal (Frobenius) symmetric traceless basis::

    E_0 = (e_xz + e_zx)/sqrt(2)      E_1 = (e_xy + e_yx)/sqrt(2)
    E_2 = diag(-1, 2, -1)/sqrt(6)    E_3 = (e_yz + e_zy)/sqrt(2)
    E_4 = diag(-1, 0, 1)/sqrt(2)

so that ``T(Y_2(n)) = sqrt(15/2) (n n^T - I/3)`` for a unit vector n, ``|T(b)|_F = |b|``
and ``T(D_2(R) b) = R T(b) R^T`` for every orthogonal R (D_2 the e3nn Wigner matrix).
`cartesian_to_l2` is the inverse on symmetric traceless tensors (the projection otherwise).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

_R2, _R6 = np.sqrt(2.0), np.sqrt(6.0)
#: ``(5, 3, 3)`` the basis E_m above
L2_BASIS = np.zeros((5, 3, 3))
L2_BASIS[0, 0, 2] = L2_BASIS[0, 2, 0] = 1.0 / _R2
L2_BASIS[1, 0, 1] = L2_BASIS[1, 1, 0] = 1.0 / _R2
L2_BASIS[2] = np.diag([-1.0, 2.0, -1.0]) / _R6
L2_BASIS[3, 1, 2] = L2_BASIS[3, 2, 1] = 1.0 / _R2
L2_BASIS[4] = np.diag([-1.0, 0.0, 1.0]) / _R2


def l2_to_cartesian(b: Float[Array, "... 5"]) -> Float[Array, "... 3 3"]:
    """Symmetric traceless tensor ``sum_m b_m E_m`` of L = 2 components (e3nn order)."""
    return jnp.einsum("...m,mxy->...xy", b, jnp.asarray(L2_BASIS, dtype=jnp.result_type(b)))


def cartesian_to_l2(t: Float[Array, "... 3 3"]) -> Float[Array, "... 5"]:
    """L = 2 components ``<E_m, t>_F`` of a 3x3 tensor (its symmetric traceless part)."""
    return jnp.einsum("...xy,mxy->...m", t, jnp.asarray(L2_BASIS, dtype=jnp.result_type(t)))

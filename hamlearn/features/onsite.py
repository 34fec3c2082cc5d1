"""On-site (i = j) equivariant features: densities (nu = 1) and their CG products (nu = 2).

For a target irrep ``(L, p)`` the feature vector of atom i is the concatenation of

* nu = 1: ``rho_i[c, L]`` for every channel c, when ``p = (-1)^L``;
* nu = 2 (lambda-SOAP): ``sum cg(l1, l2, L) rho_i[c1, l1] rho_i[c2, l2]`` over all paths
  ``l1 <= l2`` with ``(-1)^(l1+l2) = p``; for ``l1 = l2`` only ``c1 <= c2`` (``c1 < c2``
  when the coupling is antisymmetric), the other half being equal up to sign.

Only the irreps the minimal basis needs are computed (``0e`` for H; ``0e, 1o, 2e`` for an
s,p atom). Shapes ``(atom, feature, 2L+1)``, e3nn order.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from hamlearn.features.cg import couple_all, couple_paths, parse_irrep, swap_sign


@functools.lru_cache(maxsize=None)
def onsite_paths(L: int, p: int, l_max: int) -> tuple[tuple[int, int], ...]:  # noqa: N803
    """nu = 2 paths ``(l1, l2)``, ``l1 <= l2``, coupling to ``(L, p)``."""
    return tuple((l1, l2) for l1, l2 in couple_paths(L, p, l_max, l_max) if l1 <= l2)


@functools.lru_cache(maxsize=None)
def onsite_product_index(L: int, p: int, l_max: int, n_chan: int) -> np.ndarray:  # noqa: N803
    """Flat indices into ``(c1, c2, path)`` of the kept nu = 2 products (see module doc)."""
    keep = []
    for q, (l1, l2) in enumerate(onsite_paths(L, p, l_max)):
        strict = l1 == l2 and swap_sign(l1, l2, L) < 0
        for c1 in range(n_chan):
            for c2 in range(n_chan):
                if l1 != l2 or c2 > c1 or (c2 == c1 and not strict):
                    keep.append((c1, c2, q))
    k = np.asarray(keep, dtype=np.int64).reshape(-1, 3)
    n_paths = len(onsite_paths(L, p, l_max))
    order = np.lexsort((k[:, 1], k[:, 0], k[:, 2]))  # path-major, then c1, c2
    k = k[order]
    return ((k[:, 0] * n_chan + k[:, 1]) * n_paths + k[:, 2]).astype(np.int32)


def onsite_irrep_features(rho: Float[Array, "atom chan lm"], irrep: str,
                          nu: int) -> Float[Array, "atom feat M"]:
    """Features of one irrep (e.g. ``'2e'``) from the densities.

    Args:
        rho: ``(atom, chan, (l_max+1)^2)`` densities (`atom_density`).
        irrep: target irrep name.
        nu: body order, 1 or 2.

    Returns:
        ``(atom, feature, 2L+1)``.
    """
    if nu not in (1, 2):
        raise NotImplementedError(f"on-site body order {nu} is not implemented (use 1 or 2)")
    L, p = parse_irrep(irrep)
    l_max = int(round(np.sqrt(rho.shape[-1]))) - 1
    n_atoms, n_chan = rho.shape[:2]
    parts = []
    if p == (-1) ** L and L <= l_max:
        parts.append(rho[..., L * L:(L + 1) ** 2])
    paths = onsite_paths(L, p, l_max)
    if nu == 2 and paths:
        prod = couple_all(rho, rho, paths, L)  # (atom, c1, c2, path, M)
        flat = prod.reshape(n_atoms, -1, 2 * L + 1)
        parts.append(flat[:, onsite_product_index(L, p, l_max, n_chan), :])
    if not parts:
        return jnp.zeros((n_atoms, 0, 2 * L + 1), rho.dtype)
    return jnp.concatenate(parts, axis=1)


def onsite_features(rho, irreps: tuple[str, ...], nu: int) -> dict[str, Float[Array, "atom f M"]]:
    """`onsite_irrep_features` for each irrep in ``irreps``."""
    return {ir: onsite_irrep_features(rho, ir, nu) for ir in irreps}

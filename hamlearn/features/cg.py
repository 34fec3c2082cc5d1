"""Clebsch-Gordan coupling of real spherical-harmonic features (e3nn-jax convention).

All equivariant arrays of `hamlearn.features` are in **e3nn-jax's real basis**: the last
axis of a degree-l array holds ``2l+1`` components ordered as `e3nn.spherical_harmonics`
(``x, y, z`` for l = 1, y the polar axis for l >= 2) and transforms with
``e3nn.Irrep(l, p).D_from_matrix(R)``. The map to pyscf's AO order is applied once, when
blocks are placed into F (`hamlearn.model.blocks`, via `hamlearn.data.basis.e3nn_to_pyscf`).

`cg(l1, l2, L)` is e3nn's `clebsch_gordan` scaled by ``sqrt(2L+1)`` so that, for every M,
the ``(2l1+1, 2l2+1)`` slices are orthonormal: coupling two arrays and decoupling a block
are then isometries.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


def irrep_parity(l: int) -> int:  # noqa: E741
    """Natural parity ``(-1)^l`` of a spherical harmonic (and of an AO) of degree l."""
    return 1 if l % 2 == 0 else -1


def irrep_name(L: int, parity: int) -> str:  # noqa: N803
    """``'2e'``-style name of an irrep."""
    return f"{L}{'e' if parity == 1 else 'o'}"


def parse_irrep(name: str) -> tuple[int, int]:
    """``'1o'`` -> ``(1, -1)`` (e3nn's irrep names; parsed here so host code needs no e3nn)."""
    if len(name) < 2 or name[-1] not in "eo" or not name[:-1].isdigit():
        raise ValueError(f"not an irrep name like '1o' or '2e': {name!r}")
    return int(name[:-1]), 1 if name[-1] == "e" else -1


@functools.lru_cache(maxsize=None)
def cg(l1: int, l2: int, L: int) -> np.ndarray:  # noqa: N803
    """``(2l1+1, 2l2+1, 2L+1)`` float64 coupling tensor, orthonormal for each M."""
    import e3nn_jax as e3nn  # here, not at import: a run of stored traces never needs it

    c = np.asarray(e3nn.clebsch_gordan(l1, l2, L), dtype=np.float64)
    return c * np.sqrt(2 * L + 1)


def swap_sign(l1: int, l2: int, L: int) -> int:  # noqa: N803
    """``s`` with ``cg(l2, l1, L)[j, i, M] = s * cg(l1, l2, L)[i, j, M]``: the CG symmetry
    ``(-1)^(l1 + l2 - L)`` (a per-degree real change of basis keeps it; pinned against
    e3nn's coefficients by `tests/features/test_cg.py`). Host code, no e3nn needed."""
    if not abs(l1 - l2) <= L <= l1 + l2:
        raise ValueError(f"no coupling of degrees {l1} and {l2} to {L}")
    return 1 if (l1 + l2 - L) % 2 == 0 else -1


def couple_paths(L: int, parity: int, l_max1: int,  # noqa: N803
                 l_max2: int) -> list[tuple[int, int]]:
    """All ``(l1, l2)`` with ``|l1-l2| <= L <= l1+l2`` and ``(-1)^(l1+l2) = parity``."""
    return [(l1, l2) for l1 in range(l_max1 + 1) for l2 in range(l_max2 + 1)
            if abs(l1 - l2) <= L <= l1 + l2 and (-1) ** (l1 + l2) == parity]


def couple(x1: Float[Array, "n c1 m1"], x2: Float[Array, "n c2 m2"], l1: int, l2: int,
           L: int) -> Float[Array, "n c1 c2 M"]:  # noqa: N803
    """Channel outer product of two equivariant arrays coupled to degree L.

    ``out[n, a, b, M] = sum_{m1 m2} cg(l1, l2, L)[m1, m2, M] x1[n, a, m1] x2[n, b, m2]``.
    """
    c = jnp.asarray(cg(l1, l2, L), dtype=x1.dtype)
    t = jnp.einsum("nam,mkM->nakM", x1, c)
    return jnp.einsum("nakM,nbk->nabM", t, x2)


def block_irreps(l_a: int, l_b: int, symmetric: bool = False) -> tuple[str, ...]:
    """Irreps of a ``(2l_a+1, 2l_b+1)`` block between AO shells of degrees l_a, l_b.

    The block transforms as ``D_la B D_lb^T`` with AO parities ``(-1)^l``, so it holds the
    irreps ``L = |l_a-l_b| .. l_a+l_b`` of parity ``(-1)^(l_a+l_b)``. ``symmetric=True``
    (a shell with itself on the same atom: the block equals its transpose) keeps only the
    L whose CG coupling is symmetric (e.g. p x p -> 0e, 2e; not the 1e pseudovector).
    """
    p = (-1) ** (l_a + l_b)
    return tuple(irrep_name(L, p) for L in range(abs(l_a - l_b), l_a + l_b + 1)
                 if not symmetric or swap_sign(l_a, l_b, L) == 1)


@functools.lru_cache(maxsize=None)
def coupling_tensor(paths: tuple[tuple[int, int], ...], L: int, l_max1: int,  # noqa: N803
                    l_max2: int) -> np.ndarray:
    """Dense ``((l_max1+1)^2, (l_max2+1)^2, path, 2L+1)`` stack of `cg` over ``paths``.

    Acts on arrays whose last axis concatenates all degrees ``0..l_max`` (``l^2 : (l+1)^2``),
    so all paths of one output irrep are coupled in two einsums (`couple_all`).
    """
    k = np.zeros(((l_max1 + 1) ** 2, (l_max2 + 1) ** 2, len(paths), 2 * L + 1))
    for q, (l1, l2) in enumerate(paths):
        k[l1 * l1:(l1 + 1) ** 2, l2 * l2:(l2 + 1) ** 2, q] = cg(l1, l2, L)
    return k


def couple_all(x1: Float[Array, "n c1 d1"], x2: Float[Array, "n c2 d2"],
               paths: tuple[tuple[int, int], ...],
               L: int) -> Float[Array, "n c1 c2 path M"]:  # noqa: N803
    """`couple` for every ``(l1, l2)`` in ``paths`` at once, on degree-concatenated inputs.

    ``x1[..., l1^2:(l1+1)^2]`` is the degree-l1 block (same for x2). Two einsums with the
    dense `coupling_tensor`: more flops than path-by-path products but far fewer ops, which
    keeps XLA compile time (the dominant cost of featurising a dataset once) low.
    """
    l_max1 = int(round(np.sqrt(x1.shape[-1]))) - 1
    l_max2 = int(round(np.sqrt(x2.shape[-1]))) - 1
    k = jnp.asarray(coupling_tensor(tuple(paths), L, l_max1, l_max2), dtype=x1.dtype)
    t = jnp.einsum("nbj,ijqM->nbiqM", x2, k)
    return jnp.einsum("nai,nbiqM->nabqM", x1, t)

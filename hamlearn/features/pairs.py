"""Two-centre (i != j) equivariant features of an ordered atom pair (pure JAX).

For a pair ``(i, j)`` within the pair cutoff, ``r_ij = r_j - r_i`` (Bohr), and a target
irrep ``(L, p)`` the feature vector ``x(i, j)`` is the concatenation of three parts:

1. ``g0``: the pair term ``R_k(r_ij) Y_L(r_ij)``, k < ``n_radial_pair`` (only when
   ``p = (-1)^L``); smooth cutoff at the pair cutoff.
2. ``A(i, j)`` (nu = 1): ``sum cg(l1, l2, L) rho_i[c, l1] Y_l2(r_ij) * Q_q(r_ij)`` over
   paths with ``(-1)^(l1+l2) = p``; channels ``(c, q)`` with ``Q`` the cutoff function
   (``pair_product_radial = 1``) or the first radial functions of the pair basis.
3. ``A(j, i)``: the same seen from j (density of j, direction ``r_ji = -r_ij``).
4. ``B(i, j)`` (nu = 2, arXiv:2109.12083's two-centre (1, 1) correlation):
   ``sum cg(l1, l2, L) rho_i[c1, l1] rho_j[c2, l2] * fc(r_ij)`` over all ordered paths
   ``(l1, l2)``, ``l <= pair_nu2_l_max``, with ``(-1)^(l1+l2) = p``, channels: the first
   ``pair_nu2_radial`` radial functions of every species; ``fc`` the cutoff function.

So each off-site block sees both environments, and swapping the two atoms is the fixed
signed permutation `pair_swap`: ``x(j, i) = sign * x(i, j)[index]`` (g0 gets
``(-1)^L``, the A parts trade places, B's entry ``(l1, l2, c1, c2)`` goes to
``(l2, l1, c2, c1)`` with the CG swap sign ``(-1)^(l1+l2-L)``). Shapes ``(pair, feature, 2L+1)``, e3nn order.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from hamlearn.config import FeaturesConfig
from hamlearn.features.cg import couple_all, couple_paths, parse_irrep, swap_sign
from hamlearn.features.density import direction_harmonics, safe_vectors
from hamlearn.features.radial import cosine_cutoff, radial_basis
from hamlearn.units import ANGSTROM_TO_BOHR


def _density_part(rho_i, sh, q, L: int, p: int, l_max: int) -> Float[Array, "pair f M"]:
    """``A``: density of the first atom coupled with the pair harmonics, times ``Q_q``.

    Layout of the feature axis: (path, density channel, q), path-major.
    """
    n_pairs = sh.shape[0]
    paths = tuple(couple_paths(L, p, l_max, l_max))
    if not paths:
        return jnp.zeros((n_pairs, 0, 2 * L + 1), q.dtype)
    prod = couple_all(rho_i, sh[:, None, :], paths, L)[:, :, 0]  # (pair, c, path, M)
    prod = jnp.swapaxes(prod, 1, 2)[:, :, :, None, :] * q[:, None, None, :, None]
    return prod.reshape(n_pairs, -1, 2 * L + 1)


def pair_features(positions: Float[Array, "atom 3"], rho: Float[Array, "atom c lm"],
                  pi: Int[Array, "pair"], pj: Int[Array, "pair"], irreps: tuple[str, ...],
                  cfg: FeaturesConfig) -> dict[str, Float[Array, "pair f M"]]:
    """``x(i, j)`` for each irrep in ``irreps`` and each pair ``(pi, pj)``.

    Args:
        positions: ``(atom, 3)`` Bohr.
        rho: densities ``(atom, chan, (l_max+1)^2)`` (`atom_density`).
        pi, pj: ``(pair,)`` first and second atom of each (ordered) pair.
        irreps: target irreps, e.g. ``('0e', '1o')``.
        cfg: feature settings (cutoffs, radial sizes, l_max, nu_pair).

    Returns:
        dict irrep -> ``(pair, feature, 2L+1)``.
    """
    if cfg.nu_pair not in (0, 1, 2):
        raise NotImplementedError(f"pair body order {cfg.nu_pair} is not implemented (0, 1, 2)")
    r_cut = cfg.pair_cutoff_ang * ANGSTROM_TO_BOHR
    r, unit = safe_vectors(positions[pj] - positions[pi])
    sh_list = direction_harmonics(unit, cfg.l_max)
    sh = jnp.concatenate(sh_list, axis=-1)
    sh_rev = jnp.concatenate([(-1) ** l * y for l, y in enumerate(sh_list)], axis=-1)
    g = radial_basis(r, cfg.n_radial_pair, r_cut, cfg.radial)  # (pair, k)
    if cfg.pair_product_radial <= 1:
        q = cosine_cutoff(r, r_cut)[:, None]
    else:
        q = radial_basis(r, cfg.pair_product_radial, r_cut, cfg.radial)
    out = {}
    for ir in irreps:
        L, p = parse_irrep(ir)
        parts = []
        if p == (-1) ** L and L <= cfg.l_max:
            parts.append(g[:, :, None] * sh_list[L][:, None, :])
        if cfg.nu_pair >= 1:
            parts.append(_density_part(rho[pi], sh, q, L, p, cfg.l_max))
            parts.append(_density_part(rho[pj], sh_rev, q, L, p, cfg.l_max))
        if cfg.nu_pair >= 2:
            parts.append(_two_centre_part(rho[pi], rho[pj], cosine_cutoff(r, r_cut), L, p, cfg))
        out[ir] = jnp.concatenate(parts, axis=1)
    return out


@functools.lru_cache(maxsize=None)
def nu2_channels(cfg: FeaturesConfig) -> np.ndarray:
    """Density channels in the two-centre product: the first ``pair_nu2_radial`` radial
    functions of every species (channels are species-major, see `atom_density`)."""
    r = min(cfg.pair_nu2_radial, cfg.n_radial)
    return np.array([s * cfg.n_radial + k for s in range(len(cfg.species)) for k in range(r)],
                    dtype=np.int32)


def _nu2_lmax(cfg: FeaturesConfig) -> int:
    return min(cfg.pair_nu2_l_max, cfg.l_max)


def _two_centre_part(rho_i, rho_j, fc, L: int, p: int, cfg: FeaturesConfig):
    """``B``: the two densities coupled to (L, p), times the cutoff ``fc``.

    Layout of the feature axis: (path, c1, c2), path-major."""
    lm = _nu2_lmax(cfg)
    paths = tuple(couple_paths(L, p, lm, lm))
    n_pairs = rho_i.shape[0]
    if not paths:
        return jnp.zeros((n_pairs, 0, 2 * L + 1), rho_i.dtype)
    ch, d = nu2_channels(cfg), (lm + 1) ** 2
    prod = couple_all(rho_i[:, ch, :d], rho_j[:, ch, :d], paths, L)  # (pair, c1, c2, path, M)
    prod = jnp.moveaxis(prod, 3, 1) * fc[:, None, None, None, None]
    return prod.reshape(n_pairs, -1, 2 * L + 1)


@functools.lru_cache(maxsize=None)
def pair_layout(cfg: FeaturesConfig, irrep: str) -> tuple[int, int]:
    """``(n_g0, n_A)``: sizes of the pair-term part and of each density part."""
    L, p = parse_irrep(irrep)
    n_g0 = cfg.n_radial_pair if (p == (-1) ** L and L <= cfg.l_max) else 0
    if cfg.nu_pair < 1:
        return n_g0, 0
    n_chan = len(cfg.species) * cfg.n_radial
    n_paths = len(couple_paths(L, p, cfg.l_max, cfg.l_max))
    return n_g0, n_paths * n_chan * max(cfg.pair_product_radial, 1)


@functools.lru_cache(maxsize=None)
def nu2_paths(cfg: FeaturesConfig, irrep: str) -> tuple[tuple[int, int], ...]:
    """The ordered ``(l1, l2)`` paths of the two-centre part (empty unless nu_pair 2)."""
    if cfg.nu_pair < 2:
        return ()
    L, p = parse_irrep(irrep)
    return tuple(couple_paths(L, p, _nu2_lmax(cfg), _nu2_lmax(cfg)))


@functools.lru_cache(maxsize=None)
def pair_swap(cfg: FeaturesConfig, irrep: str) -> tuple[np.ndarray, np.ndarray]:
    """``(index, sign)`` with ``x(j, i) = sign[:, None] * x(i, j)[:, index]`` for one irrep."""
    L, _ = parse_irrep(irrep)
    n0, na = pair_layout(cfg, irrep)
    index = [np.arange(n0), n0 + na + np.arange(na), n0 + np.arange(na)]
    sign = [np.full(n0, (-1.0) ** L), np.ones(2 * na)]
    paths = nu2_paths(cfg, irrep)
    if paths:  # B(j, i)[q, c1, c2] = s * B(i, j)[swap(q), c2, c1]
        nc = len(nu2_channels(cfg))
        where = {pq: k for k, pq in enumerate(paths)}
        q, c1, c2 = np.meshgrid(np.arange(len(paths)), np.arange(nc), np.arange(nc),
                                indexing="ij")
        swapped = np.array([where[(l2, l1)] for l1, l2 in paths])
        index.append(n0 + 2 * na + ((swapped[q] * nc + c2) * nc + c1).ravel())
        sign.append(np.repeat([float(swap_sign(l1, l2, L)) for l1, l2 in paths], nc * nc))
    return np.concatenate(index).astype(np.int32), np.concatenate(sign)

"""Atom-centred neighbour densities (pure JAX, jittable).

For atom i, species z, radial index k and degree l::

    rho_i[(z, k), l, m] = sum_{j in N(i), Z_j = z} R_k(r_ij) Y_lm(r_ij / |r_ij|)

with ``r_ij = r_j - r_i`` (Bohr), ``R_k`` = `radial_basis` (smooth cutoff at the atom
cutoff) and ``Y`` e3nn-jax's real spherical harmonics (``normalize=True``, 'component'
normalisation: ``|Y_l|^2 = 2l+1``). The atom itself is not a neighbour. Channel index
``c = z * n_radial + k`` with z the position of Z_j in the species list. Degree-l arrays
have parity ``(-1)^l`` (e3nn irreps ``0e, 1o, 2e, 3o, 4e``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from hamlearn.features.radial import radial_basis


def sh_irreps(l_max: int) -> e3nn.Irreps:  # noqa: F821  (e3nn imported when tracing)
    """``0e + 1o + 2e + ...`` up to ``l_max``: the harmonics of a direction."""
    import e3nn_jax as e3nn

    return e3nn.Irreps([(1, (l, (-1) ** l)) for l in range(l_max + 1)])


def safe_vectors(vec: Float[Array, "n 3"]) -> tuple[Float[Array, "n"], Float[Array, "n 3"]]:
    """Norms and unit vectors; zero vectors (padding) get norm 0 and direction z (no NaN)."""
    sq = jnp.sum(vec**2, axis=-1)
    nonzero = sq > 0.0
    r = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1.0)), 0.0)
    unit = jnp.where(nonzero[:, None], vec / jnp.where(nonzero, r, 1.0)[:, None],
                     jnp.array([0.0, 0.0, 1.0], vec.dtype))
    return r, unit


def direction_harmonics(unit: Float[Array, "n 3"], l_max: int) -> list[Float[Array, "n m"]]:
    """Real spherical harmonics ``Y_l`` (e3nn order, |Y_l|^2 = 2l+1) per degree l."""
    import e3nn_jax as e3nn  # here, not at import: a run of stored traces never needs it

    sh = e3nn.spherical_harmonics(sh_irreps(l_max), unit, normalize=True,
                                  normalization="component").array
    return [sh[:, l * l:(l + 1) * (l + 1)] for l in range(l_max + 1)]


def atom_density(positions: Float[Array, "atom 3"], species: Int[Array, "atom"],
                 src: Int[Array, "edge"], dst: Int[Array, "edge"], mask: Bool[Array, "edge"],
                 *, n_species: int, n_radial: int, l_max: int, r_cut: float,
                 radial: str = "bessel") -> Float[Array, "atom chan lm"]:
    """Neighbour densities of every atom.

    Args:
        positions: ``(atom, 3)`` Bohr.
        species: ``(atom,)`` index of each atom's element in the species list.
        src, dst: ``(edge,)`` centre i and neighbour j of each directed edge.
        mask: ``(edge,)`` False for padding edges.
        n_species, n_radial, l_max: sizes; r_cut: atom cutoff (Bohr); radial: basis kind.

    Returns:
        ``(atom, n_species * n_radial, (l_max+1)^2)``: all degrees concatenated, degree l
        at ``[..., l^2:(l+1)^2]`` (units Bohr^-1 for the Bessel basis).
    """
    n_atoms = positions.shape[0]
    r, unit = safe_vectors(positions[dst] - positions[src])
    rad = radial_basis(r, n_radial, r_cut, radial) * mask[:, None]  # (edge, k)
    sh = jnp.concatenate(direction_harmonics(unit, l_max), axis=-1)  # (edge, (l_max+1)^2)
    seg = src * n_species + species[dst]
    dens = jax.ops.segment_sum(rad[:, :, None] * sh[:, None, :], seg,
                               num_segments=n_atoms * n_species)
    return dens.reshape(n_atoms, n_species * n_radial, -1)

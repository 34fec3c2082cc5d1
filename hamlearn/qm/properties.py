"""Observables of an effective Hamiltonian: frontier orbitals, MO windows, dipole, polarizability.

Conventions (atomic units): energies in Hartree, dipoles in e*Bohr, polarizabilities in
Bohr^3. Dipole integrals are ``<mu| r - O |nu>`` about an origin O; hamlearn puts O at the
nuclear charge centre ``sum_A Z_A R_A / sum_A Z_A`` (`ModelBasisData.origin`). The dipole is
nuclear minus electronic, ``mu = sum_A Z_A (R_A - O) - tr(P <r - O>)``; for a neutral
molecule it does not depend on O.

Real vs padded MOs: in a padded molecule (`hamlearn.qm.padding`) the padded MOs have
energies near ``PADDING_SHIFT`` (1e6 Hartree), above every real MO, so the real MOs are the
first ``nao_real`` ones and ``mo_mask == ao_mask``. Every helper here that looks at
unoccupied orbitals takes that ``mo_mask`` and ignores padded MOs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from hamlearn.qm.density import make_density
from hamlearn.qm.eigh import DEG_THRESH, generalized_eigh
from hamlearn.qm.response import sos_value


def homo_lumo_gap(
    mo_energy: Float[Array, " mo"], nocc: int | Int[Array, ""]
) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
    """HOMO, LUMO and gap ``e_LUMO - e_HOMO`` (Hartree) of a closed shell with ``nocc`` MOs.

    Args:
        mo_energy: ``(mo,)`` ascending MO energies (Hartree), no padding.
        nocc: doubly occupied MOs, ``1 <= nocc < mo``; may be traced.

    Returns:
        ``(homo, lumo, gap)``, scalars (Hartree); see `frontier_orbitals` for degenerate
        frontier levels.
    """
    occ = jnp.where(jnp.arange(mo_energy.shape[-1]) < nocc, 2.0, 0.0)
    return frontier_orbitals(mo_energy, occ)


def _level_mean(mo_energy, candidates, extreme):
    """Mean energy of the candidate MOs within `DEG_THRESH` of ``extreme`` (and a flag)."""
    level = candidates & (jnp.abs(mo_energy - jnp.where(candidates, extreme, 0.0)) <= DEG_THRESH)
    count = level.sum()
    value = jnp.sum(jnp.where(level, mo_energy, 0.0)) / jnp.maximum(count, 1)
    return value, count > 0


def frontier_orbitals(
    mo_energy: Float[Array, " mo"],
    mo_occ: Float[Array, " mo"],
    mo_mask: Bool[Array, " mo"] | None = None,
) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
    """HOMO, LUMO, gap (Hartree) from occupations: highest occupied, lowest real empty level.

    A degenerate frontier level (methane's t2 HOMO) is not differentiable as "the highest
    eigenvalue"; its value here is the mean over the MOs within `DEG_THRESH` of the extreme,
    whose gradient ``tr(P_level dF)/k`` does not depend on the eigensolver's arbitrary
    basis of the level (so padded and unpadded gradients agree). Padded MOs (``mo_mask``
    False) are never the LUMO. A molecule with no occupied or no real empty MO (an
    all-padding batch filler) gets 0 for the missing values.
    """
    real = _real_mo_mask(mo_occ, mo_mask)
    occupied = real & (mo_occ > 0)
    empty = real & (mo_occ == 0)
    homo, has_homo = _level_mean(mo_energy, occupied,
                                 jnp.max(jnp.where(occupied, mo_energy, -jnp.inf)))
    lumo, has_lumo = _level_mean(mo_energy, empty,
                                 jnp.min(jnp.where(empty, mo_energy, jnp.inf)))
    homo = jnp.where(has_homo, homo, 0.0)
    lumo = jnp.where(has_lumo, lumo, 0.0)
    return homo, lumo, lumo - homo


def mo_window(
    mo_energy: Float[Array, " mo"],
    mo_occ: Float[Array, " mo"],
    n_virtual: int,
    mo_mask: Bool[Array, " mo"] | None = None,
) -> tuple[Float[Array, " mo"], Bool[Array, " mo"]]:
    """The occupied MOs plus the ``n_virtual`` lowest real empty ones, as a masked vector.

    Shapes stay static (vmappable over molecules with different ``nocc``): the window is
    returned as the full ``(mo,)`` energy vector with zeros outside it, and its mask.
    ``n_virtual=0`` gives the occupied energies; a large ``n_virtual`` gives all real MOs.

    Returns:
        ``(values, mask)``: ``(mo,)`` energies (Hartree, 0 outside) and ``(mo,)`` bool.
    """
    real = _real_mo_mask(mo_occ, mo_mask)
    occupied = real & (mo_occ > 0)
    empty = real & (mo_occ == 0)
    mask = occupied | (empty & (jnp.cumsum(empty) <= n_virtual))
    return jnp.where(mask, mo_energy, 0.0), mask


def nuclear_dipole(
    numbers: Float[Array, " atom"], positions: Float[Array, "atom 3"], origin: Float[Array, " 3"]
) -> Float[Array, " 3"]:
    """``sum_A Z_A (R_A - O)`` (e*Bohr) from charges Z and positions/origin in Bohr."""
    numbers = jnp.asarray(numbers, dtype=jnp.float64)
    return jnp.einsum("a,ax->x", numbers, jnp.asarray(positions) - jnp.asarray(origin))


def dipole_moment(
    dm: Float[Array, "ao ao"],
    dip_ints: Float[Array, "3 ao ao"],
    nuclear_dipole: Float[Array, " 3"],
) -> Float[Array, " 3"]:
    """Dipole moment ``mu_x = N_x - tr(P <r_x - O_x>)`` (e*Bohr), nuclear minus electronic.

    Args:
        dm: ``(ao, ao)`` density matrix P (electrons).
        dip_ints: ``(3, ao, ao)`` dipole integrals ``<mu| r - O |nu>`` (Bohr).
        nuclear_dipole: ``(3,)`` ``sum_A Z_A (R_A - O)`` (e*Bohr), same origin O.

    Returns:
        ``(3,)`` dipole (e*Bohr), equal to pyscf's ``dip_moment(unit='AU')`` for a neutral
        molecule.
    """
    return nuclear_dipole - jnp.einsum("xij,ji->x", dip_ints, dm)


def spatial_extent(
    dm: Float[Array, "ao ao"],
    r2_ints: Float[Array, "ao ao"],
    ao_mask: Bool[Array, " ao"] | None = None,
) -> Float[Array, ""]:
    """Electronic spatial extent ``<R^2> = tr(P <|r - O|^2>)`` (Bohr^2), QM9's ``R2``.

    Args:
        dm: ``(ao, ao)`` density matrix P (electrons).
        r2_ints: ``(ao, ao)`` integrals ``<mu| |r - O|^2 |nu>`` (Bohr^2).
        ao_mask: True on real AOs; padded entries of ``r2_ints`` are ignored.
    """
    if ao_mask is not None:
        pair = ao_mask[:, None] & ao_mask[None, :]
        r2_ints = jnp.where(pair, r2_ints, 0.0)
    return jnp.einsum("ij,ji->", r2_ints, dm)


def _real_mo_mask(mo_occ: Float[Array, " mo"], mo_mask: Bool[Array, " mo"] | None):
    return jnp.ones(mo_occ.shape, bool) if mo_mask is None else jnp.asarray(mo_mask, bool)


def polarizability_sos(
    mo_energy: Float[Array, " mo"],
    mo_coeff: Float[Array, "ao mo"],
    dip_ints: Float[Array, "3 ao ao"],
    mo_occ: Float[Array, " mo"],
    mo_mask: Bool[Array, " mo"] | None = None,
) -> Float[Array, "3 3"]:
    """Uncoupled static polarizability of a fixed Hamiltonian, sum over states (Bohr^3).

    ``alpha_xy = 2 sum_{p,q: n_p > n_q} (n_p - n_q) <p|x|q><q|y|p> / (e_q - e_p)``, i.e.
    ``4 sum_{i occ, a virt} <i|x|a><a|y|i> / (e_a - e_i)`` for closed shells. It is the
    exact derivative ``d mu / d E`` of `dipole_moment` when the field enters as
    ``F -> F + sum_x E_x <r_x>`` with no self-consistent response (see
    `polarizability_field`); that sign of the perturbation (the energy of an electron,
    charge -1, in a field E is ``+E.r``) gives a positive-definite alpha with
    ``mu = nuclear - electronic``. Origin independent (``<i|a> = 0``).

    Its *value* is exact; its gradient through `generalized_eigh` is NOT where MOs of equal
    occupation are degenerate (the masked eigensolver drops a finite term; see
    `hamlearn.qm.response`). To differentiate, use `qm_forward` or
    `hamlearn.qm.response.polarizability_of_fock`.

    Args:
        mo_energy: ``(mo,)`` MO energies (Hartree).
        mo_coeff: ``(ao, mo)`` MO coefficients.
        dip_ints: ``(3, ao, ao)`` dipole integrals (Bohr).
        mo_occ: ``(mo,)`` occupations.
        mo_mask: ``(mo,)`` True on real MOs (padded ones are excluded); default all.

    Returns:
        ``(3, 3)`` symmetric polarizability (Bohr^3).
    """
    return sos_value(mo_energy, mo_coeff, dip_ints, mo_occ, mo_mask)


def polarizability_field(fock, ovlp, dip_ints, mo_occ, nuclear_dipole=None):
    """Uncoupled polarizability as ``jax.jacfwd`` of the dipole w.r.t. a field (Bohr^3).

    ``alpha = d mu(F + E.r) / d E`` at ``E = 0`` with fixed occupations: the finite-field
    definition that `polarizability_sos` must equal. Shapes as in `polarizability_sos`
    (``fock``, ``ovlp``: ``(ao, ao)``). Exactly degenerate occupied (or virtual) pairs are
    handled by the masked eigensolver derivative, but near-degenerate ones (gap just above
    `DEG_THRESH`) make this route numerically rough: train with `polarizability_sos`.
    """
    nuc = jnp.zeros(3) if nuclear_dipole is None else nuclear_dipole

    def dipole_in_field(field):
        _, c = generalized_eigh(fock + jnp.einsum("x,xij->ij", field, dip_ints), ovlp)
        return dipole_moment(make_density(c, mo_occ), dip_ints, nuc)

    return jax.jacfwd(dipole_in_field)(jnp.zeros(3, dtype=fock.dtype))

"""pyscfad integrals with traced positions, and dmu/dR of a fixed Hamiltonian model."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from qm_helpers import dipole_integrals

from hamlearn.qm import (
    QMInputs,
    ao_integrals,
    build_mole,
    dipole_derivatives,
    extended_huckel_fock,
    huckel_onsite,
    nuclear_dipole,
    qm_forward,
)

TOL_INT = 1e-12
TOL_FD = 1e-6  # e: central differences with h = 1e-4 Bohr


def test_integrals_match_pyscf(small_molecules):
    from pyscf import gto

    s = small_molecules["NH3"]
    ovlp, dip_ints, nuc, origin = ao_integrals(build_mole(s))
    mol = gto.M(atom=s.pyscf_atom(), unit="Bohr", basis="sto-3g", verbose=0)
    np.testing.assert_allclose(origin, s.charge_centre(), atol=TOL_INT)
    np.testing.assert_allclose(ovlp, mol.intor("int1e_ovlp"), atol=TOL_INT)
    np.testing.assert_allclose(dip_ints, dipole_integrals(mol, s.charge_centre()), atol=TOL_INT)
    np.testing.assert_allclose(nuc, s.numbers @ (s.positions - s.charge_centre()), atol=TOL_INT)


@jax.jit
def _huckel_dipole(onsite, inputs):
    return qm_forward(extended_huckel_fock(inputs.ovlp, onsite), inputs)["dipole"]


def huckel_dipole(structure):
    """Extended-Hueckel dipole of a geometry from plain pyscf integrals (no pyscfad)."""
    from pyscf import gto

    mol = gto.M(atom=structure.pyscf_atom(), unit="Bohr", basis="sto-3g", verbose=0)
    origin = structure.charge_centre()
    inputs = QMInputs.from_arrays(
        mol.intor("int1e_ovlp"), dipole_integrals(mol, origin),
        nuclear_dipole(structure.numbers, structure.positions, origin), mol.nelectron // 2)
    return _huckel_dipole(jnp.asarray(huckel_onsite(mol)), inputs)


@pytest.fixture(scope="module")
def water_apt(small_molecules):
    s = small_molecules["H2O"]
    mol = build_mole(s)
    onsite = huckel_onsite(mol)
    apt = dipole_derivatives(mol, lambda ovlp, positions: extended_huckel_fock(ovlp, onsite))
    return s, np.asarray(apt)


def test_dipole_derivative_matches_finite_differences(water_apt):
    s, apt = water_apt
    assert apt.shape == (3, 3, 3)
    h = 1e-4
    for atom in range(s.n_atoms):
        for axis in range(3):
            shifted = []
            for sign in (1, -1):
                pos = s.positions.copy()
                pos[atom, axis] += sign * h
                shifted.append(huckel_dipole(dataclasses.replace(s, positions=pos)))
            fd = (shifted[0] - shifted[1]) / (2 * h)
            np.testing.assert_allclose(apt[:, atom, axis], fd, atol=TOL_FD,
                                       err_msg=f"atom {atom} axis {axis}")
    assert np.abs(apt).max() > 0.1


def test_dipole_derivative_sum_rule(water_apt):
    """Neutral molecule: translating every atom leaves mu unchanged, sum_A dmu/dR_A = 0."""
    _, apt = water_apt
    np.testing.assert_allclose(apt.sum(axis=1), 0.0, atol=1e-10)


def test_overlap_gradient_via_reverse_mode(small_molecules):
    mol = build_mole(small_molecules["H2O"])
    def fn(m):
        ovlp, dip_ints, _, _ = ao_integrals(m)
        return jnp.sum(ovlp**2) + jnp.sum(dip_ints**2)

    fwd = jax.jit(jax.jacfwd(fn))(mol).coords
    rev = jax.jit(jax.grad(fn))(mol).coords
    np.testing.assert_allclose(rev, fwd, atol=1e-12)

"""Basis bookkeeping against pyscf itself."""

import numpy as np
import pyscf.gto
import pytest

from hamlearn.data.basis import BasisError, ao_offsets, e3nn_to_pyscf, element_shells, nao


@pytest.mark.parametrize("z", [1, 6, 7, 8, 9, 14, 16, 17])
def test_shells_match_pyscf_ao_labels(z):
    from ase.data import chemical_symbols

    sym = chemical_symbols[z]
    mol = pyscf.gto.M(atom=[[sym, (0, 0, 0)]], basis="sto-3g", spin=z % 2, verbose=0)
    labels = mol.ao_labels(fmt=False)
    shells = element_shells("sto-3g", z)
    assert sum(s.size for s in shells) == mol.nao
    for s in shells:
        ls = {"s": 0, "p": 1, "d": 2, "f": 3}
        for ao in range(s.start, s.stop):
            # label like (0, 'C', '2p', 'x'): the letter after the shell number is l
            assert ls[labels[ao][2][-1]] == s.l


def test_offsets_match_pyscf(small_molecules):
    s = small_molecules["CH4"]
    mol = pyscf.gto.M(atom=s.pyscf_atom(), unit="Bohr", basis="sto-3g", verbose=0)
    slices = mol.aoslice_by_atom()
    np.testing.assert_array_equal(ao_offsets("sto-3g", s.numbers), [*slices[:, 2], slices[-1, 3]])
    assert nao("sto-3g", s.numbers) == mol.nao


def test_missing_element_is_clear():
    with pytest.raises(BasisError, match="sto-3g.*U"):
        element_shells("sto-3g", 92)


@pytest.mark.parametrize("l", [0, 1, 2, 3])
def test_e3nn_to_pyscf_is_orthogonal_and_maps_harmonics(l):
    import e3nn_jax as e3nn
    import jax.numpy as jnp

    u = e3nn_to_pyscf(l)
    np.testing.assert_allclose(u @ u.T, np.eye(2 * l + 1), atol=1e-12)
    # independent points: pyscf AO values at r=1 are proportional to Y_e3nn @ U
    mol = pyscf.gto.M(atom=[["He", (0, 0, 0)]], basis={"He": [[l, [0.7, 1.0]]]}, unit="Bohr",
                      verbose=0)
    pts = np.random.default_rng(7).normal(size=(20, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    ao = mol.eval_gto("GTOval_sph", pts)
    y = np.asarray(e3nn.spherical_harmonics(f"{l}{'eo'[l % 2]}", jnp.asarray(pts), True,
                                            normalization="component").array)
    ratio = ao / (y @ u)
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-10)

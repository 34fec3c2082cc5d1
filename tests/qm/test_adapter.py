"""pyscf property code runs on a predicted Fock through the adapter."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hamlearn.qm import as_pyscf_scf, qm_forward


@pytest.fixture(scope="module")
def prediction(pyscf_case):
    """A 'predicted' Fock: water's converged Fock plus a symmetric perturbation."""
    case = pyscf_case("H2O")
    noise = np.random.default_rng(5).normal(scale=0.02, size=case.fock.shape)
    fock = case.fock + noise + noise.T
    return case, fock, jax.jit(qm_forward)(jnp.asarray(fock), case.inputs)


def test_pyscf_dip_moment_on_adapter(prediction):
    case, fock, out = prediction
    mf = as_pyscf_scf(case.mol, fock)
    np.testing.assert_allclose(mf.mo_energy, out["mo_energy"], atol=1e-12)
    np.testing.assert_allclose(mf.make_rdm1(), out["dm"], atol=1e-12)
    np.testing.assert_allclose(mf.dip_moment(unit="AU", verbose=0), out["dipole"], atol=1e-10)
    ref = case.mf.dip_moment(unit="AU", verbose=0)
    assert np.abs(out["dipole"] - ref).max() > 1e-3  # the prediction differs from pyscf's SCF


def test_pyscf_uncoupled_polarizability_on_adapter(prediction):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Module .* is under testing")
        from pyscf.prop.polarizability.rhf import Polarizability

    case, fock, out = prediction
    alpha = Polarizability(as_pyscf_scf(case.mol, fock)).polarizability(with_cphf=False)
    np.testing.assert_allclose(alpha, out["polarizability"], atol=1e-9)


def test_adapter_rejects_wrong_shape(pyscf_case):
    case = pyscf_case("H2O")
    with pytest.raises(ValueError, match="nao"):
        as_pyscf_scf(case.mol, np.eye(3))

"""qm_forward on pyscf's converged (F, S) reproduces pyscf's own observables."""

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hamlearn.qm import (
    QMInputs,
    frontier_orbitals,
    homo_lumo_gap,
    mo_window,
    polarizability_field,
    polarizability_sos,
    qm_forward,
)

TOL_E = 1e-8  # Hartree
TOL_DM = 1e-8
TOL_DIP = 1e-8  # e*Bohr
TOL_POL = 1e-8  # Bohr^3

CASES = [("H2", None), ("H2O", None), ("NH3", None), ("CH4", None), ("H2O", "b3lyp")]
forward = jax.jit(qm_forward)


@pytest.mark.parametrize(("name", "xc"), CASES)
def test_reproduces_pyscf(pyscf_case, name, xc):
    case = pyscf_case(name, xc)
    out = forward(case.fock_jax, case.inputs)
    np.testing.assert_allclose(out["mo_energy"], case.mf.mo_energy, atol=TOL_E)
    np.testing.assert_allclose(out["dm"], case.mf.make_rdm1(), atol=TOL_DM)
    np.testing.assert_allclose(out["dipole"], case.mf.dip_moment(unit="AU", verbose=0),
                               atol=TOL_DIP)
    nocc = case.mol.nelectron // 2
    for key, value in zip(("homo", "lumo", "gap"), homo_lumo_gap(case.mf.mo_energy, nocc)):
        assert float(out[key]) == pytest.approx(float(value), abs=TOL_E)


@pytest.mark.parametrize("name", ["H2O", "NH3", "CH4"])
def test_polarizability_equals_pyscf_uncoupled(pyscf_case, name):
    with warnings.catch_warnings():  # pyscf.prop imports its EFG module, which warns
        warnings.filterwarnings("ignore", message="Module .* is under testing")
        from pyscf.prop.polarizability.rhf import Polarizability

    case = pyscf_case(name)
    ref = Polarizability(case.mf).polarizability(with_cphf=False)
    out = forward(case.fock_jax, case.inputs)
    np.testing.assert_allclose(out["polarizability"], ref, atol=TOL_POL)


@pytest.mark.parametrize("name", ["H2O", "NH3"])
def test_sum_over_states_equals_field_derivative(pyscf_case, name):
    case = pyscf_case(name)
    inp = case.inputs
    out = forward(case.fock_jax, inp)
    alpha_jac = polarizability_field(case.fock_jax, inp.ovlp, inp.dip_ints, inp.mo_occ)
    np.testing.assert_allclose(out["polarizability"], alpha_jac, atol=TOL_POL)


def test_field_sign_convention_gives_positive_polarizability(pyscf_case):
    """``F + E.r`` with mu = nuclear - electronic: d mu / d E > 0 (finite differences)."""
    case = pyscf_case("H2O")
    inp = case.inputs
    h = 1e-4

    def dipole(field):
        fock = case.fock_jax + jnp.einsum("x,xij->ij", field, inp.dip_ints)
        return forward(fock, inp)["dipole"]

    fd = np.stack([(dipole(h * e) - dipole(-h * e)) / (2 * h) for e in np.eye(3)], axis=1)
    alpha = forward(case.fock_jax, inp)["polarizability"]
    np.testing.assert_allclose(fd, alpha, atol=1e-6)
    assert np.linalg.eigvalsh(np.asarray(alpha)).min() > 0


def test_mo_window_and_frontier(pyscf_case):
    case = pyscf_case("H2O")
    e = jnp.asarray(case.mf.mo_energy)
    occ = jnp.asarray(case.mf.mo_occ)
    values, mask = mo_window(e, occ, 1)
    np.testing.assert_array_equal(mask, [True] * 6 + [False])
    np.testing.assert_array_equal(values[:6], e[:6])
    _, mask_all = mo_window(e, occ, 100)
    assert mask_all.all()
    homo, lumo, gap = frontier_orbitals(e, occ)
    assert (float(homo), float(lumo)) == (float(e[4]), float(e[5]))
    assert float(gap) == pytest.approx(float(e[5] - e[4]))


def test_polarizability_sos_is_origin_independent(pyscf_case):
    case = pyscf_case("NH3")
    inp = case.inputs
    out = forward(case.fock_jax, inp)
    shifted = inp.dip_ints + jnp.array([0.3, -1.2, 2.0])[:, None, None] * inp.ovlp[None]
    alpha = polarizability_sos(out["mo_energy"], out["mo_coeff"], shifted, inp.mo_occ)
    c = np.asarray(out["mo_coeff"])
    orth = np.abs(c.T @ np.asarray(inp.ovlp) @ c - np.eye(c.shape[1])).max()
    np.testing.assert_allclose(alpha, out["polarizability"], atol=1e-10,
                               err_msg=f"max |C^T S C - 1| = {orth:.2e}")


def test_inputs_from_model_data(pyscf_case):
    from hamlearn.data.record import ModelBasisData

    case = pyscf_case("NH3")
    model = ModelBasisData(basis="sto-3g", ovlp=case.ovlp, dip_ints=case.dip_ints,
                           origin=case.origin, fock=case.fock)
    inp = QMInputs.from_model_data(model, case.structure)
    np.testing.assert_array_equal(inp.mo_occ, [2.0] * 5 + [0.0] * 3)
    assert inp.ao_mask.all() and inp.nao == 8
    out = forward(jnp.asarray(model.fock), inp)
    np.testing.assert_allclose(out["dipole"], case.mf.dip_moment(unit="AU", verbose=0),
                               atol=TOL_DIP)
    odd = dataclasses.replace(case.structure, charge=1)
    with pytest.raises(ValueError, match="closed shell"):
        QMInputs.from_model_data(model, odd)

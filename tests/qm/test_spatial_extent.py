"""<R^2> of the QM layer: pyscf's own value on a converged Fock, padding, rotation and
translation invariance, and its derivative against finite differences."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from qm_helpers import run_pyscf
from scipy.spatial.transform import Rotation

from hamlearn.data.reference import model_basis_data
from hamlearn.qm import QMInputs, pad_batch, qm_forward

forward = jax.jit(qm_forward)


def inputs_with_r2(case):
    model = model_basis_data(case.structure, "sto-3g")
    return QMInputs.from_model_data(model, case.structure, r2=True)


def pyscf_r2(case) -> float:
    """tr(D <|r - O|^2>) from pyscf's own density and integrals (O: nuclear charge centre)."""
    with case.mol.with_common_orig(case.origin):
        r2 = case.mol.intor_symmetric("int1e_r2")
    return float(np.einsum("ij,ji->", case.mf.make_rdm1(), r2))


@pytest.mark.parametrize(("name", "xc"), [("H2O", None), ("NH3", None), ("H2O", "b3lyp")])
def test_r2_equals_pyscf(pyscf_case, name, xc):
    case = pyscf_case(name, xc)
    out = forward(case.fock_jax, inputs_with_r2(case))
    ref = pyscf_r2(case)
    assert float(out["r2"]) == pytest.approx(ref, abs=1e-8)
    # pyscf's r2 = x^2 + y^2 + z^2 of its r-r integrals: an independent check of the integral
    with case.mol.with_common_orig(case.origin):
        rr = case.mol.intor_symmetric("int1e_rr", comp=9).reshape(3, 3, case.mol.nao, -1)
    assert ref == pytest.approx(float(np.einsum("xxij,ji->", rr, case.mf.make_rdm1())),
                                abs=1e-10)


def test_no_r2_without_integrals(pyscf_case):
    case = pyscf_case("H2O")
    assert "r2" not in forward(case.fock_jax, case.inputs)


def test_r2_padding_and_batch(pyscf_case):
    cases = [pyscf_case("H2O"), pyscf_case("NH3")]
    inputs = [inputs_with_r2(c) for c in cases]
    batch = pad_batch(inputs, 16, batch_size=3)
    focks = np.zeros((3, 16, 16))
    for k, c in enumerate(cases):
        n = c.fock.shape[0]
        focks[k, :n, :n] = c.fock
        focks[k, n:, :] = 7.0  # whatever the padded entries hold is ignored
    out = jax.jit(jax.vmap(qm_forward))(jnp.asarray(focks), batch)
    for k, c in enumerate(cases):
        assert float(out["r2"][k]) == pytest.approx(pyscf_r2(c), abs=1e-8)
    assert float(out["r2"][2]) == 0.0  # the filler molecule has no electrons
    with pytest.raises(ValueError, match="r2_ints"):
        pad_batch([inputs[0], cases[1].inputs], 16)


def test_r2_invariant_under_rotation_and_translation(pyscf_case):
    case = pyscf_case("NH3")
    rot = Rotation.random(random_state=3).as_matrix() @ np.diag([1.0, 1.0, -1.0])
    moved = dataclasses.replace(case.structure, name="NH3-moved",
                                positions=case.structure.positions @ rot.T + [1.3, -0.4, 2.0])
    other = run_pyscf(moved)
    r2, r2_moved = (float(forward(c.fock_jax, inputs_with_r2(c))["r2"]) for c in (case, other))
    assert r2_moved == pytest.approx(r2, abs=1e-7)
    assert r2 > 10.0  # NH3's extent is ~25 Bohr^2: the check has teeth


def test_r2_gradient_matches_finite_differences(pyscf_case):
    case = pyscf_case("H2O")
    inp = inputs_with_r2(case)
    rng = np.random.default_rng(0)
    direction = rng.normal(size=case.fock.shape)
    direction = jnp.asarray(0.5 * (direction + direction.T))

    def r2(t):
        return qm_forward(case.fock_jax + t * direction, inp)["r2"]

    grad = float(jax.grad(r2)(0.0))
    h = 1e-4
    fd = float((r2(h) - r2(-h)) / (2 * h))
    assert grad == pytest.approx(fd, rel=1e-6, abs=1e-8)
    assert abs(grad) > 1e-3

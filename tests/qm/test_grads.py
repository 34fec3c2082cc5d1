"""Derivatives through eigh -> density -> dipole / polarizability, degenerate cases included."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from jax.test_util import check_grads

from qm_helpers import degenerate_problem

from hamlearn.qm import QMInputs, generalized_eigh, polarizability_sos, qm_forward

TARGETS = {
    "dipole": lambda out: out["dipole"],
    "polarizability": lambda out: out["polarizability"],
    "loss": lambda out: (jnp.sum(out["dipole"] ** 2) + jnp.sum(out["polarizability"] ** 2)
                         + out["gap"] ** 2 + jnp.sum(out["mo_energy"] * out["mo_occ"])),
}


def layer_fn(inputs, target):
    return jax.jit(lambda fock, ovlp, dip: TARGETS[target](qm_forward(
        fock, QMInputs(ovlp, dip, inputs.nuclear_dipole, inputs.mo_occ, inputs.ao_mask))))


@pytest.mark.parametrize("target", list(TARGETS))
def test_check_grads_water(pyscf_case, target):
    case = pyscf_case("H2O")
    inp = case.inputs
    check_grads(layer_fn(inp, target), (case.fock_jax, inp.ovlp, inp.dip_ints), order=1,
                modes=["fwd", "rev"])


@pytest.mark.slow
def test_check_grads_second_order_loss(pyscf_case):
    """Hessian-vector products (eps 1e-5: the loss has third derivatives ~1e4)."""
    case = pyscf_case("H2O")
    inp = case.inputs
    fn = layer_fn(inp, "loss")
    check_grads(lambda f: fn(f, inp.ovlp, inp.dip_ints), (case.fock_jax,), order=2,
                modes=["fwd", "rev"], eps=1e-5)


def test_check_grads_exactly_degenerate(rng):
    """Triply degenerate occupied and doubly degenerate virtual levels (HOMO/LUMO not)."""
    mo_energy = np.array([-2.0, -1.0, -1.0, -1.0, -0.5, 0.3, 0.8, 0.8, 1.5])
    fock, ovlp = degenerate_problem(rng, mo_energy)
    dip = rng.normal(size=(3, 9, 9))
    inp = QMInputs.from_arrays(ovlp, dip + np.swapaxes(dip, 1, 2), np.zeros(3), 5)
    check_grads(layer_fn(inp, "loss"), (jnp.asarray(fock), inp.ovlp, inp.dip_ints),
                order=1, modes=["fwd", "rev"])


def directional_check(fn, fock, rng, h=1e-5):
    direction = rng.normal(size=fock.shape)
    direction = jnp.asarray(direction + direction.T)
    grad = jax.grad(fn)(fock)
    assert np.isfinite(grad).all()
    fd = (fn(fock + h * direction) - fn(fock - h * direction)) / (2 * h)
    return float(jnp.sum(grad * direction)), float(fd)


@pytest.mark.parametrize("name", ["CH4", "C6H6"])
def test_symmetric_molecules(pyscf_case, name, rng):
    case = pyscf_case(name)
    inp = case.inputs
    out = jax.jit(qm_forward)(case.fock_jax, inp)
    # CH4: exactly degenerate t2; ase's benzene: pairs split by only ~3e-9 Hartree
    split = np.min(np.abs(np.diff(np.asarray(out["mo_energy"]))))
    assert split < 1e-6, split
    weight = jnp.asarray(rng.normal(size=(3, 3)))

    def fn(f):
        out = qm_forward(f, inp)
        return jnp.sum(out["polarizability"] * weight) + jnp.sum(out["dipole"] ** 2)

    grad_dot, fd = directional_check(jax.jit(fn), case.fock_jax, rng)
    assert grad_dot == pytest.approx(fd, rel=1e-6, abs=1e-6), (grad_dot, fd, split)
    if name == "CH4":  # exactly degenerate t2 HOMO: the level mean's gradient
        gap_grad = jax.jit(jax.grad(lambda f: qm_forward(f, inp)["gap"]))(case.fock_jax)
        assert np.isfinite(gap_grad).all()


def test_masked_eigensolver_alone_misses_degenerate_terms(pyscf_case, rng):
    """Why `eigh_sos` exists: through the masked eigensolver alone, the polarizability
    gradient of CH4 (exactly degenerate t2) is off; `qm_forward`'s matches differences."""
    case = pyscf_case("CH4")
    inp = case.inputs
    weight = jnp.asarray(rng.normal(size=(3, 3)))

    def naive(f):
        e, c = generalized_eigh(f, inp.ovlp)
        return jnp.sum(polarizability_sos(e, c, inp.dip_ints, inp.mo_occ) * weight)

    def exact(f):
        return jnp.sum(qm_forward(f, inp)["polarizability"] * weight)

    naive_dot, fd = directional_check(jax.jit(naive), case.fock_jax, np.random.default_rng(3))
    exact_dot, fd2 = directional_check(jax.jit(exact), case.fock_jax, np.random.default_rng(3))
    assert fd == pytest.approx(fd2, abs=1e-8)  # same function, two codes
    assert exact_dot == pytest.approx(fd, rel=1e-6)
    assert abs(naive_dot - fd) > 1e-2 * abs(fd)


def _gap_pair_fd(fock, ovlp, direction, nocc, h):
    """scipy's eigenvalues along ``fock + t direction``: (LUMO - HOMO, LUMO - pair mean) at
    t = -h, 0, +h, with the HOMO pair ``nocc-2, nocc-1`` (reference, not the code under test)."""
    out = []
    for t in (-h, 0.0, h):
        e = scipy.linalg.eigh(fock + t * direction, ovlp, eigvals_only=True)
        out.append((e[nocc] - e[nocc - 1], e[nocc] - 0.5 * (e[nocc - 2] + e[nocc - 1])))
    return np.array(out)


def test_degenerate_homo_gap_gradient_against_finite_differences(rng):
    """Exactly degenerate HOMO pair: the gap uses the pair's mean.

    Along a direction that keeps the pair degenerate the gap is differentiable and the
    gradient must equal its central difference. Along a generic direction the pair splits:
    LUMO - max(pair) has a kink (one-sided derivatives differ) and the gradient must give
    the mean of the two one-sided derivatives, which is the derivative of the smooth
    LUMO - mean(pair).
    """
    mo_energy = np.array([-2.0, -1.0, -0.5, -0.5, 0.4, 0.9, 1.3])
    nocc, n = 4, len(mo_energy)
    fock, ovlp = degenerate_problem(rng, mo_energy)
    dip = rng.normal(size=(3, n, n))
    inp = QMInputs.from_arrays(ovlp, dip + np.swapaxes(dip, 1, 2), np.zeros(3), nocc)
    grad = np.asarray(jax.jit(jax.grad(lambda f: qm_forward(f, inp)["gap"]))(jnp.asarray(fock)))
    assert np.isfinite(grad).all()

    # C^T S C = 1 and F = S C e C^T S: a direction S C M C^T S adds M in the MO basis
    e, c = scipy.linalg.eigh(fock, ovlp)
    sc = ovlp @ c
    m = rng.normal(size=(n, n))
    m = m + m.T
    keep = m.copy()
    keep[2:4, :] = keep[:, 2:4] = 0.0
    keep[2, 2] = keep[3, 3] = 0.7  # the pair moves together and couples to nothing
    h = 1e-6  # the one-sided differences have O(h) errors of order 1 * h
    for name, mo_dir in (("keeps degeneracy", keep), ("generic", m)):
        direction = sc @ mo_dir @ sc.T
        fd = _gap_pair_fd(fock, ovlp, direction, nocc, h)
        grad_dot = float(np.sum(grad * direction))
        right, left = (fd[2] - fd[1]) / h, (fd[1] - fd[0]) / h  # one-sided, both columns
        central_mean = (fd[2, 1] - fd[0, 1]) / (2 * h)
        assert grad_dot == pytest.approx(central_mean, abs=1e-7), name
        assert grad_dot == pytest.approx(0.5 * (right[0] + left[0]), abs=1e-5), name
        if name == "keeps degeneracy":
            assert right[0] == pytest.approx(left[0], abs=1e-5)  # no kink
        else:
            assert abs(right[0] - left[0]) > 0.1  # a genuine kink: the pair splits at first order

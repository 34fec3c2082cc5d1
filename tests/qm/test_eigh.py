"""generalized_eigh: the solution of F C = S C e, and finite derivatives at degeneracies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from jax.test_util import check_grads

from qm_helpers import degenerate_problem, random_problem

from hamlearn.qm import generalized_eigh, generalized_eigh_cholesky, make_density

TOL = 1e-12


def test_solves_the_generalized_problem(rng):
    fock, ovlp = random_problem(rng)
    e, c = generalized_eigh(jnp.asarray(fock), jnp.asarray(ovlp))
    np.testing.assert_allclose(e, scipy.linalg.eigh(fock, ovlp, eigvals_only=True), atol=TOL)
    np.testing.assert_allclose(c.T @ ovlp @ c, np.eye(len(e)), atol=TOL)
    np.testing.assert_allclose(fock @ c, ovlp @ c * e, atol=TOL)


def test_agrees_with_cholesky_route(rng):
    fock, ovlp = random_problem(rng)
    e1, c1 = generalized_eigh(fock, ovlp)
    e2, c2 = generalized_eigh_cholesky(fock, ovlp)
    occ = jnp.array([2.0] * 3 + [0.0] * 5)
    np.testing.assert_allclose(e1, e2, atol=TOL)
    np.testing.assert_allclose(make_density(c1, occ), make_density(c2, occ), atol=TOL)
    grad = [jax.grad(lambda f, s, solver=solver: jnp.sum(
        make_density(solver(f, s)[1], occ) ** 2) + jnp.sum(solver(f, s)[0][:3]), argnums=(0, 1))(
        fock, ovlp) for solver in (generalized_eigh, generalized_eigh_cholesky)]
    for g1, g2 in zip(*grad):
        np.testing.assert_allclose(g1, g2, atol=1e-9)


def test_check_grads_density_and_energies(rng):
    fock, ovlp = random_problem(rng, 6)
    occ = jnp.array([2.0, 2.0, 0.0, 0.0, 0.0, 0.0])

    def f(fock, ovlp):
        e, c = generalized_eigh(fock, ovlp)
        return make_density(c, occ), e

    check_grads(jax.jit(f), (fock, ovlp), order=1, modes=["fwd", "rev"])


def test_degenerate_eigenvalues_give_finite_exact_gradients(rng):
    mo_energy = np.array([-2.0, -1.0, -1.0, -1.0, 0.5, 0.5, 1.0])
    fock, ovlp = degenerate_problem(rng, mo_energy)
    e, _ = generalized_eigh(fock, ovlp)
    np.testing.assert_allclose(e, mo_energy, atol=1e-12)
    occ = jnp.array([2.0] * 4 + [0.0] * 3)
    weight = rng.normal(size=fock.shape)

    def loss(fock):  # gauge invariant: smooth although eigenvalues are degenerate
        e, c = generalized_eigh(fock, ovlp)
        return jnp.sum(weight * make_density(c, occ)) + jnp.sum(e * occ)

    grad = jax.grad(loss)(jnp.asarray(fock))
    assert np.isfinite(grad).all()
    direction = rng.normal(size=fock.shape)
    direction = direction + direction.T
    h = 1e-5
    fd = (loss(fock + h * direction) - loss(fock - h * direction)) / (2 * h)
    _, jvp = jax.jvp(loss, (jnp.asarray(fock),), (jnp.asarray(direction),))
    assert float(jnp.sum(grad * direction)) == pytest.approx(float(fd), abs=1e-7)
    assert float(jvp) == pytest.approx(float(fd), abs=1e-7)

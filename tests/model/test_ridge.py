"""Ridge fit: exact recovery of a linear teacher; real STO-3G Fock matrices of ethane."""

import ase.build
import ase.io
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from hamlearn.config import FeaturesConfig
from hamlearn.data.structure import Structure
from hamlearn.features import featurize
from hamlearn.model import HamiltonianModel, fit_fock, fock_batch, make_batch, ridge_fit
from hamlearn.units import HARTREE_TO_EV

CFG = FeaturesConfig()
#: a smaller feature set for the teacher tests: exactness does not depend on the sizes
CFG_SMALL = FeaturesConfig(l_max=2, n_radial=3, n_radial_pair=4)


def predict(model, fs, indices):
    out = np.asarray(fock_batch(model, make_batch(fs, indices)))
    return [out[b, : fs.nao[m], : fs.nao[m]] for b, m in enumerate(indices)]


@pytest.fixture(scope="module")
def teacher_case():
    names = ("CH4", "H2O", "NH3", "C2H6", "CH3CH2OH", "CH3CONH2", "HCOOH", "CH3CN")
    fs = featurize([Structure.from_atoms(ase.build.molecule(n)) for n in names], CFG_SMALL)
    teacher = HamiltonianModel(fs.spec, key=jax.random.PRNGKey(7), scale=0.3)
    biases = {k: jnp.asarray(np.random.default_rng(1).normal(size=v.shape))
              for k, v in teacher.biases.items()}
    teacher = eqx.tree_at(lambda m: m.biases, teacher, biases)
    return fs, teacher, predict(teacher, fs, range(len(names)))


def test_ridge_recovers_a_linear_teacher(teacher_case):
    """F made by a random linear model is refitted (all block types, incl. swapped pairs)."""
    fs, _, focks = teacher_case
    student = ridge_fit(HamiltonianModel(fs.spec, key=jax.random.PRNGKey(0)), fs, focks,
                        alpha=1e-12)
    for f_ref, f_fit in zip(focks, predict(student, fs, range(len(focks)))):
        assert np.abs(f_ref).max() > 0.1
        np.testing.assert_allclose(f_fit, f_ref, atol=1e-6)


def test_gradient_descent_lowers_the_matrix_loss(teacher_case):
    fs, _, focks = teacher_case
    model = HamiltonianModel(fs.spec, key=jax.random.PRNGKey(0))
    _, losses = fit_fock(model, fs, focks, steps=6, learning_rate=1e-2, batch_size=8)
    assert np.all(np.isfinite(losses))
    assert np.all(np.diff(losses) < 0) and losses[-1] < 0.8 * losses[0]  # measured ~0.64


def _ethane(cookbook_dir, n):
    ref = np.load(cookbook_dir / "ethane200_reference.npz")
    frames = ase.io.read(cookbook_dir / "ethane200.xyz", f":{n}")
    nao = ref["nao_sto3g"][:n]
    off = np.concatenate([[0], np.cumsum(nao**2)])
    mats = lambda key: [ref[key][off[k]:off[k + 1]].reshape(nao[k], nao[k])  # noqa: E731
                        for k in range(n)]
    return [Structure.from_atoms(a) for a in frames], mats("fock_sto3g_flat"), mats(
        "overlap_sto3g_flat")


def test_ridge_fits_ethane_fock_matrices(cookbook_dir):
    """30 train / 10 test geometries: matrix and eigenvalue MAE, against the mean matrix."""
    structures, focks, ovlps = _ethane(cookbook_dir, 40)
    train, test = list(range(30)), list(range(30, 40))
    fs = featurize(structures, CFG)
    model = ridge_fit(HamiltonianModel(fs.spec, key=jax.random.PRNGKey(0)), fs,
                      [focks[k] for k in train], alpha=1e-6, indices=train)
    pred = predict(model, fs, test)
    mean = np.mean([focks[k] for k in train], axis=0)  # same atom order in every frame
    mae = np.mean([np.abs(p - focks[k]).mean() for p, k in zip(pred, test)]) * HARTREE_TO_EV
    mae_mean = np.mean([np.abs(mean - focks[k]).mean() for k in test]) * HARTREE_TO_EV

    def eig(f, k):
        return scipy.linalg.eigh(f, ovlps[k], eigvals_only=True)

    eig_mae = np.mean([np.abs(eig(p, k) - eig(focks[k], k)).mean()
                       for p, k in zip(pred, test)]) * HARTREE_TO_EV
    print(f"ethane 30/10: matrix MAE {1e3 * mae:.2f} meV, eig MAE {1e3 * eig_mae:.2f} meV, "
          f"mean-matrix baseline {1e3 * mae_mean:.2f} meV")
    assert mae < 5e-3, mae  # measured 3.2 meV
    assert eig_mae < 0.03, eig_mae  # measured 16.5 meV
    assert mae < mae_mean / 50, (mae, mae_mean)  # measured: 157x better than the mean matrix

"""Direct surrogate models: symmetry (rotations proper and improper, permutations,
translations), exact total charge, the L = 2 -> Cartesian map, the ridge fit, and a real
fit on QM7 def2-TZVP labels against the trivial mean baseline."""

import dataclasses

import e3nn_jax as e3nn
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from hamlearn.config import FeaturesConfig
from hamlearn.data.structure import Structure
from hamlearn.surrogate import (DipoleModel, PolarizabilityModel, atom_batch, atom_features,
                                cartesian_to_l2, design_matrix, feature_sizes, fit_direct,
                                l2_to_cartesian)
from hamlearn.surrogate.fit import unpenalised_mask
from hamlearn.units import AU_TO_DEBYE

CFG = FeaturesConfig(atom_cutoff_ang=3.0, n_radial=3, l_max=2, nu_onsite=2)
TOL = 1e-10
MODELS = (DipoleModel, PolarizabilityModel)


def random_model(cls, key, cfg=CFG):
    """A model with random weights (features have O(1..10) magnitudes: small weights)."""
    model = cls(len(cfg.species), feature_sizes(cfg, cls.irreps))
    flat, unravel = ravel_pytree(model)
    return unravel(0.05 * jax.random.normal(key, flat.shape, dtype=jnp.float64))


def distorted(mol: Structure, seed: int, charge: int = 0) -> Structure:
    """The molecule with positions moved by ~0.1 Bohr (no symmetry left)."""
    shift = np.random.default_rng(seed).normal(scale=0.1, size=mol.positions.shape)
    return dataclasses.replace(mol, positions=mol.positions + shift, charge=charge)


def predict(model, structures, cfg=CFG):
    af = atom_features(structures, cfg, model.irreps)
    return np.asarray(model.batch(atom_batch(af, range(len(structures)))))


@pytest.fixture(scope="module")
def molecules(small_molecules):
    return [distorted(small_molecules[n], k) for k, n in enumerate(("H2O", "NH3", "CH4"))]


def rotated(s: Structure, rot: np.ndarray) -> Structure:
    return dataclasses.replace(s, positions=s.positions @ rot.T)


@pytest.mark.parametrize("improper", [False, True])
@pytest.mark.parametrize("cls", MODELS)
def test_rotation_equivariance(cls, improper, molecules, getkey):
    model = random_model(cls, getkey())
    rot = np.asarray(e3nn.rand_matrix(getkey(), (), dtype=jnp.float64))
    rot = -rot if improper else rot
    out = predict(model, molecules)
    out_rot = predict(model, [rotated(s, rot) for s in molecules])
    want = out @ rot.T if cls is DipoleModel else rot @ out @ rot.T
    assert np.abs(out).max() > 1e-2  # not trivially zero
    np.testing.assert_allclose(out_rot, want, atol=TOL * np.abs(out).max(), rtol=0)


@pytest.mark.parametrize("cls", MODELS)
def test_permutation_and_translation_invariance(cls, molecules, getkey):
    model = random_model(cls, getkey())
    perm = [dataclasses.replace(s, numbers=s.numbers[p], positions=s.positions[p])
            for s, p in ((s, np.random.default_rng(3).permutation(s.n_atoms))
                         for s in molecules)]
    moved = [dataclasses.replace(s, positions=s.positions + np.array([3.0, -7.0, 11.0]))
             for s in molecules]
    out = predict(model, molecules)
    for other in (perm, moved):
        np.testing.assert_allclose(predict(model, other), out, atol=1e-10, rtol=0)


@pytest.mark.parametrize("charge", [0, 1, -2])
def test_charges_sum_to_total_charge(charge, molecules, getkey):
    model = random_model(DipoleModel, getkey())
    mols = [dataclasses.replace(s, charge=charge) for s in molecules]
    x = atom_batch(atom_features(mols, CFG, model.irreps), range(3), n_atom_pad=8)
    q = np.asarray(jax.vmap(model.charges)(x))
    np.testing.assert_allclose(q.sum(1), charge, atol=1e-13, rtol=0)
    assert np.all(q[~np.asarray(x.atom_mask)] == 0.0)
    assert np.ptp(q[0, :3]) > 1e-3  # the charges do depend on the environment


def test_charged_dipole_origin_is_the_charge_centre(molecules):
    """Zero weights: every atom carries Q/N, so mu = Q (mean position - charge centre)."""
    s = dataclasses.replace(molecules[0], charge=1)  # H2O+: centroid != charge centre
    model = DipoleModel(len(CFG.species), feature_sizes(CFG, DipoleModel.irreps))
    mu = predict(model, [s])[0]
    z = s.numbers.astype(float)
    want = s.positions.mean(0) - (z @ s.positions) / z.sum()
    assert np.linalg.norm(want) > 0.1
    np.testing.assert_allclose(mu, want, atol=1e-13)
    moved = dataclasses.replace(s, positions=s.positions + 5.0)
    np.testing.assert_allclose(predict(model, [moved])[0], mu, atol=1e-12)


# --------------------------------------------------------------------------- L = 2 map
def test_l2_map_matches_e3nn_symmetric_tensor_basis():
    """e3nn's own change of basis of sym(1o x 1o) = 0e + 2e, independent of our table."""
    q = np.asarray(e3nn.reduced_symmetric_tensor_product_basis("1o", 2).array)[:, :, 1:]
    ours = np.asarray(l2_to_cartesian(jnp.eye(5)))  # (m, 3, 3)
    overlap = np.einsum("mxy,xyn->mn", ours, q)
    # same orthonormal basis up to one global sign
    np.testing.assert_allclose(np.abs(overlap), np.eye(5), atol=1e-12)
    np.testing.assert_allclose(overlap, overlap[0, 0] * np.eye(5), atol=1e-12)


def test_l2_map_of_harmonics_and_equivariance(getkey):
    n = np.asarray(jax.random.normal(getkey(), (7, 3), dtype=jnp.float64))
    n = n / np.linalg.norm(n, axis=1, keepdims=True)
    y2 = e3nn.spherical_harmonics("2e", jnp.asarray(n), normalize=True,
                                  normalization="component").array
    want = np.sqrt(15 / 2) * (n[:, :, None] * n[:, None, :] - np.eye(3) / 3)
    np.testing.assert_allclose(l2_to_cartesian(y2), want, atol=1e-13)
    for improper in (False, True):
        rot = np.asarray(e3nn.rand_matrix(getkey(), (), dtype=jnp.float64)) * (-1) ** improper
        d2 = np.asarray(e3nn.Irreps("2e").D_from_matrix(jnp.asarray(rot)))
        b = np.asarray(jax.random.normal(getkey(), (5,), dtype=jnp.float64))
        np.testing.assert_allclose(l2_to_cartesian(d2 @ b), rot @ l2_to_cartesian(b) @ rot.T,
                                   atol=1e-13)
    t = np.asarray(l2_to_cartesian(jnp.asarray(b)))
    assert abs(np.trace(t)) < 1e-14 and np.allclose(t, t.T)
    np.testing.assert_allclose(cartesian_to_l2(t), b, atol=1e-14)


# --------------------------------------------------------------------------- ridge
@pytest.mark.parametrize("cls", MODELS)
def test_design_matrix_reproduces_the_model(cls, molecules, getkey):
    model = random_model(cls, getkey())
    af = atom_features(molecules, CFG, cls.irreps)
    zero = jax.tree.map(jnp.zeros_like, model)
    a, c = design_matrix(zero, af, range(3))
    theta = np.asarray(ravel_pytree(model)[0])
    np.testing.assert_allclose(a @ theta + c, predict(model, molecules).reshape(3, -1),
                               atol=1e-12)


def test_ridge_offsets_are_unpenalised(small_molecules, getkey):
    """Targets from per-species offsets only: a huge penalty still fits them exactly."""
    mols = [distorted(small_molecules[n], k) for k, n in
            enumerate(("H2O", "NH3", "CH4", "H2O", "NH3", "CH4", "H2"))]
    model = PolarizabilityModel(len(CFG.species), feature_sizes(CFG, PolarizabilityModel.irreps))
    true = eqx.tree_at(lambda m: m.iso_offset, model, jnp.array([2.0, 8.0, 6.0, 5.0]))
    targets = predict(true, mols)
    af = atom_features(mols, CFG, model.irreps)
    fitted, info = fit_direct(model, af, range(len(mols)), targets, [1e6])
    np.testing.assert_allclose(fitted.iso_offset[:3], [2.0, 8.0, 6.0], atol=1e-8)
    assert np.abs(fitted.iso_weights).max() < 1e-3
    assert unpenalised_mask(model).sum() == len(CFG.species)


# --------------------------------------------------------------------------- QM7
@pytest.fixture(scope="module")
def qm7(cookbook_dir):
    from hamlearn.data.cookbook import load_cookbook

    refs = load_cookbook(cookbook_dir, "qm7", ":")
    order = np.random.default_rng(0).permutation(len(refs))
    return refs, order[:100], order[100:]


@pytest.mark.parametrize("cls", MODELS)
def test_qm7_fit_beats_the_mean_baseline(cls, qm7):
    """Train on 100 QM7 molecules (def2-TZVP labels), test on the other 50."""
    refs, train, test = qm7
    cfg = FeaturesConfig(n_radial=4, l_max=3)
    if cls is DipoleModel:
        y = np.array([r.target("def2-tzvp").dipole for r in refs])
    else:
        y = np.array([r.target("def2-tzvp").polarizability("uncoupled") for r in refs])
    af = atom_features([r.structure for r in refs], cfg, cls.irreps)
    model = cls(len(cfg.species), feature_sizes(cfg, cls.irreps))
    # alpha chosen once on a validation split (configs/qm7_direct_*.yaml); one solve here
    model, info = fit_direct(model, af, train, y[train], [1e-2])
    pred = np.asarray(model.batch(atom_batch(af, test)))
    base = np.broadcast_to(y[train].mean(0), pred.shape)
    if cls is DipoleModel:
        mae, mae0 = (np.abs(p - y[test]).mean() * AU_TO_DEBYE for p in (pred, base))
        print(f"\ndipole test MAE {mae:.3f} D (mean baseline {mae0:.3f} D), alpha {info['alpha']}")
        assert mae < 0.3 * mae0
    else:
        iso = np.trace(y[test], axis1=1, axis2=2) / 3
        pct, pct0 = (100 * np.mean(np.abs(np.trace(p, axis1=1, axis2=2) / 3 - iso) / iso)
                     for p in (pred, base))
        print(f"\nalpha test MAE {np.abs(pred - y[test]).mean():.3f} a.u., iso {pct:.2f} % "
              f"(mean baseline {pct0:.2f} %), alpha {info['alpha']}")
        assert pct < 0.2 * pct0

"""Loss terms against numpy, masks respected, and batch fillers ignored by every term."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from hamlearn.config import LossConfig
from hamlearn.data.record import Labels, ModelBasisData, Reference
from hamlearn.data.structure import Structure
from hamlearn.training.losses import loss_terms, masked_mse, weighted_loss
from hamlearn.training.targets import build_targets

ALL = LossConfig(eigenvalues=1.0, gap=1.0, dipole=1.0, polarizability=1.0, matrix=1.0)


def fake_reference(rng, numbers, nmo_target: int, name: str) -> Reference:
    """A Reference with random (but consistent-shape) model-basis data and labels."""
    s = Structure(numbers, rng.normal(size=(len(numbers), 3)) * 2, name=name)
    nao = {1: 1, 8: 5, 7: 5, 6: 5}
    n = sum(nao[z] for z in numbers)
    f = rng.normal(size=(n, n))
    model = ModelBasisData("sto-3g", np.eye(n), np.zeros((3, n, n)), np.zeros(3), f + f.T)
    nocc = s.n_electrons // 2
    a = rng.normal(size=(3, 3))
    lab = Labels("big", np.sort(rng.normal(size=nmo_target)), nocc, rng.normal(size=3),
                 polarizability_uncoupled=a + a.T)
    return Reference(s, "rhf", model, {"big": lab})


def fake_prediction(rng, b, nao_pad):
    f = rng.normal(size=(b, nao_pad, nao_pad))
    a = rng.normal(size=(b, 3, 3))
    return {"mo_energy": jnp.asarray(rng.normal(size=(b, nao_pad))),
            "gap": jnp.asarray(rng.normal(size=b)), "dipole": jnp.asarray(rng.normal(size=(b, 3))),
            "polarizability": jnp.asarray(a + a.swapaxes(1, 2)),
            "fock": jnp.asarray(f + f.swapaxes(1, 2))}


def test_masked_mse_against_numpy(rng):
    pred, tgt = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    mask = rng.random((4, 6)) < 0.5
    ref = np.mean((pred[mask] - tgt[mask]) ** 2)
    assert float(masked_mse(pred, tgt, mask)) == pytest.approx(ref, rel=1e-14)
    # masked-out entries may hold anything, NaN included
    pred[~mask] = np.nan
    assert float(masked_mse(pred, tgt, mask)) == pytest.approx(ref, rel=1e-14)
    assert float(masked_mse(pred, tgt, np.zeros_like(mask))) == 0.0


def test_each_term_against_numpy(rng):
    b, n = 3, 7
    p, t = fake_prediction(rng, b, n), fake_prediction(rng, b, n)
    mol = np.array([True, False, True])
    win = rng.random((b, n)) < 0.6
    ao = np.arange(n)[None, :] < np.array([7, 4, 5])[:, None]
    ref = {
        "eig": np.mean((np.asarray(p["mo_energy"]) - np.asarray(t["mo_energy"]))[win] ** 2),
        "gap": np.mean((np.asarray(p["gap"]) - np.asarray(t["gap"]))[mol] ** 2),
        "dip": np.mean((np.asarray(p["dipole"]) - np.asarray(t["dipole"]))[mol] ** 2),
        "pol": np.mean((np.asarray(p["polarizability"])
                        - np.asarray(t["polarizability"]))[mol] ** 2),
        "mat": np.mean(np.concatenate([
            ((np.asarray(p["fock"][k]) - np.asarray(t["fock"][k]))[:m, :m] ** 2).ravel()
            for k, m in enumerate([7, 4, 5])])),
    }
    pair = ao[:, :, None] & ao[:, None, :]
    tgt = {"eigenvalues": t["mo_energy"], "eigenvalues_mask": win,
           "gap": t["gap"], "gap_mask": mol,
           "dipole": t["dipole"], "dipole_mask": np.repeat(mol[:, None], 3, 1),
           "polarizability": t["polarizability"],
           "polarizability_mask": np.broadcast_to(mol[:, None, None], (b, 3, 3)),
           "matrix": t["fock"], "matrix_mask": pair}
    terms = loss_terms(p, {k: jnp.asarray(v) for k, v in tgt.items()})
    got = {"eig": terms["eigenvalues"], "gap": terms["gap"], "dip": terms["dipole"],
           "pol": terms["polarizability"], "mat": terms["matrix"]}
    for k in ref:
        assert float(got[k]) == pytest.approx(ref[k], rel=1e-13), k


def test_weighted_loss_skips_zero_weights():
    terms = {"eigenvalues": jnp.asarray(2.0), "dipole": jnp.asarray(3.0), "gap": jnp.asarray(5.0)}
    total = weighted_loss(terms, {"eigenvalues": 0.5, "dipole": 2.0, "gap": 0.0},
                          {"eigenvalues": 4.0, "dipole": 1.5})  # no scale needed for gap
    assert float(total) == pytest.approx(0.5 * 2 / 4 + 2 * 3 / 1.5)


def test_fillers_do_not_change_any_term(rng):
    """[A, B] and [A, B, A-filler, A-filler] (Batcher's filling) give the same terms."""
    refs = [fake_reference(rng, [8, 1, 1], 13, "water-like"),
            fake_reference(rng, [6, 1, 1, 1, 1], 17, "methane-like")]
    nao_pad = 12
    real = build_targets(refs, nao_pad, ALL, "big")
    padded = build_targets(refs + [refs[0]] * 2, nao_pad, ALL, "big",
                           mol_mask=np.array([True, True, False, False]))
    p = fake_prediction(rng, 2, nao_pad)
    # the filler predictions equal molecule A's (same inputs), as in a real batch
    p4 = {k: jnp.concatenate([v, v[:1], v[:1]]) for k, v in p.items()}
    t2 = loss_terms(p, {k: jnp.asarray(v) for k, v in real.items()})
    t4 = loss_terms(p4, {k: jnp.asarray(v) for k, v in padded.items()})
    assert set(t2) == set(t4) == {"eigenvalues", "gap", "dipole", "polarizability", "matrix"}
    for k in t2:
        assert float(t4[k]) == pytest.approx(float(t2[k]), rel=1e-13), k


def test_per_atom_normalisation_is_the_papers_mse_per_atom(rng):
    """``normalise: per_atom`` (arXiv:2504.01187's ``mse_per_atom``) against numpy written
    from the cookbook's formula: per molecule the mean squared error over its MO energies,
    the summed squared dipole / polarizability error over N_atoms^2; mean over molecules.
    Fillers and molecules without a label do not count."""
    loss = LossConfig(eigenvalues=1.0, dipole=1.0, polarizability=1.0, gap=1.0,
                      eig_window="occ+k", n_virtual=1, normalise="per_atom")
    refs = [fake_reference(rng, [8, 1, 1], 13, "water-like"),
            fake_reference(rng, [6, 6, 1, 1], 20, "acetylene-like"),
            fake_reference(rng, [7, 1, 1, 1], 15, "ammonia-like")]
    refs[2].labels["big"] = dataclasses.replace(refs[2].labels["big"], dipole=None)
    nao_pad = 12
    mol_mask = np.array([True, True, True, False])
    tgt = build_targets(refs + [refs[0]], nao_pad, loss, "big", mol_mask=mol_mask)
    p = fake_prediction(rng, 4, nao_pad)
    p["gap"] = jnp.asarray(rng.normal(size=4))
    terms = loss_terms(p, {k: jnp.asarray(v) for k, v in tgt.items()})

    eig, dip, pol = [], [], []
    for k, r in enumerate(refs):
        lab, n_at = r.labels["big"], len(r.structure.numbers)
        n = r.nocc + 1
        eig.append(np.mean((np.asarray(p["mo_energy"][k, :n]) - lab.mo_energy[:n]) ** 2))
        if lab.dipole is not None:
            dip.append(np.sum((np.asarray(p["dipole"][k]) - lab.dipole) ** 2) / n_at**2)
        pol.append(np.sum((np.asarray(p["polarizability"][k])
                           - lab.polarizability_uncoupled) ** 2) / n_at**2)
    assert float(terms["eigenvalues"]) == pytest.approx(np.mean(eig), rel=1e-13)
    assert float(terms["dipole"]) == pytest.approx(np.mean(dip), rel=1e-13)  # 2 molecules
    assert float(terms["polarizability"]) == pytest.approx(np.mean(pol), rel=1e-13)
    gaps = [r.labels["big"].gap for r in refs]
    assert float(terms["gap"]) == pytest.approx(np.mean((np.asarray(p["gap"][:3]) - gaps) ** 2),
                                                rel=1e-13)
    # the per-molecule mean differs from the pooled MSE when molecules differ in size
    pooled = build_targets(refs, nao_pad, dataclasses.replace(loss, normalise="initial"), "big")
    t_pooled = loss_terms({k: v[:3] for k, v in p.items()},
                          {k: jnp.asarray(v) for k, v in pooled.items()})
    assert abs(float(t_pooled["eigenvalues"]) - float(terms["eigenvalues"])) > 1e-6

"""build_targets: eigenvalue windows ('all', 'occ+k'), padding and filler masks."""

import numpy as np
import pytest
from test_losses import fake_reference

from hamlearn.config import LossConfig
from hamlearn.training.targets import build_targets, window_size


@pytest.fixture
def refs(rng):
    # water-like: 7 model AOs, nocc 5, 13 target MOs; H2-like: 2 AOs, nocc 1, 3 target MOs
    return [fake_reference(rng, [8, 1, 1], 13, "w"), fake_reference(rng, [1, 1], 3, "h2")]


@pytest.mark.parametrize(("window", "n_virtual", "sizes"),
                         [("all", 0, (7, 2)), ("occ+k", 0, (5, 1)), ("occ+k", 1, (6, 2)),
                          ("occ+k", 4, (7, 2))])  # never more than the model's AOs
def test_window_sizes(refs, window, n_virtual, sizes):
    loss = LossConfig(eig_window=window, n_virtual=n_virtual)
    assert tuple(window_size(r, r.model.nao, loss, "big") for r in refs) == sizes
    tgt = build_targets(refs, 8, loss, "big")
    for k, (r, n) in enumerate(zip(refs, sizes)):
        np.testing.assert_array_equal(tgt["eig_window"][k], np.arange(8) < n)
        np.testing.assert_array_equal(tgt["mo_energy"][k, :n], r.target("big").mo_energy[:n])
        np.testing.assert_array_equal(tgt["mo_energy"][k, n:], 0.0)


def test_window_never_exceeds_the_reference_basis(rng):
    small = fake_reference(rng, [8, 1, 1], 6, "w")  # 6 target MOs < 7 model AOs
    assert window_size(small, 7, LossConfig(eig_window="all"), "big") == 6


def test_padding_and_filler_masks(refs):
    loss = LossConfig(eigenvalues=1.0, gap=1.0, dipole=1.0, polarizability=1.0, matrix=1.0)
    batch = refs + [refs[0]]  # Batcher fills with the first molecule
    tgt = build_targets(batch, 8, loss, "big", mol_mask=np.array([True, True, False]))
    np.testing.assert_array_equal(tgt["mol_mask"], [True, True, False])
    np.testing.assert_array_equal(tgt["ao_mask"][0], np.arange(8) < 7)
    np.testing.assert_array_equal(tgt["ao_mask"][1], np.arange(8) < 2)
    assert not tgt["ao_mask"][2].any()  # the filler has no AOs in the loss
    assert not tgt["eig_window"][2].any()
    np.testing.assert_array_equal(tgt["fock"][1, :2, :2], refs[1].model.fock)
    np.testing.assert_array_equal(tgt["fock"][1, 2:], 0.0)
    np.testing.assert_array_equal(tgt["dipole"][:2], [r.target("big").dipole for r in refs])


def test_only_weighted_targets_are_built(refs):
    tgt = build_targets(refs, 8, LossConfig(eigenvalues=0.0, dipole=1.0), "big")
    assert set(tgt) == {"mol_mask", "ao_mask", "dipole"}


def test_matrix_loss_needs_the_model_fock(rng):
    import dataclasses

    r = fake_reference(rng, [1, 1], 3, "h2")
    r = dataclasses.replace(r, model=dataclasses.replace(r.model, fock=None))
    with pytest.raises(ValueError, match="h2: matrix loss needs"):
        build_targets([r], 4, LossConfig(matrix=1.0), "big")

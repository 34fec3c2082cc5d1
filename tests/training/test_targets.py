"""build_targets: eigenvalue windows ('all', 'occ+k'), padding and filler masks."""

import numpy as np
import pytest
from test_losses import fake_reference

from hamlearn.config import LossConfig
from hamlearn.training.targets import build_targets, check_labels, window_size


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
        np.testing.assert_array_equal(tgt["eigenvalues_mask"][k], np.arange(8) < n)
        np.testing.assert_array_equal(tgt["eigenvalues"][k, :n], r.target("big").mo_energy[:n])
        np.testing.assert_array_equal(tgt["eigenvalues"][k, n:], 0.0)


def test_window_never_exceeds_the_reference_basis(rng):
    small = fake_reference(rng, [8, 1, 1], 6, "w")  # 6 target MOs < 7 model AOs
    assert window_size(small, 7, LossConfig(eig_window="all"), "big") == 6


def test_padding_and_filler_masks(refs):
    loss = LossConfig(eigenvalues=1.0, gap=1.0, dipole=1.0, polarizability=1.0, matrix=1.0)
    batch = refs + [refs[0]]  # Batcher fills with the first molecule
    tgt = build_targets(batch, 8, loss, "big", mol_mask=np.array([True, True, False]))
    np.testing.assert_array_equal(tgt["mol_mask"], [True, True, False])
    pair = lambda n: (np.arange(8) < n)[:, None] & (np.arange(8) < n)[None, :]  # noqa: E731
    np.testing.assert_array_equal(tgt["matrix_mask"][0], pair(7))
    np.testing.assert_array_equal(tgt["matrix_mask"][1], pair(2))
    for name in ("matrix", "eigenvalues", "gap", "dipole", "polarizability"):
        assert not tgt[f"{name}_mask"][2].any(), name  # the filler is in no term
        assert tgt[f"{name}_mask"][:2].any(), name
    np.testing.assert_array_equal(tgt["matrix"][1, :2, :2], refs[1].model.fock)
    np.testing.assert_array_equal(tgt["matrix"][1, 2:], 0.0)
    np.testing.assert_array_equal(tgt["dipole"][:2], [r.target("big").dipole for r in refs])


def test_only_weighted_targets_are_built(refs):
    tgt = build_targets(refs, 8, LossConfig(eigenvalues=0.0, dipole=1.0), "big")
    assert set(tgt) == {"mol_mask", "dipole", "dipole_mask"}


def test_missing_labels_are_masked_per_molecule_and_target(rng):
    """A molecule without the Fock (or without the polarizability) drops out of that term
    only; a weighted target no molecule has is refused by check_labels."""
    import dataclasses

    a, b = fake_reference(rng, [1, 1], 3, "h2"), fake_reference(rng, [8, 1, 1], 13, "w")
    a = dataclasses.replace(a, model=dataclasses.replace(a.model, fock=None))
    lab = dataclasses.replace(b.target("big"), polarizability_uncoupled=None)
    b = dataclasses.replace(b, labels={"big": lab})
    loss = LossConfig(matrix=1.0, polarizability=1.0, dipole=1.0)
    tgt = build_targets([a, b], 8, loss, "big")
    assert not tgt["matrix_mask"][0].any() and tgt["matrix_mask"][1].any()
    assert tgt["polarizability_mask"][0].all() and not tgt["polarizability_mask"][1].any()
    assert tgt["dipole_mask"].all()
    assert check_labels([a, b], loss, "big") == {"eigenvalues": 2, "dipole": 2,
                                                 "polarizability": 1, "matrix": 1}
    with pytest.raises(ValueError, match="train.loss.matrix has weight 1 but no training"):
        check_labels([a], LossConfig(matrix=1.0), "big")


def test_every_target_has_a_loss_weight_and_back():
    import dataclasses

    from hamlearn.config import LOSS_WEIGHTS
    from hamlearn.training.targets import TARGETS

    fields = {f.name for f in dataclasses.fields(LossConfig)}
    assert [t.name for t in TARGETS] == list(LOSS_WEIGHTS)
    assert set(LOSS_WEIGHTS) <= fields
    assert fields - set(LOSS_WEIGHTS) == {"eig_window", "n_virtual", "polarizability_kind",
                                          "normalise", "n_excitations", "excitation_n_occ",
                                          "excitation_n_virt", "excitation_ax",
                                          "spectrum_width_ev", "spectrum_min_ev",
                                          "spectrum_max_ev", "spectrum_points"}

"""TDA excitation labels (`data.excitations`): pyscf's own TDA on the same SCF, stored per
basis, kept by the cache, part of the cache key; a request the molecule cannot meet fails
with its name."""

import ase.build
import numpy as np
import pytest

from hamlearn.data.cache import cache_key, reference_from_arrays, reference_to_arrays
from hamlearn.data.reference import ReferenceDataError, ReferenceSettings, compute_reference
from hamlearn.data.structure import Structure

SETTINGS = ReferenceSettings(method="b3lyp", target_bases=("6-31g",), grid_level=1,
                             polarizability=("uncoupled",), conv_tol=1e-10, excitations=3)


@pytest.fixture(scope="module")
def water():
    s = Structure.from_atoms(ase.build.molecule("H2O"), name="water")
    return s, compute_reference(s, SETTINGS)


def test_excitations_are_pyscfs_tda_of_each_basis(water):
    from pyscf import dft, gto

    s, ref = water
    for basis in ("sto-3g", "6-31g"):
        mol = gto.M(atom=s.pyscf_atom(), unit="Bohr", basis=basis, verbose=0)
        mf = dft.RKS(mol, xc="b3lyp")
        mf.grids.level, mf.conv_tol = 1, 1e-10
        mf.kernel()
        td = mf.TDA()
        td.nstates = 3
        td.kernel()
        lab = ref.labels[basis]
        np.testing.assert_allclose(lab.excitation_energies, td.e, atol=1e-6)
        np.testing.assert_allclose(lab.oscillator_strengths,
                                   td.oscillator_strength(gauge="length"), atol=1e-6)
        # transition dipoles up to each state's sign; f = 2/3 w |d|^2
        np.testing.assert_allclose(np.abs(lab.transition_dipoles),
                                   np.abs(td.transition_dipole()), atol=1e-5)
        np.testing.assert_allclose(lab.oscillator_strengths, 2 / 3 * lab.excitation_energies
                                   * np.sum(lab.transition_dipoles**2, axis=1), atol=1e-10)
    # physics: the larger basis lowers the excitations (valence states of water ~7-10 eV)
    assert np.all(ref.labels["6-31g"].excitation_energies < ref.labels["sto-3g"]
                  .excitation_energies)


def test_excitation_labels_survive_the_cache_and_change_its_key(water):
    s, ref = water
    back = reference_from_arrays(reference_to_arrays(ref))
    for basis, lab in ref.labels.items():
        for name in ("excitation_energies", "oscillator_strengths", "transition_dipoles"):
            np.testing.assert_array_equal(getattr(back.labels[basis], name), getattr(lab, name))
    import dataclasses

    plain = dataclasses.replace(SETTINGS, excitations=0)
    assert cache_key(s, plain) != cache_key(s, SETTINGS)
    assert cache_key(s, dataclasses.replace(SETTINGS, excitations=4)) != cache_key(s, SETTINGS)
    assert compute_reference(s, dataclasses.replace(plain, target_bases=())).labels[
        "sto-3g"].excitation_energies is None


def test_more_states_than_excitations_names_the_molecule():
    h2 = Structure.from_atoms(ase.build.molecule("H2"), name="hydrogen")  # 1 x 1 pair
    bad = ReferenceSettings(method="rhf", target_bases=(), excitations=2)
    with pytest.raises(ReferenceDataError, match=r"hydrogen \(sto-3g\).*1 excitations"):
        compute_reference(h2, bad)


def test_small_spaces_are_diagonalised_exactly_like_davidson(monkeypatch):
    """Up to FULL_TDA_PAIRS pairs the A matrix is diagonalised whole (Davidson stalls on
    NH3/STO-3G's degenerate E states); where Davidson converges the two agree."""
    from hamlearn.data import reference
    from hamlearn.data.reference import run_scf, tda_excitations

    s = Structure.from_atoms(ase.build.molecule("HCOOH"), name="formic acid")
    mf = run_scf(s, "sto-3g", SETTINGS)
    full = tda_excitations(mf, 4)
    monkeypatch.setattr(reference, "FULL_TDA_PAIRS", 0)
    davidson = tda_excitations(mf, 4)
    for key in ("excitation_energies", "oscillator_strengths"):
        np.testing.assert_allclose(full[key], davidson[key], atol=1e-8)
    np.testing.assert_allclose(np.abs(full["transition_dipoles"]),
                               np.abs(davidson["transition_dipoles"]), atol=1e-5)

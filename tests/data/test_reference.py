"""One molecule's reference against pyscf run directly, finite fields, and bad inputs."""

import dataclasses

import numpy as np
import pyscf
import pyscf.dft
import pyscf.gto
import pyscf.scf
import pytest
import scipy.linalg

from hamlearn.data.reference import (ReferenceDataError, ReferenceSettings, compute_reference,
                                     run_scf)
from hamlearn.data.structure import Structure

TOL_E = 1e-6  # Hartree: pyscf's mo_energy vs ours (one more diagonalisation at conv_tol 1e-11)
TOL_EXACT = 1e-10
RHF = ReferenceSettings(method="rhf", target_bases=("6-31g",), polarizability=("uncoupled",))


def pyscf_mf(structure, basis, xc=None, conv_tol=1e-11, grid_level=3):
    mol = pyscf.gto.M(atom=structure.pyscf_atom(), unit="Bohr", basis=basis,
                      charge=structure.charge, verbose=0)
    mf = pyscf.scf.RHF(mol) if xc is None else pyscf.dft.RKS(mol, xc=xc)
    if xc is not None:
        mf.grids.level = grid_level
    mf._chkfile.close()  # pyscf's temporary chkfile, else a ResourceWarning at gc time
    mf.chkfile = None
    mf.conv_tol = conv_tol
    mf.kernel()
    assert mf.converged
    return mf


@pytest.fixture(scope="module")
def water_b3lyp(small_molecules):
    settings = ReferenceSettings(method="b3lyp", target_bases=("6-31g",), grid_level=3,
                                 polarizability=("uncoupled",))
    return compute_reference(small_molecules["H2O"], settings)


@pytest.mark.parametrize("basis", ["sto-3g", "6-31g"])
def test_b3lyp_labels_match_pyscf(water_b3lyp, small_molecules, basis):
    mf = pyscf_mf(small_molecules["H2O"], basis, xc="b3lyp")
    lab = water_b3lyp.target(basis)
    np.testing.assert_allclose(lab.mo_energy, mf.mo_energy, rtol=0, atol=TOL_E)
    assert lab.nocc == 5 and abs(lab.e_tot - mf.e_tot) < 1e-9
    np.testing.assert_allclose(lab.dipole, mf.dip_moment(unit="AU", verbose=0), atol=1e-6)


def test_model_basis_matrices_match_pyscf(water_b3lyp, small_molecules):
    s = small_molecules["H2O"]
    mf = pyscf_mf(s, "sto-3g", xc="b3lyp")
    model = water_b3lyp.model
    np.testing.assert_allclose(model.ovlp, mf.mol.intor("int1e_ovlp"), rtol=0, atol=1e-15)
    np.testing.assert_allclose(model.fock, mf.get_fock(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.origin, s.charge_centre(), rtol=0, atol=1e-15)
    with mf.mol.with_common_orig(s.charge_centre()):
        np.testing.assert_allclose(model.dip_ints, mf.mol.intor("int1e_r"), rtol=0, atol=1e-14)


def test_model_labels_are_an_exact_function_of_stored_fock(water_b3lyp):
    model, lab = water_b3lyp.model, water_b3lyp.target("sto-3g")
    e, c = scipy.linalg.eigh(model.fock, model.ovlp)
    np.testing.assert_allclose(lab.mo_energy, e, rtol=0, atol=TOL_EXACT)
    dm = 2 * c[:, :lab.nocc] @ c[:, :lab.nocc].T
    np.testing.assert_allclose(lab.dipole, -np.einsum("xij,ji->x", model.dip_ints, dm),
                               atol=TOL_EXACT)  # nuclear term is 0 about the charge centre


def test_meta_records_settings_and_pyscf_version(water_b3lyp):
    meta = water_b3lyp.meta
    assert meta["settings"]["pyscf_version"] == pyscf.__version__
    assert meta["settings"]["conv_tol"] == 1e-11 and meta["settings"]["grid_level"] == 3
    assert set(meta["timings"]) == {"sto-3g", "6-31g"} and water_b3lyp.method == "b3lyp"


def test_uncoupled_polarizability_matches_pyscf_properties(small_molecules):
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Module .* is under testing")
        from pyscf.prop.polarizability.rhf import Polarizability
    s = small_molecules["NH3"]
    ref = compute_reference(s, RHF)
    mf = pyscf_mf(s, "6-31g")
    expected = Polarizability(mf).polarizability(with_cphf=False)
    got = ref.target("6-31g").polarizability("uncoupled")
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)


def test_coupled_polarizability_matches_finite_field(small_molecules):
    """alpha = d mu / d E by central differences of field-dependent RHF SCFs."""
    s = small_molecules["H2O"]
    settings = dataclasses.replace(RHF, target_bases=(), polarizability=("coupled",))
    alpha = compute_reference(s, settings).target("sto-3g").polarizability("coupled")
    mf = pyscf_mf(s, "sto-3g", conv_tol=1e-13)
    h1, r = mf.get_hcore(), mf.mol.intor("int1e_r")
    step, fd = 1e-4, np.zeros((3, 3))
    for x in range(3):
        mus = []
        for sign in (1, -1):
            mf.get_hcore = lambda *a, e=sign * step, x=x: h1 + e * r[x]
            mf.kernel()
            mus.append(mf.dip_moment(unit="AU", verbose=0))
        fd[:, x] = (mus[0] - mus[1]) / (2 * step)  # electrons feel +E.r: mu grows along E
    np.testing.assert_allclose(alpha, fd, rtol=0, atol=2e-4 * np.abs(fd).max())


def test_charged_dipole_is_about_the_charge_centre(small_molecules):
    """For an ion the dipole depends on the origin: ours is about the nuclear charge centre,
    so it is translation invariant and equals pyscf's when that centre is at the origin."""
    s = dataclasses.replace(small_molecules["H2O"], charge=-2, name="H2O2-")
    settings = dataclasses.replace(RHF, target_bases=())
    moved = dataclasses.replace(s, positions=s.positions + np.array([1.0, -2.0, 0.5]))
    centred = dataclasses.replace(s, positions=s.positions - s.charge_centre())
    d1 = compute_reference(s, settings).target("sto-3g").dipole
    d2 = compute_reference(moved, settings).target("sto-3g").dipole
    np.testing.assert_allclose(d1, d2, atol=1e-7)
    expected = pyscf_mf(centred, "sto-3g").dip_moment(unit="AU", verbose=0)
    np.testing.assert_allclose(d1, expected, atol=1e-7)
    assert np.abs(d1).max() > 0.1


def _bad(name, numbers, positions_bohr, **kw):
    return Structure(numbers=numbers, positions=positions_bohr, name=name, **kw)


@pytest.mark.parametrize("structure, reason", [
    (_bad("UH2", [92, 1, 1], [[0, 0, 0], [0, 0, 3.5], [0, 3.5, 0]]), "basis 'sto-3g' has no entry for .*U"),
    (_bad("clash", [1, 1], [[0, 0, 0], [0, 0, 0.1]]), r"atoms 0 \(H\) and 1 \(H\) are 0.0529"),
    (_bad("nan", [1, 1], [[0, 0, 0], [0, np.nan, 1.4]]), "non-finite"),
    (_bad("inf", [1, 1], [[0, 0, 0], [0, 0, np.inf]]), "non-finite"),
    (_bad("OH radical", [8, 1], [[0, 0, 0], [0, 0, 1.8]]), "odd electron count 9 with spin=0"),
    (_bad("triplet O2", [8, 8], [[0, 0, 0], [0, 0, 2.3]], spin=2), "open shell"),
])
def test_bad_inputs_name_molecule_and_reason(structure, reason):
    with pytest.raises(ReferenceDataError, match=rf"^{structure.name}: .*{reason}"):
        compute_reference(structure, RHF)


def test_scf_not_converging_is_an_error(small_molecules):
    settings = dataclasses.replace(RHF, max_cycle=2)
    with pytest.raises(ReferenceDataError, match=r"^H2O: rhf SCF in sto-3g did not converge"):
        run_scf(small_molecules["H2O"], "sto-3g", settings)


def test_settings_are_checked():
    with pytest.raises(ReferenceDataError, match="data.method: 'b3lpy'"):
        ReferenceSettings(method="b3lpy")
    with pytest.raises(ReferenceDataError, match="data.polarizability: unknown kind"):
        ReferenceSettings(polarizability=("static",))
    assert ReferenceSettings(model_basis="STO-3G", target_bases=("sto-3g", "def2-SVP")).bases == (
        "sto-3g", "def2-svp")

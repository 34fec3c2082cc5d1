"""The size series (hamlearn.data.size_series): SMILES, shipped geometries, shipped labels."""

import numpy as np
import pytest

from hamlearn.data import size_series as ss
from hamlearn.data.sources import SourceError


def test_members_have_the_formulas_of_their_families():
    from rdkit import Chem

    for fam, n in ss.members():
        mol = Chem.AddHs(Chem.MolFromSmiles(ss.series_smiles(fam, n)))
        counts = {}
        for a in mol.GetAtoms():
            counts[a.GetSymbol()] = counts.get(a.GetSymbol(), 0) + 1
        want = {"polyene": {"C": 2 * n, "H": 2 * n + 2},
                "acene": {"C": 4 * n + 2, "H": 2 * n + 4},
                "polyenoic_acid": {"C": 2 * n + 1, "H": 2 * n + 2, "O": 2}}[fam]
        assert counts == want, (fam, n)
        assert mol.GetNumAtoms() == ss.n_atoms(fam, n)
    assert max(ss.n_atoms(f, n) for f, n in ss.members()) >= 40


def test_shipped_geometries_are_the_rdkit_ones_and_planar_all_trans():
    shipped = ss.shipped_structures()
    fresh = ss.build_structures()
    assert [s.name for s in shipped] == [s.name for s in fresh]
    for a, b in zip(shipped, fresh):
        np.testing.assert_array_equal(a.numbers, b.numbers)
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-6)  # xyz: 1e-8 Angstrom
    chains = {}
    for s in shipped:
        x = s.positions - s.positions.mean(0)
        assert np.linalg.svd(x, compute_uv=False)[-1] < 0.05, s.name  # planar
        fam, _ = ss.parse_name(s.name)
        heavy = s.positions[s.numbers > 1]
        chains.setdefault(fam, []).append(
            np.linalg.norm(heavy[:, None] - heavy[None], axis=-1).max())
    # all-trans: each unit adds the same length (a cis kink would shorten the chain)
    for fam in ("polyene", "polyenoic_acid"):
        steps = np.diff(chains[fam])
        assert np.all(np.abs(steps - steps.mean()) < 0.5), (fam, steps)  # Bohr; a kink: ~2


def test_bad_members_are_refused():
    with pytest.raises(SourceError, match="unknown family"):
        ss.series_smiles("polyyne", 3)
    with pytest.raises(SourceError, match="n >= 2"):
        ss.series_smiles("polyene", 1)
    with pytest.raises(SourceError, match="acenes up to"):
        ss.series_smiles("acene", 9)
    with pytest.raises(SourceError, match="not a member name"):
        ss.parse_name("polyene5")
    assert [m for m in ss.members(["acene"], max_atoms=24)] == [("acene", 1), ("acene", 2),
                                                                ("acene", 3)]


def test_shipped_labels_are_physical():
    """Closed-shell counts, ascending MOs, zero dipole of the centrosymmetric members,
    symmetric positive definite polarizabilities growing with the chain."""
    labels = ss.shipped_labels()
    structures = {s.name: s for s in ss.shipped_structures()}
    assert len(labels) >= 12 and set(labels) <= set(structures)
    iso = {}
    for name, lab in labels.items():
        s = structures[name]
        assert lab.source == ss.SOURCE and lab.basis == ss.BASIS
        assert 2 * lab.nocc == int(s.numbers.sum())
        assert np.all(np.diff(lab.mo_energy) >= 0) and lab.gap > 0
        fam, n = ss.parse_name(name)
        if fam in ("polyene", "acene"):  # inversion centre (C2h, D2h): no dipole
            assert np.linalg.norm(lab.dipole) < 2e-3, name
        else:
            assert np.linalg.norm(lab.dipole) > 0.3, name
        for kind in ("uncoupled", "coupled"):
            a = lab.polarizability(kind)
            np.testing.assert_allclose(a, a.T, atol=1e-6 * np.abs(a).max())
            assert np.linalg.eigvalsh(a).min() > 0
        iso.setdefault(fam, []).append((n, np.trace(lab.polarizability("coupled")) / 3,
                                        lab.gap))
    for fam, rows in iso.items():
        rows.sort()
        assert np.all(np.diff([r[1] for r in rows]) > 0), fam  # alpha grows with size
        assert np.all(np.diff([r[2] for r in rows]) < 0), fam  # the gap closes


@pytest.mark.slow
def test_shipped_label_equals_pyscf_recomputed_here():
    """Acrylic acid (the smallest member) through pyscf directly, at the settings the
    labels were computed with: the shipped MO energies, dipole and polarizabilities."""
    import warnings

    import scipy.linalg
    from pyscf import dft, gto
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Module .* is under testing")
        from pyscf.prop.polarizability.rhf import Polarizability

    s = {x.name: x for x in ss.shipped_structures()}["polyenoic_acid_1"]
    lab = ss.shipped_labels()["polyenoic_acid_1"]
    st = ss.meta()["settings"]
    mol = gto.M(atom=s.pyscf_atom(), unit="Bohr", basis=ss.BASIS, verbose=0)
    mf = dft.RKS(mol, xc="b3lyp").density_fit()
    mf.grids.level = st["grid_level"]
    mf.conv_tol = st["conv_tol"]
    mf.kernel()
    e = scipy.linalg.eigh(mf.get_fock(), mf.get_ovlp(), eigvals_only=True)
    np.testing.assert_allclose(lab.mo_energy, e, atol=1e-6)
    np.testing.assert_allclose(lab.dipole, mf.dip_moment(unit="AU", verbose=0), atol=1e-5)
    pol = Polarizability(mf)
    np.testing.assert_allclose(lab.polarizability_coupled, pol.polarizability(), atol=1e-4)
    np.testing.assert_allclose(lab.polarizability_uncoupled,
                               pol.polarizability(with_cphf=False), atol=1e-4)

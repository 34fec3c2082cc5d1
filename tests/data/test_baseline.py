"""Baseline Hamiltonians of delta learning against their definitions: the atomic-density
Fock against explicit integrals and pyscf's own guess Fock, extended Hueckel against its
formula, the SCF baseline against the SCF; rotation covariance; the cache."""

import ase.build
import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.transform import Rotation

from hamlearn.data.baseline import baseline_focks, huckel_baseline, sad_density, sad_fock
from hamlearn.data.record import Reference
from hamlearn.data.reference import ReferenceSettings, model_basis_data, run_scf, scf_object
from hamlearn.data.structure import Structure
from hamlearn.errors import DatasetError

RHF = ReferenceSettings(method="rhf", target_bases=(), conv_tol=1e-10)
B3LYP = ReferenceSettings(method="b3lyp", target_bases=(), conv_tol=1e-10, grid_level=1)


def _mol(name="CH3OH") -> Structure:
    return Structure.from_atoms(ase.build.molecule(name))


def _ref(s: Structure, fock=None) -> Reference:
    return Reference(structure=s, method="rhf", model=model_basis_data(s, "sto-3g", fock=fock),
                     labels={})


def test_sad_density_is_a_superposition_of_neutral_atoms():
    s = _mol()
    mf = scf_object(s, "sto-3g", RHF)
    d0 = sad_density(mf)
    mol = mf.mol
    atom_of = np.array([a for a, *_ in mol.ao_labels(fmt=False)])
    off_atom = atom_of[:, None] != atom_of[None, :]
    assert np.abs(d0[off_atom]).max() == 0.0  # no density shared between atoms
    ovlp = mol.intor("int1e_ovlp")
    for a, z in enumerate(s.numbers):  # each atom holds its own Z electrons
        on = atom_of == a
        assert np.trace(d0[np.ix_(on, on)] @ ovlp[np.ix_(on, on)]) == pytest.approx(z, abs=1e-8)


def test_sad_fock_is_h_plus_j_minus_half_k_of_the_atomic_density():
    s = _mol("H2O")
    mf = scf_object(s, "sto-3g", RHF)
    mol = mf.mol
    d0 = sad_density(mf)
    eri = mol.intor("int2e")  # (ij|kl), explicit four-index integrals
    hcore = mol.intor("int1e_kin") + mol.intor("int1e_nuc")
    expect = (hcore + np.einsum("ijkl,kl->ij", eri, d0)
              - 0.5 * np.einsum("ikjl,kl->ij", eri, d0))
    np.testing.assert_allclose(sad_fock(s, RHF), expect, atol=1e-10)


@pytest.mark.filterwarnings("ignore:remove_linear_dep_ is deprecated:DeprecationWarning")
def test_sad_fock_is_pyscfs_atom_guess_fock_for_b3lyp():
    s = _mol()
    mf = run_scf(s, "sto-3g", B3LYP)
    guess = mf.get_init_guess(key="atom")
    np.testing.assert_allclose(sad_fock(s, B3LYP), mf.get_fock(dm=guess), atol=1e-10)
    # a baseline, not the answer: well away from the converged Fock, far closer than zero
    diff = np.abs(sad_fock(s, B3LYP) - mf.get_fock()).max()
    assert 1e-3 < diff < 0.5 * np.abs(mf.get_fock()).max()


def test_sad_fock_spectrum_is_rotation_invariant():
    s = _mol()
    rot = Rotation.random(random_state=3).as_matrix()
    r = Structure(numbers=s.numbers, positions=s.positions @ rot.T)
    ev = []
    for st in (s, r):
        ovlp = model_basis_data(st, "sto-3g").ovlp
        f = sad_fock(st, RHF)
        ev.append(np.linalg.eigvalsh(np.linalg.solve(np.linalg.cholesky(ovlp),
                                                     np.linalg.solve(np.linalg.cholesky(ovlp),
                                                                     f).T)))
    np.testing.assert_allclose(ev[0], ev[1], atol=1e-9)


def test_huckel_baseline_is_the_wolfsberg_helmholz_formula():
    from hamlearn.qm.huckel import ONSITE_HARTREE

    atoms = ase.build.molecule("CH3Cl")
    atoms.numbers[atoms.numbers == 17] = 9  # CH3F (ase has no entry): every tabulated shell
    s = Structure.from_atoms(atoms)
    md = model_basis_data(s, "sto-3g")
    f = huckel_baseline(s, md)
    from hamlearn.data.reference import _mole

    h = [ONSITE_HARTREE[(sym, shell[:2])] for _, sym, shell, _ in
         _mole(s, "sto-3g").ao_labels(fmt=False)]
    for i in range(len(h)):
        for j in range(len(h)):
            want = h[i] if i == j else 1.75 * md.ovlp[i, j] * (h[i] + h[j]) / 2
            assert f[i, j] == pytest.approx(want, abs=1e-14)


def test_scf_baseline_uses_the_reference_fock_or_computes_and_caches_it(tmp_path):
    s = _mol("H2O")
    scf = run_scf(s, "sto-3g", RHF).get_fock()
    given = np.full_like(scf, 0.25)  # a reference's own Fock is taken as it is
    out = baseline_focks([_ref(s, given), _ref(s)], "scf", RHF, tmp_path)
    np.testing.assert_array_equal(out[0], given)
    np.testing.assert_allclose(out[1], scf, atol=1e-7)
    assert len(list(tmp_path.rglob("*.npz"))) == 1  # a reference record of the cache


def test_sad_baseline_cache_roundtrip_and_damage(tmp_path, caplog):
    s = _mol("H2O")
    first = baseline_focks([_ref(s)], "sad", RHF, tmp_path)[0]
    files = list((tmp_path / "baseline-sad").rglob("*.npy"))
    assert len(files) == 1
    np.testing.assert_array_equal(np.load(files[0]), first)
    files[0].write_bytes(b"not a numpy file")
    again = baseline_focks([_ref(s)], "sad", RHF, tmp_path)[0]
    # recomputed, not read: equal to round-off (BLAS threads reorder sums: ~4e-15 measured)
    np.testing.assert_allclose(again, first, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.load(files[0]), again)  # and written back whole
    assert "damaged" in caplog.text
    assert baseline_focks([_ref(s)], "none", RHF, tmp_path) == [None]


def test_unknown_elements_and_kinds_are_named():
    s = Structure.from_atoms(ase.build.molecule("PH3"))
    with pytest.raises(DatasetError, match="P.*huckel|huckel.*P"):
        baseline_focks([_ref(s)], "huckel", RHF)
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_focks([_ref(s)], "xtb", RHF)


# ----------------------------------------------------------------------------- gfn2
def _xtb():
    return pytest.importorskip("tblite.interface", reason="the gfn2 baseline needs tblite "
                               "(pip install -e '.[xtb]', part of the test extra)")


def _rotated(s: Structure, seed: int) -> tuple[Structure, np.ndarray]:
    rot = Rotation.random(random_state=seed).as_matrix()
    return Structure(numbers=s.numbers, positions=s.positions @ rot.T), rot


@pytest.mark.parametrize("name", ["CH3CONH2", "HCOOH"])
def test_gfn2_baseline_spectrum_is_gfn2_xtbs_orbital_energies_plus_core_levels(name):
    _xtb()
    from hamlearn.data.baseline import gfn2_fock, gfn2_result
    from hamlearn.qm.huckel import ONSITE_HARTREE

    s = _mol(name)
    md = model_basis_data(s, "sto-3g")
    w = np.linalg.eigvalsh(np.linalg.solve(np.linalg.cholesky(md.ovlp), np.linalg.solve(
        np.linalg.cholesky(md.ovlp), gfn2_fock(s, md)).T))
    symbols = {6: "C", 7: "N", 8: "O"}
    core = [ONSITE_HARTREE[(symbols[z], "1s")] for z in s.numbers if z > 1]
    xtb = np.asarray(gfn2_result(s).get("orbital-energies"))  # tblite's own SCC levels
    np.testing.assert_allclose(w, np.sort(np.concatenate([xtb, core])), atol=1e-10)


def test_gfn2_baseline_occupies_gfn2_xtbs_orbitals_ao_by_ao():
    """The AO map (xTB's s, p_y, p_z, p_x onto pyscf's valence s, p_x, p_y, p_z): the Loewdin
    populations of F0's occupied orbitals on each valence AO are tblite's own density's."""
    _xtb()
    from hamlearn.data.baseline import _sym_power, gfn2_fock, gfn2_result
    from hamlearn.data.reference import _mole

    s, _ = _rotated(_mol("CH3CONH2"), 5)  # no symmetry: every p population differs
    md = model_basis_data(s, "sto-3g")
    nocc = int(s.numbers.sum()) // 2
    s_ih = _sym_power(md.ovlp, -0.5)
    c = np.linalg.eigh(s_ih @ gfn2_fock(s, md) @ s_ih)[1]
    pop = 2 * np.sum(c[:, :nocc] ** 2, axis=1)  # Loewdin populations per model AO
    mine = {(a, "s" if shell.endswith("s") else comp): pop[k]
            for k, (a, _, shell, comp) in enumerate(_mole(s, "sto-3g").ao_labels(fmt=False))
            if shell != "1s" or s.numbers[a] == 1}  # valence AOs only
    res = gfn2_result(s)
    sx_half = _sym_power(np.asarray(res.get("overlap-matrix")), 0.5)
    pop_x = iter(np.diag(sx_half @ np.asarray(res.get("density-matrix")) @ sx_half))
    xtb = {(a, comp): next(pop_x) for a, z in enumerate(s.numbers)
           for comp in (["s"] if z == 1 else ["s", "y", "z", "x"])}  # tblite's AO order
    assert xtb.keys() == mine.keys()
    for key, p in xtb.items():
        assert mine[key] == pytest.approx(p, abs=1e-9), key
    assert np.ptp([p for (_, c), p in xtb.items() if c in "xyz"]) > 0.1  # p's differ


def test_gfn2_baseline_is_rotation_covariant_and_cached(tmp_path):
    _xtb()
    s = _mol("HCOOH")
    r, rot = _rotated(s, 2)
    out = baseline_focks([_ref(s), _ref(r)], "gfn2", RHF, tmp_path)
    ev = [scipy.linalg.eigh(f, md.ovlp, eigvals_only=True)
          for md, f in zip((model_basis_data(s, "sto-3g"), model_basis_data(r, "sto-3g")), out)]
    np.testing.assert_allclose(ev[0], ev[1], atol=1e-8)
    # p blocks rotate as vectors: the (C 2s, O 2p) block of the rotated molecule is R @ it
    from hamlearn.data.reference import _mole

    labels = _mole(s, "sto-3g").ao_labels(fmt=False)
    c, o = list(s.numbers).index(6), list(s.numbers).index(8)
    c2s = next(k for k, (a, _, sh, _) in enumerate(labels) if a == c and sh == "2s")
    o2p = [k for k, (a, _, sh, _) in enumerate(labels) if a == o and sh == "2p"]
    np.testing.assert_allclose(out[1][c2s, o2p], rot @ out[0][c2s, o2p], atol=1e-7)
    files = list((tmp_path / "baseline-gfn2").rglob("*.npy"))
    assert len(files) == 2
    again = baseline_focks([_ref(s)], "gfn2", RHF, tmp_path)[0]
    np.testing.assert_array_equal(again, out[0])


def test_gfn2_baseline_names_unsupported_elements_and_open_shells():
    _xtb()
    s = Structure.from_atoms(ase.build.molecule("PH3"))
    with pytest.raises(DatasetError, match="element.*15"):
        baseline_focks([_ref(s)], "gfn2", RHF)
    radical = Structure(numbers=np.array([6, 1, 1, 1]), positions=_mol("CH4").positions[:4],
                        spin=1)
    with pytest.raises(DatasetError, match="closed-shell"):
        baseline_focks([_ref(radical)], "gfn2", RHF)

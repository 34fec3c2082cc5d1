"""F from random (non-zero) weights obeys the exact symmetries of a Hamiltonian.

D is the block-diagonal Wigner matrix over the AOs in pyscf order (e3nn D_from_matrix per
shell, mapped with e3nn_to_pyscf); its convention is pinned by pyscf's own overlap. All
structures are featurised and predicted in one padded batch (one compile).
"""

import ase.build
import jax
import numpy as np
import pytest
import scipy.linalg
from symmetry_helpers import (ao_permutation, ao_wigner, overlap, random_rotation,
                              transformed)

from hamlearn.config import FeaturesConfig
from hamlearn.data.structure import Structure
from hamlearn.features import featurize, make_spec
from hamlearn.model import HamiltonianModel, fock_batch, make_batch
from hamlearn.units import ANGSTROM_TO_BOHR

TOL = 1e-10
CFG = FeaturesConfig()
EPS = (1e-2, 1e-3)
ETHANE_PERMS = [np.array([1, 0, 2, 3, 4, 5, 6, 7]),  # swap the two C
                np.array([0, 1, 3, 2, 4, 5, 6, 7]),  # swap two H
                np.random.default_rng(0).permutation(8)]


def chain(d):
    """H - C - O roughly along x; the H-O distance is ``d`` (Bohr)."""
    return Structure([1, 6, 8], [[0, 0, 0], [2.0, 0.3, 0], [d, 0, 0]], name=f"chain{d}")


@pytest.fixture(scope="module", params=[CFG, FeaturesConfig(nu_pair=2)],
                ids=["nu_pair1", "nu_pair2"])
def case(request):
    """Every structure of this module, its predicted F and the transformations used (pair
    features of body order 1, and 2: with the two-centre density product)."""
    cfg = request.param
    model = HamiltonianModel(make_spec(cfg), key=jax.random.PRNGKey(1), scale=1.0, gated=True,
                             gate_scale=0.5)
    mols = [Structure.from_atoms(ase.build.molecule(n), name=n)
            for n in ("CH3CONH2", "CH3CH2OH", "C2H6")]
    rots = {imp: [random_rotation(jax.random.PRNGKey(10 + k + 2 * imp), imp) for k in range(2)]
            for imp in (False, True)}
    structs = {"mol": mols}
    for imp, rr in rots.items():
        structs[f"rot{imp}"] = [transformed(s, r) for s, r in zip(mols[:2], rr)]
    structs["perm"] = [transformed(mols[2], np.eye(3), (3.0, -2.0, 0.5), p) for p in ETHANE_PERMS]
    for which, rc in (("pair", CFG.pair_cutoff_ang), ("atom", CFG.atom_cutoff_ang)):
        rc *= ANGSTROM_TO_BOHR
        structs[which] = [chain(rc + sg * e) for e in EPS for sg in (-1, 1)]
    flat = [s for v in structs.values() for s in v]
    fs = featurize(flat, cfg)
    out = np.asarray(fock_batch(model, make_batch(fs, range(len(flat)))))
    focks, k = {}, 0
    for name, v in structs.items():
        focks[name] = [out[k + j, : fs.nao[k + j], : fs.nao[k + j]] for j in range(len(v))]
        k += len(v)
    return dict(model=model, fs=fs, structs=structs, focks=focks, rots=rots)


@pytest.mark.parametrize("improper", [False, True])
def test_wigner_convention_matches_pyscf_overlap(improper):
    s = Structure.from_atoms(ase.build.molecule("CH3CONH2"))
    rot = random_rotation(jax.random.PRNGKey(5), improper)
    d = ao_wigner(s.numbers, rot)
    np.testing.assert_allclose(overlap(transformed(s, rot)), d @ overlap(s) @ d.T, atol=1e-12)


@pytest.mark.parametrize(("basis", "l_max"), [("6-31g*", 2), ("cc-pvdz", 2), ("cc-pvtz", 3)])
@pytest.mark.parametrize("improper", [False, True])
def test_wigner_convention_matches_pyscf_overlap_d_f_shells(basis, l_max, improper):
    """The same pin for d (and f) shells: pyscf's real AO order m = -l..l for l >= 2."""
    from hamlearn.data.basis import element_shells

    s = Structure.from_atoms(ase.build.molecule("HCOOH"))
    assert max(sh.l for z in s.numbers for sh in element_shells(basis, int(z))) == l_max
    rot = random_rotation(jax.random.PRNGKey(6), improper)
    d = ao_wigner(s.numbers, rot, basis)
    s0, s1 = overlap(s, basis), overlap(transformed(s, rot), basis)
    assert np.abs(s1 - s0).max() > 0.1  # the rotation really changes S
    np.testing.assert_allclose(s1, d @ s0 @ d.T, atol=1e-12)


@pytest.mark.parametrize("improper", [False, True])
def test_fock_is_equivariant_and_eigenvalues_invariant(case, improper):
    for k, rot in enumerate(case["rots"][improper]):
        s, moved = case["structs"]["mol"][k], case["structs"][f"rot{improper}"][k]
        f0, f1 = case["focks"]["mol"][k], case["focks"][f"rot{improper}"][k]
        assert np.abs(f0).max() > 1e-2  # random weights: a real test
        d = ao_wigner(s.numbers, rot)
        np.testing.assert_allclose(f1, d @ f0 @ d.T, atol=TOL)
        e0 = scipy.linalg.eigh(f0, overlap(s), eigvals_only=True)
        e1 = scipy.linalg.eigh(f1, overlap(moved), eigvals_only=True)
        np.testing.assert_allclose(e1, e0, atol=TOL)


def test_permutation_translation_and_same_species_swap(case):
    """Reordered (incl. swapping the two C, two H of ethane) + translated: F permuted exactly."""
    s, f0 = case["structs"]["mol"][2], case["focks"]["mol"][2]
    for p, f in zip(ETHANE_PERMS, case["focks"]["perm"]):
        idx = ao_permutation(s.numbers, p)
        np.testing.assert_allclose(f, f0[np.ix_(idx, idx)], atol=1e-12)
    np.testing.assert_array_equal(f0, f0.T)


def test_batch_composition_and_padding_do_not_matter(case):
    """A different batch (other molecules, extra AO padding) gives the same blocks; pads are 0."""
    fs, model = case["fs"], case["model"]
    batch = make_batch(fs, [2, 0], nao_pad=int(fs.nao[0]) + 3)
    full = np.asarray(fock_batch(model, batch))
    for b, m in enumerate([2, 0]):
        n = fs.nao[m]
        np.testing.assert_allclose(full[b, :n, :n], case["focks"]["mol"][m], atol=1e-13)
        assert np.all(full[b, n:, :] == 0) and np.all(full[b, :, n:] == 0)
    np.testing.assert_array_equal(np.asarray(batch.ao_mask).sum(1), fs.nao[[2, 0]])


def test_fixed_entry_padding_gives_one_shape_and_same_blocks(case):
    """`max_entries` pads every 2-molecule batch to one shape; the blocks do not change."""
    from hamlearn.model import max_entries

    fs, model = case["fs"], case["model"]
    pad = max_entries(fs, 2)
    shapes = set()
    for pair in ([2, 0], [1, 2], [0, 0]):
        batch = make_batch(fs, pair, nao_pad=int(fs.nao.max()), entry_pad=pad)
        shapes.add(str(jax.tree_util.tree_map(lambda a: a.shape, batch)))
        full = np.asarray(fock_batch(model, batch))
        for b, m in enumerate(pair):
            n = fs.nao[m]
            np.testing.assert_allclose(full[b, :n, :n], case["focks"]["mol"][m], atol=1e-13)
    assert len(shapes) == 1
    with pytest.raises(ValueError, match="entry_pad"):
        make_batch(fs, range(fs.n_molecules), entry_pad=max_entries(fs, 1))


@pytest.mark.parametrize("which", ["pair", "atom"])
def test_crossing_a_cutoff_is_continuous(case, which):
    """Moving O across the H-O pair (5 A) / neighbour (3 A) cutoff: F has no jump.

    ``|F(rc + e) - F(rc - e)|`` must shrink linearly with e (a jump would not shrink); the
    H-O block itself vanishes quadratically (C^1 cutoff) and is exactly 0 outside.
    """
    f = case["focks"][which]  # [rc-e0, rc+e0, rc-e1, rc+e1]
    jumps = [np.abs(f[2 * k] - f[2 * k + 1]).max() for k in range(len(EPS))]
    assert jumps[0] > 0
    assert jumps[1] < 0.15 * jumps[0]
    if which == "pair":
        ho = slice(6, 11)  # AOs: H 1s | C 1s 2s 2p | O 1s 2s 2p
        inside = [np.abs(f[2 * k][0, ho]).max() for k in range(len(EPS))]
        assert 0 < inside[1] < 0.02 * inside[0]
        np.testing.assert_array_equal(f[1][0, ho], 0.0)
        np.testing.assert_array_equal(f[3][0, ho], 0.0)


def test_second_row_elements_with_two_p_shells_are_equivariant():
    """F, Si, S, Cl (1s 2s 2p 3s 3p: an on-site 2p-3p block carries a 1e pseudovector)."""
    cfg = FeaturesConfig(species=(1, 6, 9, 14, 16, 17), l_max=2, n_radial=2, n_radial_pair=3)
    model = HamiltonianModel(make_spec(cfg), key=jax.random.PRNGKey(2), scale=1.0)
    mols = [Structure.from_atoms(ase.build.molecule(n)) for n in ("CH3SH", "CH3Cl", "SiH3", "HF")]
    rots = [random_rotation(jax.random.PRNGKey(20 + k), improper=k % 2 == 1) for k in range(4)]
    moved = [transformed(s, r) for s, r in zip(mols, rots)]
    fs = featurize(mols + moved, cfg)
    out = np.asarray(fock_batch(model, make_batch(fs, range(8))))
    for k, (s, rot) in enumerate(zip(mols, rots)):
        n = fs.nao[k]
        d = ao_wigner(s.numbers, rot)
        assert np.abs(out[k, :n, :n]).max() > 1e-2
        np.testing.assert_allclose(out[k + 4, :n, :n], d @ out[k, :n, :n] @ d.T, atol=TOL)

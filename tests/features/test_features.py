"""Features: exact equivariance (proper and improper), the pair swap map, cutoffs."""

import ase.build
import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hamlearn.config import FeaturesConfig
from hamlearn.data.structure import Structure
from hamlearn.features import featurize
from hamlearn.features.pairs import nu2_channels, nu2_paths, pair_features, pair_layout, pair_swap
from hamlearn.features.radial import radial_basis
from hamlearn.units import ANGSTROM_TO_BOHR

TOL = 1e-10
CFG = FeaturesConfig()
NU2 = FeaturesConfig(nu_pair=2)  # + the two-centre (1, 1) product


@pytest.fixture(scope="module")
def acetamide():
    return Structure.from_atoms(ase.build.molecule("CH3CONH2"), name="acetamide")


def _rotation(seed, improper):
    r = np.asarray(e3nn.rand_matrix(jax.random.PRNGKey(seed), (), dtype=jnp.float64))
    return -r if improper else r


@pytest.mark.parametrize("cfg", [CFG, NU2], ids=["nu_pair1", "nu_pair2"])
@pytest.mark.parametrize("improper", [False, True])
def test_block_features_are_equivariant(acetamide, improper, cfg):
    """x(R r) = D_L(R) x(r) for every type and irrep, parity included."""
    rot = _rotation(3, improper)
    moved = Structure(acetamide.numbers, acetamide.positions @ rot.T + 1.7)
    fs = featurize([acetamide, moved], cfg)
    checked = 0
    for key, tf in fs.types.items():
        for ir, x in tf.features.items():
            a, b = slice(tf.offsets[0], tf.offsets[1]), slice(tf.offsets[1], tf.offsets[2])
            if tf.offsets[1] == tf.offsets[0]:
                continue
            d = np.asarray(e3nn.Irrep(ir).D_from_matrix(jnp.asarray(rot)))
            expect = np.einsum("nfm,Mm->nfM", x[a], d)
            scale = max(np.abs(x[a]).max(), 1.0)
            np.testing.assert_allclose(x[b], expect, atol=TOL * scale, err_msg=f"{key} {ir}")
            checked += 1
    assert checked >= 12  # on-site H/C/N/O and five pair types, several irreps each


@pytest.mark.parametrize("cfg", [CFG, NU2], ids=["nu_pair1", "nu_pair2"])
def test_pair_swap_is_the_reversed_pair(acetamide, cfg):
    """x(j, i) computed directly equals the signed permutation `pair_swap` of x(i, j)."""
    from hamlearn.features.density import atom_density
    from hamlearn.features.neighbors import neighbor_pairs

    src, dst = neighbor_pairs(acetamide, CFG.atom_cutoff_ang * ANGSTROM_TO_BOHR)
    sp = {z: k for k, z in enumerate(sorted(CFG.species))}
    pos = jnp.asarray(acetamide.positions)
    rho = jax.jit(atom_density, static_argnames=("n_species", "n_radial", "l_max", "r_cut"))(
        pos, jnp.asarray([sp[z] for z in acetamide.numbers]), jnp.asarray(src),
                       jnp.asarray(dst), jnp.ones(len(src), bool), n_species=4, n_radial=5,
                       l_max=4, r_cut=CFG.atom_cutoff_ang * ANGSTROM_TO_BOHR)
    pi, pj = jnp.asarray([0, 1, 2, 4]), jnp.asarray([3, 2, 5, 6])
    irreps = ("0e", "1o", "1e", "2e")
    feats = jax.jit(lambda a, b: pair_features(pos, rho, a, b, irreps, cfg))
    fwd, rev = feats(pi, pj), feats(pj, pi)
    for ir in irreps:
        idx, sign = pair_swap(cfg, ir)
        n0, na = pair_layout(cfg, ir)
        n2 = len(nu2_paths(cfg, ir)) * len(nu2_channels(cfg)) ** 2
        assert fwd[ir].shape[1] == n0 + 2 * na + n2 and (n2 > 0) == (cfg.nu_pair == 2)
        assert sorted(idx.tolist()) == list(range(len(idx)))  # a permutation
        if n2:
            assert np.abs(np.asarray(fwd[ir])[:, n0 + 2 * na:]).max() > 1e-4
        np.testing.assert_allclose(np.asarray(rev[ir]), np.asarray(fwd[ir])[:, idx] * sign[:, None],
                                   atol=1e-12)
        assert np.abs(np.asarray(fwd[ir])).max() > 1e-3  # not trivially zero


def test_radial_basis_vanishes_smoothly_at_cutoff():
    rc = 5.0
    r = jnp.asarray([rc - 1e-3, rc - 1e-6, rc, rc + 1.0])
    for kind in ("bessel", "gaussian"):
        vals = np.asarray(radial_basis(r, 6, rc, kind))
        assert np.abs(vals[0]).max() < 1e-5 and np.abs(vals[1]).max() < 1e-10
        assert np.all(vals[2:] == 0.0)
        grad = jax.grad(lambda x: radial_basis(x, 6, rc, kind).sum())(rc - 1e-6)
        assert abs(float(grad)) < 1e-5


def test_featurize_entries_and_errors():
    ch4 = Structure.from_atoms(ase.build.molecule("CH4"))
    fs = featurize([ch4], CFG)
    assert fs.types["1-6"].features["1o"].shape[0] == 4  # four C-H pairs, H first
    assert set(fs.types["1-6"].atoms[:, 0]) == {1, 2, 3, 4}
    assert fs.types["1-1"].features["0e"].shape[0] == 6
    assert fs.types["6"].features["2e"].shape == (1, fs.spec.types()["6"][2]["2e"], 5)
    with pytest.raises(ValueError, match="not in features.species"):
        featurize([Structure.from_atoms(ase.build.molecule("SiH4"))], CFG)

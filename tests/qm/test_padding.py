"""Padded batches: equal to unpadded molecules, bounded compilations, safe fillers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hamlearn.qm import (
    PADDING_SHIFT,
    bucket_size,
    closed_shell_occupations,
    group_by_bucket,
    mo_window,
    pad_batch,
    pad_matrix,
    qm_forward,
)

TOL_PAD = 1e-10
#: Gradients too: with the analytic equal-occupation terms of `eigh_sos` and level-averaged
#: frontier energies, even NH3 (e pair split by 2.3e-7 Hartree in ase's geometry) and CH4
#: (exactly degenerate t2 HOMO) agree to ~1e-13 (through the plain masked eigensolver and a
#: max-picked HOMO they differed by 4e-9 and 0.3).
#: relative to the largest gradient entry (~16 here): a padded eigh differs in rounding, and
#: entries that vanish in exact arithmetic came out 4e-11 vs -8e-11 in one full-suite run
TOL_PAD_GRAD = 1e-10
NAMES = ("H2", "H2O", "NH3", "CH4")
KEYS = ("dipole", "polarizability", "homo", "lumo", "gap")


def padded_fock(case, nao_pad, rng):
    """The molecule's Fock padded with garbage (the layer must ignore it)."""
    fock = rng.normal(size=(nao_pad, nao_pad))
    fock = fock + fock.T
    fock[: case.ovlp.shape[0], : case.ovlp.shape[0]] = case.fock
    return fock


@pytest.fixture(scope="module")
def batch(pyscf_case):
    rng = np.random.default_rng(1)
    cases = [pyscf_case(n) for n in NAMES]
    nao_pad = 16
    inputs = pad_batch([c.inputs for c in cases], nao_pad, batch_size=5)
    focks = np.stack([padded_fock(c, nao_pad, rng) for c in cases] + [np.zeros((16, 16))])
    return cases, inputs, jnp.asarray(focks)


def test_padded_equals_unpadded(batch):
    cases, inputs, focks = batch
    out = jax.jit(jax.vmap(qm_forward))(focks, inputs)
    for k, case in enumerate(cases):
        ref = jax.jit(qm_forward)(case.fock_jax, case.inputs)
        n = case.ovlp.shape[0]
        np.testing.assert_allclose(out["mo_energy"][k, :n], ref["mo_energy"], atol=TOL_PAD)
        np.testing.assert_allclose(out["mo_energy"][k, n:], PADDING_SHIFT, rtol=1e-12)
        np.testing.assert_allclose(out["dm"][k, :n, :n], ref["dm"], atol=TOL_PAD)
        np.testing.assert_array_equal(out["dm"][k, n:], 0.0)
        np.testing.assert_array_equal(out["mo_mask"][k], np.arange(16) < n)
        for key in KEYS:
            np.testing.assert_allclose(out[key][k], ref[key], atol=TOL_PAD, err_msg=key)


def test_padded_gradient_equals_unpadded(batch):
    cases, inputs, focks = batch

    def loss(out):
        return (jnp.sum(out["dipole"] ** 2) + jnp.sum(out["polarizability"] ** 2)
                + jnp.sum(out["gap"]))

    grad = jax.jit(jax.grad(lambda f: loss(jax.vmap(qm_forward)(f, inputs))))(focks)
    assert np.isfinite(grad).all()
    for k, case in enumerate(cases):
        n = case.ovlp.shape[0]
        ref = jax.jit(jax.grad(lambda f, i: loss(qm_forward(f, i))))(case.fock_jax, case.inputs)
        np.testing.assert_allclose(grad[k, :n, :n], ref,
                                   atol=TOL_PAD_GRAD * max(1.0, float(np.abs(ref).max())))
        np.testing.assert_array_equal(grad[k, n:], 0.0)
        np.testing.assert_array_equal(grad[k, :, n:], 0.0)
    np.testing.assert_array_equal(grad[len(cases)], 0.0)  # the filler


def test_occupations_and_mo_window_ignore_padding(batch):
    cases, inputs, focks = batch
    out = jax.jit(jax.vmap(qm_forward))(focks, inputs)
    k = NAMES.index("H2O")  # 7 AOs padded to 16, 5 occupied
    np.testing.assert_array_equal(inputs.mo_occ[k], closed_shell_occupations(16, 5))
    np.testing.assert_array_equal(closed_shell_occupations(16, 9, inputs.ao_mask[k]),
                                  [2.0] * 7 + [0.0] * 9)
    values, mask = mo_window(out["mo_energy"][k], out["mo_occ"][k], 100, out["mo_mask"][k])
    np.testing.assert_array_equal(mask, np.arange(16) < 7)  # all real MOs, no padded one
    assert np.abs(values).max() < 100.0


def test_filler_molecule_is_finite_and_empty(batch):
    _, inputs, focks = batch
    out = jax.jit(jax.vmap(qm_forward))(focks, inputs)
    for key in KEYS:
        assert np.isfinite(out[key][-1]).all()
        np.testing.assert_array_equal(out[key][-1], 0.0)


def test_compilations_bounded_by_buckets(pyscf_case):
    traces = []

    @jax.jit
    def step(focks, inputs):
        traces.append(focks.shape)  # runs only while tracing
        return jax.vmap(qm_forward)(focks, inputs)["dipole"]

    cases = [pyscf_case(n) for n in NAMES]  # nao 2, 7, 8, 9
    buckets = (8, 16)
    groups = group_by_bucket([c.ovlp.shape[0] for c in cases], buckets)
    assert groups == {8: [0, 1, 2], 16: [3]}
    for _ in range(3):  # epochs, with different batch compositions per bucket
        for nao_pad, idx in groups.items():
            for chunk in (idx[:1], idx[-2:]):
                sel = [cases[i] for i in chunk]
                inp = pad_batch([c.inputs for c in sel], nao_pad, batch_size=2)
                focks = np.stack([pad_matrix(c.fock, nao_pad) for c in sel]
                                 + [np.zeros((nao_pad, nao_pad))] * (2 - len(sel)))
                step(jnp.asarray(focks), inp).block_until_ready()
    assert len(traces) == len(groups)


def test_bucket_size():
    assert bucket_size(7, (8, 16)) == 8
    assert bucket_size(8, (16, 8)) == 8
    assert bucket_size(9, (8, 16)) == 16
    with pytest.raises(ValueError, match="exceeds"):
        bucket_size(17, (8, 16))
    assert bucket_size(17, (8, 16), strict=False) == 32
    with pytest.raises(ValueError, match="batch_size"):
        pad_batch([], 8, batch_size=-1)

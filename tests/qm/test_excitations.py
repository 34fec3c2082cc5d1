"""The sTDA-like excitation layer (`hamlearn.qm.excitations`) on converged STO-3G Fock
matrices: against an independent numpy implementation of the same equations (explicit
loops, scipy's matrix square root), padding, rotation invariance, the no-kernel limit and
gradients against finite differences."""

import ase.build
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from qm_helpers import run_pyscf
from scipy.spatial.transform import Rotation

from hamlearn.data.structure import Structure
from hamlearn.qm import qm_forward
from hamlearn.qm.excitations import (
    STDASettings,
    ao_kernels,
    atom_hardness,
    broadened_spectrum,
    stda,
    stda_batch,
)
from hamlearn.qm.padding import pad_batch

SETTINGS = STDASettings(n_occ=4, n_virt=3, n_states=6)
forward = jax.jit(qm_forward)
stda_jit = jax.jit(stda, static_argnames="settings")


def _case(name="HCOOH", rotation=None):
    s = Structure.from_atoms(ase.build.molecule(name), name=name)
    if rotation is not None:
        s = Structure(numbers=s.numbers, positions=s.positions @ rotation.T, name=name)
    case = run_pyscf(s)  # RHF: the layer only needs a converged Fock
    ao_atom = np.array([a for a, *_ in case.mol.ao_labels(fmt=False)])
    return case, ao_atom


def _layer_inputs(case, ao_atom):
    out = forward(case.fock_jax, case.inputs)
    s = case.structure
    g_j, g_k = ao_kernels(s.numbers, s.positions, ao_atom)
    return (out["mo_energy"], out["mo_coeff"], out["mo_occ"], jnp.asarray(case.ovlp),
            jnp.asarray(case.dip_ints), jnp.asarray(g_j), jnp.asarray(g_k))


def numpy_stda(fock, ovlp, dip_ints, ao_atom, positions, numbers, nocc, st):
    """The same equations written out independently: loops over pairs and atoms."""
    e, c = scipy.linalg.eigh(fock, ovlp)
    c_orth = np.real(scipy.linalg.sqrtm(ovlp)) @ c
    occ = list(range(max(nocc - st.n_occ, 0), nocc))
    vir = list(range(nocc, min(nocc + st.n_virt, len(e))))
    pairs = [(i, a) for i in occ for a in vir]
    n_atoms = len(numbers)
    eta = [atom_hardness([z])[0] for z in numbers]
    a_exp = st.alpha1 + st.ax * st.alpha2
    b_exp = st.beta1 + st.ax * st.beta2

    def charge(p, q, atom):
        return sum(c_orth[m, p] * c_orth[m, q] for m in range(len(e)) if ao_atom[m] == atom)

    gk = np.zeros((n_atoms, n_atoms))
    gj = np.zeros((n_atoms, n_atoms))
    for x in range(n_atoms):
        for y in range(n_atoms):
            r = np.linalg.norm(positions[x] - positions[y])
            h = 0.5 * (eta[x] + eta[y])
            gk[x, y] = 1.0 / (r**a_exp + h**-a_exp) ** (1.0 / a_exp)
            gj[x, y] = 1.0 / (r**b_exp + (st.ax * h) ** -b_exp) ** (1.0 / b_exp)
    amat = np.zeros((len(pairs), len(pairs)))
    for u, (i, a) in enumerate(pairs):
        for v, (j, b) in enumerate(pairs):
            iajb = sum(charge(i, a, x) * gk[x, y] * charge(j, b, y)
                       for x in range(n_atoms) for y in range(n_atoms))
            ijab = sum(charge(i, j, x) * gj[x, y] * charge(a, b, y)
                       for x in range(n_atoms) for y in range(n_atoms))
            amat[u, v] = (e[a] - e[i]) * (u == v) + 2 * iajb - ijab
    w, x = np.linalg.eigh(amat)
    mo_dip = np.einsum("xmn,mp,nq->xpq", dip_ints, c, c)
    d = np.array([[np.sqrt(2) * sum(x[u, n] * mo_dip[k, i, a] for u, (i, a) in enumerate(pairs))
                   for k in range(3)] for n in range(st.n_states)])
    return w[:st.n_states], 2 / 3 * w[:st.n_states] * np.sum(d**2, axis=1)


@pytest.mark.parametrize("name", ["HCOOH", "CH3CHO"])
def test_stda_equals_an_independent_numpy_implementation(name):
    case, ao_atom = _case(name)
    got = stda_jit(*_layer_inputs(case, ao_atom), settings=SETTINGS)
    s = case.structure
    w, f = numpy_stda(case.fock, case.ovlp, case.dip_ints, ao_atom, s.positions, s.numbers,
                      case.mol.nelectron // 2, SETTINGS)
    np.testing.assert_allclose(got["energies"], w, atol=1e-10)
    np.testing.assert_allclose(got["strengths"], f, atol=1e-10)
    assert bool(np.all(got["state_mask"]))
    # the couplings matter: the lowest state is not the lowest orbital-energy difference
    bare = stda_jit(*_layer_inputs(case, ao_atom), settings=STDASettings(4, 3, 6, kernels=False))
    assert abs(float(bare["energies"][0] - got["energies"][0])) > 1e-3


def test_without_kernels_the_states_are_orbital_energy_differences():
    case, ao_atom = _case("H2O")
    args = _layer_inputs(case, ao_atom)
    got = stda(*args, STDASettings(n_occ=2, n_virt=2, n_states=4, kernels=False))
    e, c = np.asarray(args[0]), np.asarray(args[1])
    nocc = case.mol.nelectron // 2
    de = sorted(e[a] - e[i] for i in range(nocc - 2, nocc) for a in range(nocc, nocc + 2))
    np.testing.assert_allclose(got["energies"], de, atol=1e-12)
    # f = 2/3 de |sqrt(2) <i|r|a>|^2 state by state
    mo_dip = np.einsum("xmn,mp,nq->xpq", case.dip_ints, c, c)
    want = sorted((e[a] - e[i], 4 / 3 * (e[a] - e[i]) * np.sum(mo_dip[:, i, a] ** 2))
                  for i in range(nocc - 2, nocc) for a in range(nocc, nocc + 2))
    np.testing.assert_allclose(got["strengths"], [f for _, f in want], atol=1e-12)


def test_window_larger_than_the_molecule_masks_the_missing_pairs():
    case, ao_atom = _case("H2O")  # 5 occupied, 2 virtual STO-3G MOs
    got = stda_jit(*_layer_inputs(case, ao_atom), settings=STDASettings(n_occ=6, n_virt=4, n_states=12))
    assert int(np.sum(got["state_mask"])) == 10
    assert bool(np.all(np.asarray(got["energies"])[~np.asarray(got["state_mask"])] > 100))
    assert float(np.max(np.abs(np.asarray(got["strengths"])[10:]))) == 0.0
    full = stda_jit(*_layer_inputs(case, ao_atom), settings=STDASettings(n_occ=5, n_virt=2, n_states=10))
    np.testing.assert_allclose(got["energies"][:10], full["energies"], atol=1e-12)


def test_padded_batch_gives_each_molecules_own_states():
    cases = [_case(n) for n in ("HCOOH", "H2O")]
    singles = [stda_jit(*_layer_inputs(c, a), settings=SETTINGS) for c, a in cases]
    nao = max(c.ovlp.shape[0] for c, _ in cases)
    qm = pad_batch([c.inputs for c, _ in cases], nao)
    focks = jnp.stack([jnp.pad(c.fock_jax, (0, nao - c.ovlp.shape[0])) for c, _ in cases])
    batch = jax.jit(jax.vmap(qm_forward))(focks, qm)

    kern = [ao_kernels(c.structure.numbers, c.structure.positions, a, nao_pad=nao)
            for c, a in cases]
    got = jax.jit(stda_batch, static_argnums=7)(
        batch["mo_energy"], batch["mo_coeff"], batch["mo_occ"], qm.ovlp, qm.dip_ints,
        jnp.asarray(np.stack([k[0] for k in kern])), jnp.asarray(np.stack([k[1] for k in kern])),
        SETTINGS, batch["mo_mask"])
    for k, single in enumerate(singles):
        real = np.asarray(single["state_mask"])
        np.testing.assert_allclose(np.asarray(got["energies"][k])[real],
                                   np.asarray(single["energies"])[real], atol=1e-9)
        np.testing.assert_allclose(np.asarray(got["strengths"][k])[real],
                                   np.asarray(single["strengths"])[real], atol=1e-9)


def test_energies_and_strengths_are_rotation_invariant():
    rot = Rotation.random(random_state=11).as_matrix()
    a = stda_jit(*_layer_inputs(*_case("CH3CHO")), settings=SETTINGS)
    b = stda_jit(*_layer_inputs(*_case("CH3CHO", rot)), settings=SETTINGS)
    np.testing.assert_allclose(a["energies"], b["energies"], atol=1e-8)
    np.testing.assert_allclose(a["strengths"], b["strengths"], atol=1e-8)
    # transition dipoles rotate as vectors (up to each state's sign)
    for da, db in zip(np.asarray(a["transition_dipoles"]), np.asarray(b["transition_dipoles"])):
        r = rot @ da
        assert min(np.abs(r - db).max(), np.abs(r + db).max()) < 1e-7


def test_gradients_through_the_qm_layer_match_finite_differences():
    case, ao_atom = _case("HCOOH")
    _, _, _, ovlp, dip, g_j, g_k = _layer_inputs(case, ao_atom)
    grid = jnp.linspace(0.2, 0.8, 7)

    def loss(fock):
        out = qm_forward(fock, case.inputs)
        ex = stda(out["mo_energy"], out["mo_coeff"], out["mo_occ"], ovlp, dip, g_j, g_k,
                  SETTINGS)
        spec = broadened_spectrum(ex["energies"], ex["strengths"], grid, 0.05)
        return ex["energies"][0] + 3.0 * ex["strengths"][1] + 0.1 * jnp.sum(spec**2)

    rng = np.random.default_rng(0)
    d = rng.normal(size=case.fock.shape)
    d = jnp.asarray(0.5 * (d + d.T) * 1e-2)
    g = jax.grad(loss)(case.fock_jax)
    h = 1e-4
    fd = (loss(case.fock_jax + h * d) - loss(case.fock_jax - h * d)) / (2 * h)
    assert float(jnp.sum(g * d)) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)


def test_broadened_spectrum_integrates_to_the_total_strength():
    grid = jnp.linspace(-1.0, 3.0, 4001)
    spec = broadened_spectrum(jnp.array([0.5, 1.0, 50.0]), jnp.array([0.3, 0.7, 9.0]), grid,
                              0.05, state_mask=jnp.array([True, True, False]))
    assert float(jnp.trapezoid(spec, grid)) == pytest.approx(1.0, rel=1e-9)


def test_bad_settings_and_elements_are_named():
    with pytest.raises(ValueError, match="n_states"):
        STDASettings(n_occ=2, n_virt=2, n_states=5)
    with pytest.raises(ValueError, match="ax"):
        STDASettings(ax=0.0)
    with pytest.raises(ValueError, match="Z=35"):
        atom_hardness([1, 35])


def test_gradients_stay_finite_at_exactly_degenerate_excited_states():
    """Methane's window (its t2 HOMOs x a1 + t2 virtuals, all 12 states) holds exactly
    degenerate excited states: the strengths' and spectrum's gradients are finite and match
    finite differences (whole degenerate sets are in, so these sums are smooth in F)."""
    case, ao_atom = _case("CH4")
    st = STDASettings(n_occ=3, n_virt=4, n_states=12)
    _, _, _, ovlp, dip, g_j, g_k = _layer_inputs(case, ao_atom)
    grid = jnp.linspace(0.3, 1.2, 10)

    def loss(fock):
        out = qm_forward(fock, case.inputs)
        ex = stda(out["mo_energy"], out["mo_coeff"], out["mo_occ"], ovlp, dip, g_j, g_k, st)
        spec = broadened_spectrum(ex["energies"], ex["strengths"], grid, 0.05)
        return jnp.sum(ex["strengths"]) + 0.1 * jnp.sum(spec**2)

    w = stda(*_layer_inputs(case, ao_atom), st)["energies"]
    assert float(jnp.min(jnp.diff(w))) < 1e-9  # the case: degenerate states
    g = jax.grad(loss)(case.fock_jax)
    assert bool(jnp.all(jnp.isfinite(g)))
    rng = np.random.default_rng(1)
    d = rng.normal(size=case.fock.shape)
    d = jnp.asarray(0.5 * (d + d.T) * 1e-2)
    h = 1e-4
    fd = (loss(case.fock_jax + h * d) - loss(case.fock_jax - h * d)) / (2 * h)
    assert float(jnp.sum(g * d)) == pytest.approx(float(fd), rel=1e-5, abs=1e-8)

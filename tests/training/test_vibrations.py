"""Geometry derivatives of the learned Hamiltonian's dipole and polarizability, and the IR and
Raman spectra built from them (`hamlearn.training.vibrations`).

References: finite differences of the model's own predictions (`predict_raw` at displaced
geometries, a separate code path: features by `featurize`, plain pyscf integrals), the exact
sum rule and rotation covariance of the tensors, pyscf's own finite differences for a model
that *is* the plain SCF, a closed-form diatomic with the literature IR unit
(42.2561 km/mol per (D/A)^2/amu), and ase's own harmonic analysis of an ase calculator.
"""

import ase.build
import numpy as np
import pytest
from test_spectra import scf_run  # noqa: F401  (the module-scoped fixture)

from hamlearn.data.structure import Structure
from hamlearn.training import vibrations as vib

TINY = "tests/training/data/tiny.yaml"


def _mol(name, **kw):
    return Structure.from_atoms(ase.build.molecule(name), name=name, **kw)


def _random_model(cfg, seed=1):
    import jax

    from hamlearn.features import make_spec
    from hamlearn.model.hamiltonian import HamiltonianModel

    return HamiltonianModel(make_spec(cfg.features, cfg.model.basis),
                            key=jax.random.PRNGKey(seed), gated=True, scale=3e-2,
                            gate_scale=0.3)


def _cfg(tmp_path, baseline):
    from pathlib import Path

    from hamlearn.config import load_config

    root = Path(__file__).resolve().parents[2]
    return load_config(root / TINY, [f"model.baseline={baseline}",
                                     f"data.cache_dir={tmp_path / 'cache'}"])


def _fd_of_predictions(cfg, model, s, h):
    """Central differences of the model's full predictions (dipole, polarizability)."""
    from hamlearn.training.evaluate import predict_raw

    n = s.n_atoms
    apt, dalpha = np.zeros((3, n, 3)), np.zeros((3, 3, n, 3))
    for a in range(n):
        for x in range(3):
            (_, p), (_, m) = predict_raw(model, cfg, [vib.displaced(s, a, x, h),
                                                      vib.displaced(s, a, x, -h)])
            apt[:, a, x] = (p["dipole"] - m["dipole"]) / (2 * h)
            dalpha[:, :, a, x] = (p["polarizability"] - m["polarizability"]) / (2 * h)
    return vib.lab_origin_apt(apt, s), dalpha


@pytest.mark.parametrize("baseline, tol", [("huckel", 1e-6), ("sad", 2e-4)])
def test_derivatives_match_finite_differences_of_the_models_predictions(tmp_path, baseline,
                                                                        tol):
    """Traced baseline (huckel) exactly; an untraced one (sad: a pyscf Fock build) through
    its own finite differences, so to their accuracy."""
    cfg = _cfg(tmp_path, baseline)
    model = _random_model(cfg)
    s = _mol("H2O")
    got = vib.model_derivatives(cfg, model, s)
    apt, dalpha = _fd_of_predictions(cfg, model, s, 1e-4)
    assert np.abs(apt).max() > 0.1 and np.abs(dalpha).max() > 1.0  # not trivially zero
    np.testing.assert_allclose(got["apt"], apt, atol=tol * np.abs(apt).max())
    np.testing.assert_allclose(got["dalpha"], dalpha, atol=tol * np.abs(dalpha).max())


@pytest.mark.parametrize("name, charge", [("H2O", 0), ("NH4+", 1)])
def test_apt_sum_rule_is_the_total_charge(tmp_path, name, charge):
    """sum_A dmu/dR_A = Q * identity (translation), and sum_A dalpha/dR_A = 0, exactly."""
    cfg = _cfg(tmp_path, "huckel")
    if name == "NH4+":
        atoms = ase.build.molecule("CH4")
        atoms.numbers[0] = 7
        s = Structure.from_atoms(atoms, charge=1, name="NH4+")
    else:
        s = _mol(name)
    got = vib.model_derivatives(cfg, _random_model(cfg), s)
    np.testing.assert_allclose(got["apt"].sum(axis=1), charge * np.eye(3), atol=1e-10)
    np.testing.assert_allclose(got["dalpha"].sum(axis=2), 0.0, atol=1e-9)


def test_derivatives_rotate_as_tensors(tmp_path):
    from scipy.spatial.transform import Rotation

    cfg = _cfg(tmp_path, "huckel")
    model = _random_model(cfg)
    s = _mol("CH3OH")
    rot = Rotation.random(random_state=3).as_matrix()
    turned = Structure(numbers=s.numbers, positions=s.positions @ rot.T, name="turned")
    a, b = vib.model_derivatives(cfg, model, s), vib.model_derivatives(cfg, model, turned)
    np.testing.assert_allclose(b["apt"], np.einsum("xi,iaj,yj->xay", rot, a["apt"], rot),
                               atol=1e-9)
    np.testing.assert_allclose(
        b["dalpha"], np.einsum("xi,yj,ijak,zk->xyaz", rot, rot, a["dalpha"], rot), atol=1e-8)


def test_a_model_that_is_the_plain_scf_gives_pyscfs_own_derivatives(scf_run):  # noqa: F811
    """The tiny run on the SCF baseline barely moved from it: its derivatives (AD through
    the layer, the baseline by differences of the STO-3G SCF) are pyscf's finite
    differences of its own RHF/STO-3G dipole and sum-over-states polarizability."""
    from hamlearn.data.reference import ReferenceSettings
    from hamlearn.runs import load_run

    cfg, model = load_run(scf_run)
    s = _mol("H2O")
    got = vib.model_derivatives(cfg, model, s)
    ref = vib.reference_derivatives(s, "sto-3g", ReferenceSettings.from_config(cfg.data))
    np.testing.assert_allclose(got["dipole"], ref["dipole"], atol=1e-6)
    np.testing.assert_allclose(got["apt"], ref["apt"], atol=2e-4)
    np.testing.assert_allclose(got["dalpha"], ref["dalpha"], atol=2e-3)


# ---------------------------------------------------------------- modes and intensities
def test_diatomic_intensities_in_closed_form():
    """A diatomic stretch: dmu/dQ = q / sqrt(mu_red), so A = 42.2561 km/mol per
    (D/A)^2/amu times (q [D/A])^2 / mu_red; Raman from a' and g' of dalpha/dr."""
    from pyscf.data import elements

    from hamlearn.units import AU_TO_DEBYE, BOHR_TO_ANGSTROM

    s = Structure(numbers=np.array([9, 1]), positions=np.array([[0, 0, 0], [0, 0, 1.73]]),
                  name="HF")
    k, q = 0.6, -0.41  # Hartree/Bohr^2, e
    hess = np.zeros((2, 2, 3, 3))
    for a in range(2):
        for b in range(2):
            hess[a, b, 2, 2] = k if a == b else -k
    apt = np.zeros((3, 2, 3))
    apt[2, 0, 2], apt[2, 1, 2] = q, -q
    par, perp = 2.3, 0.7  # dalpha/dr along and across the bond (Bohr^2)
    dalpha = np.zeros((3, 3, 2, 3))
    dalpha[:, :, 0, 2] = np.diag([perp, perp, par])
    dalpha[:, :, 1, 2] = -dalpha[:, :, 0, 2]
    modes = vib.harmonic_modes(s, hess)
    stretch = int(np.argmax(np.abs(modes["frequencies_cm1"])))
    m = np.array([elements.MASSES[9], elements.MASSES[1]])
    mu_red = m.prod() / m.sum()
    q_d_per_a = q * AU_TO_DEBYE / BOHR_TO_ANGSTROM
    ir = vib.ir_intensities(apt, modes["modes"])
    assert ir[stretch] == pytest.approx(42.2561 * q_d_per_a**2 / mu_red, rel=1e-4)
    mean, aniso = (2 * perp + par) / 3, par - perp
    raman = vib.raman_activities(dalpha, modes["modes"])
    expected = (45 * mean**2 + 7 * aniso**2) * BOHR_TO_ANGSTROM**4 / mu_red
    assert raman[stretch] == pytest.approx(expected, rel=1e-10)


def test_modes_of_an_ase_calculator_match_ases_own_vibrations(tmp_path):
    from ase.calculators.emt import EMT
    from ase.optimize import BFGS
    from ase.vibrations import Vibrations

    atoms = ase.build.molecule("H2O")
    atoms.calc = EMT()
    BFGS(atoms, logfile=None).run(fmax=1e-5)
    s = Structure.from_atoms(atoms, name="w")
    hess = vib.hessian_from_calculator(s, EMT(), step_ang=0.005)
    mine = np.sort(vib.harmonic_modes(s, hess)["frequencies_cm1"])
    v = Vibrations(atoms, name=str(tmp_path / "vib"), delta=0.005)
    v.run()
    theirs = np.sort(np.real(v.get_frequencies()))[-3:]  # ase: no projection, 3 largest
    np.testing.assert_allclose(mine, theirs, rtol=2e-3)
    assert vib.as_pyscf_hessian(hess.transpose(0, 2, 1, 3).reshape(9, 9), 3).shape == (3, 3, 3, 3)


def test_bad_hessians_are_refused(tmp_path):
    with pytest.raises(ValueError, match="expected"):
        vib.as_pyscf_hessian(np.zeros((6, 6)), 3)
    h = np.random.default_rng(0).normal(size=(9, 9))
    with pytest.raises(ValueError, match="not symmetric"):
        vib.as_pyscf_hessian(h, 3)
    with pytest.raises(ValueError, match="non-finite"):
        vib.as_pyscf_hessian(np.full((9, 9), np.nan), 3)
    np.save(tmp_path / "h.npy", np.eye(9))
    with pytest.raises(ValueError, match="one Hessian"):
        vib.read_hessians(tmp_path / "h.npy", [_mol("H2O"), _mol("H2O")])
    np.savez(tmp_path / "h.npz", other=np.eye(9))
    with pytest.raises(ValueError, match="no Hessian for"):
        vib.read_hessians(tmp_path / "h.npz", [_mol("H2O")])


# -------------------------------------------------------------------------- the CLI
def test_spectra_cli_writes_ir_and_raman_beside_pyscfs(scf_run, tmp_path):  # noqa: F811
    """``--hessian pyscf --reference`` on the SCF-baseline run: IR/Raman columns and plot;
    the model (the plain SCF) agrees with pyscf's own differences; the CSV columns are the
    entries' Lorentzian sticks; a Hessian file of the wrong shape exits 2 before any work."""
    import json

    import ase.io
    from test_cli import cli

    path = tmp_path / "w.xyz"
    ase.io.write(path, [ase.build.molecule("H2O")])
    out = cli("spectra.py", "--run", scf_run, "--structures", path, "--out", tmp_path / "sp",
              "--n-states", 4, "--n-occ", 3, "--n-virt", 2, "--hessian", "pyscf",
              "--reference", "--no-progress")
    assert "IR MAE against pyscf" in out.stdout
    (entry,) = json.loads((tmp_path / "sp.json").read_text())
    v = entry["vibrations"]
    assert len(v["frequencies_cm1"]) == 3 and min(v["frequencies_cm1"]) > 1000
    assert v["hessian"]["source"] == "pyscf" and v["hessian"]["basis"] == "sto-3g"
    np.testing.assert_allclose(v["ir_km_mol"], v["reference"]["ir_km_mol"], rtol=2e-3,
                               atol=1e-2)
    np.testing.assert_allclose(v["raman_a4_amu"], v["reference"]["raman_a4_amu"], rtol=2e-3,
                               atol=1e-2)
    assert max(v["ir_km_mol"]) > 1.0
    table = np.loadtxt(tmp_path / "sp_ir.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 1], vib.lorentzian(v["frequencies_cm1"], v["ir_km_mol"],
                                                           table[:, 0], 20.0))
    assert (tmp_path / "sp_raman.csv").is_file()
    assert (tmp_path / "sp_vib.png").stat().st_size > 1000
    np.save(tmp_path / "bad.npy", np.eye(6))
    bad = cli("spectra.py", "--run", scf_run, "--structures", path, "--hessian",
              tmp_path / "bad.npy", check=False)
    assert bad.returncode == 2 and "expected (3, 3, 3, 3)" in bad.stderr

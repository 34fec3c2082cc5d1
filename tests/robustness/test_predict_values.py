"""predict.py's numbers: checked against pyscf (a model fitted exactly to pyscf's Fock) and
against the QM layer on the same F, with unit constants written out here (CODATA 2018),
not taken from hamlearn.units, so a Hartree/eV or Debye slip fails."""

import dataclasses
import json

import ase.io
import jax
import numpy as np
import pytest
from pyscf import gto, scf

from hamlearn.config import load_config
from hamlearn.data.sources import from_ase_name
from hamlearn.features import featurize
from hamlearn.model import ridge_fit
from hamlearn.qm import QMInputs, nuclear_dipole, qm_forward
from hamlearn.training import predict as predict_mod
from hamlearn.training.batches import Batcher, prepare
from hamlearn.training.predict import predict_with_model, unlabelled_reference
from hamlearn.training.run import build_model

from .conftest import TINY

EV = 27.211386245988  # eV per Hartree (CODATA 2018)
DEBYE = 2.541746473  # Debye per e*Bohr (CODATA 2018)
#: hamlearn converts with pyscf's constants (pyscf.data.nist, older CODATA): ~1e-8 apart
UNITS_RTOL = 1e-7


def _rhf(structure):
    mol = gto.M(atom=structure.pyscf_atom(), unit="Bohr", basis="sto-3g", verbose=0)
    mf = scf.RHF(mol)
    mf.conv_tol = 1e-12
    return mol, mf.run()


def _uncoupled_alpha(mol, mf, origin):
    """Sum over states of pyscf's converged MOs (numpy, independent of hamlearn.qm)."""
    with mol.with_common_orig(origin):
        r = mol.intor_symmetric("int1e_r", comp=3)
    occ, vir = mf.mo_occ > 0, mf.mo_occ == 0
    rov = np.einsum("xpq,pi,qa->xia", r, mf.mo_coeff[:, occ], mf.mo_coeff[:, vir])
    de = mf.mo_energy[vir][None, :] - mf.mo_energy[occ][:, None]
    return 4 * np.einsum("xia,yia,ia->xy", rov, rov, 1 / de)


@pytest.fixture(scope="module")
def cfg():
    return load_config(TINY)


def test_exactly_fitted_model_predicts_pyscf(cfg, tmp_path, monkeypatch):
    water = from_ase_name("H2O")
    mol, mf = _rhf(water)
    model = build_model(cfg, key=jax.random.PRNGKey(0))
    model = ridge_fit(model, featurize([water], cfg.features, "sto-3g"), [mf.get_fock()],
                      (1e-12,))
    path = tmp_path / "w.xyz"
    ase.io.write(path, [water.to_atoms()])
    monkeypatch.setattr("hamlearn.training.predict.load_run", lambda run: (cfg, model))
    results = predict_mod.predict_file("unused", path, tmp_path / "pred")
    out = json.loads((tmp_path / "pred.json").read_text())[0]
    assert results[0] == out and out["ok"] and out["name"] == "w[0]"
    nocc = mol.nelectron // 2
    np.testing.assert_allclose(out["mo_energies_ev"], mf.mo_energy * EV, atol=1e-4)
    assert out["n_occupied"] == nocc
    np.testing.assert_allclose(out["homo_ev"], mf.mo_energy[nocc - 1] * EV, atol=1e-4)
    np.testing.assert_allclose(out["lumo_ev"], mf.mo_energy[nocc] * EV, atol=1e-4)
    np.testing.assert_allclose(out["gap_ev"], (mf.mo_energy[nocc] - mf.mo_energy[nocc - 1])
                               * EV, atol=1e-4)
    np.testing.assert_allclose(out["dipole_debye"], mf.dip_moment(unit="AU", verbose=0) * DEBYE,
                               atol=1e-5)
    alpha = _uncoupled_alpha(mol, mf, water.charge_centre())
    np.testing.assert_allclose(out["polarizability_au"], alpha, rtol=1e-5, atol=1e-6)
    frame = ase.io.read(tmp_path / "pred.extxyz")
    np.testing.assert_allclose(frame.info["dipole_debye"], out["dipole_debye"], rtol=1e-12)
    np.testing.assert_allclose(frame.info["mo_energies_ev"], out["mo_energies_ev"], rtol=1e-12)
    np.testing.assert_allclose(frame.get_positions(), water.positions_ang, atol=1e-8)


def test_predictions_equal_the_qm_layer_on_the_same_fock(cfg):
    train = [from_ase_name(m) for m in ("H2O", "NH3", "CH4")]
    focks = [_rhf(s)[1].get_fock() for s in train]
    model = ridge_fit(build_model(cfg, key=jax.random.PRNGKey(1)),
                      featurize(train, cfg.features, "sto-3g"), focks, (1e-3,))
    new = from_ase_name("CH3OH")
    out = predict_with_model(cfg, model, [new])[0]
    data = prepare([unlabelled_reference(new, "sto-3g")], cfg)
    batch = Batcher(data, cfg, 1, with_targets=False).batch([0])
    nao = int(data.nao[0])
    fock = np.asarray(model(batch["blocks"]))[0, :nao, :nao]
    mol, _ = _rhf(new)
    origin = new.charge_centre()
    with mol.with_common_orig(origin):
        dip_ints = mol.intor_symmetric("int1e_r", comp=3)
    inp = QMInputs.from_arrays(mol.intor_symmetric("int1e_ovlp"), dip_ints,
                               nuclear_dipole(new.numbers, new.positions, origin),
                               mol.nelectron // 2)
    ref = jax.jit(qm_forward)(fock, inp)
    np.testing.assert_allclose(out["mo_energies_ev"], np.asarray(ref["mo_energy"]) * EV,
                               rtol=UNITS_RTOL, atol=1e-9)
    np.testing.assert_allclose(out["gap_ev"], float(ref["gap"]) * EV, rtol=UNITS_RTOL)
    np.testing.assert_allclose(out["dipole_debye"], np.asarray(ref["dipole"]) * DEBYE,
                               rtol=UNITS_RTOL, atol=1e-10)
    np.testing.assert_allclose(out["polarizability_au"], np.asarray(ref["polarizability"]),
                               rtol=1e-9, atol=1e-9)
    assert len(out["mo_energies_ev"]) == mol.nao == 14


def test_unusable_molecules_are_listed_with_their_reason_and_json_is_strict(cfg, tmp_path,
                                                                            monkeypatch):
    text = ("3\nwater\nO 0 0 0\nH 0 0 0.96\nH 0.93 0 -0.24\n"
            "3\nnan water\nO 0 0 0\nH 0 0 nan\nH 0.93 0 -0.24\n"
            "2\nunknown element\nH 0 0 0\nQq 0 0 0.74\n"
            "2\nOH radical\nO 0 0 0\nH 0 0 0.97\n"
            "2\nclash\nH 0 0 0\nH 0 0 1e-7\n"
            "2\ntruncated\nH 0 0 0\n")
    path = tmp_path / "mixed.xyz"
    path.write_text(text)
    model = build_model(cfg, key=jax.random.PRNGKey(0))
    monkeypatch.setattr("hamlearn.training.predict.load_run", lambda run: (cfg, model))
    predict_mod.predict_file("unused", path, tmp_path / "pred")

    def no_nan(token):
        raise AssertionError(f"non-strict JSON token {token}")

    out = json.loads((tmp_path / "pred.json").read_text(), parse_constant=no_nan)
    assert [e["name"] for e in out] == [f"mixed[{i}]" for i in range(6)]
    assert [e["ok"] for e in out] == [True, False, False, False, False, False]
    reasons = [e.get("error", "") for e in out]
    assert "non-finite (NaN or inf) coordinates of atom(s) [1]" in reasons[1]
    assert "mixed.xyz: line 14: unknown element 'Qq' (frame 2)" in reasons[2]
    assert "odd electron count 9" in reasons[3]
    assert "1e-07 Angstrom apart" in reasons[4]
    assert "line 26: file ends inside a frame of 2 atoms (started line 23)" in reasons[5]
    assert len(ase.io.read(tmp_path / "pred.extxyz", ":")) == 1


def test_doubtful_predictions_are_flagged():
    water = from_ase_name("H2O")
    ref = unlabelled_reference(water, "sto-3g")
    pred = {"gap": 0.01 / EV, "homo": -0.2, "lumo": -0.2 + 0.01 / EV, "dipole": np.zeros(3),
            "polarizability": np.eye(3), "mo_energy": np.zeros(7), "mo_occ": np.ones(7)}
    entry = predict_mod.prediction_entry(water, ref, pred)
    assert any("gap 0.01 eV is below" in w for w in entry["warnings"])
    assert entry["overlap_min_eigenvalue"] == pytest.approx(
        np.linalg.eigvalsh(ref.model.ovlp)[0])
    assert not any("overlap" in w for w in entry["warnings"])
    nearly_singular = np.array([[1.0, 1 - 1e-6], [1 - 1e-6, 1.0]])
    ref = dataclasses.replace(ref, model=dataclasses.replace(ref.model, ovlp=nearly_singular))
    entry = predict_mod.prediction_entry(water, ref, {**pred, "gap": 1.0})
    assert entry["warnings"] == [w for w in entry["warnings"] if "overlap nearly singular" in w]
    nan_entry = predict_mod._finite_or_failed({"name": "x", "ok": True, "gap_ev": float("nan"),
                                               "dipole_debye": [0.0, float("inf"), 0.0]})
    assert nan_entry == {"name": "x", "ok": False,
                         "error": "x: the model predicted non-finite gap_ev, dipole_debye"}

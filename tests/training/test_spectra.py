"""UV-vis spectra of a trained run (`hamlearn.training.spectra`, `scripts/spectra.py`): on a
tiny run on the SCF baseline that has barely moved from it, the predicted excitations are the
sTDA-like layer's on pyscf's own converged STO-3G Fock; the pyscf reference is pyscf's CIS;
files, refusals and exit codes."""

import json

import ase.build
import ase.io
import numpy as np
import pytest
from test_cli import TINY, cli

from hamlearn.data.structure import Structure
from hamlearn.qm.excitations import STDASettings

SETTINGS = STDASettings(n_occ=3, n_virt=2, n_states=4)


@pytest.fixture(scope="module")
def scf_run(tmp_path_factory):
    """The tiny run on the SCF baseline, trained one step at a vanishing rate: its
    Hamiltonian is the converged RHF/STO-3G Fock (the ridge fit of a zero residual)."""
    from hamlearn.config import load_config
    from hamlearn.training.run import train

    cache = tmp_path_factory.mktemp("cache")
    run = tmp_path_factory.mktemp("runs") / "scf"
    cfg = load_config(TINY, [f"data.cache_dir={cache}", "model.baseline=scf", "train.epochs=1",
                             "train.learning_rate=1e-14", "eval.plots=false"])
    train(cfg, run, progress=False)
    return run


def _mol(name):
    return Structure.from_atoms(ase.build.molecule(name), name=name)


def test_predicted_excitations_are_the_layers_on_pyscfs_fock(scf_run, tmp_path):
    from hamlearn.data.reference import ReferenceSettings, model_basis_data, run_scf
    from hamlearn.qm import QMInputs, qm_forward
    from hamlearn.qm.excitations import ao_kernels, stda
    from hamlearn.training.spectra import predict_spectra

    mols = [_mol("CH3OH"), _mol("HCOOH")]  # not in the run's data
    entries = predict_spectra(scf_run, mols, settings=SETTINGS, reference=True)
    for s, e in zip(mols, entries):
        assert e["ok"], e
        mf = run_scf(s, "sto-3g", ReferenceSettings(method="rhf", target_bases=(),
                                                    conv_tol=1e-10))
        md = model_basis_data(s, "sto-3g", fock=mf.get_fock())
        inputs = QMInputs.from_model_data(md, s)
        out = qm_forward(md.fock, inputs)
        ao_atom = [a for a, *_ in mf.mol.ao_labels(fmt=False)]
        ex = stda(out["mo_energy"], out["mo_coeff"], out["mo_occ"], inputs.ovlp,
                  inputs.dip_ints, *ao_kernels(s.numbers, s.positions, ao_atom, SETTINGS),
                  SETTINGS)
        np.testing.assert_allclose(e["excitation_energies_ev"],
                                   np.asarray(ex["energies"]) * 27.211386245988, atol=1e-6)
        np.testing.assert_allclose(e["oscillator_strengths"], ex["strengths"], atol=1e-7)
        # the reference: pyscf's CIS (TDA of RHF) in the run's target basis
        td = mf.TDA()
        td.nstates, td.verbose = 4, 0
        td.kernel()
        ref = e["reference"]
        assert ref["basis"] == "sto-3g" and ref["method"] == "rhf"
        np.testing.assert_allclose(ref["excitation_energies_ev"], td.e * 27.211386245988,
                                   atol=1e-5)
        assert e["mae_ev"] == pytest.approx(np.mean(np.abs(
            np.subtract(e["excitation_energies_ev"], ref["excitation_energies_ev"]))))
        # the lowest bright state of each side: the first with f >= 0.05, by hand
        for side, got in (("model", e), ("reference", ref)):
            f = np.asarray(got["oscillator_strengths"])
            want = (np.asarray(got["excitation_energies_ev"])[f >= 0.05].min()
                    if (f >= 0.05).any() else None)
            assert e["lowest_bright_ev"][side] == pytest.approx(want)
        if None not in e["lowest_bright_ev"].values():
            assert e["lowest_bright_error_ev"] == pytest.approx(
                e["lowest_bright_ev"]["model"] - e["lowest_bright_ev"]["reference"])
    # the files: JSON entries, broadened spectra with their pyscf references, a plot
    from hamlearn.training.spectra import broadened, write_spectra

    written = write_spectra(entries, tmp_path / "sp")
    assert [p.name for p in written] == ["sp.json", "sp_uvvis.csv", "sp_uvvis.png"]
    assert json.loads(written[0].read_text()) == entries
    table = np.loadtxt(written[1], delimiter=",", skiprows=1)
    assert table.shape[1] == 2 + 2 * len(mols)  # energy, wavelength, model + pyscf each
    for k, e in enumerate(entries):
        np.testing.assert_allclose(table[:, 2 + 2 * k], broadened(
            e["excitation_energies_ev"], e["oscillator_strengths"], table[:, 0]))
    assert written[2].stat().st_size > 1000


def test_cli_refuses_bad_settings_before_any_work(scf_run):
    bad = cli("spectra.py", "--run", scf_run, "--structures", "missing.xyz", "--n-states", 99,
              "--n-occ", 3, "--n-virt", 2, check=False)
    assert bad.returncode == 2 and "n_states" in bad.stderr
    bad = cli("spectra.py", "--run", scf_run, "--structures", "missing.xyz", "--width-ev", 0,
              check=False)
    assert bad.returncode == 2 and "width" in bad.stderr


@pytest.mark.slow
def test_write_spectra_files_and_the_cli(scf_run, tmp_path):
    from hamlearn.training.spectra import broadened

    frames = [ase.build.molecule("H2O"), ase.build.molecule("CH3CHO")]
    frames[1].positions[1] = frames[1].positions[0] + 0.05  # two atoms on top of each other
    path = tmp_path / "mols.xyz"
    ase.io.write(path, frames)
    out = cli("spectra.py", "--run", scf_run, "--structures", path, "--out", tmp_path / "sp",
              "--n-states", 4, "--n-occ", 3, "--n-virt", 2, "--no-progress")
    assert "1 spectra, 1 failed" in out.stdout
    entries = json.loads((tmp_path / "sp.json").read_text())
    assert entries[0]["ok"] and not entries[1]["ok"] and "atoms" in entries[1]["error"]
    table = np.loadtxt(tmp_path / "sp_uvvis.csv", delimiter=",", skiprows=1)
    e = entries[0]
    np.testing.assert_allclose(table[:, 2], broadened(e["excitation_energies_ev"],
                                                      e["oscillator_strengths"], table[:, 0]))
    np.testing.assert_allclose(table[:, 1], 1239.84198 / table[:, 0])
    assert (tmp_path / "sp_uvvis.png").stat().st_size > 1000


def test_a_direct_run_has_no_spectrum(tmp_path):
    from hamlearn.config import ConfigError, load_config
    from hamlearn.runs import train
    from hamlearn.training.spectra import predict_spectra

    cfg = load_config(TINY, [f"data.cache_dir={tmp_path / 'cache'}", "model.kind=dipole",
                             "eval.plots=false"])
    train(cfg, tmp_path / "direct", progress=False)
    with pytest.raises(ConfigError, match="no Hamiltonian"):
        predict_spectra(tmp_path / "direct", [_mol("H2O")])


# ------------------------------------------------------------------- the ase Calculator
def test_ase_calculator_gives_the_runs_predictions_in_ase_units(scf_run):
    from ase.calculators.calculator import CalculationFailed
    from ase.units import Bohr, Debye
    from scipy.spatial.transform import Rotation

    from hamlearn.ase_calculator import HamlearnCalculator
    from hamlearn.training.predict import predict_structures

    atoms = ase.build.molecule("CH3OH")
    atoms.calc = HamlearnCalculator(scf_run)
    (entry,) = predict_structures(scf_run, [Structure.from_atoms(atoms)])
    mu = atoms.get_dipole_moment()  # through ase's own accessor
    np.testing.assert_allclose(mu, np.asarray(entry["dipole_debye"]) * Debye, rtol=1e-10)
    np.testing.assert_allclose(atoms.calc.get_property("polarizability"),
                               np.asarray(entry["polarizability_au"]) * Bohr**3, rtol=1e-10)
    assert atoms.calc.get_property("gap") == pytest.approx(entry["gap_ev"])
    assert len(atoms.calc.get_property("mo_energies")) == 14  # STO-3G CH3OH
    # a rotated copy: the dipole turns with the molecule, alpha as a rank-2 tensor
    rot = Rotation.random(random_state=4).as_matrix()
    turned = atoms.copy()
    turned.positions = atoms.positions @ rot.T
    turned.calc = atoms.calc
    np.testing.assert_allclose(turned.get_dipole_moment(), rot @ mu, atol=1e-8)
    np.testing.assert_allclose(turned.calc.get_property("polarizability"),
                               rot @ atoms.calc.get_property("polarizability", atoms) @ rot.T,
                               atol=1e-7)
    # a molecule the run cannot take fails loudly, not with numbers
    bad = ase.build.molecule("PH3")
    bad.calc = HamlearnCalculator(scf_run)
    with pytest.raises(CalculationFailed, match="P"):
        bad.get_dipole_moment()

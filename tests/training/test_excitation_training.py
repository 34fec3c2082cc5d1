"""Training on excitation energies (`train.loss.excitations`) end to end on tiny data: CIS
labels (RHF TDA) in STO-3G, the sTDA-like layer inside the training forward pass (padded
batches with filler molecules), its metric, its predictions equal to the spectra path's on
the same predicted Fock; config errors name the setting."""

import ase.build
import numpy as np
import pytest
from test_cli import TINY

from hamlearn.config import ConfigError, load_config
from hamlearn.data.structure import Structure

EXC = ["data.excitations=4", "train.loss.excitations=1", "train.loss.n_excitations=3",
       "train.loss.excitation_n_occ=3", "train.loss.excitation_n_virt=2", "eval.plots=false"]


@pytest.fixture(scope="module")
def exc_run(tmp_path_factory):
    from hamlearn.training.run import train

    cache = tmp_path_factory.mktemp("cache")
    run = tmp_path_factory.mktemp("runs") / "exc"
    # batches of 2 of the 3 training molecules: the second batch has a filler molecule
    cfg = load_config(TINY, [f"data.cache_dir={cache}", *EXC, "train.batch_size=2",
                             "train.epochs=2"])
    return run, train(cfg, run, progress=False)


def test_excitations_train_and_are_reported(exc_run):
    run, res = exc_run
    m = res.test_metrics
    assert np.isfinite(m["mae_excitations_ev"]) and m["mae_excitations_ev"] > 0
    # the plain minimal-basis row scores the same layer on the reference STO-3G Fock
    from hamlearn.runs import load_run
    from hamlearn.training.study import minimal_basis_result

    cfg, _ = load_run(run)
    plain = minimal_basis_result(res.data.refs, res.split.test, cfg)["metrics"]
    assert np.isfinite(plain["mae_excitations_ev"]) and plain["mae_excitations_ev"] > 0
    ref = res.data.refs[0]
    lab = ref.target("sto-3g")
    assert lab.excitation_energies.shape == (4,) and np.all(np.diff(lab.excitation_energies)
                                                             >= 0)


def test_prediction_entries_carry_the_layers_states_as_the_spectra_path_does(exc_run):
    from hamlearn.data.structure import Structure
    from hamlearn.qm.excitations import STDASettings
    from hamlearn.runs import load_run
    from hamlearn.training.evaluate import predict_raw
    from hamlearn.training.predict import predict_structures
    from hamlearn.training.spectra import excitations_of

    run, _ = exc_run
    mol = Structure.from_atoms(ase.build.molecule("CH3OH"), name="methanol")
    (entry,) = predict_structures(run, [mol])
    assert entry["ok"] and len(entry["excitation_energies_ev"]) == 3
    cfg, model = load_run(run)
    ((ref, p),) = predict_raw(model, cfg, [mol])
    again = excitations_of(p["fock"], ref, STDASettings(n_occ=3, n_virt=2, n_states=3))
    np.testing.assert_allclose(entry["excitation_energies_ev"],
                               again["energies"] * 27.211386245988, atol=1e-8)
    np.testing.assert_allclose(entry["oscillator_strengths"], again["strengths"], atol=1e-9)


@pytest.mark.parametrize("extra, match", [
    (["train.loss.n_excitations=7"], "n_excitations.*only 6 states"),
    (["data.excitations=2"], "data.excitations.*is 2"),
    (["train.loss.excitations=0", "train.loss.spectrum=1", "data.excitations=2"],
     "data.excitations.*is 2"),
    (["train.loss.spectrum=1", "train.loss.spectrum_max_ev=1.0"], "spectrum_max_ev.*exceed"),
])
def test_excitation_settings_are_checked_when_the_config_loads(tmp_path, extra, match):
    with pytest.raises(ConfigError, match=match):
        load_config(TINY, [f"data.cache_dir={tmp_path}", *EXC, *extra])


# ------------------------------------------------------------------ the spectrum target
def test_spectrum_label_is_the_broadened_sticks_cut_where_states_are_missing():
    """Gaussian sticks from the textbook formula (numpy), on the loss's grid, compared only
    below the label's last state less two widths."""
    from types import SimpleNamespace

    from hamlearn.config import LossConfig
    from hamlearn.training.targets import spectrum_of
    from hamlearn.units import HARTREE_TO_EV

    loss = LossConfig(spectrum=1.0, spectrum_width_ev=0.4, spectrum_min_ev=3.0,
                      spectrum_max_ev=12.0, spectrum_points=91)
    e_ev, f = np.array([5.0, 6.5, 9.0, 11.0]), np.array([0.1, 0.0, 0.7, 0.3])
    lab = SimpleNamespace(excitation_energies=e_ev / HARTREE_TO_EV, oscillator_strengths=f)
    value, mask = spectrum_of(lab, loss, 3)  # the three lowest states
    grid_ev = np.linspace(3.0, 12.0, 91)
    sigma = 0.4 / HARTREE_TO_EV
    z = (grid_ev[:, None] - e_ev[None, :3]) / 0.4
    expected = (np.exp(-z**2 / 2) / (sigma * np.sqrt(2 * np.pi))) @ f[:3]
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_array_equal(mask, grid_ev <= 9.0 - 0.8 + 1e-9)


def test_spectra_reference_reads_the_runs_label_cache(exc_run, monkeypatch):
    """spectra.py --reference takes a molecule's TDA from the run's label cache when it
    holds enough states (no SCF: run_scf would raise), and computes it otherwise."""
    from hamlearn.data import reference
    from hamlearn.runs import load_run
    from hamlearn.training.spectra import reference_excitations

    run, res = exc_run
    cfg, _ = load_run(run)
    ref = res.data.refs[0]
    lab = ref.target(cfg.train.target_basis)

    def no_scf(*args, **kwargs):
        raise RuntimeError("SCF run")

    monkeypatch.setattr(reference, "run_scf", no_scf)
    got = reference_excitations(ref.structure, cfg, 3)
    np.testing.assert_array_equal(got["energies"], lab.excitation_energies[:3])
    np.testing.assert_array_equal(got["strengths"], lab.oscillator_strengths[:3])
    np.testing.assert_array_equal(got["transition_dipoles"], lab.transition_dipoles[:3])
    with pytest.raises(RuntimeError, match="SCF run"):  # 5 states > the 4 cached
        reference_excitations(ref.structure, cfg, 5)
    with pytest.raises(RuntimeError, match="SCF run"):  # a molecule not in the cache
        reference_excitations(Structure.from_atoms(ase.build.molecule("HCOOH")), cfg, 3)


def test_spectra_predict_in_the_runs_training_window_unless_told_otherwise(exc_run):
    from hamlearn.qm.excitations import STDASettings
    from hamlearn.runs import load_run
    from hamlearn.training.spectra import run_stda_settings

    cfg, _ = load_run(exc_run[0])
    got = run_stda_settings(cfg)
    assert (got.n_occ, got.n_virt, got.n_states, got.ax) == (3, 2, 6, 0.2)  # 3 x 2 pairs
    assert run_stda_settings(cfg, n_occ=5, n_states=4).n_occ == 5
    assert run_stda_settings(load_config(TINY)) == STDASettings()  # not trained on them
    with pytest.raises(ValueError, match="exceeds"):
        run_stda_settings(cfg, n_states=7)


def test_lowest_bright_state_error_skips_dark_and_padded_states():
    """Model minus label energy of the first state with f >= 0.05 on each side; the
    layer's padded states (INVALID_ENERGY) never count; None where a side has none."""
    from types import SimpleNamespace

    from hamlearn.qm.excitations import INVALID_ENERGY
    from hamlearn.training.targets import _lowest_bright_error
    from hamlearn.units import HARTREE_TO_EV

    lab = SimpleNamespace(excitation_energies=np.array([4.0, 5.0, 6.0]) / HARTREE_TO_EV,
                          oscillator_strengths=np.array([0.001, 0.3, 0.9]))
    pred = {"excitation_energies": np.array([4.2, 4.9, 5.5, INVALID_ENERGY]) / HARTREE_TO_EV,
            "oscillator_strengths": np.array([0.01, 0.04, 0.6, 1.0])}
    pred["excitation_energies"][3] = INVALID_ENERGY
    assert _lowest_bright_error(pred, lab) == pytest.approx(5.5 - 5.0, abs=1e-12)
    dark = {**pred, "oscillator_strengths": np.array([0.01, 0.04, 0.0, 1.0])}
    assert _lowest_bright_error(dark, lab) is None  # only the padded state is "bright"
    assert _lowest_bright_error({"excitation_energies": pred["excitation_energies"]},
                                lab) is None


def test_spectrum_target_trains_and_is_reported(tmp_path):
    """Training on the broadened spectrum alone (with the MO energies): the layer returns
    the spectrum on the loss's grid, which equals the broadened layer states; the metric is
    reported for the model and the plain minimal-basis row."""
    import jax

    from hamlearn.runs import load_run
    from hamlearn.training.evaluate import predict_raw
    from hamlearn.training.run import train
    from hamlearn.training.study import minimal_basis_result
    from hamlearn.units import HARTREE_TO_EV

    spec = ["train.loss.excitations=0", "train.loss.spectrum=1", "train.loss.spectrum_points=61",
            "train.epochs=2"]
    cfg = load_config(TINY, [f"data.cache_dir={tmp_path / 'cache'}", *EXC, *spec])
    res = train(cfg, tmp_path / "run", progress=False)
    assert np.isfinite(res.test_metrics["mae_spectrum_per_ev"])
    assert res.test_metrics["mae_spectrum_per_ev"] > 0
    plain = minimal_basis_result(res.data.refs, res.split.test, cfg)["metrics"]
    assert np.isfinite(plain["mae_spectrum_per_ev"])
    cfg, model = load_run(tmp_path / "run")
    mol = res.data.refs[0].structure
    ((_, p),) = predict_raw(model, cfg, [mol])
    from hamlearn.qm.excitations import broadened_spectrum

    grid = np.linspace(2.0, 14.0, 61) / HARTREE_TO_EV
    w, f = np.asarray(p["excitation_energies"]), np.asarray(p["oscillator_strengths"])
    real = w < 1e3
    again = broadened_spectrum(w[real], f[real], grid, 0.3 / HARTREE_TO_EV)
    np.testing.assert_allclose(p["spectrum"], jax.device_get(again), rtol=1e-10, atol=1e-12)
    assert np.abs(p["spectrum"]).max() > 0

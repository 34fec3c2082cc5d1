"""Training on excitation energies (`train.loss.excitations`) end to end on tiny data: CIS
labels (RHF TDA) in STO-3G, the sTDA-like layer inside the training forward pass (padded
batches with filler molecules), its metric, its predictions equal to the spectra path's on
the same predicted Fock; config errors name the setting."""

import ase.build
import numpy as np
import pytest
from test_cli import TINY

from hamlearn.config import ConfigError, load_config

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
])
def test_excitation_settings_are_checked_when_the_config_loads(tmp_path, extra, match):
    with pytest.raises(ConfigError, match=match):
        load_config(TINY, [f"data.cache_dir={tmp_path}", *EXC, *extra])

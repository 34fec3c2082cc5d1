"""Direct surrogate models through the user CLIs: train.py with ``model.kind: dipole`` /
``polarizability`` writes the usual run folder, evaluate.py and predict.py read it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "training" / "data" / "tiny.yaml"


def cli(script, *args):
    env = dict(os.environ, MPLBACKEND="Agg", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *map(str, args)],
                         capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("direct-cache")


def train(kind, run, cache):
    return cli("train.py", "--config", TINY, "--workdir", run, "--no-progress",
               "--set", f"data.cache_dir={cache}", "--set", f"model.kind={kind}",
               "--set", "model.ridge_alpha=[1.0e-6, 1.0e-2]")


@pytest.fixture(scope="module")
def dipole_run(tmp_path_factory, cache):
    run = tmp_path_factory.mktemp("runs") / "dipole"
    return run, train("dipole", run, cache)


def test_train_direct_dipole_writes_the_run_folder(dipole_run):
    run, out = dipole_run
    for name in ("config.yaml", "split.json", "log.jsonl", "metrics_test.json",
                 "checkpoints/best.json", "checkpoints/last.json"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics_test.json").read_text())
    assert metrics["n_molecules"] == 1 and np.isfinite(metrics["mae_dipole_debye"])
    assert "mae_eigenvalues_ev" not in metrics  # a direct model predicts one property
    assert "test set (1 molecules" in out.stdout and "dipole_debye" in out.stdout
    assert json.loads((run / "split.json").read_text())["test"] == [4]


def test_evaluate_and_predict_direct_dipole(dipole_run, tmp_path):
    import ase.build
    import ase.io

    run, _ = dipole_run
    out = cli("evaluate.py", "--run", run, "--out", tmp_path / "ev", "--no-progress")
    report = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    test = json.loads((run / "metrics_test.json").read_text())
    assert report["metrics"] == test and "dipole_debye" in out.stdout  # the test split again
    path = tmp_path / "two.xyz"
    ase.io.write(path, [ase.build.molecule("H2O"), ase.build.molecule("CH3OH")])
    cli("predict.py", "--run", run, "--structures", path, "--out", tmp_path / "pred")
    result = json.loads((tmp_path / "pred.json").read_text())
    frames = ase.io.read(tmp_path / "pred.extxyz", ":")
    assert len(result) == len(frames) == 2
    np.testing.assert_allclose(frames[1].info["dipole_debye"], result[1]["dipole_debye"])
    assert np.shape(result[0]["dipole_debye"]) == (3,)

@pytest.mark.slow  # the in-process run test covers the polarizability model
def test_train_direct_polarizability(tmp_path, cache):
    run = tmp_path / "alpha"
    train("polarizability", run, cache)
    metrics = json.loads((run / "metrics_test.json").read_text())
    assert np.isfinite(metrics["mae_polarizability_pct"])
    assert np.isfinite(metrics["mae_polarizability_au"])
    assert "mae_dipole_debye" not in metrics

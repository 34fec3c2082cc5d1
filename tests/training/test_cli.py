"""The CLIs as a user runs them: a two-step smoke run of train.py, evaluate.py and
predict.py on it, resume after kill -9 equal to the uninterrupted run, config errors
before any work, determinism (same seed, same weights)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "training" / "data" / "tiny.yaml"
# one step per molecule, a checkpoint after every step: resume can be checked mid-epoch
RESUMABLE = ["train.batch_size=1", "train.epochs=2", "train.checkpoint_every=1"]


def cli(script, *args, check=True, env_extra=None, **kw):
    env = dict(os.environ, MPLBACKEND="Agg", JAX_PLATFORMS="cpu", **(env_extra or {}))
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *map(str, args)],
                         capture_output=True, text=True, env=env, timeout=900, **kw)
    if check:
        assert out.returncode == 0, out.stderr[-4000:]
    return out


def train_log(run):
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows if r["kind"] == "train"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, cache):
    run = tmp_path_factory.mktemp("runs") / "smoke"
    out = cli("train.py", "--config", TINY, "--workdir", run, "--no-progress",
              "--set", f"data.cache_dir={cache}", *sum((["--set", s] for s in RESUMABLE), []))
    return run, out


def test_train_smoke(smoke_run):
    run, out = smoke_run
    assert "test set (1 molecules" in out.stdout
    for name in ("config.yaml", "split.json", "scales.json", "log.jsonl", "metrics_test.json",
                 "checkpoints/best.json", "checkpoints/last.json", "training_curves.png"):
        assert (run / name).is_file(), name
    steps = [s for s, _ in train_log(run)]
    assert steps == list(range(1, 7))  # 3 molecules x 2 epochs
    metrics = json.loads((run / "metrics_test.json").read_text())
    assert np.isfinite(metrics["mae_eigenvalues_ev"]) and metrics["n_molecules"] == 1


def test_evaluate_on_structure_file(smoke_run, tmp_path):
    import ase.build
    import ase.io

    run, _ = smoke_run
    path = tmp_path / "two.xyz"
    ase.io.write(path, [ase.build.molecule("H2O"), ase.build.molecule("CH3OH")])
    out = cli("evaluate.py", "--run", run, "--structures", path, "--out", tmp_path / "ev",
              "--no-progress")
    report = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert report["metrics"]["n_molecules"] == 2
    assert set(report["by_heavy_atoms"]) == {"1", "2"}
    assert (tmp_path / "ev" / "parity.png").stat().st_size > 10_000
    assert "eigenvalues_ev" in out.stdout and "dipole_debye" in out.stdout


def test_predict_writes_extxyz_and_json(smoke_run, tmp_path):
    import ase.build
    import ase.io

    run, _ = smoke_run
    path = tmp_path / "new.xyz"
    ase.io.write(path, [ase.build.molecule("CH3CHO")])
    cli("predict.py", "--run", run, "--structures", path, "--out", tmp_path / "pred")
    frames = ase.io.read(tmp_path / "pred.extxyz", ":")
    result = json.loads((tmp_path / "pred.json").read_text())
    assert len(frames) == 1 and len(result) == 1
    assert len(result[0]["mo_energies_ev"]) == 19  # STO-3G AOs of CH3CHO
    assert result[0]["n_occupied"] == 12
    assert np.asarray(frames[0].info["polarizability_au"]).shape == (3, 3)
    assert np.isclose(result[0]["gap_ev"], result[0]["lumo_ev"] - result[0]["homo_ev"])


def test_resume_after_kill9_matches_uninterrupted(smoke_run, cache, tmp_path):
    """kill -9 right after step 5, whose checkpoint never came (every 2 steps): the resumed
    run must replay step 5 from the step-4 model and Adam state and end as the reference."""
    reference, _ = smoke_run
    run = tmp_path / "killed"
    sets = ["--set", f"data.cache_dir={cache}",
            *sum((["--set", s] for s in RESUMABLE + ["train.checkpoint_every=2"]), [])]
    args = ["train.py", "--config", TINY, "--workdir", run, "--no-progress", *sets]
    killed = cli(*args, check=False, env_extra={"HAMLEARN_FAULT": "train_step:5:KILL"})
    assert killed.returncode == -signal.SIGKILL
    assert [s for s, _ in train_log(run)] == [1, 2, 3, 4, 5]  # step 5 ran, then the kill
    assert json.loads((run / "checkpoints" / "last.json").read_text())["step"] == 4
    out = cli(*args, "--resume")
    assert "resumed from the checkpoint at step 4" in out.stderr
    assert "steps: 6" in out.stdout
    # Same steps, same losses. Across processes the ridge initialisation goes through
    # BLAS, which can differ in the last digits (~1e-9 relative); a wrong resume
    # (optimizer state, batch order, step count) differs at >= 1e-3.
    # In-process resume is compared bitwise in tests/training/test_loop.py.
    resumed, uninterrupted = train_log(run), train_log(reference)
    assert [s for s, _ in resumed] == [s for s, _ in uninterrupted] == list(range(1, 7))
    np.testing.assert_allclose([v for _, v in resumed], [v for _, v in uninterrupted],
                               rtol=1e-7)


def test_resume_with_a_damaged_or_missing_checkpoint_is_one_line(smoke_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(smoke_run[0], run)
    info = run / "checkpoints" / "last.json"
    info.write_text(info.read_text()[:20])  # truncated JSON
    out = cli("train.py", "--config", run / "config.yaml", "--workdir", run, "--resume",
              check=False)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"checkpoint file {info} is damaged (not valid JSON" in out.stderr
    shutil.rmtree(run / "checkpoints")
    out = cli("train.py", "--config", run / "config.yaml", "--workdir", run, "--resume",
              check=False)
    assert out.returncode == 2 and "--resume: no checkpoint in" in out.stderr


def test_resume_with_a_changed_config_is_refused(smoke_run, cache):
    run, _ = smoke_run
    out = cli("train.py", "--config", TINY, "--workdir", run, "--resume", "--set",
              f"data.cache_dir={cache}", "--set", "train.learning_rate=0.5", check=False)
    assert out.returncode == 2 and "the config differs from the run's" in out.stderr


@pytest.mark.slow  # the kill -9 test already compares two processes step by step
def test_same_seed_same_weights(smoke_run, cache, tmp_path):
    reference, _ = smoke_run
    run = tmp_path / "again"
    cli("train.py", "--config", TINY, "--workdir", run, "--no-progress",
        "--set", f"data.cache_dir={cache}", *sum((["--set", s] for s in RESUMABLE), []))
    def blob(r):
        return json.loads((r / "checkpoints" / "best.json").read_text())["blob"]

    assert blob(run) == blob(reference)  # the blob name carries its SHA-256
    assert (run / "checkpoints" / blob(run)).read_bytes() == \
        (reference / "checkpoints" / blob(reference)).read_bytes()


def test_config_errors_before_any_work(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("  learning_rate:", "  learnig_rate:"))
    out = cli("train.py", "--config", bad, "--workdir", tmp_path / "r", check=False)
    assert out.returncode == 2
    assert "unknown key 'train.learnig_rate'" in out.stderr and "bad.yaml:" in out.stderr
    assert not (tmp_path / "r").exists()


def test_existing_run_needs_resume(smoke_run, cache):
    run, _ = smoke_run
    out = cli("train.py", "--config", TINY, "--workdir", run, "--set",
              f"data.cache_dir={cache}", check=False)
    assert out.returncode == 2 and "--resume" in out.stderr


def test_predict_reuses_stored_traces_in_a_new_process(smoke_run, tmp_path):
    """The second predict.py process runs the stored traces (hamlearn.aot): the same
    numbers, no new export, and e3nn (only needed to trace the features) is never imported."""
    import ase.build
    import ase.io

    run, _ = smoke_run
    path = tmp_path / "new.xyz"
    ase.io.write(path, [ase.build.molecule("CH3CH2OH")])
    env = {"HAMLEARN_JAX_CACHE": str(tmp_path / "jax")}
    script = str(ROOT / "scripts" / "predict.py")
    probe = (f"import runpy, sys; sys.argv = [{script!r}] + sys.argv[1:]\n"
             "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
             "except SystemExit as e:\n    assert not e.code, e.code\n"
             "print('E3NN_IMPORTED', 'e3nn_jax' in sys.modules)")
    outs = []
    for k in range(2):
        out = subprocess.run(
            [sys.executable, "-c", probe, "--run", str(run), "--structures", str(path),
             "--out", str(tmp_path / f"p{k}"), "--no-progress"],
            capture_output=True, text=True, timeout=900,
            env=dict(os.environ, MPLBACKEND="Agg", JAX_PLATFORMS="cpu", **env))
        assert out.returncode == 0, out.stderr[-4000:]
        outs.append(out.stdout)
        if k == 0:
            stored = sorted(p.name for p in (tmp_path / "jax" / "export").glob("*.bin"))
    # block features, the model + QM layer, and the atom features of the OOD score
    assert {n.split("-")[0] for n in stored} == {"features", "forward", "atom_features"}
    assert sorted(p.name for p in (tmp_path / "jax" / "export").glob("*.bin")) == stored
    assert "E3NN_IMPORTED True" in outs[0] and "E3NN_IMPORTED False" in outs[1]
    first, second = (json.loads((tmp_path / f"p{k}.json").read_text()) for k in range(2))
    assert first == second and first[0]["ok"]

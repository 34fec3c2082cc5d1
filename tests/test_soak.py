"""Interruption soak (slow): training and data generation killed with SIGKILL at seeded
random points, >= 10 times each, resumed each time, end exactly as the uninterrupted run.

The kills land through the test-only fault hook (`hamlearn.faults`) at seeded points: after
a train step that may or may not be checkpointed, between a checkpoint's leaves and its
JSON, after a cache record, and between a record's temporary file and its rename.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hamlearn.data.cache import Cache

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "training" / "data" / "tiny.yaml"
TRAIN_SETS = ["train.batch_size=1", "train.epochs=6", "train.checkpoint_every=2"]  # 18 steps


def _run(args, fault=None, timeout=600):
    env = dict(os.environ, MPLBACKEND="Agg", JAX_PLATFORMS="cpu")
    if fault:
        env["HAMLEARN_FAULT"] = fault
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def _log(run):
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [(r["kind"], r["step"], r.get("loss")) for r in rows]


def test_training_killed_many_times_ends_as_the_uninterrupted_run(tmp_path):
    cache = tmp_path / "cache"

    def train(run, *extra, fault=None):
        sets = sum((["--set", s] for s in TRAIN_SETS + [f"data.cache_dir={cache}"]), [])
        return _run([ROOT / "scripts" / "train.py", "--config", TINY, "--workdir", run,
                     "--no-progress", *sets, *extra], fault)

    reference = tmp_path / "reference"
    assert train(reference).returncode == 0
    rng = np.random.default_rng(20261202)
    run, kills, replayed, resume = tmp_path / "killed", 0, 0, []
    for attempt in range(40):
        point = rng.choice(["train_step", "checkpoint_blob"], p=[0.8, 0.2])
        n = int(rng.integers(2, 5)) if point == "train_step" else int(rng.integers(1, 3))
        out = train(run, *resume, fault=f"{point}:{n}:KILL")
        if out.returncode == 0:
            break
        assert out.returncode == -signal.SIGKILL, out.stderr[-3000:]
        kills += 1
        logged = max(s for k, s, _ in _log(run) if k == "train")
        checkpointed = json.loads((run / "checkpoints" / "last.json").read_text())["step"]
        replayed += logged - checkpointed
        resume = ["--resume"]
    assert out.returncode == 0 and kills >= 10, (kills, out.stderr[-3000:])
    assert replayed > 0  # some kills landed after un-checkpointed steps
    got, want = _log(run), _log(reference)
    assert [(k, s) for k, s, _ in got] == [(k, s) for k, s, _ in want]  # no step lost or doubled
    np.testing.assert_allclose([v for *_, v in got], [v for *_, v in want], rtol=1e-7)
    from hamlearn.runs import load_run

    (_, a), (_, b) = load_run(run, "last"), load_run(reference, "last")
    import jax

    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-7, atol=1e-12)


MOLECULES = ["H2", "LiH", "H2O", "NH3", "CH4", "HF", "HCN", "H2CO", "CH3OH", "C2H2", "C2H4",
             "N2", "CO", "H2O2", "CH3CN", "HCOOH"]
GEN_CONFIG = """data:
  sources:
{sources}
  method: rhf
  target_bases: [6-31g]
  polarizability: [uncoupled]
  cache_dir: {cache}
  n_workers: 1
"""


def test_data_generation_killed_many_times_loses_and_duplicates_nothing(tmp_path):
    sources = "\n".join(f"    - ase: {m}" for m in MOLECULES)

    def generate(cache, fault=None):
        cfg = tmp_path / f"{cache.name}.yaml"
        cfg.write_text(GEN_CONFIG.format(sources=sources, cache=cache))
        return _run([ROOT / "scripts" / "generate_data.py", "--config", cfg, "--no-progress"],
                    fault)

    reference = tmp_path / "reference"
    assert generate(reference).returncode == 0
    rng = np.random.default_rng(7)
    killed, kills = tmp_path / "killed", 0
    for attempt in range(60):
        point = rng.choice(["record", "record_tmp"], p=[0.7, 0.3])
        out = generate(killed, f"{point}:{int(rng.integers(1, 3))}:KILL")
        if out.returncode == 0:
            break
        assert out.returncode == -signal.SIGKILL, out.stderr[-3000:]
        kills += 1
    assert out.returncode == 0 and kills >= 10, (kills, out.stdout, out.stderr[-2000:])
    assert f"{len(MOLECULES)} ok" in out.stdout
    got, want = Cache(killed), Cache(reference)
    assert got.keys() == want.keys() and len(got.keys()) == len(MOLECULES)  # none lost/doubled
    for key in want.keys():
        a, b = got.get(key), want.get(key)  # checksum verified on read: none corrupt
        assert a is not None and not got.corrupted
        np.testing.assert_allclose(a.labels["6-31g"].mo_energy, b.labels["6-31g"].mo_energy,
                                   atol=1e-8)

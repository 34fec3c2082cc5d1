"""The dataset driver: cache reuse, failures collected, local/Dask parallel paths, resume
after kill -9 and Ctrl-C."""

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import hamlearn.data.generate as gen
from hamlearn.data.cache import Cache, cache_key
from hamlearn.data.reference import ReferenceSettings
from hamlearn.data.structure import Structure

REPO = Path(__file__).resolve().parents[2]
FAST = ReferenceSettings(method="rhf", target_bases=(), polarizability=("uncoupled",))


@pytest.fixture
def counted(monkeypatch):
    """Count `compute_reference` calls made in this process."""
    calls = []
    real = gen.compute_reference

    def spy(structure, settings):
        calls.append(structure.name)
        return real(structure, settings)

    monkeypatch.setattr(gen, "compute_reference", spy)
    return calls


def tiny(small_molecules, *names):
    return [small_molecules[n] for n in names]


def test_second_run_computes_nothing(tmp_path, small_molecules, counted):
    mols = tiny(small_molecules, "H2", "H2O")
    first = gen.generate(mols, FAST, tmp_path, n_workers=1, progress=False)
    assert counted == ["H2", "H2O"] and (first.n_computed, first.n_cached) == (2, 0)
    renamed = [dataclasses.replace(m, name=f"again-{m.name}") for m in mols]
    second = gen.generate(renamed, FAST, tmp_path, n_workers=1, progress=False)
    assert counted == ["H2", "H2O"] and (second.n_computed, second.n_cached) == (0, 2)
    assert [r.structure.name for r in second.references] == ["again-H2", "again-H2O"]
    for a, b in zip(first.references, second.references):
        np.testing.assert_array_equal(a.target("sto-3g").mo_energy, b.target("sto-3g").mo_energy)


def test_failures_are_reported_and_the_rest_completes(tmp_path, small_molecules, counted):
    good = small_molecules["H2O"]
    nan = Structure([1, 1], [[0, 0, 0], [0, 0, np.nan]], name="broken-h2")
    odd = Structure([8, 1], [[0, 0, 0], [0, 0, 1.8]], name="OH")
    result = gen.generate([nan, good, odd], FAST, tmp_path, n_workers=1, progress=False)
    assert [r.structure.name for r in result.references] == ["H2O"]
    assert [(f.index, f.name) for f in result.failures] == [(0, "broken-h2"), (2, "OH")]
    assert "broken-h2: non-finite" in result.failures[0].reason
    assert "OH: odd electron count" in result.failures[1].reason
    summary = result.summary()
    assert "1 ok" in summary and "2 failed" in summary and "FAILED #2 OH: odd" in summary
    assert len(Cache(tmp_path).keys()) == 1  # failures are not cached: retried next run


def test_damaged_record_is_recomputed(tmp_path, small_molecules, counted):
    mols = tiny(small_molecules, "H2")
    gen.generate(mols, FAST, tmp_path, n_workers=1, progress=False)
    path = Cache(tmp_path).path(cache_key(mols[0], FAST))
    path.write_bytes(path.read_bytes()[:-40])
    result = gen.generate(mols, FAST, tmp_path, n_workers=1, progress=False)
    assert counted == ["H2", "H2"] and result.n_corrupt == 1 and result.n_computed == 1
    assert "1 damaged cache records recomputed" in result.summary()


def test_plan_workers_never_oversubscribes(monkeypatch):
    monkeypatch.setattr(gen, "available_cores", lambda: 8)
    assert gen.plan_workers(0, 1, 100) == (8, 1)
    assert gen.plan_workers(0, 2, 100) == (4, 2)
    assert gen.plan_workers(0, 1, 3) == (3, 2)  # spare cores become threads
    assert gen.plan_workers(0, 1, 1) == (1, 8)
    assert gen.plan_workers(2, 1, 100) == (2, 1)
    assert gen.plan_workers(16, 1, 100) == (8, 1)
    assert gen.plan_workers(4, 4, 100) == (4, 2)


def _energies(result):
    return [r.target("sto-3g").mo_energy for r in result.references]


def test_local_worker_processes_match_serial(tmp_path, small_molecules):
    mols = tiny(small_molecules, "H2", "H2O", "NH3")
    par = gen.generate(mols, FAST, tmp_path / "par", n_workers=2, progress=False)
    ser = gen.generate(mols, FAST, None, n_workers=1, progress=False)
    assert par.n_computed == 3 and not par.failures
    assert [r.structure.name for r in par.references] == ["H2", "H2O", "NH3"]
    for a, b in zip(_energies(par), _energies(ser)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def test_dask_scheduler_path(tmp_path, small_molecules):
    import pyscf.lib
    from distributed import LocalCluster

    threads = pyscf.lib.num_threads()
    mols = tiny(small_molecules, "H2", "H2O")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        result = gen.generate(mols, FAST, tmp_path, scheduler=cluster.scheduler_address,
                              progress=False)
    pyscf.lib.num_threads(threads)  # the in-process worker set it
    assert result.n_computed == 2 and not result.failures
    for a, b in zip(_energies(result), _energies(gen.generate(mols, FAST, None, n_workers=1,
                                                              progress=False))):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


# --------------------------------------------------------------------------- interruption
RESUME_CONFIG = """data:
  sources:
{sources}
  method: rhf
  target_bases: [6-31g*]
  polarizability: [uncoupled]
  cache_dir: cache
  n_workers: {workers}
"""
MOLECULES = ["H2O", "NH3", "CH4", "HF", "HCN", "H2CO", "CH3OH"]


def _start(tmp_path, workers, fault, molecules=MOLECULES):
    """generate_data.py in its own session, interrupted by the test-only fault hook at a
    chosen record (hamlearn.faults): the kill cannot land after the run ended."""
    sources = "\n".join(f"    - ase: {m}" for m in molecules)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(RESUME_CONFIG.format(sources=sources, workers=workers))
    cmd = [sys.executable, str(REPO / "scripts" / "generate_data.py"), "--config", str(cfg),
           "--no-progress"]
    env = dict(os.environ, HAMLEARN_FAULT=fault)
    # the child must get SIGINT at its default, as in a terminal: a test run started in the
    # background of a non-interactive shell has SIGINT ignored, which a child inherits, and
    # Python then installs no KeyboardInterrupt handler. A handler (unlike "ignore") is
    # reset to the default by exec; no preexec_fn, whose fork JAX warns about.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True, env=env)
    finally:
        signal.signal(signal.SIGINT, before)


def _summary_counts(stdout: str) -> tuple[int, int]:
    m = re.search(r"(\d+) from cache, (\d+) computed", stdout)
    assert m, stdout
    return int(m[1]), int(m[2])


def _assert_group_gone(pgid: int, timeout=10):
    """No process of the run's session (the workers) is left."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError("worker processes outlived the interrupted run")


def _rerun_completes(cmd, n_before):
    cmd = cmd + ["--set", "data.n_workers=1"]  # no worker start-up: a faster test
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    cached, computed = _summary_counts(out)
    assert cached == n_before and cached + computed == len(MOLECULES), out
    assert f"{len(MOLECULES)} ok" in out


def test_kill_9_loses_only_molecules_in_flight(tmp_path):
    cmd, proc = _start(tmp_path, workers=1, fault="record:2:KILL")
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    kept = Cache(tmp_path / "cache")
    assert len(kept.keys()) == 2  # killed right after the second record
    assert all(kept.get(k) is not None for k in kept.keys())  # whole records only
    _rerun_completes(cmd, 2)


def test_ctrl_c_stops_workers_promptly_and_resumes(tmp_path):
    t0 = time.time()
    cmd, proc = _start(tmp_path, workers=2, fault="record:1:INT")  # Ctrl-C after record 1
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    _assert_group_gone(proc.pid)
    n_before = len(Cache(tmp_path / "cache").keys())
    assert 1 <= n_before < len(MOLECULES)
    assert time.time() - t0 < 120
    _rerun_completes(cmd, n_before)


def _cli_main():
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_data",
                                                  REPO / "scripts" / "generate_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.parametrize("config, message", [
    ("data:\n  sources:\n    - ase: H2O\n  metod: rhf\n", r"c\.yaml:4: unknown key 'data\.metod'"),
    ("data:\n  sources:\n    - file: missing.xyz\n",
     r"data\.sources\.0: .*missing\.xyz: structure file not found"),
    ("data:\n  method: b3lpy\n", r"data\.method: 'b3lpy'"),
])
def test_cli_bad_config_or_file_exits_2_naming_where(tmp_path, capsys, config, message):
    (tmp_path / "bad.xyz").write_text("2\n\nH 0 0 0\nH 0 0 zero\n")
    (tmp_path / "c.yaml").write_text(config)
    assert _cli_main()(["--config", str(tmp_path / "c.yaml"), "--no-progress"]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_cli_summary_and_strict_exit(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(
        "data:\n  sources:\n    - ase: H2\n    - ase: OH\n  method: rhf\n  target_bases: []\n"
        "  polarizability: [uncoupled]\n  n_workers: 1\n")
    main = _cli_main()
    assert main(["--config", str(tmp_path / "c.yaml"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 molecules: 1 ok (0 from cache, 1 computed), 1 failed" in out
    assert "FAILED #1 OH: odd electron count 9 with spin=0" in out
    assert main(["--config", str(tmp_path / "c.yaml"), "--no-progress", "--strict"]) == 1

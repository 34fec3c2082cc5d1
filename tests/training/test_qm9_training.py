"""Training on QM9's published invariant labels (the shipped slice), and the invariant
targets themselves: values against numpy, exact rotation invariance, gradients against
finite differences (including at a zero dipole and an isotropic tensor)."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hamlearn.config import ConfigError, load_config
from hamlearn.training.targets import anisotropy, iso, safe_norm

ROOT = Path(__file__).resolve().parents[2]
TINY_QM9 = ["data.sources=[{qm9: {slice: true, max_heavy: 2}}]", "data.method=rhf",
            "data.n_workers=1", "data.grid_level=1", "train.epochs=2", "train.batch_size=0",
            "train.split={kind: explicit, train: [0, 1, 2, 3, 4], validation: [5], "
            "test: [6, 7]}", "features.species=[1, 6, 7, 8]", "features.n_radial=3",
            "features.l_max=2", "eval.plots=false"]


def test_invariants_against_numpy_and_rotations(rng):
    a = rng.normal(size=(5, 3, 3))
    a = a + a.swapaxes(1, 2)
    rot = Rotation.random(random_state=1).as_matrix()
    ar = np.einsum("ij,bjk,lk->bil", rot, a, rot)
    np.testing.assert_allclose(iso(a), np.trace(a, axis1=1, axis2=2) / 3, rtol=1e-14)
    ev = np.linalg.eigvalsh(a)
    gamma = np.sqrt(0.5 * ((ev[:, 0] - ev[:, 1])**2 + (ev[:, 1] - ev[:, 2])**2
                           + (ev[:, 2] - ev[:, 0])**2))  # the textbook form
    np.testing.assert_allclose(anisotropy(jnp.asarray(a)), gamma, rtol=1e-12)
    np.testing.assert_allclose(anisotropy(jnp.asarray(ar)), gamma, rtol=1e-12)
    d = rng.normal(size=(4, 3))
    np.testing.assert_allclose(safe_norm(jnp.asarray(d)), np.linalg.norm(d, axis=1), rtol=1e-14)


@pytest.mark.parametrize("where", ["generic", "degenerate"])
def test_invariant_gradients_against_finite_differences(rng, where):
    if where == "generic":
        d0, a0 = rng.normal(size=3), rng.normal(size=(3, 3))
        a0 = a0 + a0.T
    else:  # zero dipole, isotropic tensor: the square roots' kinks
        d0, a0 = np.zeros(3), 7.0 * np.eye(3)
    g_d = jax.grad(lambda d: safe_norm(d))(jnp.asarray(d0))
    g_a = jax.grad(lambda a: anisotropy(a))(jnp.asarray(a0))
    assert np.isfinite(g_d).all() and np.isfinite(g_a).all()
    if where == "degenerate":
        np.testing.assert_array_equal(g_d, 0.0)
        np.testing.assert_array_equal(g_a, 0.0)
        return
    h = 1e-6
    for k in range(3):
        e = np.zeros(3)
        e[k] = h
        fd = (np.linalg.norm(d0 + e) - np.linalg.norm(d0 - e)) / (2 * h)
        assert float(g_d[k]) == pytest.approx(fd, abs=1e-8)
    for i in range(3):
        for j in range(3):
            e = np.zeros((3, 3))
            e[i, j] = h
            fd = (float(anisotropy(jnp.asarray(a0 + e))) - float(anisotropy(jnp.asarray(a0 - e)))
                  ) / (2 * h)
            assert float(g_a[i, j]) == pytest.approx(fd, abs=1e-7)


@pytest.fixture(scope="module")
def qm9_run(tmp_path_factory):
    from hamlearn.training.run import train

    root = tmp_path_factory.mktemp("qm9")
    cfg = load_config(ROOT / "configs" / "qm9_frontier.yaml",
                      [*TINY_QM9, f"data.cache_dir={root / 'cache'}", "train.loss.r2=1"])
    return train(cfg, root / "run", progress=False), cfg


def test_trains_on_published_invariants(qm9_run):
    from hamlearn.data.qm9 import QM9

    result, cfg = qm9_run
    refs = result.data.refs
    assert [r.structure.name for r in refs][:3] == ["qm9_000001", "qm9_000002", "qm9_000003"]
    qm9 = QM9.open(slice_only=True)
    water = refs[2].target("6-31g(2df,p)")
    assert water.source == "qm9" and water.mo_energy is None and water.dipole is None
    assert water.homo == qm9.labels(qm9.row_of(3)).homo == -0.2928
    assert water.invariant("polarizability_iso_coupled") == 6.31
    assert refs[2].target("sto-3g").source == "pyscf"  # the model basis: computed
    for key in ("homo_ev", "lumo_ev", "dipole_norm_debye", "polarizability_iso_au",
                "polarizability_aniso_au", "r2_au"):
        assert np.isfinite(result.test_metrics[f"mae_{key}"]), key
    assert "mae_eigenvalues_ev" not in result.test_metrics
    assert "mae_dipole_debye" not in result.test_metrics


def test_full_tensor_targets_need_labels_qm9_lacks(tmp_path):
    from hamlearn.training.run import train

    cfg = load_config(ROOT / "configs" / "qm9_frontier.yaml",
                      [*TINY_QM9, f"data.cache_dir={tmp_path / 'cache'}",
                       "train.loss.dipole=1"])
    with pytest.raises(ConfigError, match="train.loss.dipole has weight 1 but no training"):
        train(cfg, tmp_path / "run", progress=False)


def test_published_qm9_and_other_sources_are_not_mixed():
    with pytest.raises(ConfigError, match="mixes qm9 and other sources"):
        load_config(ROOT / "configs" / "qm9_frontier.yaml",
                    ["data.sources=[{qm9: {slice: true, max_heavy: 2}}, {ase: H2O}]"])


def test_model_scf_sample_gives_integrals_only_references_to_the_others(qm9_run, tmp_path):
    """data.model_scf_sample: a seeded few get the SCF (their Fock: ridge, plain row), the
    rest the same model-basis S and dipole integrals as an SCF reference, without a Fock;
    the run trains on the published labels of all of them."""
    from hamlearn.data.generate import scf_sample
    from hamlearn.training.run import train

    full, _ = qm9_run
    by_name = {r.structure.name: r for r in full.data.refs}
    cfg = load_config(ROOT / "configs" / "qm9_frontier.yaml",
                      [*TINY_QM9, f"data.cache_dir={tmp_path / 'cache'}",
                       "data.model_scf_sample=3", "data.model_scf_seed=1"])
    res = train(cfg, tmp_path / "run", progress=False)
    refs = res.data.refs
    assert [r.structure.name for r in refs] == [r.structure.name for r in full.data.refs]
    with_fock = [i for i, r in enumerate(refs) if r.model.fock is not None]
    assert with_fock == scf_sample(len(refs), 3, 1).tolist()
    for r in refs:
        ref = by_name[r.structure.name]
        np.testing.assert_allclose(r.model.ovlp, ref.model.ovlp, atol=1e-12)
        np.testing.assert_allclose(r.model.dip_ints, ref.model.dip_ints, atol=1e-12)
        assert r.target("6-31g(2df,p)").homo == ref.target("6-31g(2df,p)").homo
    assert np.isfinite(res.test_metrics["mae_homo_ev"])
    assert len(scf_sample(10, None)) == len(scf_sample(10, 10)) == 10


def test_model_scf_sample_needs_published_labels():
    with pytest.raises(ConfigError, match="data.model_scf_sample"):
        load_config(ROOT / "configs" / "qm9_frontier.yaml",
                    [*TINY_QM9, "data.labels=compute", "data.target_bases=[sto-3g]",
                     "train.target_basis=sto-3g", "data.model_scf_sample=3"])


def test_evaluate_qm9_selection_with_a_sampled_plain_row(qm9_run, tmp_path):
    """scripts/evaluate.py --qm9: QM9 molecules the run never saw, with their published
    labels; the plain STO-3G rows on a seeded sample; streamed evaluation (chunks of 3)
    gives the same errors as one pass over all molecules."""
    import runpy
    import sys

    from hamlearn.runs import load_run
    from hamlearn.training import evaluate as ev
    from hamlearn.training.batches import prepare
    from hamlearn.training.references import load_references

    result, _ = qm9_run
    run = result.workdir
    argv = ["evaluate.py", "--run", str(run), "--qm9", "{slice: true, heavy: [3], sample: 7}",
            "--baseline-sample", "2", "--no-progress", "--out", str(tmp_path / "ev")]
    old, sys.argv = sys.argv, argv
    try:
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(ROOT / "scripts" / "evaluate.py"), run_name="__main__")
    finally:
        sys.argv = old
    assert done.value.code == 0
    import json

    report = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert report["metrics"]["n_molecules"] == 7
    assert report["minimal_basis"]["metrics"]["n_molecules"] == 2
    assert report["minimal_basis"]["model_same_molecules"]["n_molecules"] == 2
    text = (tmp_path / "ev" / "report.md").read_text()
    assert "| model, the plain row's molecules, MAE |" in text
    assert all(name.startswith("qm9_") for name in report["molecules"])
    cfg, model = load_run(run)
    cfg7 = load_config(run / "config.yaml",
                       ["data.sources=[{qm9: {slice: true, heavy: [3], sample: 7}}]",
                        "data.model_scf_sample=2"])
    refs = load_references(cfg7, progress=False)
    streamed = ev.evaluate_references(model, refs, range(7), cfg, chunk=3)
    whole = ev.evaluate_references(model, refs, range(7), cfg, data=prepare(refs, cfg))
    assert streamed["metrics"] == pytest.approx(whole["metrics"], rel=1e-9)
    assert report["metrics"] == pytest.approx(whole["metrics"], rel=1e-9)
    # <R^2> (trained on): the error is the predicted density's extent minus QM9's label
    from hamlearn.data.qm9 import QM9, index_of

    qm9 = QM9.open(slice_only=True)
    for p, r, e in zip(whole["predictions"], refs, whole["errors"]):
        label = qm9.labels(qm9.row_of(index_of(r.structure))).r2
        assert e["r2_au"][0] == pytest.approx(float(p["r2"]) - label, abs=1e-9)
        assert 0.5 * label < float(p["r2"]) < 2 * label  # a physical density, not noise


def test_model_scf_sample_zero_runs_no_scf(tmp_path, monkeypatch):
    """data.model_scf_sample: 0 (what evaluate.py --qm9 --no-baseline asks for): integrals
    only, and no SCF is started."""
    from hamlearn.data import generate as gen

    def no_scf(*args, **kwargs):
        raise AssertionError("an SCF was run")

    monkeypatch.setattr(gen, "compute_reference", no_scf)
    cfg = load_config(ROOT / "configs" / "qm9_frontier.yaml",
                      [*TINY_QM9, f"data.cache_dir={tmp_path / 'cache'}",
                       "data.model_scf_sample=0"])
    result = gen.load_model_references(cfg.data, cfg.root, progress=False)
    assert len(result.references) >= 8 and not result.failures
    assert all(r.model.fock is None and r.model.ovlp.shape[0] == r.model.nao
               for r in result.references)
    assert len(gen.scf_sample(10, 0)) == 0

"""The shipped full-spectrum label set (B3LYP/6-31G(2df,p) by pyscf on QM9 molecules):
its contents against pyscf recomputed here, its QM9 rows against the slice's published
text, training on it, the export script, and the no-mixing rule."""

from pathlib import Path

import numpy as np
import pytest

from hamlearn.config import ConfigError, load_config
from hamlearn.data import labelset
from hamlearn.data.qm9 import QM9, index_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def table():
    return QM9.open(full_spectrum=True)


def test_label_set_is_compact_and_complete(table):
    assert labelset.PATH.stat().st_size < 2 * 1024**2
    labels = labelset.full_spectrum_labels()
    assert sorted(labels) == sorted(table.indices.tolist())
    assert len(labels) >= 50 and table.n_heavy.max() <= 7
    info = labelset.meta()
    assert info["settings"]["method"] == "b3lyp" and info["basis"] == "6-31g(2df,p)"
    assert set(info["settings"]["polarizability"]) == {"uncoupled", "coupled"}
    for index, lab in labels.items():
        s = table.structure(table.row_of(index))
        assert lab.nocc == s.n_electrons // 2 and lab.source == labelset.SOURCE
        assert np.all(np.diff(lab.mo_energy) >= 0) and lab.homo < lab.lumo
        for alpha in (lab.polarizability_uncoupled, lab.polarizability_coupled):
            np.testing.assert_allclose(alpha, alpha.T, atol=1e-6)
            assert np.linalg.eigvalsh(alpha).min() > 0
        # pyscf's coupled response is smaller than the sum over states (B3LYP, screening)
        assert np.trace(lab.polarizability_coupled) < np.trace(lab.polarizability_uncoupled)


def test_qm9_rows_are_the_published_ones(table):
    """Geometries and QM9's own labels of the set equal the slice's (the published text)
    where the molecules overlap."""
    sl = QM9.open(slice_only=True)
    common = sorted(set(table.indices.tolist()) & set(sl.indices.tolist()))
    assert len(common) >= 10
    for index in common:
        a, b = table.row_of(index), sl.row_of(index)
        np.testing.assert_array_equal(table.structure(a).positions, sl.structure(b).positions)
        la, lb = table.labels(a), sl.labels(b)
        for name in ("homo", "lumo", "gap", "dipole_norm", "polarizability_iso", "r2", "smiles"):
            assert getattr(la, name) == getattr(lb, name), (index, name)


def test_water_labels_equal_pyscf_recomputed_here(table):
    """QM9 index 3 (H2O) recomputed with pyscf directly at the set's settings."""
    import warnings

    from pyscf import dft, gto
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Module .* is under testing")
        from pyscf.prop.polarizability.rhf import Polarizability

    s = table.structure(table.row_of(3))
    st = labelset.meta()["settings"]
    mol = gto.M(atom=s.pyscf_atom(), unit="Bohr", basis="6-31g(2df,p)", verbose=0)
    mf = dft.RKS(mol, xc="b3lyp").density_fit()
    mf.grids.level = st["grid_level"]
    mf.conv_tol = st["conv_tol"]
    mf.kernel()
    lab = labelset.full_spectrum_labels()[3]
    import scipy.linalg

    e = scipy.linalg.eigh(mf.get_fock(), mf.get_ovlp(), eigvals_only=True)
    np.testing.assert_allclose(lab.mo_energy, e, atol=1e-6)
    np.testing.assert_allclose(lab.dipole, mf.dip_moment(unit="AU", verbose=0), atol=1e-5)
    pol = Polarizability(mf)
    np.testing.assert_allclose(lab.polarizability_coupled, pol.polarizability(), atol=1e-4)
    np.testing.assert_allclose(lab.polarizability_uncoupled,
                               pol.polarizability(with_cphf=False), atol=1e-4)
    assert abs(lab.homo - table.labels(table.row_of(3)).homo) < 1e-3  # QM9's, Gaussian


SMALL = ["data.sources=[{qm9: {full_spectrum: true, max_heavy: 2}}]", "data.labels=published",
         "data.n_workers=1", "data.grid_level=1", "data.model_scf_sample=null",
         "train.epochs=2", "train.batch_size=0", "train.target_basis=6-31g(2df,p)",
         ("train.loss={eigenvalues: 1, dipole: 1, polarizability: 1, "
          "polarizability_kind: coupled}"),
         "train.split={kind: explicit, train: [0, 1, 2, 3, 4], validation: [5], test: [6, 7]}",
         "features.species=[1, 6, 7, 8]", "features.n_radial=3", "features.l_max=2",
         "eval.plots=false"]


def test_trains_on_the_full_spectrum(tmp_path):
    from hamlearn.runs import train
    from hamlearn.training.metrics import molecule_errors

    cfg = load_config(ROOT / "configs" / "qm9_frontier.yaml",
                      [*SMALL, f"data.cache_dir={tmp_path / 'cache'}"])
    result = train(cfg, tmp_path / "run", progress=False)
    refs = result.data.refs
    labels = labelset.full_spectrum_labels()
    for r in refs:
        lab = r.target("6-31g(2df,p)")
        assert lab.source == labelset.SOURCE
        np.testing.assert_array_equal(lab.mo_energy, labels[index_of(r.structure)].mo_energy)
    for key in ("eigenvalues_ev", "dipole_debye", "polarizability_pct"):
        assert np.isfinite(result.test_metrics[f"mae_{key}"]), key
    # the reported dipole error is the prediction minus the set's vector, in Debye
    from hamlearn.training.batches import Batcher
    from hamlearn.training.evaluate import predict_indices
    from hamlearn.units import AU_TO_DEBYE

    batcher = Batcher(result.data, cfg, 8, with_targets=False)
    pred = predict_indices(result.model, result.data, batcher, [6])[0]
    err = molecule_errors(pred, refs[6], cfg.train.loss, "6-31g(2df,p)")
    np.testing.assert_allclose(err["dipole_debye"],
                               (pred["dipole"] - refs[6].target("6-31g(2df,p)").dipole)
                               * AU_TO_DEBYE, atol=1e-12)


def test_full_spectrum_and_qm9_labels_are_not_mixed():
    with pytest.raises(ConfigError, match="mixes qm9 sources with full_spectrum"):
        load_config(ROOT / "configs" / "qm9_frontier.yaml",
                    ["data.sources=[{qm9: {full_spectrum: true}}, {qm9: {slice: true}}]"])


def test_export_round_trip(tmp_path):
    """generate_data + export_labels on three tiny slice molecules (RHF, to be quick): the
    written set holds the cache's labels exactly and the slice's QM9 rows."""
    import runpy

    from hamlearn.data.generate import load_cached, load_dataset

    cfg_path = tmp_path / "labels.yaml"
    cfg_path.write_text(
        "data:\n  sources:\n    - qm9: {slice: true, max_heavy: 1}\n  method: rhf\n"
        "  target_bases: ['6-31g(2df,p)']\n  polarizability: [uncoupled, coupled]\n"
        f"  cache_dir: {tmp_path / 'cache'}\n  n_workers: 1\n")
    cfg = load_config(cfg_path)
    done = load_dataset(cfg.data, cfg.root, progress=False)
    assert len(done.references) == 3
    out = tmp_path / "set.npz"
    export = runpy.run_path(str(ROOT / "scripts" / "export_labels.py"))["main"]
    assert export(["--config", str(cfg_path), "--out", str(out)]) == 0
    labels = labelset.full_spectrum_labels(out)
    refs, missing = load_cached(cfg.data, cfg.root)
    assert not missing and sorted(labels) == [1, 2, 3]
    for r in refs:
        ours, theirs = labels[index_of(r.structure)], r.target("6-31g(2df,p)")
        np.testing.assert_array_equal(ours.mo_energy, theirs.mo_energy)
        np.testing.assert_array_equal(ours.polarizability_coupled, theirs.polarizability_coupled)
        np.testing.assert_array_equal(ours.dipole, theirs.dipole)
    assert labelset.meta(out)["settings"]["method"] == "rhf"
    tab = labelset.table_arrays(out)
    sl = QM9.open(slice_only=True)
    np.testing.assert_array_equal(tab["homo"], [sl.labels(sl.row_of(i)).homo for i in (1, 2, 3)])

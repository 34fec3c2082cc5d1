"""scripts/compare.py end to end on the tiny dataset: hybrid against direct models and the
reduced-basis part, the minimal-basis baseline (exact for model-basis targets), resume."""

import json
from pathlib import Path

import pytest
from test_cli import TINY, cli

from hamlearn.config import load_config
from hamlearn.training.study import study_variants

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    cache = tmp_path_factory.mktemp("cache")
    args = ["--config", TINY, "--out", out, "--parts", "direct", "basis", "--no-progress",
            "--set", f"data.cache_dir={cache}"]
    return out, args, cli("compare.py", *args)


def test_compare_writes_tables_and_plots(study):
    out, _, run = study
    table = (out / "compare.md").read_text()
    for row in ("| hybrid (sto-3g)", "| direct-dipole (sto-3g)",
                "| direct-polarizability (sto-3g)", "| minimal basis, no model (sto-3g)"):
        assert row in table, row
    assert (out / "mae_by_size_direct.png").stat().st_size > 1000
    results = {(r["part"], r["name"]): r for r in json.loads((out / "compare.json").read_text())}
    assert results[("direct", "direct-dipole")]["kind"] == "dipole"
    assert "mae_dipole_debye" in results[("direct", "direct-dipole")]["metrics"]
    assert "mae_eigenvalues_ev" not in results[("direct", "direct-dipole")]["metrics"]
    # the base config targets the model basis: the basis part's run is the hybrid run
    assert results[("basis", "sto-3g")]["same_run_as"] == "direct/hybrid"


def test_minimal_basis_baseline_is_exact_on_model_basis_targets(study):
    # the reference STO-3G Fock through the QM layer reproduces pyscf's own STO-3G labels
    out, _, _ = study
    base = json.loads((out / "direct" / "hybrid" / "result.json").read_text())["minimal_basis"]
    m = base["metrics"]
    assert m["n_molecules"] == 1
    assert m["mae_eigenvalues_ev"] < 1e-6 and m["mae_dipole_debye"] < 1e-5
    assert m["mae_polarizability_pct"] < 1e-5


def test_compare_resumes_without_retraining(study):
    out, args, _ = study
    done = out / "direct" / "hybrid" / "result.json"
    before = done.stat().st_mtime_ns
    again = cli("compare.py", *args)
    assert done.stat().st_mtime_ns == before
    assert "| hybrid (sto-3g)" in again.stdout


def test_unknown_part_is_an_error():
    with pytest.raises(ValueError, match="unknown study part"):
        study_variants(TINY, ["target"])


def test_baseline_rows_of_the_study():
    """The baselines part and the transfer part's delta rows load as configs that switch
    ``model.baseline`` (their training is exercised in test_baseline_training.py)."""
    got = {(v.part, v.name): v.load() for v in study_variants(TINY, ["baselines", "transfer"])}
    want = {"hybrid": "none", "hybrid+huckel": "huckel", "hybrid+sad": "sad",
            "hybrid+gfn2": "gfn2", "hybrid+scf": "scf"}
    base = load_config(TINY)
    for name, kind in want.items():  # the base config's own loss (QM9's invariants work too)
        cfg = got[("baselines", name)]
        assert cfg.model.baseline == kind and cfg.train.loss == base.train.loss
    for name in ("hybrid+sad", "hybrid+scf"):
        cfg = got[("transfer", name)]
        assert cfg.train.split.kind == "size" and cfg.model.baseline == name.split("+")[1]
        assert cfg.train.loss.polarizability == 1  # the transfer part's full-target loss
    # on the QM9 config (gates and the SCF baseline by default) every capacity row isolates
    # its lever, and every baselines row keeps QM9's invariant loss
    qm9 = {(v.part, v.name): v.load() for v in study_variants(
        ROOT / "configs" / "qm9_transfer.yaml", ["baselines", "capacity"])}
    assert qm9[("capacity", "gated")].model.baseline == "none"
    assert not qm9[("capacity", "pair-nu2+scf")].model.gated
    assert qm9[("capacity", "pair-nu2+scf")].features.nu_pair == 2
    assert all(c.train.loss.eigenvalues == 0 and c.train.loss.homo == 1
               for (part, _), c in qm9.items() if part == "baselines")


def test_learning_curve_variants_and_plot(tmp_path):
    """The curves part: nested training subsets of the base split for every curve model;
    the log-log plot is written from the results."""
    from hamlearn.training.study import curve_models, plot_study

    variants = study_variants(TINY, ["curves"])  # TINY trains on 3 molecules
    sizes = sorted({v.load().train.split.n_train for v in variants})
    assert sizes == [1, 2, 3]
    models = curve_models(load_config(TINY))
    assert set(models) == {"hybrid", "hybrid+scf", "direct-dipole", "direct-polarizability"}
    assert {v.name.split("@")[0] for v in variants} == set(models)
    assert len(variants) == len(models) * len(sizes)
    # on QM9's labels: the SCF-baseline model as configured and one surrogate per target
    qm9 = curve_models(load_config(ROOT / "configs" / "qm9_curves.yaml"))
    assert set(qm9) == {"hybrid+scf", "direct-homo", "direct-lumo", "direct-dipole_norm",
                        "direct-polarizability_iso", "direct-polarizability_aniso"}
    results = [{"part": "curves", "name": v.name, "n_train": v.load().train.split.n_train,
                "metrics": {"mae_dipole_debye": 1.0 / v.load().train.split.n_train},
                "minimal_basis": {"metrics": {"mae_dipole_debye": 0.5}}} for v in variants]
    written = plot_study(results, tmp_path)
    assert tmp_path / "learning_curves.png" in written
    assert (tmp_path / "learning_curves.png").stat().st_size > 1000


def test_study_tables_and_curves_show_the_invariant_targets_of_qm9_runs(tmp_path):
    """A QM9-style study (HOMO, LUMO, |mu|, alpha invariants): its tables get those columns
    (not the full-spectrum ones, which would all be '-'), its curves one panel each."""
    from hamlearn.training.study import format_study, plot_study

    metrics = {"mae_homo_ev": 0.2, "mae_lumo_ev": 0.3, "mae_dipole_norm_debye": 0.15,
               "mae_polarizability_iso_au": 1.4}
    results = [{"part": "curves", "name": f"hybrid+scf@{n}", "n_train": n, "n_test": 300,
                "seconds": 1.0, "target_basis": "6-31g(2df,p)",
                "metrics": {k: v * 100 / n for k, v in metrics.items()}} for n in (100, 400)]
    results.append({**results[0], "name": "direct-homo@100", "metrics": {"mae_homo_ev": 0.1}})
    table = format_study(results)
    header = next(line for line in table.splitlines() if line.startswith("| run"))
    assert header.split(" | ")[1:5] == ["HOMO (eV)", "LUMO (eV)", "abs(mu) (D)",
                                        "alpha_iso (a.u.)"]
    assert "MO energies" not in header
    assert "| direct-homo@100 (6-31g(2df,p)) | 0.1 | - | - | - |" in table
    (png,) = plot_study(results, tmp_path)
    assert png.name == "learning_curves.png" and png.stat().st_size > 1000

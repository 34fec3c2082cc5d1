"""Scoring runs on the shipped size series: references, per-member errors, the CLI, the
study part and its plot (a tiny model trained on the shipped full-spectrum QM9 labels)."""

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg

from hamlearn.config import ConfigError, load_config
from hamlearn.data import size_series as ss
from hamlearn.units import HARTREE_TO_EV

ROOT = Path(__file__).resolve().parents[2]
#: the smallest shipped members (a few seconds of STO-3G SCF each)
MAX_ATOMS = 14
SMALL = ["data.sources=[{qm9: {full_spectrum: true, max_heavy: 2}}]", "data.labels=published",
         "data.n_workers=1", "data.grid_level=1", "data.model_scf_sample=null",
         "train.epochs=2", "train.batch_size=0", "train.target_basis=6-31g(2df,p)",
         ("train.loss={eigenvalues: 1, dipole: 1, polarizability: 1, "
          "polarizability_kind: coupled}"),
         "train.split={kind: explicit, train: [0, 1, 2, 3, 4], validation: [5], test: [6, 7]}",
         "features.species=[1, 6, 7, 8]", "features.n_radial=3", "features.l_max=2",
         "eval.plots=false"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from hamlearn.runs import train

    tmp = tmp_path_factory.mktemp("series")
    cfg = load_config(ROOT / "configs" / "qm9_frontier.yaml",
                      [*SMALL, f"data.cache_dir={tmp / 'cache'}"])
    result = train(cfg, tmp / "run", progress=False)
    return cfg, result, tmp / "run"


def test_series_references_carry_the_shipped_labels(run):
    from hamlearn.training.references import series_references

    cfg, _, _ = run
    refs = series_references(cfg, max_atoms=MAX_ATOMS, progress=False)
    labels = ss.shipped_labels()
    want = [ss.member_name(f, n) for f, n in ss.members(max_atoms=MAX_ATOMS)
            if ss.member_name(f, n) in labels]
    assert [r.structure.name for r in refs] == want and len(want) >= 2
    for r in refs:
        lab = r.target(ss.BASIS)
        np.testing.assert_array_equal(lab.mo_energy, labels[r.structure.name].mo_energy)
        assert r.model.fock is not None  # the model-basis SCF ran (plain row, scf baseline)


def test_series_result_rows_are_the_errors_of_each_member(run):
    from hamlearn.training.study import series_result

    cfg, result, _ = run
    res = series_result(result.model, cfg, max_atoms=MAX_ATOMS)
    names = [m["name"] for m in res["members"]]
    assert res["metrics"]["n_molecules"] == len(names) >= 2
    # the plain row of each member: its STO-3G SCF gap against the shipped label,
    # recomputed here from the reference's Fock and overlap
    from hamlearn.training.references import series_references

    refs = {r.structure.name: r for r in series_references(cfg, max_atoms=MAX_ATOMS,
                                                           progress=False)}
    for m in res["minimal_basis"]["members"]:
        r = refs[m["name"]]
        e = scipy.linalg.eigh(r.model.fock, r.model.ovlp, eigvals_only=True)
        nocc = r.target(ss.BASIS).nocc
        gap = (e[nocc] - e[nocc - 1]) * HARTREE_TO_EV
        assert abs(m["mae_gap_ev"] - abs(gap - r.target(ss.BASIS).gap * HARTREE_TO_EV)) < 1e-6
        assert m["n_atoms"] == len(r.structure.numbers)
    assert np.isfinite([m["mae_dipole_debye"] for m in res["members"]]).all()


def test_evaluate_cli_scores_the_series(run):
    from test_cli import cli

    _, _, workdir = run
    out = cli("evaluate.py", "--run", workdir, "--series", "polyene",
              "--series-max-atoms", str(MAX_ATOMS), "--no-progress")
    table = (workdir / "eval" / "size_series" / "members.md").read_text()
    assert "| polyene_2 | 10 |" in table and "acene" not in table
    metrics = json.loads((workdir / "eval" / "size_series" / "metrics.json").read_text())
    assert metrics["metrics"]["n_molecules"] == table.count("| polyene_")
    assert "size series (polyene" in out.stdout


def test_series_is_refused_for_another_target_basis(run):
    from hamlearn.training.references import series_references

    cfg, _, _ = run
    import dataclasses

    other = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train,
                                                               target_basis="def2-tzvp"))
    with pytest.raises(ConfigError, match="labelled in 6-31g"):
        series_references(other, progress=False)


def test_series_part_variants_and_plot(run, tmp_path):
    from test_cli import TINY

    from hamlearn.training.study import (default_parts, format_study, plot_series,
                                         series_result, study_variants)

    paper = ROOT / "configs" / "qm9_full_spectrum_train.yaml"
    names = [(v.part, v.name) for v in study_variants(paper, ["series"])]
    assert names == [("series", "hybrid"), ("series", "hybrid+scf"),
                     ("series", "direct-dipole"), ("series", "direct-polarizability")]
    assert "series" in default_parts(paper) and "series" not in default_parts(TINY)
    with pytest.raises(ValueError, match="series part needs"):
        study_variants(TINY, ["series"])
    cfg, result, _ = run
    res = series_result(result.model, cfg, max_atoms=MAX_ATOMS)
    rows = [{"part": "series", "name": "hybrid", "series": res, "n_train": 5, "n_test": 2,
             "seconds": 1.0, "target_basis": ss.BASIS, "metrics": result.test_metrics}]
    assert "| hybrid |" in format_study(rows) and "minimal basis, no model" in format_study(rows)
    assert plot_series(rows, tmp_path).stat().st_size > 1000


def test_series_part_run_scores_and_rescores_the_members(tmp_path, monkeypatch):
    """One run of the series part end to end: trained, scored on every labelled member (the
    label file cut to the members up to MAX_ATOMS, to be quick); a stored result missing
    members (labels added since) is rescored, not retrained."""
    from hamlearn.training.study import Variant, run_variant

    small = {f"{f}_{n}" for f, n in ss.members(max_atoms=MAX_ATOMS)}
    full = ss.shipped_labels()
    monkeypatch.setattr(ss, "shipped_labels",
                        lambda *a: {k: v for k, v in full.items() if k in small})

    common = (*SMALL, f"data.cache_dir={tmp_path / 'cache'}")
    v = Variant("series", "hybrid", str(ROOT / "configs" / "qm9_frontier.yaml"))
    res = run_variant(v, tmp_path / "study", common=common)
    labelled = set(ss.shipped_labels())
    scored = {m["name"] for m in res["series"]["members"]}
    assert scored == labelled  # every labelled member (the tiny model knows H, C, N, O)
    done = tmp_path / "study" / "series" / "hybrid" / "result.json"
    stored = json.loads(done.read_text())
    stored["series"]["members"] = stored["series"]["members"][:1]
    done.write_text(json.dumps(stored))
    checkpoint = tmp_path / "study" / "series" / "hybrid" / "checkpoints"
    before = {p.name: p.stat().st_mtime_ns for p in checkpoint.iterdir()}
    assert before
    again = run_variant(v, tmp_path / "study", common=common)
    assert {m["name"] for m in again["series"]["members"]} == labelled
    assert {p.name: p.stat().st_mtime_ns for p in checkpoint.iterdir()} == before
    np.testing.assert_allclose(again["series"]["metrics"]["mae_gap_ev"],
                               res["series"]["metrics"]["mae_gap_ev"], rtol=1e-9)

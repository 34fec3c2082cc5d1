"""The direct-model run module in process: error definitions equal to the hybrid runs',
a run folder whose checkpoint reloads to the same predictions, and alpha selection."""

import dataclasses
import json

import numpy as np
import pytest

from hamlearn.config import (Config, DataConfig, FeaturesConfig, ModelConfig, SourceConfig,
                             SplitConfig, TrainConfig)
from hamlearn.surrogate.run import direct_errors, load_direct, predict_direct, train_direct
from hamlearn.units import AU_TO_DEBYE


@pytest.fixture(scope="module")
def refs(cookbook_dir):
    from hamlearn.data.cookbook import load_cookbook

    return load_cookbook(cookbook_dir, "qm7", ":24")


def config(cookbook_dir, kind: str) -> Config:
    split = SplitConfig(kind="explicit", train=tuple(range(16)), validation=(16, 17, 18, 19),
                        test=(20, 21, 22, 23))
    return Config(
        data=DataConfig(sources=(SourceConfig(cookbook="qm7", index=":24"),), labels="published",
                        cookbook_dir=str(cookbook_dir), target_bases=("def2-tzvp",)),
        features=FeaturesConfig(n_radial=3, l_max=2),
        model=ModelConfig(kind=kind, ridge_alpha=(1e-6, 1e-2, 1.0)),
        train=TrainConfig(target_basis="def2-tzvp", split=split))


def test_direct_errors_follow_the_metric_definitions(refs, cookbook_dir):
    ref = refs[3]
    lab = ref.target("def2-tzvp")
    delta = np.array([0.01, -0.02, 0.03])
    cfg = config(cookbook_dir, "dipole")
    err = direct_errors(lab.dipole + delta, ref, cfg)
    assert set(err) == {"dipole_debye"}
    np.testing.assert_allclose(err["dipole_debye"], delta * AU_TO_DEBYE, rtol=1e-12)
    alpha = lab.polarizability("uncoupled")
    shift = np.diag([0.3, 0.6, 0.9])
    err = direct_errors(alpha + shift, ref, dataclasses.replace(cfg, model=ModelConfig(
        kind="polarizability")))
    assert set(err) == {"polarizability_au", "polarizability_pct"}
    np.testing.assert_allclose(err["polarizability_pct"], 100 * 0.6 / (np.trace(alpha) / 3))
    np.testing.assert_allclose(err["polarizability_au"], shift.ravel(), atol=1e-12)


@pytest.mark.parametrize("kind", ["dipole", "polarizability"])
def test_train_direct_run_folder_reloads(kind, refs, cookbook_dir, tmp_path):
    cfg = config(cookbook_dir, kind)
    result = train_direct(cfg, tmp_path / "run", progress=False, refs=refs)
    assert result.fit_info["alpha"] in (1e-6, 1e-2, 1.0)
    assert len(result.fit_info["rmse_by_alpha"]) == 3  # chosen on the validation split
    saved = json.loads((tmp_path / "run" / "metrics_test.json").read_text())
    assert saved == pytest.approx(result.test_metrics) and saved["n_molecules"] == 4
    model = load_direct(cfg, tmp_path / "run" / "checkpoints", "best")
    structures = [refs[i].structure for i in (20, 21)]
    again = predict_direct(model, cfg, structures)
    first = predict_direct(result.model, cfg, structures)
    assert again == first
    with pytest.raises(FileExistsError):
        train_direct(cfg, tmp_path / "run", progress=False, refs=refs)


@pytest.mark.parametrize("kind", ["homo", "gap", "dipole_norm", "polarizability_iso"])
def test_invariant_direct_models_fit_their_label(kind, refs, cookbook_dir, tmp_path):
    """One invariant from pooled atom terms: its errors are prediction - label in user
    units (the label read independently from the references), and an exactly
    representable target is fitted exactly."""
    from hamlearn.surrogate.features import atom_batch, atom_features
    from hamlearn.surrogate.models import INVARIANT_KINDS
    from hamlearn.surrogate.run import build_direct_model, predict_features, reference_targets
    from hamlearn.training.targets import BY_NAME

    cfg = config(cookbook_dir, kind)
    result = train_direct(cfg, tmp_path / "run", progress=False, refs=refs)
    target = BY_NAME[kind]
    key = f"mae_{target.user_key}"
    assert np.isfinite(result.test_metrics[key]) and result.test_metrics["n_molecules"] == 4
    test = [refs[i] for i in (20, 21, 22, 23)]
    entries = predict_direct(result.model, cfg, [r.structure for r in test])
    lab = {"homo": lambda lb: lb.homo, "gap": lambda lb: lb.gap,
           "dipole_norm": lambda lb: np.linalg.norm(lb.dipole),
           "polarizability_iso": lambda lb: np.trace(lb.polarizability("uncoupled")) / 3}[kind]
    mae = np.mean([abs(e[target.user_key] - lab(r.target("def2-tzvp")) * target.user_scale)
                   for e, r in zip(entries, test)])
    assert result.test_metrics[key] == pytest.approx(mae, rel=1e-10)
    # an exactly linear target: y = pool_i (w_s . x_i + c_s) with random weights
    model = build_direct_model(cfg)
    af = atom_features([r.structure for r in refs], cfg.features, model.irreps)
    rng = np.random.default_rng(0)
    truth = type(model)(len(cfg.features.species), {"0e": model.weights.shape[1]})
    import equinox as eqx

    truth = eqx.tree_at(lambda m: (m.weights, m.offset), truth,
                        (rng.normal(size=model.weights.shape), rng.normal(size=4)))
    y = predict_features(truth, af, range(len(refs)))
    x = atom_batch(af, [5])
    n = int(np.sum(x.atom_mask[0]))
    per_atom = (np.einsum("af,af->a", np.asarray(truth.weights)[np.asarray(x.species[0])],
                          np.asarray(x.features["0e"][0, :, :, 0]))
                + np.asarray(truth.offset)[np.asarray(x.species[0])])[:n]
    pooled = per_atom.mean() if INVARIANT_KINDS[kind] else per_atom.sum()
    assert y[5] == pytest.approx(pooled, rel=1e-10)
    from hamlearn.surrogate.fit import fit_direct

    fitted, _ = fit_direct(model, af, list(range(16)), y[:16], [1e-12])
    np.testing.assert_allclose(predict_features(fitted, af, range(16)), y[:16], rtol=1e-6,
                               atol=1e-6 * np.abs(y).max())
    assert reference_targets(refs[:2], cfg).shape == (2,)


def test_every_model_kind_has_a_runner_and_kinds_are_switched_there_only():
    """The run layer's table covers every model.kind of the config, and the modules above
    it (CLIs, study, predict, evaluation) never switch on the kind themselves."""
    import re
    from pathlib import Path

    from hamlearn.config import ModelConfig
    from hamlearn.runs import DIRECT, HYBRID, RUNNERS, runner_for

    import hamlearn.config as config_mod

    src = Path(config_mod.__file__).read_text()
    kinds = re.search(r'kind: str = choice\(([^)]*)\)', src).group(1)
    kinds = re.findall(r'"(\w+)"', kinds)
    assert sorted(kinds) == sorted(RUNNERS)
    for k in kinds:
        runner = runner_for(Config(model=ModelConfig(kind=k)))
        assert runner is (HYBRID if k == "hamiltonian" else DIRECT)
    root = Path(config_mod.__file__).parents[1]
    above = [root / "hamlearn" / "training" / f for f in ("study.py", "predict.py",
                                                          "evaluate.py")]
    above += sorted((root / "scripts").glob("*.py"))
    for path in above:
        assert "model.kind ==" not in path.read_text() and "model.kind !=" not in \
            path.read_text(), path

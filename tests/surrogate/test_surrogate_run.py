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

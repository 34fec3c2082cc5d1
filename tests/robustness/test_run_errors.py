"""train(): data-dependent mistakes end in one DatasetError before any work (no SCF, no
run folder), and an empty validation split is said, not silently replaced."""

import logging

import pytest

from hamlearn.config import load_config
from hamlearn.errors import USER_ERRORS, DatasetError
from hamlearn.training.run import train

from .conftest import TINY


def test_species_missing_from_the_data_is_one_error_before_any_work(tmp_path):
    cfg = load_config(TINY, ["features.species=[1, 6]", f"data.cache_dir={tmp_path / 'c'}"])
    with pytest.raises(DatasetError) as err:
        train(cfg, tmp_path / "run", progress=False)
    msg = str(err.value)
    assert "\n" not in msg and isinstance(err.value, USER_ERRORS)
    assert "O (Z=8, 2 molecules, e.g. H2O)" in msg and "N (Z=7, 2 molecules, e.g. NH3)" in msg
    assert not (tmp_path / "run").exists() and not (tmp_path / "c").exists()


def test_empty_training_split_is_an_error(tmp_path):
    cfg = load_config(TINY, ["train.split.train=[]", f"data.cache_dir={tmp_path / 'c'}"])
    with pytest.raises(DatasetError, match=r"train.split \(explicit\) leaves no training molecules out of 5"):
        train(cfg, tmp_path / "run", progress=False)


def test_empty_validation_split_is_said(tmp_path, caplog):
    cfg = load_config(TINY, ["train.split.validation=[]", "train.epochs=1",
                             f"data.cache_dir={tmp_path / 'c'}"])
    with caplog.at_level(logging.WARNING, logger="hamlearn.training"):
        train(cfg, tmp_path / "run", progress=False)
    assert any("validation split is empty" in r.getMessage() for r in caplog.records)
